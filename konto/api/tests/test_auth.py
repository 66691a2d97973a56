"""Bearer tokens: who may call the API, as whom, and what a refusal looks like."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import translation

from konto.accounts.models import ApiToken, Org, User
from konto.accounts.permissions import REGISTRY
from konto.accounts.services.tokens import revoke_api_token
from konto.accounts.services.users import deactivate_user
from konto.accounts.testing import make_user
from konto.api.tests.conftest import NOW, ApiClient, create_token, german, problem
from konto.core.audit import Actor

UNAUTHORIZED = "Send a valid API token in the header “Authorization: Bearer <token>”."


def assert_unauthorized(response) -> None:
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json; charset=utf-8"
    assert response["WWW-Authenticate"] == 'Bearer realm="konto"'
    assert response.json() == problem(401, "unauthorized", UNAUTHORIZED)


def test_request_without_token_is_refused_with_401(anonymous_api: ApiClient) -> None:
    # when
    response = anonymous_api.get("/me")
    # then
    assert_unauthorized(response)


@pytest.mark.parametrize(
    "authorization",
    [
        "",
        "Bearer",
        "Bearer ",
        "bearer-konto_abc",
        "Basic YWRtaW46c2VjcmV0",
        "Token konto_abc",
        "Bearer konto_not-a-real-token",
        "Bearer " + "x" * 5000,
        "Bearer konto_abc\tdef",
        "Bearer ünïcödé",
    ],
)
def test_malformed_or_unknown_authorization_is_refused_with_401(admin_api: ApiClient, authorization: str) -> None:
    # when
    response = admin_api.get("/me", authorization=authorization)
    # then
    assert_unauthorized(response)


def test_token_with_extra_words_after_it_is_refused(admin_api: ApiClient) -> None:
    # when
    response = admin_api.get("/me", authorization=f"Bearer {admin_api.secret} extra")
    # then
    assert_unauthorized(response)


def test_scheme_name_is_case_insensitive(admin_api: ApiClient) -> None:
    # when
    response = admin_api.get("/me", authorization=f"bearer {admin_api.secret}")
    # then
    assert response.status_code == 200


def test_revoked_token_is_refused_with_401(admin: User, admin_api: ApiClient) -> None:
    # given
    token = ApiToken.objects.get(user=admin)
    assert admin.org is not None
    revoke_api_token(org=admin.org, actor=Actor.system("test"), public_id=token.public_id)
    # when
    response = admin_api.get("/me")
    # then
    assert_unauthorized(response)


def test_token_of_a_user_deactivated_by_an_admin_is_refused_with_401(
    org: Org, admin: User, billing_user: User, billing_api: ApiClient
) -> None:
    # given
    deactivate_user(org=org, actor=Actor(user_id=admin.pk, email=admin.email), user=billing_user)
    # when
    response = billing_api.get("/me")
    # then
    assert_unauthorized(response)


def test_unrevoked_token_of_an_inactive_user_is_refused_with_401(billing_user: User, billing_api: ApiClient) -> None:
    # given: the user is inactive although the token itself was never revoked
    User.objects.filter(pk=billing_user.pk).update(is_active=False)
    assert ApiToken.objects.get(user=billing_user).revoked_at is None
    # when
    response = billing_api.get("/me")
    # then
    assert_unauthorized(response)


def test_unauthorized_detail_follows_accept_language(anonymous_api: ApiClient) -> None:
    # when
    response = anonymous_api.get("/me", language="de")
    # then
    assert response.status_code == 401
    assert response["Content-Language"] == "de"
    assert response.json()["detail"] == german(UNAUTHORIZED)


def test_token_acts_as_its_user(billing_user: User, billing_api: ApiClient) -> None:
    # when
    response = billing_api.get("/me")
    # then
    assert response.status_code == 200
    assert response.json()["id"] == billing_user.public_id


def test_use_of_a_token_is_recorded_at_most_once_a_minute(billing_user: User, billing_api: ApiClient, clock) -> None:
    # when
    billing_api.get("/me")
    # then
    token = ApiToken.objects.get(user=billing_user)
    assert token.last_used_at == NOW
    # when: used again 30 seconds later, then 2 minutes later
    clock.shift(timedelta(seconds=30))
    billing_api.get("/me")
    token.refresh_from_db()
    assert token.last_used_at == NOW
    clock.shift(timedelta(minutes=2))
    billing_api.get("/me")
    token.refresh_from_db()
    assert token.last_used_at == NOW + timedelta(minutes=2, seconds=30)


def test_user_without_billing_permission_is_refused_with_403_naming_manage_billing(standard_api: ApiClient) -> None:
    # when
    response = standard_api.get("/org")
    # then
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json; charset=utf-8"
    assert response.json() == problem(
        403,
        "permission_denied",
        "This needs the permission “Manage Billing” (manage_billing), which your user does not have. "
        "Ask a user who manages your org's users to grant it.",
        missing_permission="manage_billing",
    )


def test_user_administration_without_billing_permission_is_still_refused(org: Org) -> None:
    # given: a user who may manage users but holds no billing permission
    user = make_user(org, "it@test.example", permission_sets=("user_administration",))
    api = ApiClient(create_token(user))
    # when
    response = api.get("/users")
    # then
    assert response.status_code == 403
    assert response.json()["missing_permission"] == "manage_billing"


def test_refusal_names_the_permission_in_german(standard_api: ApiClient) -> None:
    # when
    response = standard_api.get("/me", language="de")
    # then
    assert response.status_code == 403
    assert response["Content-Language"] == "de"
    with translation.override("de"):
        label = str(REGISTRY["manage_billing"].label)
    assert response.json()["detail"] == german(
        "This needs the permission “%(permission)s” (%(code)s), which your user does not have. "
        "Ask a user who manages your org's users to grant it.",
        {"permission": label, "code": "manage_billing"},
    )


def test_without_accept_language_the_answer_is_in_the_users_language(org: Org, billing_user: User) -> None:
    # given: the org speaks German, the user chose English
    User.objects.filter(pk=billing_user.pk).update(language="en")
    api = ApiClient(create_token(billing_user), language=None)
    # when
    response = api.get("/me")
    # then
    assert response["Content-Language"] == "en"


def test_accept_language_wins_over_the_users_language(billing_user: User) -> None:
    # given
    User.objects.filter(pk=billing_user.pk).update(language="en")
    api = ApiClient(create_token(billing_user), language="de")
    # when
    response = api.get("/me")
    # then
    assert response["Content-Language"] == "de"
    assert "Accept-Language" in response["Vary"]
