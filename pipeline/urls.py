"""Public endpoints of the pipeline app: intake (webhooks, hosted form) and unsubscribe."""

from django.urls import path

app_name = "pipeline"

urlpatterns: list = []
