"""`manage.py create_api_token`: prints a secret once and stores only its hash."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.utils import translation

from konto.accounts.models import ApiToken, Org, User
from konto.accounts.selectors import hash_secret
from konto.accounts.testing import make_user
from konto.core.models import AuditEvent


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_command_prints_the_secret_alone_and_stores_its_hash(org: Org, billing_user: User) -> None:
    # when
    out, err = run("--email", "billing@test.example", "--name", "Buchhaltungssoftware")
    # then
    secret = out.strip()
    assert out == secret + "\n"
    assert secret.startswith("konto_")
    token = ApiToken.objects.get()
    assert (token.user, token.org, token.name) == (billing_user, org, "Buchhaltungssoftware")
    assert token.token_hash == hash_secret(secret)
    assert token.token_prefix == secret[:12]
    assert f"Created API token {token.public_id} “Buchhaltungssoftware” for billing@test.example" in err
    assert AuditEvent.objects.filter(action="api_token.created", object_id=token.public_id).exists()


def test_printed_secret_authenticates_as_the_user(billing_user: User) -> None:
    # given
    out, _ = run("--email", "billing@test.example")
    # when
    response = Client().get("/api/v1/me", headers={"Authorization": f"Bearer {out.strip()}"})
    # then
    assert response.status_code == 200
    assert response.json()["email"] == "billing@test.example"
    assert ApiToken.objects.get().name == "Created by an operator"


def test_secret_is_stored_nowhere_in_the_database(billing_user: User) -> None:
    # given
    out, _ = run("--email", "billing@test.example")
    secret = out.strip()
    # when: every row of every table is read as text
    contents: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 - table names from introspection
            contents.extend(repr(row) for row in cursor.fetchall())
    # then
    assert contents
    assert not [row for row in contents if secret in row or secret[12:] in row]


def test_email_is_matched_case_insensitively(billing_user: User) -> None:
    # when
    run("--email", "  Billing@Test.Example ")
    # then
    assert ApiToken.objects.get().user == billing_user


def test_warns_when_the_user_has_no_billing_permission(standard_user: User) -> None:
    # when
    _, err = run("--email", "sales@test.example")
    # then
    assert "sales@test.example has no billing permission: the API will refuse this token (403)." in err
    assert ApiToken.objects.count() == 1


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("nobody@test.example", "No user has the email address 'nobody@test.example'."),
        ("ops@vendor.example", "ops@vendor.example is vendor staff; API tokens act as users of a customer org."),
        ("gone@test.example", "gone@test.example is deactivated; reactivate the user in My Account first."),
    ],
)
def test_refuses_users_who_cannot_hold_a_token(org: Org, email: str, message: str) -> None:
    # given
    make_user(None, "ops@vendor.example")
    make_user(org, "gone@test.example", is_active=False)
    # when
    with pytest.raises(CommandError) as caught:
        run("--email", email)
    # then
    assert str(caught.value) == message
    assert not ApiToken.objects.exists()


def test_refuses_an_overlong_name(billing_user: User) -> None:
    # when
    with translation.override("en"), pytest.raises(CommandError) as caught:
        run("--email", "billing@test.example", "--name", "x" * 101)
    # then
    assert str(caught.value) == "Give the token a name of at most 100 characters."
    assert not ApiToken.objects.exists()


def test_email_is_required() -> None:
    with pytest.raises(CommandError, match="--email"):
        run()
