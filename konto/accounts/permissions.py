"""The permission registry and the one place effective permissions are computed.

Permissions are fixed in code. `manage_billing` is the umbrella: holding it
grants every billing permission. A user's effective permissions are the union
of the profile's and all assigned permission sets', with the umbrella expanded.
The System Administrator profile always holds every permission.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from konto.accounts.models import User


@dataclass(frozen=True)
class Permission:
    code: str
    label: Promise
    description: Promise
    is_billing: bool


MANAGE_BILLING = "manage_billing"
VIEW_INVOICES = "view_invoices"
PAY_INVOICES = "pay_invoices"
PURCHASE = "purchase"
MANAGE_PAYMENT_METHODS = "manage_payment_methods"
MANAGE_BILLING_CONTACTS = "manage_billing_contacts"
MANAGE_RENEWALS = "manage_renewals"
MANAGE_CASES = "manage_cases"
VIEW_AUDIT_LOG = "view_audit_log"
MANAGE_USERS = "manage_users"

REGISTRY: dict[str, Permission] = {
    p.code: p
    for p in [
        Permission(MANAGE_BILLING, _("Manage Billing"), _("Grants every billing permission."), True),
        Permission(VIEW_INVOICES, _("View invoices"), _("See, download and share invoices."), True),
        Permission(PAY_INVOICES, _("Pay invoices"), _("Pay open invoices."), True),
        Permission(PURCHASE, _("Purchase"), _("Buy licenses, products and add-ons."), True),
        Permission(
            MANAGE_PAYMENT_METHODS,
            _("Manage payment methods"),
            _("Add and replace cards and SEPA mandates."),
            True,
        ),
        Permission(
            MANAGE_BILLING_CONTACTS,
            _("Manage billing contacts"),
            _("Edit the billing profile and invoice recipients."),
            True,
        ),
        Permission(MANAGE_RENEWALS, _("Manage renewals"), _("Change upcoming renewals."), True),
        Permission(MANAGE_CASES, _("Manage support cases"), _("Open and follow support cases."), True),
        Permission(VIEW_AUDIT_LOG, _("View audit log"), _("See the org's audit trail."), True),
        Permission(
            MANAGE_USERS,
            _("Manage users"),
            _("Invite users, assign licenses, profiles and permission sets."),
            False,
        ),
    ]
}

BILLING_PERMISSIONS = frozenset(code for code, p in REGISTRY.items() if p.is_billing)
ALL_PERMISSIONS = frozenset(REGISTRY)


def expand(codes: Iterable[str]) -> frozenset[str]:
    """Known codes only, with the umbrella expanded to every billing permission."""
    result = {code for code in codes if code in REGISTRY}
    if MANAGE_BILLING in result:
        result |= BILLING_PERMISSIONS
    return frozenset(result)


def stored_codes(stored: Any) -> set[str]:
    """The permission codes in a profile's or permission set's JSON list.

    The list is edited in the back office, so anything that is not a list of
    strings grants nothing rather than failing the request.
    """
    if not isinstance(stored, list):
        return set()
    return {code for code in stored if isinstance(code, str)}


def effective_permissions(user: User) -> frozenset[str]:
    """The union of the profile's and the permission sets' permissions, cached on the user object (one request)."""
    cached: frozenset[str] | None = getattr(user, "_konto_permissions", None)
    if cached is not None:
        return cached
    if not user.is_authenticated or not user.is_active or user.org_id is None:
        result: frozenset[str] = frozenset()
    elif user.profile is not None and user.profile.is_system_administrator:
        result = ALL_PERMISSIONS
    else:
        codes = stored_codes(user.profile.permissions if user.profile else [])
        for permission_set in user.permission_sets.all():
            codes |= stored_codes(permission_set.permissions)
        result = expand(codes)
    user._konto_permissions = result  # type: ignore[attr-defined]  # per-request cache on the instance
    return result


def has_permission(user: User, code: str) -> bool:
    return code in effective_permissions(user)


def has_any_billing_permission(user: User) -> bool:
    return bool(effective_permissions(user) & BILLING_PERMISSIONS)


def forget_permissions(user: User) -> None:
    """Drop the cache after the user's profile or permission sets changed."""
    if hasattr(user, "_konto_permissions"):
        del user._konto_permissions
