"""Money, dates, numbers and percentages formatted per locale (de-DE, de-AT, de-CH, en)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.test import RequestFactory
from django.utils import translation

from konto.accounts.models import Org
from konto.accounts.testing import make_admin, make_org
from konto.portal.templatetags.konto_format import (
    date_text,
    datetime_text,
    locale_for,
    money_text,
    number_text,
    percent_text,
    request_locale,
)

NBSP = "\xa0"
APOSTROPHE = "\u2019"  # the Swiss thousands separator
DASH = "\u2013"


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "expected"),
    [
        (Decimal("1234.5"), "EUR", "de_DE", f"1.234,50{NBSP}€"),
        (Decimal("1234.5"), "EUR", "de_AT", f"€{NBSP}1.234,50"),
        (Decimal("1234567.89"), "CHF", "de_CH", f"CHF{NBSP}1{APOSTROPHE}234{APOSTROPHE}567.89"),
        (Decimal("1234.5"), "EUR", "en", "€1,234.50"),
        (Decimal("1234567.89"), "CHF", "en", f"CHF{NBSP}1,234,567.89"),
        (Decimal("-907.4"), "EUR", "de_DE", f"-907,40{NBSP}€"),
        (Decimal("0"), "CHF", "de_CH", f"CHF{NBSP}0.00"),
    ],
)
def test_money_is_formatted_for_the_locale(amount, currency, locale, expected):
    assert money_text(amount, currency, locale) == expected


def test_money_accepts_strings_and_ints_as_exact_decimals():
    assert money_text("1234.5", "EUR", "de_DE") == f"1.234,50{NBSP}€"
    assert money_text(12, "EUR", "en") == "€12.00"


@pytest.mark.parametrize("amount", [None, "", "abc", "1,5"])
def test_missing_or_non_numeric_amount_shows_a_dash(amount):
    assert money_text(amount, "EUR", "de_DE") == DASH


def test_money_without_currency_shows_a_dash():
    assert money_text(Decimal("10"), "", "de_DE") == DASH


@pytest.mark.parametrize(
    ("locale", "length", "expected"),
    [
        ("de_DE", "medium", "05.01.2026"),
        ("de_AT", "medium", "05.01.2026"),
        ("de_CH", "medium", "05.01.2026"),
        ("en", "medium", "Jan 5, 2026"),
        ("de_DE", "long", "5. Januar 2026"),
        ("de_AT", "long", "5. Jänner 2026"),
        ("de_CH", "long", "5. Januar 2026"),
        ("en", "long", "January 5, 2026"),
    ],
)
def test_dates_are_formatted_for_the_locale(locale, length, expected):
    assert date_text(date(2026, 1, 5), locale, length) == expected


def test_austrian_german_names_january_jaenner():
    assert date_text(date(2027, 1, 31), "de_AT", "long") == "31. Jänner 2027"
    assert date_text(date(2027, 2, 1), "de_AT", "long") == "1. Februar 2027"


def test_timestamps_are_shown_in_the_berlin_time_zone():
    # 23:30 UTC on 5 January is 00:30 on 6 January in Berlin (UTC+1 in winter).
    moment = datetime(2026, 1, 5, 23, 30, tzinfo=UTC)
    assert date_text(moment, "de_DE") == "06.01.2026"
    assert datetime_text(moment, "de_DE") == "06.01.2026, 00:30"
    assert datetime_text(moment, "en") == "Jan 6, 2026, 12:30\u202fAM"


def test_missing_date_shows_a_dash():
    assert date_text(None, "de_DE") == DASH
    assert datetime_text(None, "en") == DASH


@pytest.mark.parametrize(
    ("locale", "expected_number", "expected_percent"),
    [
        ("de_DE", "12.345", f"25{NBSP}%"),
        ("de_AT", "12.345", f"25{NBSP}%"),
        ("de_CH", f"12{APOSTROPHE}345", "25%"),
        ("en", "12,345", "25%"),
    ],
)
def test_numbers_and_percentages_follow_the_locale(locale, expected_number, expected_percent):
    assert number_text(12345, locale) == expected_number
    assert percent_text(Decimal("0.25"), locale) == expected_percent


@pytest.mark.parametrize(
    ("language", "country", "expected"),
    [
        ("de", "DE", "de_DE"),
        ("de", "AT", "de_AT"),
        ("de", "CH", "de_CH"),
        ("de", "FR", "de_DE"),
        ("en", "CH", "en"),
        ("en-us", "DE", "en"),
        (None, None, "de_DE"),
    ],
)
def test_locale_follows_ui_language_and_org_country(language, country, expected):
    assert locale_for(language, country) == expected


def _render(source: str, **context: object) -> str:
    return Template("{% load konto_format %}" + source).render(Context(context))


def test_money_tag_uses_the_org_country_and_the_active_language():
    swiss_org = Org(country="CH")
    with translation.override("de"):
        assert _render("{% money amount 'CHF' %}", amount=Decimal("1234567.89"), konto_org=swiss_org) == (
            f"CHF{NBSP}1{APOSTROPHE}234{APOSTROPHE}567.89"
        )
    with translation.override("en"):
        assert _render("{% money amount 'CHF' %}", amount=Decimal("1234567.89"), konto_org=swiss_org) == (
            f"CHF{NBSP}1,234,567.89"
        )


def test_date_tag_prints_austrian_month_names_for_an_austrian_org():
    with translation.override("de"):
        rendered = _render("{% local_date day 'long' %}", day=date(2026, 1, 5), konto_org=Org(country="AT"))
    assert rendered == "5. Jänner 2026"


@pytest.mark.django_db
def test_request_locale_comes_from_the_signed_in_users_org():
    austrian_admin = make_admin(make_org(country="AT", city="Wien", postal_code="1010"), "admin@at.example")
    request = RequestFactory().get("/")
    request.user = austrian_admin
    with translation.override("de"):
        assert request_locale(request) == "de_AT"
        assert _render("{% local_date day 'long' %}", day=date(2026, 1, 5), request=request) == "5. Jänner 2026"
    with translation.override("en"):
        assert request_locale(request) == "en"


def test_number_tag_groups_thousands_the_swiss_way_for_a_swiss_org():
    with translation.override("de"):
        assert _render("{% number value %}", value=1234, konto_org=Org(country="CH")) == f"1{APOSTROPHE}234"
