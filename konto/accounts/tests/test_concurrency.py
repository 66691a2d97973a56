"""Concurrent requests on PostgreSQL: the org row lock keeps license limits and the last administrator.

Each scenario starts its calls in threads released together by a barrier; every
thread has its own database connection and closes it. SQLite serialises writers
anyway, so these tests only run against PostgreSQL (DATABASE_URL=postgres://…).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail
from django.db import connection

from konto.accounts.exceptions import LastSystemAdministrator, LicenseLimitReached
from konto.accounts.models import Invitation, LicenseType, User
from konto.accounts.services.users import InviteResult, deactivate_user, give_billing_access
from konto.accounts.testing import make_admin, make_org, make_user
from konto.core.audit import Actor

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (set DATABASE_URL=postgres://…)"),
    # The flush after each test is followed by post_migrate, which recreates the standard profiles.
    pytest.mark.django_db(transaction=True),
]


def _run_together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in parallel threads; each result is the return value or the exception raised."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except Exception as error:  # the test inspects what each call raised
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a call did not finish"
    return results


def test_parallel_billing_access_never_exceeds_the_identity_pool():
    # Given an org whose Identity pool has 3 free seats left (2 of 5 assigned)
    org = make_org(identity_seats=5)
    admin = make_admin(org, "admin@race.example")
    for n in range(2):
        make_user(org, f"seated-{n}@race.example", profile="identity_user", license_type=LicenseType.IDENTITY)
    actor = Actor(user_id=admin.pk, email=admin.email)

    # When 10 people are given billing access at the same moment
    def give(n: int) -> Callable[[], InviteResult]:
        return lambda: give_billing_access(org=org, actor=actor, full_name=f"Person {n}", email=f"p{n}@race.example")

    results = _run_together([give(n) for n in range(10)])

    # Then exactly 3 succeed and 7 are refused for the license limit
    succeeded = [result for result in results if isinstance(result, InviteResult)]
    refused = [result for result in results if isinstance(result, LicenseLimitReached)]
    assert (len(succeeded), len(refused)) == (3, 7), results
    assert all(result.created for result in succeeded)
    assert User.objects.filter(org=org, license_type=LicenseType.IDENTITY, is_active=True).count() == 5
    assert set(User.objects.filter(email__startswith="p").values_list("email", flat=True)) == {
        result.user.email for result in succeeded
    }
    assert Invitation.objects.count() == 3
    assert {message.to[0] for message in mail.outbox} == {result.user.email for result in succeeded}
    assert [error.extra for error in refused] == [
        {"license_type": "identity", "bought": 5, "assigned": 5, "free": 0}
    ] * 7


def test_parallel_deactivation_of_the_only_two_administrators_leaves_one():
    # Given two System Administrators who deactivate each other at the same moment
    org = make_org()
    anna = make_admin(org, "anna@race.example")
    bert = make_admin(org, "bert@race.example")

    results = _run_together(
        [
            lambda: deactivate_user(org=org, actor=Actor(user_id=anna.pk, email=anna.email), user=bert),
            lambda: deactivate_user(org=org, actor=Actor(user_id=bert.pk, email=bert.email), user=anna),
        ]
    )

    # Then exactly one succeeds and the other is refused
    assert sorted(type(result).__name__ for result in results) == ["LastSystemAdministrator", "User"], results
    assert sum(isinstance(result, LastSystemAdministrator) for result in results) == 1
    assert User.objects.filter(org=org, is_active=True, profile__is_system_administrator=True).count() == 1
