"""Money: currencies, half-up rounding to the minor unit, locale formatting."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from babel.numbers import format_currency
from django.db import models
from django.utils.translation import gettext_lazy as _

ZERO = Decimal("0")
CENT = Decimal("0.01")
UNIT_PRICE_QUANTUM = Decimal("0.0001")  # unit prices carry up to 4 decimals


class Currency(models.TextChoices):
    EUR = "EUR", _("Euro (EUR)")
    CHF = "CHF", _("Swiss franc (CHF)")


def round_money(amount: Decimal) -> Decimal:
    """Round half-up (kaufmännisch) to the minor unit (both currencies: cents)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def format_money(amount: Decimal, currency: str, locale: str) -> str:
    """Format an amount for a Babel locale such as de_DE, de_AT, de_CH or en."""
    return format_currency(amount, currency, locale=locale)
