"""GET /users and GET /users/{id}: user administration, paginated, scoped to the token's org."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from konto.accounts.models import Org, User
from konto.accounts.services.users import deactivate_user
from konto.accounts.testing import make_user
from konto.api.pagination import encode_cursor
from konto.api.tests.conftest import NOW, ApiClient, german, problem
from konto.core.audit import Actor

BILLING = [
    "manage_billing",
    "manage_billing_contacts",
    "manage_cases",
    "manage_payment_methods",
    "manage_renewals",
    "pay_invoices",
    "purchase",
    "view_audit_log",
    "view_invoices",
]


def user_json(user: User, joined_at: str, **changes: Any) -> dict[str, Any]:
    assert user.org is not None
    body = {
        "id": user.public_id,
        "email": user.email,
        "full_name": user.full_name,
        "license_type": "full",
        "profile": {"code": "standard_user", "name": "Standard User"},
        "permission_sets": [],
        "permissions": [],
        "language": None,
        "can_use_product": True,
        "is_active": True,
        "joined_at": joined_at,
        "deactivated_at": None,
        "org_id": user.org.public_id,
    }
    body.update(changes)
    return body


def test_list_users_is_newest_first_with_each_users_access(org: Org, admin: User, admin_api: ApiClient, clock) -> None:
    # given: a billing user joins a day after the admin, a standard user a day later and is deactivated
    clock.shift(timedelta(days=1))
    billing = make_user(
        org,
        "billing@test.example",
        full_name="Bea Buchhaltung",
        profile="identity_user",
        license_type="identity",
        permission_sets=("my_account_admin",),
    )
    clock.shift(timedelta(days=1))
    sales = make_user(org, "sales@test.example", full_name="Sven Sales")
    deactivate_user(org=org, actor=Actor(user_id=admin.pk, email=admin.email), user=sales)
    # when
    response = admin_api.get("/users")
    # then
    assert response.status_code == 200
    assert response.json() == {
        "items": [
            user_json(
                sales,
                "2026-03-04T09:00:00Z",
                is_active=False,
                can_use_product=False,
                deactivated_at="2026-03-04T09:00:00Z",
            ),
            user_json(
                billing,
                "2026-03-03T09:00:00Z",
                license_type="identity",
                profile={"code": "identity_user", "name": "Identity User"},
                permission_sets=[{"code": "my_account_admin", "name": "My Account Admin"}],
                permissions=BILLING,
                can_use_product=False,
            ),
            user_json(
                admin,
                "2026-03-02T09:00:00Z",
                profile={"code": "system_administrator", "name": "System Administrator"},
                permissions=sorted([*BILLING, "manage_users"]),
            ),
        ],
        "next_cursor": None,
    }


def test_list_users_shows_only_the_tokens_org(admin: User, admin_api: ApiClient, other_admin: User) -> None:
    # when
    response = admin_api.get("/users")
    # then
    assert [item["email"] for item in response.json()["items"]] == ["admin@test.example"]


def test_get_user_by_public_id(org: Org, admin_api: ApiClient, standard_user: User) -> None:
    # when
    response = admin_api.get(f"/users/{standard_user.public_id}")
    # then
    assert response.status_code == 200
    assert response.json() == user_json(standard_user, "2026-03-02T09:00:00Z")


def test_another_orgs_user_is_not_found_exactly_like_a_missing_one(admin_api: ApiClient, other_admin: User) -> None:
    # when
    foreign = admin_api.get(f"/users/{other_admin.public_id}")
    missing = admin_api.get("/users/usr_doesnotexist00000")
    # then
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json() == problem(404, "not_found", "User not found.")
    assert foreign["Content-Type"] == missing["Content-Type"] == "application/problem+json; charset=utf-8"


@pytest.mark.parametrize("user_id", ["usr_%00abc", "USR_ABC", "' OR 1=1 --", "usr_" + "a" * 300, "%E2%9C%93"])
def test_malformed_user_id_is_not_found_like_a_missing_one(admin_api: ApiClient, user_id: str) -> None:
    # when
    response = admin_api.get(f"/users/{user_id}")
    # then
    assert response.status_code == 404
    assert response.json() == problem(404, "not_found", "User not found.")


def test_not_found_is_translated(admin_api: ApiClient) -> None:
    # when
    response = admin_api.get("/users/usr_doesnotexist00000", language="de")
    # then
    assert response.json()["detail"] == german("User not found.")


@pytest.mark.parametrize("path", ["/users", "/users/usr_doesnotexist00000"])
def test_users_need_manage_users(billing_api: ApiClient, standard_user: User, path: str) -> None:
    # when
    response = billing_api.get(path)
    # then
    assert response.status_code == 403
    assert response.json() == problem(
        403,
        "permission_denied",
        "This needs the permission “Manage users” (manage_users), which your user does not have. "
        "Ask a user who manages your org's users to grant it.",
        missing_permission="manage_users",
    )


# ---------------------------------------------------------------- pagination


def _make_users(org: Org, count: int, clock, *, step: timedelta = timedelta(minutes=1)) -> list[User]:
    users = []
    for n in range(count):
        clock.shift(step)
        users.append(make_user(org, f"user{n:03}@test.example", password=None))
    return users


def _walk(api: ApiClient, limit: int) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor = ""
    while True:
        query = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        response = api.get("/users" + query)
        assert response.status_code == 200
        body = response.json()
        pages.append([item["email"] for item in body["items"]])
        if body["next_cursor"] is None:
            return pages
        cursor = body["next_cursor"]


def test_pages_walk_every_user_once_newest_first(org: Org, admin: User, admin_api: ApiClient, clock) -> None:
    # given: the admin (oldest) and 4 users who joined a minute apart
    _make_users(org, 4, clock)
    # when
    pages = _walk(admin_api, limit=2)
    # then
    assert pages == [
        ["user003@test.example", "user002@test.example"],
        ["user001@test.example", "user000@test.example"],
        ["admin@test.example"],
    ]


def test_users_who_joined_at_the_same_moment_are_neither_repeated_nor_skipped(
    org: Org, admin: User, admin_api: ApiClient, clock
) -> None:
    # given: 5 users joined at the same instant as the admin
    users = _make_users(org, 5, clock, step=timedelta(0))
    # when
    pages = _walk(admin_api, limit=2)
    # then: ordered by public id (descending) within the same instant
    everyone = sorted([admin, *users], key=lambda user: user.public_id, reverse=True)
    assert [email for page in pages for email in page] == [user.email for user in everyone]
    assert [len(page) for page in pages] == [2, 2, 2]


def test_last_full_page_has_no_next_cursor(org: Org, admin: User, admin_api: ApiClient, clock) -> None:
    # given
    _make_users(org, 1, clock)
    # when
    body = admin_api.get("/users?limit=2").json()
    # then
    assert len(body["items"]) == 2
    assert body["next_cursor"] is None


def test_default_page_is_50_users(org: Org, admin: User, admin_api: ApiClient, clock) -> None:
    # given: 51 users besides the admin
    _make_users(org, 51, clock, step=timedelta(seconds=1))
    # when
    body = admin_api.get("/users").json()
    # then
    assert len(body["items"]) == 50
    assert body["items"][0]["email"] == "user050@test.example"
    second = admin_api.get(f"/users?cursor={body['next_cursor']}").json()
    assert [item["email"] for item in second["items"]] == ["user000@test.example", "admin@test.example"]
    assert second["next_cursor"] is None


def test_a_cursor_from_another_org_only_positions_within_the_own_org(
    org: Org, admin: User, admin_api: ApiClient, other_admin: User
) -> None:
    # given: a cursor made from another org's user
    cursor = encode_cursor(NOW + timedelta(days=1), other_admin.public_id)
    # when
    body = admin_api.get(f"/users?cursor={cursor}").json()
    # then
    assert [item["email"] for item in body["items"]] == ["admin@test.example"]


LIMIT_FROM_1_TO_200 = [
    ("0", "Enter a number of at least %(min)s.", {"min": 1}),
    ("-5", "Enter a number of at least %(min)s.", {"min": 1}),
    ("201", "Enter a number of at most %(max)s.", {"max": 200}),
    ("ten", "Enter a whole number.", None),
    ("2.5", "Enter a whole number.", None),
    ("", "Enter a whole number.", None),
]


@pytest.mark.parametrize(("limit", "message", "params"), LIMIT_FROM_1_TO_200)
def test_limit_out_of_range_is_a_422(
    admin_api: ApiClient, limit: str, message: str, params: dict[str, Any] | None
) -> None:
    # when
    response = admin_api.get(f"/users?limit={limit}", language="de")
    # then
    assert response.status_code == 422
    assert response.json() == problem(
        422,
        "invalid_input",
        german("Please correct the marked fields."),
        errors=[{"field": "limit", "message": german(message, params)}],
        title=german("Invalid input"),
    )


CURSOR_INVALID = "This cursor is not valid. Pass the next_cursor of the previous page unchanged."


@pytest.mark.parametrize(
    "cursor",
    [
        "not-base64!",
        "abc",
        "eyJhIjoxfQ",  # {"a":1}
        "WyIyMDI2LTAzLTAyVDA5OjAwOjAwIiwidXNyX3giXQ",  # a timestamp without time zone
        "WyJ5ZXN0ZXJkYXkiLCJ1c3JfeCJd",  # ["yesterday","usr_x"]
        "WzEsMl0",  # [1,2]
        "WyIyMDI2LTAzLTAyVDA5OjAwOjAwKzAwOjAwIiwiIl0",  # an empty public id
        "_-_-",
        "WyIyMDI2LTAzLTAyVDA5OjAwOjAwKzAwOjAwIiwidXNyX1x1MDAwMCJd",  # a NUL in the public id
        "WyIyMDI2LTAzLTAyVDA5OjAwOjAwKzAwOjAwIiwiJyBPUiAxPTEgLS0iXQ",  # not a public id
        "WyI5OTk5LTEyLTMxVDIzOjU5OjU5LTIzOjAwIiwidXNyX3giXQ",  # beyond the last instant representable in UTC
    ],
)
def test_bad_cursor_is_a_422(admin_api: ApiClient, cursor: str) -> None:
    # when
    response = admin_api.get(f"/users?cursor={cursor}")
    # then
    assert response.status_code == 422
    assert response.json() == problem(
        422, "invalid_input", CURSOR_INVALID, errors=[{"field": "cursor", "message": CURSOR_INVALID}]
    )


def test_overlong_cursor_is_a_422(admin_api: ApiClient) -> None:
    # when
    response = admin_api.get("/users?cursor=" + "a" * 201)
    # then
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "cursor", "message": "Use at most 200 characters."}]
