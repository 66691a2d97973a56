"""The standard profiles and permission sets every installation starts with."""

from django.db import migrations


def create(apps, schema_editor):
    from konto.accounts.standard import ensure_standard_profiles

    ensure_standard_profiles(apps)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
