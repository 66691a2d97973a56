"""Login throttling: an email + IP pair is locked for 15 minutes after 5 failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import authenticate
from django.http import HttpRequest
from django.test import RequestFactory

from konto.accounts.models import LoginFailure, User
from konto.accounts.services.login import login_lock_remaining
from konto.accounts.testing import PASSWORD

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
IP = "203.0.113.5"
OTHER_IP = "198.51.100.9"
WRONG = "falsches-passwort"


def _request(ip: str | None = IP) -> HttpRequest:
    request = RequestFactory().post("/login/")
    if ip is None:
        del request.META["REMOTE_ADDR"]
    else:
        request.META["REMOTE_ADDR"] = ip
    return request


def _login(email: str, password: str, ip: str | None = IP) -> User | None:
    user = authenticate(_request(ip), username=email, password=password)
    assert user is None or isinstance(user, User)
    return user


def _fail(times: int, email: str = "admin@test.example", ip: str | None = IP) -> None:
    for _ in range(times):
        assert _login(email, WRONG, ip) is None


def test_the_right_password_logs_in(admin):
    assert _login("admin@test.example", PASSWORD) == admin
    assert _login(" Admin@Test.EXAMPLE ", PASSWORD) == admin


def test_five_failures_lock_the_email_and_ip_for_15_minutes(admin):
    with time_machine.travel(START, tick=False) as clock:
        # Given five failed attempts
        _fail(5)

        # Then even the right password is refused, and the lock lasts 15 minutes
        assert _login("admin@test.example", PASSWORD) is None
        assert login_lock_remaining(email="admin@test.example", ip_address=IP) == 900

        clock.shift(timedelta(minutes=14, seconds=59))
        assert login_lock_remaining(email="admin@test.example", ip_address=IP) == 1
        assert _login("admin@test.example", PASSWORD) is None

        clock.shift(timedelta(seconds=1))
        assert login_lock_remaining(email="admin@test.example", ip_address=IP) == 0
        assert _login("admin@test.example", PASSWORD) == admin


def test_four_failures_do_not_lock(admin):
    with time_machine.travel(START, tick=False):
        _fail(4)
        assert login_lock_remaining(email="admin@test.example", ip_address=IP) == 0
        assert _login("admin@test.example", PASSWORD) == admin


def test_attempts_while_locked_are_not_counted_and_do_not_extend_the_lock(admin):
    with time_machine.travel(START, tick=False) as clock:
        _fail(5)
        clock.shift(timedelta(minutes=10))
        _fail(3)
        assert LoginFailure.objects.count() == 5
        clock.shift(timedelta(minutes=5))
        assert _login("admin@test.example", PASSWORD) == admin


def test_the_lock_lasts_15_minutes_from_the_fifth_failure_even_when_failures_were_spread(admin):
    # Given four failures early and the fifth 14 minutes later
    with time_machine.travel(START, tick=False) as clock:
        _fail(4)
        clock.shift(timedelta(minutes=14))
        _fail(1)

        # Then the pair stays locked for the full 15 minutes after the fifth
        clock.shift(timedelta(minutes=2))
        assert login_lock_remaining(email="admin@test.example", ip_address=IP) == 13 * 60
        assert _login("admin@test.example", PASSWORD) is None

        clock.shift(timedelta(minutes=13))
        assert _login("admin@test.example", PASSWORD) == admin


def test_failures_more_than_15_minutes_apart_do_not_add_up(admin):
    with time_machine.travel(START, tick=False) as clock:
        _fail(4)
        clock.shift(timedelta(minutes=15))
        _fail(1)
        assert login_lock_remaining(email="admin@test.example", ip_address=IP) == 0
        assert _login("admin@test.example", PASSWORD) == admin


def test_another_ip_is_not_locked(admin):
    with time_machine.travel(START, tick=False):
        _fail(5)
        assert login_lock_remaining(email="admin@test.example", ip_address=OTHER_IP) == 0
        assert _login("admin@test.example", PASSWORD, ip=OTHER_IP) == admin
        # and the locked pair stays locked
        assert _login("admin@test.example", PASSWORD) is None


def test_another_email_from_the_same_ip_is_not_locked(admin, standard_user):
    with time_machine.travel(START, tick=False):
        _fail(5)
        assert _login("sales@test.example", PASSWORD) == standard_user


def test_the_email_is_matched_case_insensitively(admin):
    with time_machine.travel(START, tick=False):
        for email in [
            "ADMIN@test.example",
            "admin@TEST.example",
            " admin@test.example",
            "Admin@Test.Example",
            "admin@test.example",
        ]:
            assert _login(email, WRONG) is None
        assert _login("admin@test.example", PASSWORD) is None


def test_a_successful_login_clears_the_failures(admin):
    with time_machine.travel(START, tick=False):
        _fail(4)
        assert _login("admin@test.example", PASSWORD) == admin
        assert LoginFailure.objects.count() == 0
        _fail(4)
        assert _login("admin@test.example", PASSWORD) == admin


def test_an_unknown_email_is_locked_the_same_way(db):
    with time_machine.travel(START, tick=False):
        _fail(5, email="nobody@test.example")
        assert login_lock_remaining(email="nobody@test.example", ip_address=IP) == 900


def test_a_deactivated_user_cannot_log_in_with_the_right_password(admin, standard_user):
    User.objects.filter(pk=standard_user.pk).update(is_active=False)
    assert _login("sales@test.example", PASSWORD) is None


def test_a_request_without_an_address_is_throttled_as_one_unknown_client(admin):
    with time_machine.travel(START, tick=False):
        _fail(5, ip=None)
        assert _login("admin@test.example", PASSWORD, ip=None) is None
        assert _login("admin@test.example", PASSWORD) == admin


@pytest.mark.parametrize("email", ["", "   ", "x" * 5000 + "@test.example"], ids=["empty", "blank", "overlong"])
def test_odd_emails_are_refused_without_error(db, email):
    with time_machine.travel(START, tick=False):
        for _ in range(6):
            assert _login(email, WRONG) is None


def test_an_overlong_email_is_still_locked(db):
    email = "x" * 5000 + "@test.example"
    with time_machine.travel(START, tick=False):
        _fail(5, email=email)
        assert login_lock_remaining(email=email, ip_address=IP) == 900


@pytest.mark.parametrize(
    ("username", "password"),
    [(None, PASSWORD), ("admin@test.example", None), (42, PASSWORD), ("admin@test.example", 42), ("", PASSWORD)],
)
def test_credentials_that_are_not_text_are_refused_without_counting(admin, username, password):
    assert authenticate(_request(), username=username, password=password) is None
    assert LoginFailure.objects.count() == 0
