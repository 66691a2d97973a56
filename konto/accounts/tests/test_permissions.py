"""Permission resolution: profile | permission sets, the umbrella, caching, grantors."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from konto.accounts.models import Org, PermissionSet, PermissionSetAssignment, Profile, User
from konto.accounts.permissions import (
    ALL_PERMISSIONS,
    BILLING_PERMISSIONS,
    effective_permissions,
    forget_permissions,
    has_any_billing_permission,
    has_permission,
)
from konto.accounts.selectors import grantors
from konto.accounts.testing import make_admin, make_user

EVERY_BILLING_PERMISSION = {
    "manage_billing",
    "view_invoices",
    "pay_invoices",
    "purchase",
    "manage_payment_methods",
    "manage_billing_contacts",
    "manage_renewals",
    "manage_cases",
    "view_audit_log",
}
EVERY_PERMISSION = EVERY_BILLING_PERMISSION | {"manage_users"}


def _assign(user: User, code: str) -> None:
    assert user.org is not None
    PermissionSetAssignment.objects.create(org=user.org, user=user, permission_set=PermissionSet.objects.get(code=code))


def _fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


def test_registry_has_nine_billing_permissions_and_manage_users_beside_them():
    assert set(BILLING_PERMISSIONS) == EVERY_BILLING_PERMISSION
    assert set(ALL_PERMISSIONS) == EVERY_PERMISSION


def test_standard_user_without_permission_sets_has_no_permission(standard_user):
    assert effective_permissions(standard_user) == frozenset()
    assert has_any_billing_permission(standard_user) is False


def test_effective_permissions_are_the_union_of_profile_and_every_permission_set(org):
    # Given a profile granting view_invoices and two sets with overlapping permissions
    profile = Profile.objects.create(
        code="controller", name="Controller", permissions=["view_invoices", "manage_cases"]
    )
    user = make_user(org, "controller@test.example")
    User.objects.filter(pk=user.pk).update(profile=profile)
    user = _fresh(user)
    _assign(user, "accounts_payable")  # view_invoices, pay_invoices, manage_payment_methods
    _assign(user, "purchasing")  # purchase, view_invoices

    # Then the user holds exactly the union
    assert effective_permissions(user) == {
        "view_invoices",
        "manage_cases",
        "pay_invoices",
        "manage_payment_methods",
        "purchase",
    }


def test_manage_billing_expands_to_every_billing_permission_but_not_manage_users(billing_user):
    assert effective_permissions(billing_user) == EVERY_BILLING_PERMISSION
    assert has_permission(billing_user, "manage_users") is False
    assert has_permission(billing_user, "pay_invoices") is True


def test_manage_billing_in_a_profile_expands_like_in_a_permission_set(org):
    profile = Profile.objects.create(code="finance", name="Finance", permissions=["manage_billing"])
    user = make_user(org, "finance@test.example")
    User.objects.filter(pk=user.pk).update(profile=profile)
    assert effective_permissions(_fresh(user)) == EVERY_BILLING_PERMISSION


def test_system_administrator_holds_every_permission_whatever_the_stored_list_says(admin):
    # The profile's stored list is empty: the flag, not the list, grants everything.
    assert Profile.objects.get(code="system_administrator").permissions == []
    assert effective_permissions(admin) == EVERY_PERMISSION


def test_system_administrator_keeps_manage_users_even_if_the_stored_list_is_edited(org):
    Profile.objects.filter(code="system_administrator").update(permissions=["view_invoices"])
    admin = make_admin(org, "second-admin@test.example")
    assert has_permission(admin, "manage_users") is True
    assert effective_permissions(admin) == EVERY_PERMISSION


@pytest.mark.parametrize(
    "stored",
    [
        ["view_invoices", "delete_everything", "MANAGE_BILLING", ""],
        ["view_invoices", 42, None, ["manage_billing"], {"manage_billing": True}],
    ],
    ids=["unknown-codes", "values-of-other-types"],
)
def test_unknown_codes_in_stored_json_are_ignored(org, stored):
    permission_set = PermissionSet.objects.create(code="legacy", name="Legacy", permissions=stored)
    user = make_user(org, "legacy@test.example")
    PermissionSetAssignment.objects.create(org=org, user=user, permission_set=permission_set)
    assert effective_permissions(_fresh(user)) == {"view_invoices"}


@pytest.mark.parametrize("stored", [{"manage_billing": True}, "manage_billing", 7])
def test_stored_json_that_is_not_a_list_grants_nothing(org, stored):
    permission_set = PermissionSet.objects.create(code="broken", name="Broken", permissions=stored)
    user = make_user(org, "broken@test.example")
    PermissionSetAssignment.objects.create(org=org, user=user, permission_set=permission_set)
    assert effective_permissions(_fresh(user)) == frozenset()


def test_inactive_user_has_no_permission(admin, billing_user):
    User.objects.filter(pk__in=[admin.pk, billing_user.pk]).update(is_active=False)
    assert effective_permissions(_fresh(admin)) == frozenset()
    assert effective_permissions(_fresh(billing_user)) == frozenset()


def test_vendor_staff_without_org_has_no_permission(db):
    staff = make_user(None, "ops@vendor.example", staff_role=User.StaffRole.BILLING_OPS)
    assert staff.is_staff is True
    assert effective_permissions(staff) == frozenset()
    assert has_any_billing_permission(staff) is False


def test_anonymous_visitor_has_no_permission(db):
    assert effective_permissions(AnonymousUser()) == frozenset()  # type: ignore[arg-type]


def test_permissions_are_cached_per_user_instance_until_forgotten(standard_user, django_assert_num_queries):
    # Given the permissions of a freshly loaded user were read once
    standard_user = _fresh(standard_user)
    with django_assert_num_queries(2):  # profile, permission sets
        assert effective_permissions(standard_user) == frozenset()

    # When a permission set is assigned in the database
    _assign(standard_user, "invoice_viewer")

    # Then the same instance answers from its cache without a query
    with django_assert_num_queries(0):
        assert effective_permissions(standard_user) == frozenset()
    # a fresh instance (the next request) sees the change
    assert effective_permissions(_fresh(standard_user)) == {"view_invoices"}
    # and forget_permissions drops the cache of this instance
    forget_permissions(standard_user)
    assert effective_permissions(standard_user) == {"view_invoices"}


def test_forget_permissions_on_an_instance_never_read_is_harmless(standard_user):
    forget_permissions(standard_user)
    assert effective_permissions(standard_user) == frozenset()


@pytest.mark.parametrize(
    ("permission_set", "expected"),
    [
        ("my_account_admin", True),
        ("invoice_viewer", True),
        ("accounts_payable", True),
        ("purchasing", True),
        ("user_administration", False),  # manage_users is not a billing permission
    ],
)
def test_has_any_billing_permission_per_standard_permission_set(standard_user, permission_set, expected):
    _assign(standard_user, permission_set)
    assert has_any_billing_permission(_fresh(standard_user)) is expected


def test_grantors_are_exactly_the_orgs_active_users_holding_manage_users(
    org: Org, admin, billing_user, standard_user, other_admin
):
    # Given: a second admin, a deactivated admin, a user administrator (Standard User + set),
    # a deactivated user administrator, and the org's plain billing and standard users
    make_admin(org, "zora@test.example", full_name="Zora Zweitadmin")
    make_admin(org, "old-admin@test.example", full_name="Olaf Old", is_active=False)
    user_admin = make_user(org, "hr@test.example", full_name="Hanna HR")
    _assign(user_admin, "user_administration")
    gone = make_user(org, "gone@test.example", full_name="Gina Gone", is_active=False)
    _assign(gone, "user_administration")

    # Then grantors lists exactly the active ones with manage_users, by name;
    # the other org's admin is not among them
    assert [user.email for user in grantors(org=org)] == [
        "admin@test.example",
        "hr@test.example",
        "zora@test.example",
    ]


def test_grantors_of_an_org_without_users_is_empty(org):
    assert grantors(org=org) == []
