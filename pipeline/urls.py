"""Public endpoints of the pipeline app: intake (webhooks, hosted form), inbound replies."""

from django.urls import path

from pipeline import inbound_views, intake_views

app_name = "pipeline"

urlpatterns: list = [
    path("webhooks/<slug:slug>/", intake_views.webhook, name="webhook"),
    path("inbound/<slug:slug>/", inbound_views.inbound, name="inbound"),
    path("f/<slug:slug>/", intake_views.hosted_form, name="form"),
    path("f/<slug:slug>/thanks/", intake_views.form_thanks, name="form_thanks"),
]
