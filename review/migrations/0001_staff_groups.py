"""Create the two staff groups with their permissions.

Permissions are normally created after migrations (post_migrate); create them here first so
the groups can be given them on a fresh database.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

REVIEWER_PERMISSIONS = [
    ("pipeline", "review_draft"),
    ("pipeline", "view_draft"),
    ("pipeline", "view_lead"),
    ("pipeline", "view_pipelinerun"),
    ("pipeline", "view_steprun"),
    ("pipeline", "view_outboundemail"),
    ("pipeline", "view_contact"),
    ("pipeline", "view_scoringconfig"),
    ("pipeline", "view_companyprofile"),
]
ADMIN_EXTRA_PERMISSIONS = [
    ("pipeline", "change_settings"),
    ("pipeline", "add_scoringconfig"),
    ("pipeline", "add_companyprofile"),
    ("pipeline", "change_operationssettings"),
    ("pipeline", "add_webhooksource"),
    ("pipeline", "change_webhooksource"),
    ("pipeline", "view_webhooksource"),
    ("pipeline", "change_lead"),
]


def create_groups(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    def permissions(pairs):
        found = []
        for app_label, codename in pairs:
            found.append(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        return found

    reviewers, _ = Group.objects.get_or_create(name="Reviewers")
    reviewers.permissions.add(*permissions(REVIEWER_PERMISSIONS))
    admins, _ = Group.objects.get_or_create(name="Admins")
    admins.permissions.add(*permissions(REVIEWER_PERMISSIONS + ADMIN_EXTRA_PERMISSIONS))


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=["Reviewers", "Admins"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("pipeline", "__first__"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
