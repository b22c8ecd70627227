"""Recompute every lead's dedupe keys under the email-validator / phonenumbers rules.

Leads that turn out to be one person are merged into the oldest, keeping both histories.
"""

import logging

from django.db import migrations

logger = logging.getLogger("pipeline.migrations")


def rewrite_keys(apps, schema_editor):
    # The same code as merge_leads(): one rule for what a merge moves.
    from pipeline.intake.people import rewrite_person_keys

    counts = rewrite_person_keys(apps)
    logger.info("leads.rekeyed rewritten=%s merged=%s", counts["rewritten"], counts["merged"])


class Migration(migrations.Migration):

    dependencies = [
        ('pipeline', '0006_trapped_submission_without_lead'),
    ]

    operations = [
        migrations.RunPython(rewrite_keys, migrations.RunPython.noop, elidable=False),
    ]
