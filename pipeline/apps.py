import sys

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PipelineConfig(AppConfig):
    name = "pipeline"
    verbose_name = "Pipeline"

    def ready(self) -> None:
        post_migrate.connect(_ensure_schedules, sender=self)
        if "qcluster" in sys.argv[1:2]:
            # Import the pipelines (agents, the classifier's weights, the anthropic SDK) in the
            # cluster's parent, before it forks its workers: they then share those pages
            # (measured: see README, Running at scale).
            _preload()


def _preload() -> None:
    import importlib

    for module in (
        "pipeline.pipelines",
        "pipeline.agents.classify",
        "pipeline.agents.score",
        "pipeline.agents.draft",
        "pipeline.agents.decision",
        "pipeline.integrations.enrich.cache",
        "pipeline.integrations.crm",
        "pipeline.integrations.outbox",
    ):
        importlib.import_module(module)
    from pipeline.agents import learned
    from pipeline.agents.domains import is_disposable

    learned.load_model()
    is_disposable("example.com")  # loads the blocklist


def _ensure_schedules(sender, using="default", **kwargs) -> None:
    # Every deployment runs migrate: that is where the periodic sweep gets scheduled.
    from pipeline import maintenance

    maintenance.ensure_schedule(using=using)
