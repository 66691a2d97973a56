"""License pools: usage numbers and every path that assigns or frees a seat."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.utils import translation

from konto.accounts.exceptions import InvalidInput, LicenseLimitReached
from konto.accounts.models import Invitation, LicensePool, LicenseType, Org, PermissionSet, Profile, User
from konto.accounts.selectors import LicenseUsage, license_usage
from konto.accounts.services.users import (
    change_user_access,
    deactivate_user,
    give_billing_access,
    invite_user,
    reactivate_user,
)
from konto.accounts.testing import make_org, make_user
from konto.core.audit import Actor
from konto.core.models import AuditEvent


@pytest.fixture
def actor(admin: User) -> Actor:
    return Actor(user_id=admin.pk, email=admin.email)


def _profile(code: str) -> Profile:
    return Profile.objects.get(code=code)


def _fill_identity_pool(org: Org, count: int) -> None:
    """`count` active Identity users, created in one statement (no password hashing)."""
    profile = _profile("identity_user")
    User.objects.bulk_create(
        User(
            email=f"identity-{n}@test.example",
            full_name=f"Identity {n}",
            org=org,
            license_type=LicenseType.IDENTITY,
            profile=profile,
            password="!unusable",
        )
        for n in range(count)
    )


def _state(org: Org) -> dict[str, Any]:
    """Everything a refused license operation must leave untouched."""
    return {
        "users": sorted(
            User.objects.filter(org=org).values_list("email", "license_type", "profile__code", "is_active")
        ),
        "assignments": sorted(
            User.objects.filter(org=org)
            .values_list("email", "permission_sets__code")
            .exclude(permission_sets__code=None)
        ),
        "invitations": Invitation.objects.count(),
        "events": AuditEvent.objects.count(),
        "mails": len(mail.outbox),
    }


# ---------------------------------------------------------------- usage


def test_license_usage_gives_bought_assigned_and_free_per_type(org, admin, billing_user, standard_user):
    # Given 5 bought Full seats, 100 free Identity licenses, and a deactivated Full user
    make_user(org, "left@test.example", is_active=False)

    usage = license_usage(org=org)

    # Then only active users count as assigned
    assert usage == [
        LicenseUsage(license_type="full", label="Full", total=5, assigned=2, free_seats=0),
        LicenseUsage(license_type="identity", label="Identity", total=100, assigned=1, free_seats=100),
    ]
    assert [(u.available, u.percent_used) for u in usage] == [(3, 40), (99, 1)]


def test_license_usage_adds_free_and_bought_seats_of_a_pool(org, admin):
    LicensePool.objects.filter(org=org, license_type=LicenseType.FULL).update(free_seats=10, purchased_seats=3)
    full = license_usage(org=org)[0]
    assert (full.total, full.assigned, full.free_seats, full.available) == (13, 1, 10, 12)


def test_license_usage_of_an_org_without_pools_is_zero_and_never_divides_by_zero(db):
    org = Org.objects.create(legal_name="Ohne Pool GmbH", street="Weg 1", postal_code="1", city="Bonn", country="DE")
    assert [(u.total, u.assigned, u.available, u.percent_used) for u in license_usage(org=org)] == [
        (0, 0, 0, 0),
        (0, 0, 0, 0),
    ]


def test_license_usage_counts_only_its_own_org(org, admin, other_admin):
    assert license_usage(org=org)[0].assigned == 1


def test_overassigned_pool_shows_no_negative_availability(org, admin, standard_user):
    LicensePool.objects.filter(org=org, license_type=LicenseType.FULL).update(purchased_seats=1)
    full = license_usage(org=org)[0]
    assert (full.total, full.assigned, full.available, full.percent_used) == (1, 2, 0, 100)


# ---------------------------------------------------------------- assigning seats


def test_invite_user_consumes_a_seat_of_its_license_type(org, admin, actor):
    invite_user(
        org=org,
        actor=actor,
        full_name="Neue Kollegin",
        email="neu@test.example",
        license_type=LicenseType.FULL,
        profile=_profile("standard_user"),
    )
    full, identity = license_usage(org=org)
    assert (full.assigned, full.available) == (2, 3)
    assert identity.assigned == 0


def test_the_101st_identity_license_is_refused_with_bought_assigned_and_free(org, admin, actor):
    # Given all 100 free Identity licenses are assigned
    _fill_identity_pool(org, 100)
    before = _state(org)

    # When billing access is given to one more person
    with translation.override("en"), pytest.raises(LicenseLimitReached) as refused:
        give_billing_access(org=org, actor=actor, full_name="Hundert Eins", email="101@test.example")

    # Then the message gives bought / assigned / free, and nothing was created
    assert str(refused.value.message) == (
        "No Identity license is free: 100 bought, 100 assigned, 0 free. Buy more licenses or deactivate a user first."
    )
    assert refused.value.code == "license_limit_reached"
    assert refused.value.status == 409
    assert refused.value.extra == {"license_type": "identity", "bought": 100, "assigned": 100, "free": 0}
    assert _state(org) == before
    assert not User.objects.filter(email="101@test.example").exists()


def test_invite_user_is_refused_when_the_identity_pool_is_full(org, admin, actor):
    _fill_identity_pool(org, 100)
    before = _state(org)
    with pytest.raises(LicenseLimitReached):
        invite_user(
            org=org,
            actor=actor,
            full_name="Hundert Eins",
            email="101@test.example",
            license_type=LicenseType.IDENTITY,
            profile=_profile("identity_user"),
        )
    assert _state(org) == before


def test_a_paid_identity_pack_raises_the_limit(org, admin, actor):
    _fill_identity_pool(org, 100)
    LicensePool.objects.filter(org=org, license_type=LicenseType.IDENTITY).update(purchased_seats=10)
    result = give_billing_access(org=org, actor=actor, full_name="Hundert Eins", email="101@test.example")
    assert result.created is True
    assert license_usage(org=org)[1].assigned == 101


def test_full_pool_limits_invitations_with_its_numbers(db):
    # Given an org with 2 bought Full seats, both assigned
    org = make_org(full_seats=2)
    admin = make_user(org, "admin@small.example", profile="system_administrator")
    make_user(org, "two@small.example")
    actor = Actor(user_id=admin.pk, email=admin.email)
    before = _state(org)

    with translation.override("en"), pytest.raises(LicenseLimitReached) as refused:
        invite_user(
            org=org,
            actor=actor,
            full_name="Drei",
            email="three@small.example",
            license_type=LicenseType.FULL,
            profile=_profile("standard_user"),
        )

    assert str(refused.value.message) == (
        "No Full license is free: 2 bought, 2 assigned, 0 free. Buy more licenses or deactivate a user first."
    )
    assert refused.value.fields == {"license_type": refused.value.message}
    assert _state(org) == before


def test_an_unknown_license_type_is_refused(org, admin, actor):
    before = _state(org)
    with pytest.raises(InvalidInput) as refused:
        invite_user(
            org=org,
            actor=actor,
            full_name="X",
            email="x@test.example",
            license_type="platinum",
            profile=_profile("standard_user"),
        )
    assert refused.value.code == "invalid_license_type"
    assert set(refused.value.fields) == {"license_type"}
    assert _state(org) == before


def test_deactivation_frees_a_seat(db):
    org = make_org(full_seats=2)
    admin = make_user(org, "admin@small.example", profile="system_administrator")
    leaving = make_user(org, "leaving@small.example")
    actor = Actor(user_id=admin.pk, email=admin.email)

    deactivate_user(org=org, actor=actor, user=leaving)

    assert license_usage(org=org)[0].available == 1
    invite_user(
        org=org,
        actor=actor,
        full_name="Nachfolger",
        email="next@small.example",
        license_type=LicenseType.FULL,
        profile=_profile("standard_user"),
    )
    assert license_usage(org=org)[0].assigned == 2


def test_reactivation_needs_a_free_seat(db):
    # Given both Full seats are assigned and a third user is deactivated
    org = make_org(full_seats=2)
    admin = make_user(org, "admin@small.example", profile="system_administrator")
    colleague = make_user(org, "colleague@small.example")
    returning = make_user(org, "back@small.example", is_active=False)
    actor = Actor(user_id=admin.pk, email=admin.email)
    before = _state(org)

    # When the deactivated user is reactivated, it is refused and nothing changes
    with pytest.raises(LicenseLimitReached):
        reactivate_user(org=org, actor=actor, user=returning)
    assert _state(org) == before
    returning.refresh_from_db()
    assert returning.is_active is False

    # Once a seat is free, reactivation succeeds
    deactivate_user(org=org, actor=actor, user=colleague)
    reactivate_user(org=org, actor=actor, user=returning)
    returning.refresh_from_db()
    assert (returning.is_active, returning.deactivated_at) == (True, None)
    assert license_usage(org=org)[0].assigned == 2


def test_change_to_another_license_type_needs_a_free_seat_of_that_type(db):
    # Given the only Full seat is taken by the admin
    org = make_org(full_seats=1)
    admin = make_user(org, "admin@small.example", profile="system_administrator")
    identity = make_user(org, "books@small.example", profile="identity_user", license_type=LicenseType.IDENTITY)
    actor = Actor(user_id=admin.pk, email=admin.email)
    before = _state(org)

    # When the Identity user is moved to a Full license, it is refused
    with pytest.raises(LicenseLimitReached) as refused:
        change_user_access(
            org=org,
            actor=actor,
            user=identity,
            license_type=LicenseType.FULL,
            profile=_profile("standard_user"),
            permission_sets=[],
        )
    assert refused.value.extra["license_type"] == "full"
    assert _state(org) == before


def test_change_to_another_license_type_with_a_free_seat_moves_the_seat(org, admin, standard_user, actor):
    change_user_access(
        org=org,
        actor=actor,
        user=standard_user,
        license_type=LicenseType.IDENTITY,
        profile=_profile("identity_user"),
        permission_sets=PermissionSet.objects.filter(code="my_account_admin"),
    )
    full, identity = license_usage(org=org)
    assert (full.assigned, identity.assigned) == (1, 1)


def test_keeping_the_license_type_needs_no_free_seat(db):
    org = make_org(full_seats=2)
    admin = make_user(org, "admin@small.example", profile="system_administrator")
    colleague = make_user(org, "colleague@small.example")
    actor = Actor(user_id=admin.pk, email=admin.email)

    change_user_access(
        org=org,
        actor=actor,
        user=colleague,
        license_type=LicenseType.FULL,
        profile=_profile("standard_user"),
        permission_sets=PermissionSet.objects.filter(code="invoice_viewer"),
    )

    colleague.refresh_from_db()
    assert [ps.code for ps in colleague.permission_sets.all()] == ["invoice_viewer"]


def test_a_deactivated_user_may_change_license_type_without_a_free_seat(db):
    org = make_org(full_seats=1)
    admin = make_user(org, "admin@small.example", profile="system_administrator")
    former = make_user(org, "former@small.example", profile="identity_user", license_type="identity", is_active=False)
    actor = Actor(user_id=admin.pk, email=admin.email)

    change_user_access(
        org=org,
        actor=actor,
        user=former,
        license_type=LicenseType.FULL,
        profile=_profile("standard_user"),
        permission_sets=[],
    )

    former.refresh_from_db()
    assert (former.license_type, former.is_active) == ("full", False)
    # and the seat is checked when the user comes back
    with pytest.raises(LicenseLimitReached):
        reactivate_user(org=org, actor=actor, user=former)
