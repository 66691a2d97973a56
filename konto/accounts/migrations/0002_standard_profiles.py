"""The standard profiles and permission sets every installation starts with."""

from django.db import migrations

PROFILES = [
    # code, name, description, is_system_administrator, permissions
    ("system_administrator", "System Administrator", "Every permission, including user administration.", True, []),
    ("standard_user", "Standard User", "Works in the product; no billing access by itself.", False, []),
    ("identity_user", "Identity User", "Signs in to My Account only; access comes from permission sets.", False, []),
]

PERMISSION_SETS = [
    ("my_account_admin", "My Account Admin", "Manage Billing: every billing permission.", ["manage_billing"]),
    ("invoice_viewer", "Invoice Viewer", "See, download and share invoices.", ["view_invoices"]),
    ("accounts_payable", "Accounts Payable", "See and pay invoices, manage payment methods.",
     ["view_invoices", "pay_invoices", "manage_payment_methods"]),
    ("purchasing", "Purchasing", "Buy licenses and add-ons, see invoices.", ["purchase", "view_invoices"]),
    ("user_administration", "User Administration", "Invite users and assign licenses.", ["manage_users"]),
]


def create(apps, schema_editor):
    Profile = apps.get_model("accounts", "Profile")
    PermissionSet = apps.get_model("accounts", "PermissionSet")
    for code, name, description, is_admin, permissions in PROFILES:
        Profile.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "description": description,
                "is_system_administrator": is_admin,
                "permissions": permissions,
            },
        )
    for code, name, description, permissions in PERMISSION_SETS:
        PermissionSet.objects.update_or_create(
            code=code, defaults={"name": name, "description": description, "permissions": permissions}
        )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
