from django.db import migrations, models


def keep_previous_secrets(apps, schema_editor):
    """A secret in its overlap when this runs keeps working until that overlap ends."""
    WebhookSource = apps.get_model("pipeline", "WebhookSource")
    rotated = WebhookSource.objects.exclude(previous_secret="").exclude(
        previous_secret_expires_at=None
    )
    for source in rotated:
        source.retired_secrets = [
            {
                "secret": source.previous_secret,
                "expires_at": source.previous_secret_expires_at.isoformat(),
            }
        ]
        source.save(update_fields=["retired_secrets"])


def restore_previous_secret(apps, schema_editor):
    WebhookSource = apps.get_model("pipeline", "WebhookSource")
    from datetime import datetime

    for source in WebhookSource.objects.exclude(retired_secrets=[]):
        newest = source.retired_secrets[0]
        source.previous_secret = newest["secret"]
        source.previous_secret_expires_at = datetime.fromisoformat(newest["expires_at"])
        source.save(update_fields=["previous_secret", "previous_secret_expires_at"])


class Migration(migrations.Migration):

    dependencies = [
        ('pipeline', '0003_submission_sender_key'),
    ]

    operations = [
        migrations.AddField(
            model_name='webhooksource',
            name='retired_secrets',
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.RunPython(keep_previous_secrets, restore_previous_secret),
        migrations.RemoveField(
            model_name='webhooksource',
            name='previous_secret',
        ),
        migrations.RemoveField(
            model_name='webhooksource',
            name='previous_secret_expires_at',
        ),
    ]
