import gc
import logging
import sys

from django.apps import AppConfig
from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save

logger = logging.getLogger(__name__)


class PipelineConfig(AppConfig):
    name = "pipeline"
    verbose_name = "Pipeline"

    def ready(self) -> None:
        from pipeline import engine, erase  # noqa: F401 - erase's signal receivers

        # Pipelines register by name here; a run's stored name is only ever looked up.
        engine.autodiscover()
        post_migrate.connect(_ensure_schedules, sender=self)
        _watch_configuration()
        if "qcluster" in sys.argv[1:2]:
            # Import the pipelines (agents, the classifier's weights, the anthropic SDK) in the
            # cluster's parent, before it forks its workers: they then share those pages
            # (measured: see README, Running at scale).
            _preload()


def _preload() -> None:
    import importlib

    for module in (
        "pipeline.agents.classify",
        "pipeline.agents.score",
        "pipeline.agents.draft",
        "pipeline.agents.decision",
        "pipeline.enrichment",
        "pipeline.integrations.crm",
        "pipeline.integrations.outbox",
    ):
        importlib.import_module(module)
    from pipeline.agents import language, learned
    from pipeline.agents.domains import is_disposable

    learned.load_model()
    is_disposable("example.com")  # loads the blocklist
    language.identifier()  # loads the language detector's model
    # What was loaded goes to the collector's permanent generation (see deploy/gunicorn.conf.py):
    # a worker's full collections then skip it, and its pages stay shared after the fork.
    gc.freeze()


def _watch_configuration() -> None:
    """Every process keeps the sources, owner rules and Reviewers it read (config_cache): a
    change to any of them makes it, and when committed every other process, read them again."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from pipeline import config_cache
    from pipeline.models import CountryOwnerRule, OwnerRule, SizeOwnerRule, WebhookSource

    user = get_user_model()
    for model in (WebhookSource, OwnerRule, CountryOwnerRule, SizeOwnerRule, user, Group):
        for signal in (post_save, post_delete):
            signal.connect(config_cache.changed, sender=model, dispatch_uid=f"config:{model}")
    m2m_changed.connect(
        config_cache.changed, sender=user.groups.through, dispatch_uid="config:groups"
    )


def _ensure_schedules(sender, using="default", **kwargs) -> None:
    # Every deployment runs migrate: that is where the periodic sweep gets scheduled.
    if not schedules_are_migrated(using, purpose="the sweep"):
        return
    from pipeline import maintenance

    maintenance.ensure_schedule(using=using)


def schedules_are_migrated(using: str, *, purpose: str) -> bool:
    """Whether django-q2's tables are migrated to this code's latest state on `using`.

    post_migrate follows every migrate, also a partial one (`migrate pipeline` on a new
    database, `migrate django_q zero`), where the schedule table is missing or older than the
    model: then say so and let the full `migrate` that follows create the schedules.
    """
    from django.db import connections
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(connections[using], ignore_no_migrations=True)
    missing = set(loader.graph.leaf_nodes("django_q")) - set(loader.applied_migrations)
    if missing:
        logger.warning(
            "schedule.skipped for=%r: django_q is not fully migrated on database %r "
            "(missing %s); run `manage.py migrate` to create it",
            purpose,
            using,
            ", ".join(name for _, name in sorted(missing)),
        )
    return not missing
