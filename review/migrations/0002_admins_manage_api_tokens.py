"""Admins (the group) create and revoke API tokens and see reported outcomes in the admin."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ADMIN_API_PERMISSIONS = [
    ("pipeline", "view_apitoken"),
    ("pipeline", "add_apitoken"),
    ("pipeline", "change_apitoken"),
    ("pipeline", "view_leadoutcome"),
]


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    admins, _ = Group.objects.get_or_create(name="Admins")
    admins.permissions.add(
        *[
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
            for app_label, codename in ADMIN_API_PERMISSIONS
        ]
    )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    admins = Group.objects.filter(name="Admins").first()
    if admins:
        admins.permissions.remove(
            *Permission.objects.filter(
                content_type__app_label="pipeline",
                codename__in=[codename for _, codename in ADMIN_API_PERMISSIONS],
            )
        )


class Migration(migrations.Migration):
    dependencies = [
        ("review", "0001_staff_groups"),
        ("pipeline", "0003_api_tokens_and_lead_outcomes"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
