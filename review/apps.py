from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ReviewConfig(AppConfig):
    name = "review"
    verbose_name = "Review"

    def ready(self) -> None:
        from django.apps import apps

        # post_migrate is only sent for apps with models; the review app has none of its own.
        post_migrate.connect(_ensure_schedules, sender=apps.get_app_config("pipeline"))


def _ensure_schedules(sender, using="default", **kwargs) -> None:
    # Every deployment runs migrate: the dashboard's figures get refreshed from then on.
    from pipeline.apps import schedules_are_migrated

    if not schedules_are_migrated(using, purpose="the dashboard refresh"):
        return
    from review import dashboard

    dashboard.ensure_schedule(using=using)
