"""Locale-aware formatting of money, dates, numbers and percentages in templates.

The formatting locale follows the active UI language and the org's country
(`core.countries.babel_locale`): German for a Swiss org formats as de_CH
("CHF 1'234.50" with a typographic apostrophe), for an Austrian org as
de_AT ("Jänner"), English as `en`.

Usage: `{% load konto_format %}` then `{% money invoice.gross_amount invoice.currency %}`,
`{% local_date contract.end_date %}`, `{% local_datetime token.created_at %}`,
`{% number usage.total %}`, `{% percent 0.25 %}`.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from babel.dates import format_date, format_time, get_datetime_format
from babel.numbers import format_decimal, format_percent
from django import template
from django.http import HttpRequest
from django.utils import timezone, translation

from konto.core.countries import babel_locale
from konto.core.money import format_money

register = template.Library()

# Shown where a value is missing (no date yet, no amount).
EMPTY = "\u2013"  # en dash
DEFAULT_COUNTRY = "DE"


def locale_for(language: str | None, country: str | None) -> str:
    """The Babel locale for a UI language and an org country (defaults: German, Germany)."""
    return babel_locale((language or "de").split("-")[0], country or DEFAULT_COUNTRY)


def request_locale(request: HttpRequest | None) -> str:
    """The formatting locale of a request: active language plus the signed-in user's org country."""
    country = None
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        org = getattr(user, "org", None)
        country = getattr(org, "country", None)
    return locale_for(translation.get_language(), country)


def _context_locale(context: template.Context) -> str:
    org = context.get("konto_org") or context.get("org")
    country = getattr(org, "country", None)
    if country:
        return locale_for(translation.get_language(), country)
    return request_locale(context.get("request"))


def _as_decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def money_text(amount: Any, currency: str, locale: str) -> str:
    """`1234.5, "EUR", "de_DE"` → "1.234,50 €"; a missing or non-numeric amount → EMPTY."""
    value = _as_decimal(amount)
    if value is None or not currency:
        return EMPTY
    return format_money(value, currency, locale)


def _as_date(value: date | datetime) -> date:
    if isinstance(value, datetime):
        return (timezone.localtime(value) if timezone.is_aware(value) else value).date()
    return value


def date_text(value: date | datetime | None, locale: str, length: str = "medium") -> str:
    """A calendar date in the locale's format (`medium`: "05.01.2026"; `long`: "5. Jänner 2026")."""
    if value is None or value == "":
        return EMPTY
    return str(format_date(_as_date(value), length, locale=locale))


def datetime_text(value: datetime | None, locale: str) -> str:
    """A timestamp in the current time zone: medium date and short time ("05.01.2026, 14:05")."""
    if value is None or value == "":
        return EMPTY
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    pattern = str(get_datetime_format("medium", locale=locale))  # "{1}, {0}": date, then time
    return str(
        pattern.replace("{1}", str(format_date(local.date(), "medium", locale=locale))).replace(
            "{0}", str(format_time(local.time(), "short", locale=locale))
        )
    )


def number_text(value: Any, locale: str) -> str:
    number = _as_decimal(value)
    if number is None:
        return EMPTY
    return str(format_decimal(number, locale=locale))


def percent_text(ratio: Any, locale: str) -> str:
    """A ratio (0.25) as a percentage ("25 %" in German, "25%" in English and de_CH)."""
    number = _as_decimal(ratio)
    if number is None:
        return EMPTY
    return str(format_percent(number, locale=locale))


@register.simple_tag(takes_context=True)
def money(context: template.Context, amount: Any, currency: str) -> str:
    return money_text(amount, currency, _context_locale(context))


@register.simple_tag(takes_context=True)
def local_date(context: template.Context, value: date | datetime | None, length: str = "medium") -> str:
    return date_text(value, _context_locale(context), length)


@register.simple_tag(takes_context=True)
def local_datetime(context: template.Context, value: datetime | None) -> str:
    return datetime_text(value, _context_locale(context))


@register.simple_tag(takes_context=True)
def number(context: template.Context, value: Any) -> str:
    return number_text(value, _context_locale(context))


@register.simple_tag(takes_context=True)
def percent(context: template.Context, ratio: Any) -> str:
    return percent_text(ratio, _context_locale(context))


@register.simple_tag(takes_context=True)
def formatting_locale(context: template.Context) -> str:
    """The Babel locale in use, e.g. for `<time>` hints or scripts."""
    return _context_locale(context)
