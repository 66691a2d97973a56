"""Money: currencies, half-up rounding to the minor unit, locale formatting."""

from __future__ import annotations

import re
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


# CLDR currency spacing, which Babel does not apply: a currency code and a digit
# never touch ("CHF 1,234.00", not "CHF1,234.00"); symbols such as € keep theirs.
_LETTER_BESIDE_DIGIT = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")


def format_money(amount: Decimal, currency: str, locale: str) -> str:
    """Format an amount for a Babel locale such as de_DE, de_AT, de_CH or en.

    The amount is rounded half-up to the minor unit first: Babel on its own
    rounds half-to-even, which would print 0.125 as 0.12.
    """
    text = format_currency(round_money(amount), currency, locale=locale)
    return _LETTER_BESIDE_DIGIT.sub("\N{NO-BREAK SPACE}", text)
