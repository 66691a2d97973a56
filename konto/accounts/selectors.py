"""Tenant-scoped reads for accounts: users, license usage, grantors, tokens."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.db.models import Count, F, Prefetch, QuerySet
from django.utils.translation import gettext_lazy as _

from konto.accounts.exceptions import NotFound
from konto.accounts.models import ApiToken, LicensePool, LicenseType, Org, PermissionSet, Profile, User
from konto.accounts.permissions import MANAGE_USERS, effective_permissions


@dataclass(frozen=True)
class LicenseUsage:
    license_type: str
    label: str
    total: int  # seats the org may assign (free + bought)
    assigned: int  # active users holding this license type
    free_seats: int  # included or donated seats in `total`

    @property
    def available(self) -> int:
        return max(self.total - self.assigned, 0)

    @property
    def percent_used(self) -> int:
        if self.total <= 0:
            return 100 if self.assigned else 0
        return min(100, round(100 * self.assigned / self.total))


def org_users(*, org: Org) -> QuerySet[User]:
    """The org's users with profile and permission sets loaded (constant queries)."""
    return (
        User.objects.filter(org=org)
        .select_related("profile")
        .prefetch_related(Prefetch("permission_sets", queryset=PermissionSet.objects.order_by("name")))
        .order_by("-is_active", "full_name", "email")
    )


def get_org_user(*, org: Org, public_id: str) -> User:
    """A user of `org` by public id; another org's user is NotFound like a missing one."""
    try:
        return org_users(org=org).get(public_id=public_id)
    except User.DoesNotExist:
        raise NotFound(_("User not found."), code="not_found") from None


def license_usage(*, org: Org) -> list[LicenseUsage]:
    """Bought / assigned / free per license type, in two queries."""
    pools = {pool.license_type: pool for pool in LicensePool.objects.filter(org=org)}
    counts = dict(
        User.objects.filter(org=org, is_active=True)
        .values_list("license_type")
        .annotate(n=Count("id"))
        .values_list("license_type", "n")
    )
    usage = []
    for license_type in LicenseType:
        pool = pools.get(license_type.value)
        usage.append(
            LicenseUsage(
                license_type=license_type.value,
                label=str(license_type.label),
                total=pool.total_seats if pool else 0,
                assigned=counts.get(license_type.value, 0),
                free_seats=pool.free_seats if pool else 0,
            )
        )
    return usage


def grantors(*, org: Org) -> list[User]:
    """Active users of the org who can grant permissions (hold manage_users)."""
    candidates = (
        User.objects.filter(org=org, is_active=True, profile__isnull=False)
        .select_related("profile")
        .prefetch_related("permission_sets")
        .order_by("full_name")
    )
    return [user for user in candidates if MANAGE_USERS in effective_permissions(user)]


def assignable_profiles() -> QuerySet[Profile]:
    return Profile.objects.order_by("-is_system_administrator", "name")


def assignable_permission_sets() -> QuerySet[PermissionSet]:
    return PermissionSet.objects.order_by("name")


def org_api_tokens(*, org: Org) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(org=org).select_related("user").order_by("revoked_at", "-created_at")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def active_token_for(secret: str) -> ApiToken | None:
    """The unrevoked token whose secret this is, with an active user still in the token's org, or None."""
    if not isinstance(secret, str) or not secret:
        return None
    try:
        return ApiToken.objects.select_related("user", "user__profile", "org").get(
            token_hash=hash_secret(secret), revoked_at__isnull=True, user__is_active=True, user__org=F("org")
        )
    except ApiToken.DoesNotExist:
        return None
