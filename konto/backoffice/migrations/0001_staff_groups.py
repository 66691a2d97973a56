"""The auth groups of the vendor staff roles (billing ops, account executive, support agent)."""

from django.db import migrations


def create_groups(apps, schema_editor):
    from konto.backoffice.roles import sync_staff_groups

    sync_staff_groups(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("core", "0001_initial"),
        ("accounts", "0002_standard_profiles"),
        ("catalog", "0001_initial"),
    ]
    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
