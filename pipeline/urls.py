"""Public endpoints of the pipeline app: intake (webhooks, hosted form) and unsubscribe."""

from django.urls import path

from pipeline import intake_views

app_name = "pipeline"

urlpatterns: list = [
    path("webhooks/<slug:slug>/", intake_views.webhook, name="webhook"),
    path("f/<slug:slug>/", intake_views.hosted_form, name="form"),
    path("f/<slug:slug>/thanks/", intake_views.form_thanks, name="form_thanks"),
]
