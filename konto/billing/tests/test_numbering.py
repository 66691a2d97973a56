"""Gapless numbers: consecutive per series and year, given back when the issuing transaction rolls back."""

from __future__ import annotations

import pytest
from django.db import transaction

from konto.billing.models import NumberCounter, NumberSeries
from konto.billing.services.numbering import allocate_numbers, format_number, next_number

pytestmark = pytest.mark.django_db

FORMAT = "RE-{year}-{seq:06}"


def test_numbers_are_consecutive_per_series_and_year():
    with transaction.atomic():
        numbers = [next_number(series=NumberSeries.INVOICE, year=2026, number_format=FORMAT) for _ in range(3)]
        credit = next_number(series=NumberSeries.CREDIT_NOTE, year=2026, number_format="GS-{year}-{seq:06}")
        next_year = next_number(series=NumberSeries.INVOICE, year=2027, number_format=FORMAT)
    assert numbers == ["RE-2026-000001", "RE-2026-000002", "RE-2026-000003"]
    assert credit == "GS-2026-000001"
    assert next_year == "RE-2027-000001"


def test_number_has_no_gap_after_rollback():
    with transaction.atomic():
        assert next_number(series=NumberSeries.INVOICE, year=2026, number_format=FORMAT) == "RE-2026-000001"

    class Boom(Exception):
        pass

    def issue_then_fail() -> None:
        with transaction.atomic():
            assert next_number(series=NumberSeries.INVOICE, year=2026, number_format=FORMAT) == "RE-2026-000002"
            raise Boom

    with pytest.raises(Boom):
        issue_then_fail()

    with transaction.atomic():
        assert next_number(series=NumberSeries.INVOICE, year=2026, number_format=FORMAT) == "RE-2026-000002"
    assert NumberCounter.objects.get(series__code=NumberSeries.INVOICE, year=2026).last_number == 2


def test_a_block_of_numbers_is_reserved_at_once():
    with transaction.atomic():
        first = allocate_numbers(series=NumberSeries.INVOICE, year=2026, count=500)
        second = allocate_numbers(series=NumberSeries.INVOICE, year=2026, count=2)
    assert (first.start, first.stop) == (1, 501)
    assert list(second) == [501, 502]


@pytest.mark.django_db(transaction=True)
def test_numbers_are_only_allocated_inside_a_transaction():
    with pytest.raises(RuntimeError, match="inside the issuing transaction"):
        allocate_numbers(series=NumberSeries.INVOICE, year=2026, count=1)
    assert NumberCounter.objects.count() == 0


def test_format_follows_the_vendor_format():
    assert format_number("INV/{year}/{seq:04}", year=2026, seq=7) == "INV/2026/0007"
