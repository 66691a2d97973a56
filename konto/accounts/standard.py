"""The standard profiles and permission sets every installation has.

They are (re)created after every `migrate` and every database flush by a
post_migrate handler, like Django's own permissions; existing rows are left
as the vendor edited them.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps as global_apps
from django.apps.registry import Apps

# code, name, description, is_system_administrator, permissions
STANDARD_PROFILES: tuple[tuple[str, str, str, bool, list[str]], ...] = (
    ("system_administrator", "System Administrator", "Every permission, including user administration.", True, []),
    ("standard_user", "Standard User", "Works in the product; no billing access by itself.", False, []),
    ("identity_user", "Identity User", "Signs in to My Account only; access comes from permission sets.", False, []),
)

# code, name, description, permissions
STANDARD_PERMISSION_SETS: tuple[tuple[str, str, str, list[str]], ...] = (
    ("my_account_admin", "My Account Admin", "Manage Billing: every billing permission.", ["manage_billing"]),
    ("invoice_viewer", "Invoice Viewer", "See, download and share invoices.", ["view_invoices"]),
    (
        "accounts_payable",
        "Accounts Payable",
        "See and pay invoices, manage payment methods.",
        ["view_invoices", "pay_invoices", "manage_payment_methods"],
    ),
    ("purchasing", "Purchasing", "Buy licenses and add-ons, see invoices.", ["purchase", "view_invoices"]),
    ("user_administration", "User Administration", "Invite users and assign licenses.", ["manage_users"]),
)


def ensure_standard_profiles(apps: Apps | None = None) -> None:
    """Create the standard profiles and permission sets that are missing (idempotent)."""
    apps = apps or global_apps
    profile_model: Any = apps.get_model("accounts", "Profile")
    permission_set_model: Any = apps.get_model("accounts", "PermissionSet")
    for code, name, description, is_admin, permissions in STANDARD_PROFILES:
        profile_model.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "description": description,
                "is_system_administrator": is_admin,
                "permissions": permissions,
            },
        )
    for code, name, description, permissions in STANDARD_PERMISSION_SETS:
        permission_set_model.objects.get_or_create(
            code=code, defaults={"name": name, "description": description, "permissions": permissions}
        )
