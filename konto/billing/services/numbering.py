"""Gapless document numbers from per-series, per-year counters, assigned inside the issuing transaction."""

from __future__ import annotations

from django.db import connection

from konto.billing.models import NumberSeries

DEFAULT_FORMATS = {
    NumberSeries.INVOICE: "RE-{year}-{seq:06}",
    NumberSeries.CREDIT_NOTE: "GS-{year}-{seq:06}",
}

# One statement creates the year's counter row or increments it, and returns the new value. It takes the
# row lock that `SELECT … FOR UPDATE` would take, without the create race of get-then-insert: a second
# transaction issuing in the same series waits here until the first commits or rolls back. The increment
# is part of the issuing transaction, so a rollback gives the numbers back: no gap, never "max + 1".
_ALLOCATE = (
    "INSERT INTO billing_numbercounter (series_id, year, last_number) VALUES (%s, %s, %s) "
    "ON CONFLICT (series_id, year) "
    "DO UPDATE SET last_number = billing_numbercounter.last_number + excluded.last_number "
    "RETURNING last_number"
)


def series_id(code: str) -> int:
    """The id of the series `code`, created on first use (get_or_create is safe under the unique code)."""
    series, _created = NumberSeries.objects.get_or_create(code=code)
    return series.pk


def allocate_numbers(*, series: str, year: int, count: int) -> range:
    """Reserve `count` consecutive sequence numbers of `series` in `year` for the caller's transaction.

    Must run inside the transaction that stores the numbered documents, as late
    as possible in it: the counter row stays locked until that transaction ends.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    if not connection.in_atomic_block:
        raise RuntimeError("numbers are allocated only inside the issuing transaction")
    ident = series_id(series)
    with connection.cursor() as cursor:
        cursor.execute(_ALLOCATE, [ident, year, count])
        row = cursor.fetchone()
    if row is None:  # RETURNING always yields the row
        raise RuntimeError("the number counter returned no row")
    last = int(row[0])
    return range(last - count + 1, last + 1)


def format_number(number_format: str, *, year: int, seq: int) -> str:
    """Apply a Vendor number format such as "RE-{year}-{seq:06}"."""
    return number_format.format(year=year, seq=seq)


def next_number(*, series: str, year: int, number_format: str) -> str:
    """The next formatted number of `series` in `year`, inside the caller's issuing transaction."""
    (seq,) = allocate_numbers(series=series, year=year, count=1)
    return format_number(number_format, year=year, seq=seq)
