"""Billing periods: anchored on the contract start, month-end clamping without drift, tiling."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from konto.core.periods import (
    BillingFrequency,
    Period,
    add_months,
    period_containing,
    period_number,
    periods_between,
)

MONTHLY = BillingFrequency.MONTHLY
QUARTERLY = BillingFrequency.QUARTERLY
ANNUAL = BillingFrequency.ANNUAL
DAYS_PER_PERIOD = {MONTHLY: (28, 31), QUARTERLY: (89, 92), ANNUAL: (365, 366)}

anchors = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))
frequencies = st.sampled_from(list(BillingFrequency))


def P(start: str, end: str) -> Period:  # noqa: N802 - reads like the notation [start, end)
    return Period(date.fromisoformat(start), date.fromisoformat(end))


@pytest.mark.parametrize(
    ("anchor", "months", "moved"),
    [
        ("2026-01-15", 1, "2026-02-15"),
        ("2026-01-31", 1, "2026-02-28"),  # clamped in a non-leap February
        ("2024-01-31", 1, "2024-02-29"),  # leap year
        ("2026-01-31", 2, "2026-03-31"),  # measured from the anchor, not from 28 Feb
        ("2026-01-31", 3, "2026-04-30"),
        ("2025-12-15", 1, "2026-01-15"),  # across the year end
        ("2025-11-30", 3, "2026-02-28"),
        ("2024-02-29", 12, "2025-02-28"),
        ("2024-02-29", 48, "2028-02-29"),
        ("2026-03-31", -1, "2026-02-28"),
        ("2026-01-10", -1, "2025-12-10"),
        ("2026-05-31", 0, "2026-05-31"),
    ],
)
def test_add_months_clamps_to_the_last_day_of_the_month(anchor, months, moved):
    assert add_months(date.fromisoformat(anchor), months) == date.fromisoformat(moved)


def test_monthly_periods_of_a_contract_started_on_the_31st_do_not_drift_in_a_leap_year():
    periods = [period_number(date(2024, 1, 31), MONTHLY, index) for index in range(7)]

    assert periods == [
        P("2024-01-31", "2024-02-29"),
        P("2024-02-29", "2024-03-31"),
        P("2024-03-31", "2024-04-30"),
        P("2024-04-30", "2024-05-31"),
        P("2024-05-31", "2024-06-30"),
        P("2024-06-30", "2024-07-31"),
        P("2024-07-31", "2024-08-31"),
    ]
    assert [period.days for period in periods] == [29, 31, 30, 31, 30, 31, 31]


def test_monthly_periods_of_a_contract_started_on_the_31st_in_a_non_leap_year():
    periods = [period_number(date(2026, 1, 31), MONTHLY, index) for index in range(4)]

    assert periods == [
        P("2026-01-31", "2026-02-28"),
        P("2026-02-28", "2026-03-31"),
        P("2026-03-31", "2026-04-30"),
        P("2026-04-30", "2026-05-31"),
    ]
    assert [period.days for period in periods] == [28, 31, 30, 31]
    # Twelve periods later the day is still the 31st (no drift to the 28th).
    assert period_number(date(2026, 1, 31), MONTHLY, 12) == P("2027-01-31", "2027-02-28")


def test_february_periods_in_leap_and_non_leap_years():
    assert period_number(date(2024, 1, 1), MONTHLY, 1) == P("2024-02-01", "2024-03-01")
    assert period_number(date(2024, 1, 1), MONTHLY, 1).days == 29
    assert period_number(date(2026, 1, 1), MONTHLY, 1) == P("2026-02-01", "2026-03-01")
    assert period_number(date(2026, 1, 1), MONTHLY, 1).days == 28


def test_quarterly_periods_started_on_the_30th():
    periods = [period_number(date(2025, 11, 30), QUARTERLY, index) for index in range(5)]

    assert periods == [
        P("2025-11-30", "2026-02-28"),
        P("2026-02-28", "2026-05-30"),
        P("2026-05-30", "2026-08-30"),
        P("2026-08-30", "2026-11-30"),
        P("2026-11-30", "2027-02-28"),
    ]
    assert [period.days for period in periods] == [90, 91, 92, 92, 90]


def test_annual_periods_of_a_contract_started_on_29_february():
    periods = [period_number(date(2024, 2, 29), ANNUAL, index) for index in range(4)]

    assert periods == [
        P("2024-02-29", "2025-02-28"),
        P("2025-02-28", "2026-02-28"),
        P("2026-02-28", "2027-02-28"),
        P("2027-02-28", "2028-02-29"),
    ]
    assert [period.days for period in periods] == [365, 365, 365, 366]


def test_period_number_accepts_the_frequency_as_its_stored_string():
    assert period_number(date(2026, 3, 1), "annual", 0) == P("2026-03-01", "2027-03-01")


def test_period_number_refuses_an_index_before_the_contract_start():
    with pytest.raises(ValueError, match="before its start"):
        period_number(date(2026, 3, 1), MONTHLY, -1)


@pytest.mark.parametrize("frequency", ["weekly", "", "Monthly"])
def test_an_unknown_frequency_is_refused(frequency):
    with pytest.raises(ValueError, match="BillingFrequency"):
        period_number(date(2026, 3, 1), frequency, 0)
    with pytest.raises(ValueError, match="BillingFrequency"):
        period_containing(date(2026, 3, 1), frequency, date(2026, 4, 1))


def test_a_period_contains_its_start_but_not_its_end():
    period = P("2026-01-31", "2026-02-28")

    assert date(2026, 1, 31) in period
    assert date(2026, 2, 27) in period
    assert date(2026, 2, 28) not in period
    assert date(2026, 1, 30) not in period
    assert datetime(2026, 2, 1, 12, 0) not in period  # a timestamp is not a calendar date  # noqa: DTZ001
    assert "2026-02-01" not in period


@pytest.mark.parametrize(
    ("anchor", "frequency", "day", "period"),
    [
        ("2026-01-31", MONTHLY, "2026-01-31", P("2026-01-31", "2026-02-28")),  # the anchor itself
        ("2026-01-31", MONTHLY, "2026-02-27", P("2026-01-31", "2026-02-28")),
        ("2026-01-31", MONTHLY, "2026-02-28", P("2026-02-28", "2026-03-31")),
        ("2026-01-31", MONTHLY, "2026-03-30", P("2026-02-28", "2026-03-31")),
        ("2026-01-31", MONTHLY, "2026-03-31", P("2026-03-31", "2026-04-30")),
        ("2024-01-31", MONTHLY, "2024-02-29", P("2024-02-29", "2024-03-31")),
        ("2025-11-30", QUARTERLY, "2026-05-29", P("2026-02-28", "2026-05-30")),
        ("2025-11-30", QUARTERLY, "2026-05-30", P("2026-05-30", "2026-08-30")),
        ("2026-03-01", ANNUAL, "2027-02-28", P("2026-03-01", "2027-03-01")),
        ("2026-03-01", ANNUAL, "2027-03-01", P("2027-03-01", "2028-03-01")),
        ("2026-01-01", ANNUAL, "2036-06-15", P("2036-01-01", "2037-01-01")),
    ],
)
def test_period_containing_finds_the_period_of_a_day(anchor, frequency, day, period):
    assert period_containing(date.fromisoformat(anchor), frequency, date.fromisoformat(day)) == period


def test_period_containing_refuses_a_day_before_the_contract_start():
    with pytest.raises(ValueError, match="before the contract start"):
        period_containing(date(2026, 3, 1), MONTHLY, date(2026, 2, 28))


@pytest.mark.parametrize(
    ("anchor", "frequency", "start", "end", "periods"),
    [
        (
            "2026-01-31",
            MONTHLY,
            "2026-02-15",
            "2026-05-01",
            [
                P("2026-01-31", "2026-02-28"),
                P("2026-02-28", "2026-03-31"),
                P("2026-03-31", "2026-04-30"),
                P("2026-04-30", "2026-05-31"),
            ],
        ),
        # A range ending on a period start does not reach into that period.
        (
            "2026-01-31",
            MONTHLY,
            "2026-01-31",
            "2026-03-31",
            [P("2026-01-31", "2026-02-28"), P("2026-02-28", "2026-03-31")],
        ),
        (
            "2026-03-01",
            ANNUAL,
            "2026-03-01",
            "2029-03-01",
            [
                P("2026-03-01", "2027-03-01"),
                P("2027-03-01", "2028-03-01"),
                P("2028-03-01", "2029-03-01"),
            ],
        ),
        ("2026-01-01", QUARTERLY, "2026-05-20", "2026-05-21", [P("2026-04-01", "2026-07-01")]),
        ("2026-01-01", MONTHLY, "2026-01-15", "2026-01-15", []),  # empty range
        ("2026-01-01", MONTHLY, "2026-03-15", "2026-03-10", []),  # inverted range
    ],
)
def test_periods_between_lists_the_periods_overlapping_a_range(anchor, frequency, start, end, periods):
    found = periods_between(date.fromisoformat(anchor), frequency, date.fromisoformat(start), date.fromisoformat(end))
    assert list(found) == periods


def test_periods_between_refuses_a_start_before_the_contract_start_at_the_call():
    with pytest.raises(ValueError, match="before the contract start"):
        periods_between(date(2026, 3, 1), MONTHLY, date(2026, 2, 1), date(2026, 6, 1))  # not iterated


@given(anchor=anchors, frequency=frequencies, index=st.integers(min_value=0, max_value=400))
def test_consecutive_periods_meet_and_have_the_calendar_length(anchor, frequency, index):
    period = period_number(anchor, frequency, index)
    following = period_number(anchor, frequency, index + 1)

    assert period.end == following.start
    shortest, longest = DAYS_PER_PERIOD[frequency]
    assert shortest <= period.days <= longest
    # Every period starts on the anchor's day, or on the month's last day when that is shorter.
    assert period.start.day == min(anchor.day, calendar.monthrange(period.start.year, period.start.month)[1])


@given(
    anchor=anchors,
    frequency=frequencies,
    offset=st.integers(min_value=0, max_value=3000),
    length=st.integers(min_value=1, max_value=4000),
)
def test_periods_between_tile_the_range_without_gap_or_overlap(anchor, frequency, offset, length):
    start = anchor + timedelta(days=offset)
    end = start + timedelta(days=length)

    periods = list(periods_between(anchor, frequency, start, end))

    assert periods
    assert start in periods[0]
    assert end - timedelta(days=1) in periods[-1]
    assert all(earlier.end == later.start for earlier, later in pairwise(periods))
    shortest, longest = DAYS_PER_PERIOD[frequency]
    assert all(shortest <= period.days <= longest for period in periods)
    assert sum(period.days for period in periods) >= length
    first_index = len(list(periods_between(anchor, frequency, anchor, periods[0].end))) - 1
    assert periods == [period_number(anchor, frequency, first_index + i) for i in range(len(periods))]


@given(anchor=anchors, frequency=frequencies, offset=st.integers(min_value=0, max_value=5000))
def test_period_containing_contains_the_day_and_is_a_period_of_the_contract(anchor, frequency, offset):
    day = anchor + timedelta(days=offset)

    period = period_containing(anchor, frequency, day)

    assert day in period
    assert period.start >= anchor
    assert period_containing(anchor, frequency, period.start) == period
    assert period_containing(anchor, frequency, period.end - timedelta(days=1)) == period
    assert period_containing(anchor, frequency, period.end).start == period.end
