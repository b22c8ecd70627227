from django.apps import AppConfig


class DevConfig(AppConfig):
    name = "pipeline.dev"
    label = "leadops_dev"
    verbose_name = "Developer tools"
