"""Billing periods and proration: the one pure module for dates and partial-period money.

Rules (DESIGN.md §3): periods are anchored on the contract start and advance by
whole months; a date that does not exist in the target month is clamped to the
month's last day (start 31 Jan → 28/29 Feb, 31 Mar, …), always measured from
the anchor so the day never drifts. Service periods are [start, end) calendar
dates. A line bought on day d inside [P0, P1) is charged
round_half_up(unit_price × quantity × days(d, P1) / days(P0, P1)).
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction

from django.db import models
from django.utils.translation import gettext_lazy as _


class BillingFrequency(models.TextChoices):
    MONTHLY = "monthly", _("Monthly")
    QUARTERLY = "quarterly", _("Quarterly")
    ANNUAL = "annual", _("Annual")


MONTHS_PER_PERIOD = {
    BillingFrequency.MONTHLY: 1,
    BillingFrequency.QUARTERLY: 3,
    BillingFrequency.ANNUAL: 12,
}


@dataclass(frozen=True, order=True)
class Period:
    """A service period [start, end) of calendar dates."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def __contains__(self, day: object) -> bool:
        # A datetime is a date subclass but not a calendar date: comparing it with one raises TypeError.
        return isinstance(day, date) and not isinstance(day, datetime) and self.start <= day < self.end


def add_months(anchor: date, months: int) -> date:
    """`anchor` moved by whole months, clamped to the last day of the target month."""
    month_index = anchor.year * 12 + (anchor.month - 1) + months
    year, month = divmod(month_index, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(anchor.day, last_day))


def period_number(anchor: date, frequency: str, index: int) -> Period:
    """The index-th billing period (0 = the first) of a contract starting on `anchor`.

    Both bounds are measured from the anchor, so clamping in a short month never
    shifts later periods (31 Jan → 29 Feb → 31 Mar).
    """
    if index < 0:
        raise ValueError("a contract has no billing period before its start")
    step = MONTHS_PER_PERIOD[BillingFrequency(frequency)]
    return Period(add_months(anchor, index * step), add_months(anchor, (index + 1) * step))


def _index_containing(anchor: date, frequency: str, day: date) -> int:
    if day < anchor:
        raise ValueError("day lies before the contract start")
    step = MONTHS_PER_PERIOD[BillingFrequency(frequency)]
    months = (day.year - anchor.year) * 12 + (day.month - anchor.month)
    # One period early at most (clamping can move a start into the month before), never late.
    index = max(months // step - 1, 0)
    while day >= period_number(anchor, frequency, index).end:
        index += 1
    return index


def period_containing(anchor: date, frequency: str, day: date) -> Period:
    """The billing period of a contract starting on `anchor` that contains `day` (day >= anchor)."""
    return period_number(anchor, frequency, _index_containing(anchor, frequency, day))


def periods_between(anchor: date, frequency: str, start: date, end: date) -> Iterator[Period]:
    """The billing periods that overlap [start, end), in order; `start` >= anchor.

    Arguments are checked at the call, not at the first iteration; an empty range
    (end <= start) overlaps no period.
    """
    index = _index_containing(anchor, frequency, start)
    if end <= start:
        return iter(())
    return _periods_from(anchor, frequency, index, end)


def _periods_from(anchor: date, frequency: str, index: int, end: date) -> Iterator[Period]:
    period = period_number(anchor, frequency, index)
    while period.start < end:
        yield period
        index += 1
        period = period_number(anchor, frequency, index)


def prorated_amount(
    *, unit_price: Decimal, quantity: int, period: Period, service_start: date, service_end: date | None = None
) -> Decimal:
    """Net amount for [service_start, service_end) of a period priced at unit_price × quantity.

    `service_end` defaults to the period end (lines are co-termed). The day ratio is
    applied to the exact price and rounded once, half-up to the minor unit, without
    any intermediate rounding or dependence on the active decimal context; a full
    period is exactly round_money(unit_price × quantity).
    """
    end = period.end if service_end is None else service_end
    if service_start not in period:
        raise ValueError("service_start lies outside the period")
    if not (isinstance(end, date) and not isinstance(end, datetime) and service_start < end <= period.end):
        raise ValueError("service_end must lie after service_start and no later than the period end")
    return _round_half_up(Fraction(unit_price) * quantity * (end - service_start).days / period.days)


def _round_half_up(amount: Fraction) -> Decimal:
    """`amount` rounded half away from zero to cents, as round_money does, but exactly."""
    cents = math.floor(abs(amount) * 100 + Fraction(1, 2))
    return Decimal(f"{cents if amount >= 0 else -cents}E-2")  # from a string: exact, whatever the context
