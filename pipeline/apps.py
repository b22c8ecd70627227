from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PipelineConfig(AppConfig):
    name = "pipeline"
    verbose_name = "Pipeline"

    def ready(self) -> None:
        post_migrate.connect(_ensure_schedules, sender=self)


def _ensure_schedules(sender, using="default", **kwargs) -> None:
    # Every deployment runs migrate: that is where the periodic sweep gets scheduled.
    from pipeline import maintenance

    maintenance.ensure_schedule(using=using)
