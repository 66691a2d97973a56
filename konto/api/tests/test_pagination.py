"""The keyset pagination helper that every list endpoint uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from konto.accounts.models import Org, User
from konto.accounts.selectors import org_users
from konto.accounts.testing import make_user
from konto.api.pagination import decode_cursor, encode_cursor, paginate_newest_first
from konto.core.exceptions import InvalidInput


def test_cursor_round_trips_timestamp_and_public_id() -> None:
    # given
    moment = datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=UTC)
    # when
    cursor = encode_cursor(moment, "usr_abc")
    # then
    assert decode_cursor(cursor) == (moment, "usr_abc")
    assert not set(cursor) & set("=+/")


def test_cursor_keeps_the_instant_across_time_zones() -> None:
    # given
    berlin = datetime(2026, 3, 2, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    # when
    decoded, _ = decode_cursor(encode_cursor(berlin, "usr_abc"))
    # then
    assert decoded == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "%%%",
        "e30",  # {}
        "W10",  # []
        "WyJhIiwiYiIsImMiXQ",  # ["a","b","c"]
        encode_cursor(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))), "usr_abc"),  # before year 1 in UTC
    ],
)
def test_malformed_cursor_is_invalid_input_on_the_cursor_field(cursor: str) -> None:
    # when
    with pytest.raises(InvalidInput) as caught:
        decode_cursor(cursor)
    # then
    assert caught.value.status == 422
    assert caught.value.code == "invalid_input"
    assert list(caught.value.fields) == ["cursor"]


@pytest.mark.parametrize("limit", [0, -1, 201])
def test_limit_outside_1_to_200_is_refused(org: Org, limit: int) -> None:
    # when
    with pytest.raises(InvalidInput) as caught:
        paginate_newest_first(org_users(org=org), limit=limit, cursor=None, timestamp_field="date_joined")
    # then
    assert caught.value.fields == {"limit": "Enter a number from 1 to 200."}


def test_pages_follow_the_given_timestamp_field(org: Org, time_machine) -> None:
    # given: three users who joined an hour apart
    time_machine.move_to(datetime(2026, 1, 1, 8, 0, tzinfo=UTC), tick=False)
    users: list[User] = []
    for n in range(3):
        users.append(make_user(org, f"u{n}@test.example", password=None))
        time_machine.shift(timedelta(hours=1))
    # when
    first = paginate_newest_first(org_users(org=org), limit=2, cursor=None, timestamp_field="date_joined")
    second = paginate_newest_first(org_users(org=org), limit=2, cursor=first.next_cursor, timestamp_field="date_joined")
    # then
    assert first.items == [users[2], users[1]]
    assert first.next_cursor == encode_cursor(users[1].date_joined, users[1].public_id)
    assert second.items == [users[0]]
    assert second.next_cursor is None
