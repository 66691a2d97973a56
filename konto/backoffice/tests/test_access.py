"""Who may enter the back office: active vendor staff only, never an org's users."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from konto.accounts.models import User
from konto.accounts.testing import PASSWORD, make_admin, make_billing_user
from konto.backoffice.roles import GROUP_NAMES, ROLE_PERMISSIONS
from konto.backoffice.services import assign_role_group

pytestmark = pytest.mark.django_db

LOGIN_URL = "/backoffice/login/"


def _log_in(client: Client, email: str, password: str = PASSWORD):
    return client.post(LOGIN_URL, {"username": email, "password": password, "next": "/backoffice/"})


def test_staff_logs_in_with_email_and_sees_the_org_list(client, billing_ops, org):
    response = _log_in(client, "ops@vendor.example")

    assert response.status_code == 302
    assert response["Location"] == "/backoffice/"
    org_list = client.get("/backoffice/accounts/org/")
    assert org_list.status_code == 200
    assert "Bäckerei Test GmbH" in org_list.content.decode()


def test_org_system_administrator_cannot_log_in(client, admin):
    response = _log_in(client, admin.email)

    assert response.status_code == 200  # the login form again, with an error
    assert [error.code for error in response.context["form"].errors.as_data()["__all__"]] == ["invalid_login"]
    assert "_auth_user_id" not in client.session


def test_identity_user_cannot_log_in(client, billing_user):
    response = _log_in(client, billing_user.email)

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_org_user_marked_as_staff_is_still_refused(client, org):
    # Even a wrongly set staff flag does not open the back office to an org's user.
    intruder = make_admin(org, "flagged@test.example", is_staff=True)

    response = _log_in(client, intruder.email)
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session

    client.force_login(intruder)
    response = client.get("/backoffice/accounts/org/")
    assert response.status_code == 302
    assert response["Location"].startswith("/backoffice/login/")


def test_logged_in_org_users_are_sent_to_the_login_page(client, admin, org):
    identity_user = make_billing_user(org, "ap@test.example")
    for user in (admin, identity_user):
        client.force_login(user)

        response = client.get("/backoffice/")

        assert response.status_code == 302
        assert response["Location"] == "/backoffice/login/?next=/backoffice/"


def test_deactivated_staff_cannot_log_in(client, billing_ops):
    User.objects.filter(pk=billing_ops.pk).update(is_active=False)

    response = _log_in(client, billing_ops.email)

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_wrong_password_is_refused(client, billing_ops):
    response = _log_in(client, billing_ops.email, "not-the-password")

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_every_role_has_its_group_with_the_role_permissions():
    for role, name in GROUP_NAMES.items():
        group = Group.objects.get(name=name)
        codes = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}
        assert codes == ROLE_PERMISSIONS[role]


def test_role_decides_the_permissions(billing_ops, account_executive, support_agent):
    assert billing_ops.has_perm("catalog.change_pricebookentry")
    assert billing_ops.has_perm("accounts.change_org")
    assert not billing_ops.has_perm("accounts.change_user")
    assert account_executive.has_perm("accounts.assign_account_executive")
    assert not account_executive.has_perm("accounts.change_org")
    assert account_executive.has_perm("accounts.view_user")
    assert support_agent.has_perm("accounts.view_org")
    assert not support_agent.has_perm("catalog.change_pricebookentry")


def test_changing_the_role_moves_the_user_to_the_other_group(billing_ops):
    billing_ops.staff_role = "support_agent"
    billing_ops.save()

    assign_role_group(billing_ops)

    assert list(billing_ops.groups.values_list("name", flat=True)) == ["Support agents"]
