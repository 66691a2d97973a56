"""Vendor staff roles and the Django auth groups that carry their back-office permissions.

Each `User.StaffRole` maps to one group. The permissions below are the single
source of truth: the backoffice migration creates the groups from them (so
every installation has them) and `seed_demo` re-applies them. Applying is
idempotent and sets each group's permissions exactly to this table.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps as global_apps
from django.apps.registry import Apps

BILLING_OPS = "billing_ops"
ACCOUNT_EXECUTIVE = "account_executive"
SUPPORT_AGENT = "support_agent"

# Stable group names (stored in the database, so not translated).
GROUP_NAMES: dict[str, str] = {
    BILLING_OPS: "Billing operations",
    ACCOUNT_EXECUTIVE: "Account executives",
    SUPPORT_AGENT: "Support agents",
}

# A permission that is not one of Django's model defaults: changing an org's
# account executive without being allowed to edit anything else of the org.
ASSIGN_ACCOUNT_EXECUTIVE = ("accounts", "org", "assign_account_executive", "Can assign an org's account executive")


def _model_perms(app_label: str, model: str, *actions: str) -> list[str]:
    return [f"{app_label}.{action}_{model}" for action in actions]


_EVERYTHING_VISIBLE = [
    *_model_perms("accounts", "vendor", "view"),
    *_model_perms("accounts", "org", "view"),
    *_model_perms("accounts", "licensepool", "view"),
    *_model_perms("accounts", "user", "view"),
    *_model_perms("accounts", "profile", "view"),
    *_model_perms("accounts", "permissionset", "view"),
    *_model_perms("accounts", "invitation", "view"),
    *_model_perms("accounts", "apitoken", "view"),
    *_model_perms("catalog", "product", "view"),
    *_model_perms("catalog", "pricebook", "view"),
    *_model_perms("catalog", "pricebookentry", "view"),
    *_model_perms("contracts", "contract", "view"),
    *_model_perms("contracts", "contractline", "view"),
    *_model_perms("contracts", "order", "view"),
    *_model_perms("contracts", "orderline", "view"),
    *_model_perms("contracts", "charge", "view"),
    *_model_perms("core", "auditevent", "view"),
    *_model_perms("billing", "billingrun", "view"),
    *_model_perms("billing", "billingrunerror", "view"),
    *_model_perms("billing", "invoice", "view"),
    *_model_perms("billing", "invoiceline", "view"),
    *_model_perms("billing", "creditnote", "view"),
    *_model_perms("billing", "creditnoteline", "view"),
    *_model_perms("billing", "numberseries", "view"),
    *_model_perms("billing", "numbercounter", "view"),
    # Dunning (payments): the schedule and the notices taken.
    *_model_perms("payments", "dunningpolicy", "view"),
    *_model_perms("payments", "dunningnotice", "view"),
    # Payments (bank side): payments and refunds, payment methods (masked), SEPA files, bank statements.
    *_model_perms("payments", "payment", "view"),
    *_model_perms("payments", "paymentallocation", "view"),
    *_model_perms("payments", "refund", "view"),
    *_model_perms("payments", "paymentmethod", "view"),
    *_model_perms("payments", "sepaexport", "view"),
    *_model_perms("payments", "bankstatement", "view"),
    *_model_perms("payments", "bankstatementline", "view"),
]

# role -> "app_label.codename" permissions of its group
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    # Catalog, price books, the vendor record, orgs and their license pools.
    BILLING_OPS: frozenset(
        [
            *_EVERYTHING_VISIBLE,
            *_model_perms("catalog", "product", "add", "change", "delete"),
            *_model_perms("catalog", "pricebook", "add", "change", "delete"),
            *_model_perms("catalog", "pricebookentry", "add", "change", "delete"),
            *_model_perms("accounts", "vendor", "add", "change"),
            *_model_perms("accounts", "org", "add", "change"),
            *_model_perms("accounts", "licensepool", "add", "change"),
            # Revoking a leaked API token is an operations task.
            *_model_perms("accounts", "apitoken", "change"),
            "accounts.assign_account_executive",
            # Invoices: "change" is marking one uncollectible, "add credit note" issuing one through the
            # billing services (the admin never edits either); "change number series" edits its format.
            *_model_perms("billing", "invoice", "change"),
            *_model_perms("billing", "creditnote", "add"),
            *_model_perms("billing", "numberseries", "change"),
            # The dunning schedule: step days, retry days, the suspension webhook URL.
            *_model_perms("payments", "dunningpolicy", "change"),
            # The bank side: refunds, making and downloading SEPA files (they hold full IBANs), importing
            # bank statements and assigning or ignoring their unmatched lines.
            *_model_perms("payments", "refund", "add"),
            *_model_perms("payments", "sepaexport", "add"),
            *_model_perms("payments", "bankstatement", "add"),
            *_model_perms("payments", "bankstatementline", "change"),
        ]
    ),
    # Sees orgs and their users; may hand an org to another account executive.
    ACCOUNT_EXECUTIVE: frozenset(
        [
            *_model_perms("accounts", "org", "view"),
            *_model_perms("accounts", "licensepool", "view"),
            *_model_perms("accounts", "user", "view"),
            *_model_perms("accounts", "profile", "view"),
            *_model_perms("accounts", "permissionset", "view"),
            *_model_perms("catalog", "product", "view"),
            *_model_perms("catalog", "pricebook", "view"),
            *_model_perms("catalog", "pricebookentry", "view"),
            # What their orgs bought and ordered (quotes and renewals start from it).
            *_model_perms("contracts", "contract", "view"),
            *_model_perms("contracts", "contractline", "view"),
            *_model_perms("contracts", "order", "view"),
            *_model_perms("contracts", "orderline", "view"),
            # Their orgs' invoices (a customer call about an invoice starts there).
            *_model_perms("billing", "invoice", "view"),
            *_model_perms("billing", "invoiceline", "view"),
            "accounts.assign_account_executive",
        ]
    ),
    # Looks, never touches.
    SUPPORT_AGENT: frozenset(_EVERYTHING_VISIBLE),
}


def sync_staff_groups(apps: Apps | None = None) -> None:
    """Create the role groups and set their permissions exactly to ROLE_PERMISSIONS.

    Works with the live app registry and with a migration's historical one.
    Permissions of models that do not exist (yet) are skipped; content types
    and default permissions of the apps involved are created first, because
    Django itself only creates them after all migrations have run.
    """
    apps = apps or global_apps
    from django.contrib.auth.management import create_permissions

    app_labels = sorted({code.split(".", 1)[0] for codes in ROLE_PERMISSIONS.values() for code in codes})
    for app_label in app_labels:
        try:
            create_permissions(global_apps.get_app_config(app_label), verbosity=0, apps=apps)
        except LookupError:  # the app is not installed
            continue
    Group: Any = apps.get_model("auth", "Group")
    Permission: Any = apps.get_model("auth", "Permission")
    ContentType: Any = apps.get_model("contenttypes", "ContentType")

    app_label, model, codename, name = ASSIGN_ACCOUNT_EXECUTIVE
    content_type = ContentType.objects.filter(app_label=app_label, model=model).first()
    if content_type is not None:
        Permission.objects.get_or_create(content_type=content_type, codename=codename, defaults={"name": name})

    known = {
        f"{app}.{codename}": pk
        for pk, app, codename in Permission.objects.values_list("pk", "content_type__app_label", "codename")
    }
    for role, codes in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=GROUP_NAMES[role])
        group.permissions.set(sorted(known[code] for code in codes if code in known))


def role_group_name(role: str) -> str | None:
    return GROUP_NAMES.get(role)
