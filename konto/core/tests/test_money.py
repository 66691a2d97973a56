"""Money: half-up rounding to cents and exact formatting per locale."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from konto.core.money import CENT, Currency, format_money, round_money

NBSP = "\N{NO-BREAK SPACE}"
APOSTROPHE = "\N{RIGHT SINGLE QUOTATION MARK}"  # the Swiss thousands separator in CLDR


@pytest.mark.parametrize(
    ("amount", "rounded"),
    [
        ("0.005", "0.01"),
        ("2.675", "2.68"),
        ("2.665", "2.67"),  # half-even would give 2.66
        ("0.125", "0.13"),
        ("907.397260", "907.40"),  # DESIGN.md's proration example
        ("1.004", "1.00"),
        ("1.0049999", "1.00"),
        ("-0.005", "-0.01"),  # half away from zero, also for credits
        ("-2.675", "-2.68"),
        ("10", "10.00"),
        ("0", "0.00"),
        ("12345678901234.995", "12345678901235.00"),
    ],
)
def test_round_money_rounds_half_up_to_cents(amount, rounded):
    result = round_money(Decimal(amount))
    assert str(result) == rounded
    assert result.as_tuple().exponent == -2


@given(st.decimals(min_value=-(10**9), max_value=10**9, allow_nan=False, allow_infinity=False, places=6))
def test_round_money_is_within_half_a_cent_and_ties_go_up(amount):
    rounded = round_money(amount)
    assert abs(rounded - amount) <= Decimal("0.005")
    assert rounded.as_tuple().exponent == -2
    if abs(rounded - amount) == Decimal("0.005"):
        assert abs(rounded) > abs(amount)  # a tie moves away from zero


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "text"),
    [
        ("1234567.89", "EUR", "de_DE", f"1.234.567,89{NBSP}€"),
        ("1234567.89", "CHF", "de_DE", f"1.234.567,89{NBSP}CHF"),
        ("1234567.89", "EUR", "de_AT", f"€{NBSP}1.234.567,89"),
        ("1234567.89", "CHF", "de_CH", f"CHF{NBSP}1{APOSTROPHE}234{APOSTROPHE}567.89"),
        ("1234567.89", "EUR", "de_CH", f"EUR{NBSP}1{APOSTROPHE}234{APOSTROPHE}567.89"),
        ("1234567.89", "EUR", "en", "€1,234,567.89"),
        ("1234567.89", "CHF", "en", f"CHF{NBSP}1,234,567.89"),  # a code never touches the digits
        ("-907.4", "EUR", "de_DE", f"-907,40{NBSP}€"),
        ("-907.4", "EUR", "de_AT", f"-€{NBSP}907,40"),
        ("-907.4", "CHF", "de_CH", "CHF-907.40"),
        ("-907.4", "CHF", "en", f"-CHF{NBSP}907.40"),
        ("0", "EUR", "de_DE", f"0,00{NBSP}€"),
        ("5", "EUR", "en", "€5.00"),
        ("999.995", "EUR", "de_DE", f"1.000,00{NBSP}€"),
    ],
)
def test_format_money_exact_per_locale(amount, currency, locale, text):
    assert format_money(Decimal(amount), currency, locale) == text


@pytest.mark.parametrize(
    ("amount", "locale", "text"),
    [("0.125", "en", "€0.13"), ("2.665", "de_DE", f"2,67{NBSP}€"), ("0.005", "de_AT", f"€{NBSP}0,01")],
)
def test_format_money_rounds_half_up_like_the_documents(amount, locale, text):
    assert format_money(Decimal(amount), "EUR", locale) == text


def test_both_currencies_have_cents():
    assert list(Currency.values) == ["EUR", "CHF"]
    assert Decimal("0.01") == CENT
