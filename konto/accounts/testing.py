"""Builders of orgs and users for tests of every app (never used by product code)."""

from __future__ import annotations

from typing import Any

from konto.accounts.models import LicensePool, LicenseType, Org, PermissionSet, PermissionSetAssignment, Profile, User
from konto.core.editions import Edition

PASSWORD = "konto-test-pass-1"  # noqa: S105 - test fixture


def make_org(
    *,
    legal_name: str = "Testfirma GmbH",
    country: str = "DE",
    full_seats: int = 5,
    identity_seats: int = 100,
    edition: str = Edition.ESSENTIALS,
    **fields: Any,
) -> Org:
    fields.setdefault("street", "Teststraße 1")
    fields.setdefault("postal_code", "10115")
    fields.setdefault("city", "Berlin")
    fields.setdefault("currency", "CHF" if country == "CH" else "EUR")
    org = Org.objects.create(legal_name=legal_name, country=country, edition=edition, **fields)
    LicensePool.objects.create(org=org, license_type=LicenseType.FULL, purchased_seats=full_seats)
    LicensePool.objects.create(org=org, license_type=LicenseType.IDENTITY, free_seats=identity_seats)
    return org


def make_user(
    org: Org | None,
    email: str,
    *,
    profile: str = "standard_user",
    permission_sets: tuple[str, ...] = (),
    license_type: str = LicenseType.FULL,
    full_name: str = "",
    password: str | None = PASSWORD,
    **fields: Any,
) -> User:
    if org is None:
        return User.objects.create_user(email, password, full_name=full_name or email, is_staff=True, **fields)
    user = User.objects.create_user(
        email,
        password,
        full_name=full_name or email.split("@")[0].title(),
        org=org,
        license_type=license_type,
        profile=Profile.objects.get(code=profile),
        **fields,
    )
    for code in permission_sets:
        PermissionSetAssignment.objects.create(org=org, user=user, permission_set=PermissionSet.objects.get(code=code))
    return user


def make_admin(org: Org, email: str, **fields: Any) -> User:
    return make_user(org, email, profile="system_administrator", **fields)


def make_billing_user(org: Org, email: str, **fields: Any) -> User:
    """An Identity user with My Account Admin: billing access only."""
    return make_user(
        org,
        email,
        profile="identity_user",
        license_type=LicenseType.IDENTITY,
        permission_sets=("my_account_admin",),
        **fields,
    )
