"""Runs stored a "module:ATTRIBUTE" path for pipelines the engine used to import by that path.

Pipelines are now looked up by their registered name only, so those runs get that name.
"""

from django.db import migrations

# The paths runs may hold, and the name each pipeline registers under.
RENAMED = {
    "pipeline.bench:SYNTHETIC": "bench",
    "tests.test_outbox_smtp:SEND": "outbox-send",
    **{
        f"tests.engine_pipelines:{attribute}": f"test-{attribute.lower().replace('_', '-')}"
        for attribute in (
            "PARALLEL",
            "GATED",
            "FLAKY",
            "EXHAUSTED",
            "PERMANENT",
            "CONDITIONAL",
            "EFFECTS",
            "CRASH",
            "DIAMOND",
            "FAN_IN",
            "CHAIN",
        )
    },
}


def forwards(apps, schema_editor):
    PipelineRun = apps.get_model("pipeline", "PipelineRun")
    for path, name in RENAMED.items():
        PipelineRun.objects.filter(pipeline_name=path).update(pipeline_name=name)


def backwards(apps, schema_editor):
    PipelineRun = apps.get_model("pipeline", "PipelineRun")
    for path, name in RENAMED.items():
        PipelineRun.objects.filter(pipeline_name=name).update(pipeline_name=path)


class Migration(migrations.Migration):
    dependencies = [("pipeline", "0002_scoring_auto_send_confidence_and_review_floor")]

    operations = [migrations.RunPython(forwards, backwards)]
