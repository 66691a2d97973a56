"""Proration by calendar day: exact amounts, half-up rounding, and charges that add up."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal, localcontext
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from konto.core.money import CENT, round_money
from konto.core.periods import BillingFrequency, Period, period_containing, period_number, prorated_amount

MONTHLY = BillingFrequency.MONTHLY
QUARTERLY = BillingFrequency.QUARTERLY
ANNUAL = BillingFrequency.ANNUAL


def charge_from(anchor: date, frequency: str, bought_on: date, unit_price: str, quantity: int) -> tuple[int, int, str]:
    """(days charged, days in period, amount) for a line bought on `bought_on`, as the order preview shows it."""
    period = period_containing(anchor, frequency, bought_on)
    amount = prorated_amount(unit_price=Decimal(unit_price), quantity=quantity, period=period, service_start=bought_on)
    return (period.end - bought_on).days, period.days, str(amount)


def test_design_example_five_users_bought_mid_year_on_an_annual_contract():
    # DESIGN.md §3: 5 × 360.00 × 184 / 365 = 907.397… → 907.40
    assert charge_from(date(2026, 1, 1), ANNUAL, date(2026, 7, 1), "360.00", 5) == (184, 365, "907.40")


def test_a_purchase_on_the_first_day_of_a_period_costs_the_full_period_price():
    assert charge_from(date(2026, 1, 1), ANNUAL, date(2026, 1, 1), "360.00", 5) == (365, 365, "1800.00")
    assert charge_from(date(2026, 1, 31), MONTHLY, date(2026, 2, 28), "25.00", 3) == (31, 31, "75.00")


def test_a_purchase_on_the_last_day_of_a_period_costs_one_day():
    # 5 × 360.00 × 1 / 365 = 4.9315…
    assert charge_from(date(2026, 1, 1), ANNUAL, date(2026, 12, 31), "360.00", 5) == (1, 365, "4.93")
    # 366-day period of a leap year: exactly one 366th.
    assert charge_from(date(2028, 1, 1), ANNUAL, date(2028, 12, 31), "366.00", 1) == (1, 366, "1.00")


def test_february_in_a_leap_year_has_29_days():
    # 3 × 25.00 × 15 / 29 = 38.793…
    assert charge_from(date(2024, 1, 1), MONTHLY, date(2024, 2, 15), "25.00", 3) == (15, 29, "38.79")


def test_february_in_a_non_leap_year_has_28_days():
    # 3 × 25.00 × 14 / 28 = 37.50
    assert charge_from(date(2026, 1, 1), MONTHLY, date(2026, 2, 15), "25.00", 3) == (14, 28, "37.50")


def test_a_contract_started_on_the_31st_prorates_over_the_clamped_periods():
    anchor = date(2026, 1, 31)
    # Period [28 Feb, 31 Mar): 31 days; 10 × 12.50 × 16 / 31 = 64.516…
    assert charge_from(anchor, MONTHLY, date(2026, 3, 15), "12.50", 10) == (16, 31, "64.52")
    # Period [31 Jan, 28 Feb): 28 days; bought on 27 Feb, the last day.
    assert charge_from(anchor, MONTHLY, date(2026, 2, 27), "28.00", 1) == (1, 28, "1.00")
    # Period [31 Mar, 30 Apr): 30 days.
    assert charge_from(anchor, MONTHLY, date(2026, 4, 15), "30.00", 2) == (15, 30, "30.00")


def test_quarterly_proration():
    # Period [1 Apr, 1 Jul): 91 days; 2 × 150.00 × 42 / 91 = 138.461…
    assert charge_from(date(2026, 1, 1), QUARTERLY, date(2026, 5, 20), "150.00", 2) == (42, 91, "138.46")


def test_chf_annual_proration():
    # Tierhilfe-like CHF contract from 1 March: 3 × 480.00 CHF × 167 / 365 = 658.849… CHF (invoiced to the Rappen)
    assert charge_from(date(2026, 3, 1), ANNUAL, date(2026, 9, 15), "480.00", 3) == (167, 365, "658.85")


def test_a_four_decimal_unit_price_is_rounded_only_once():
    # 1000 × 0.1234 × 10 / 31 = 39.806…; rounding the unit price first would give 0.12 → 38.71
    assert charge_from(date(2026, 1, 1), MONTHLY, date(2026, 1, 22), "0.1234", 1000) == (10, 31, "39.81")


@pytest.mark.parametrize(
    ("unit_price", "amount"),
    [
        ("10.02", "2.51"),  # 2.505: half-up, where half-even would give 2.50
        ("10.66", "2.67"),  # 2.665
        ("0.02", "0.01"),  # 0.005
        ("-10.02", "-2.51"),  # a negative line (credit) rounds away from zero, like round_money
        ("0.00", "0.00"),  # donated licenses
    ],
)
def test_proration_rounds_half_up_at_half_a_cent(unit_price, amount):
    february = Period(date(2026, 2, 1), date(2026, 3, 1))  # 28 days; 7 days = exactly a quarter

    charged = prorated_amount(
        unit_price=Decimal(unit_price), quantity=1, period=february, service_start=date(2026, 2, 22)
    )

    assert str(charged) == amount


def test_proration_does_not_depend_on_the_active_decimal_context():
    period = Period(date(2026, 1, 1), date(2027, 1, 1))
    with localcontext() as context:
        context.prec = 4  # a caller's low precision must not round the intermediate result
        amount = prorated_amount(
            unit_price=Decimal("360.00"), quantity=5, period=period, service_start=date(2026, 7, 1)
        )
    assert str(amount) == "907.40"


def test_a_service_end_inside_the_period_charges_only_those_days():
    period = Period(date(2026, 1, 1), date(2027, 1, 1))

    # [1 Jul, 1 Oct): 92 days; 5 × 360.00 × 92 / 365 = 453.698…
    amount = prorated_amount(
        unit_price=Decimal("360.00"),
        quantity=5,
        period=period,
        service_start=date(2026, 7, 1),
        service_end=date(2026, 10, 1),
    )

    assert str(amount) == "453.70"


@pytest.mark.parametrize("service_start", [date(2025, 12, 31), date(2027, 1, 1), date(2027, 6, 1)])
def test_a_service_start_outside_the_period_is_refused(service_start):
    with pytest.raises(ValueError, match="outside the period"):
        prorated_amount(
            unit_price=Decimal("360.00"),
            quantity=5,
            period=Period(date(2026, 1, 1), date(2027, 1, 1)),
            service_start=service_start,
        )


@pytest.mark.parametrize("service_end", [date(2026, 7, 1), date(2026, 6, 30), date(2027, 1, 2)])
def test_a_service_end_not_after_the_start_or_past_the_period_is_refused(service_end):
    with pytest.raises(ValueError, match="service_end"):
        prorated_amount(
            unit_price=Decimal("360.00"),
            quantity=5,
            period=Period(date(2026, 1, 1), date(2027, 1, 1)),
            service_start=date(2026, 7, 1),
            service_end=service_end,
        )


# Property tests ---------------------------------------------------------------------------------

unit_prices = st.decimals(min_value=0, max_value=100_000, places=4, allow_nan=False, allow_infinity=False)
signed_unit_prices = st.decimals(min_value=-100_000, max_value=100_000, places=4, allow_nan=False, allow_infinity=False)
quantities = st.integers(min_value=1, max_value=10_000)


@st.composite
def periods(draw: st.DrawFn) -> Period:
    anchor = draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)))
    frequency = draw(st.sampled_from(list(BillingFrequency)))
    return period_number(anchor, frequency, draw(st.integers(min_value=0, max_value=200)))


@st.composite
def periods_split_by_purchase_dates(draw: st.DrawFn) -> tuple[Period, list[date]]:
    """A period and the bounds of its segments: start, d1 < d2 < … < dk, end."""
    period = draw(periods())
    offsets = draw(st.lists(st.integers(min_value=1, max_value=period.days - 1), unique=True, max_size=20))
    inner = [period.start + timedelta(days=offset) for offset in sorted(offsets)]
    return period, [period.start, *inner, period.end]


@given(split=periods_split_by_purchase_dates(), unit_price=unit_prices, quantity=quantities)
def test_prorated_segments_of_equal_lines_add_up_to_the_period_price_within_a_cent_per_segment(
    split, unit_price, quantity
):
    period, bounds = split
    segments = list(pairwise(bounds))

    charged = sum(
        prorated_amount(unit_price=unit_price, quantity=quantity, period=period, service_start=start, service_end=end)
        for start, end in segments
    )
    full = prorated_amount(unit_price=unit_price, quantity=quantity, period=period, service_start=period.start)

    assert abs(charged - full) <= CENT * len(segments)
    assert abs(charged - full) <= CENT / 2 * len(segments)  # each segment is off by at most half a cent


@given(period=periods(), unit_price=signed_unit_prices, quantity=quantities)
def test_proration_of_a_full_period_is_the_period_price(period, unit_price, quantity):
    amount = prorated_amount(unit_price=unit_price, quantity=quantity, period=period, service_start=period.start)

    assert amount == round_money(unit_price * quantity)
    assert amount.as_tuple().exponent == -2


@given(period=periods(), unit_price=unit_prices, quantity=quantities, data=st.data())
def test_a_later_purchase_never_costs_more_and_is_within_half_a_cent_of_the_exact_share(
    period, unit_price, quantity, data
):
    day = period.start + timedelta(days=data.draw(st.integers(min_value=0, max_value=period.days - 1)))
    next_day = day + timedelta(days=1)

    amount = prorated_amount(unit_price=unit_price, quantity=quantity, period=period, service_start=day)

    exact_share = unit_price * quantity * (period.end - day).days / period.days
    assert abs(amount - exact_share) <= CENT / 2
    if next_day < period.end:
        later = prorated_amount(unit_price=unit_price, quantity=quantity, period=period, service_start=next_day)
        assert later <= amount
