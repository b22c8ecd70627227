"""Public endpoints of the pipeline app: intake (webhooks, hosted form) and unsubscribe."""

app_name = "pipeline"

urlpatterns: list = []
