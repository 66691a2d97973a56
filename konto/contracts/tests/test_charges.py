"""The charge schedule: one charge per line and billing period, prorated at the edges, never twice."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from konto.contracts.models import Charge
from konto.contracts.services.charges import schedule_charges
from konto.contracts.services.orders import place_order
from konto.contracts.services.pricing import OrderItem

from .conftest import actor_of, add_contract

pytestmark = pytest.mark.django_db


def _schedule(line) -> list[tuple[date, date, date, int, int, Decimal]]:
    return [
        (c.period_start, c.period_end, c.service_start, c.days_charged, c.days_in_period, c.net_amount)
        for c in Charge.objects.filter(line=line).order_by("period_start")
    ]


def test_monthly_line_has_twelve_full_charges(essentials_contract):
    line = essentials_contract.lines.get()

    schedule = _schedule(line)

    assert len(schedule) == 12
    assert schedule[0] == (date(2026, 6, 1), date(2026, 7, 1), date(2026, 6, 1), 30, 30, Decimal("125.00"))
    assert schedule[-1] == (date(2027, 5, 1), date(2027, 6, 1), date(2027, 5, 1), 31, 31, Decimal("125.00"))
    assert sum(charge[-1] for charge in schedule) == Decimal("1500.00")
    assert {c.org_id for c in Charge.objects.filter(line=line)} == {essentials_contract.org_id}


def test_annual_lines_have_one_charge_each(austrian_org, catalog):
    contract = add_contract(
        austrian_org,
        catalog,
        start=date(2026, 3, 1),
        end=date(2027, 3, 1),
        frequency="annual",
        lines=[("enterprise", 40), ("data-storage", 2)],
        payment="bank_transfer",
    )

    enterprise, storage = contract.lines.order_by("id")

    assert _schedule(enterprise) == [
        (date(2026, 3, 1), date(2027, 3, 1), date(2026, 3, 1), 365, 365, Decimal("79200.00"))
    ]
    assert _schedule(storage) == [(date(2026, 3, 1), date(2027, 3, 1), date(2026, 3, 1), 365, 365, Decimal("3000.00"))]


def test_quarterly_periods_are_anchored_on_a_start_on_the_31st(essentials_org, catalog):
    contract = add_contract(
        essentials_org,
        catalog,
        start=date(2026, 1, 31),
        end=date(2027, 1, 31),
        frequency="quarterly",
        lines=[("essentials", 2)],
    )

    assert _schedule(contract.lines.get()) == [
        (date(2026, 1, 31), date(2026, 4, 30), date(2026, 1, 31), 89, 89, Decimal("150.00")),
        (date(2026, 4, 30), date(2026, 7, 31), date(2026, 4, 30), 92, 92, Decimal("150.00")),
        (date(2026, 7, 31), date(2026, 10, 31), date(2026, 7, 31), 92, 92, Decimal("150.00")),
        (date(2026, 10, 31), date(2027, 1, 31), date(2026, 10, 31), 92, 92, Decimal("150.00")),
    ]


def test_line_bought_mid_term_is_prorated_in_its_first_period_then_charged_in_full(essentials_org, buyer, catalog):
    # Given a quarterly contract from 2026-01-31
    contract = add_contract(
        essentials_org,
        catalog,
        start=date(2026, 1, 31),
        end=date(2027, 1, 31),
        frequency="quarterly",
        lines=[("essentials", 1)],
    )

    # When 2 more licenses (75.00 per quarter) are bought on 2026-05-15
    placed = place_order(
        org=essentials_org,
        actor=actor_of(buyer),
        contract=contract,
        items=[OrderItem("essentials", 2)],
        idempotency_key="mid-term",
        today=date(2026, 5, 15),
    )

    # Then the period 04-30..07-31 is charged for 77 of 92 days: 150.00 × 77/92 = 125.543… → 125.54
    line = placed.order.contract_lines.get()
    assert (line.start_date, line.end_date) == (date(2026, 5, 15), date(2027, 1, 31))
    assert _schedule(line) == [
        (date(2026, 4, 30), date(2026, 7, 31), date(2026, 5, 15), 77, 92, Decimal("125.54")),
        (date(2026, 7, 31), date(2026, 10, 31), date(2026, 7, 31), 92, 92, Decimal("150.00")),
        (date(2026, 10, 31), date(2027, 1, 31), date(2026, 10, 31), 92, 92, Decimal("150.00")),
    ]
    assert sum(charge.net_amount for charge in line.charges.all()) == Decimal("425.54")
    assert placed.order.today_net_amount == Decimal("125.54")
    assert placed.order.next_invoice_net_amount == Decimal("150.00")


def test_a_term_cut_mid_period_charges_the_days_up_to_the_end(essentials_org, catalog):
    contract = add_contract(
        essentials_org,
        catalog,
        start=date(2026, 1, 15),
        end=date(2026, 3, 1),
        frequency="monthly",
        lines=[("essentials", 1)],
    )

    # 2026-02-15..03-15 has 28 days; 14 of them lie in the term: 25.00 × 14/28 = 12.50
    assert _schedule(contract.lines.get()) == [
        (date(2026, 1, 15), date(2026, 2, 15), date(2026, 1, 15), 31, 31, Decimal("25.00")),
        (date(2026, 2, 15), date(2026, 3, 15), date(2026, 2, 15), 14, 28, Decimal("12.50")),
    ]


def test_donated_licenses_have_charges_of_zero(swiss_contract):
    assert _schedule(swiss_contract.lines.get()) == [
        (date(2026, 1, 1), date(2027, 1, 1), date(2026, 1, 1), 365, 365, Decimal("0.00"))
    ]


def test_a_second_schedule_for_the_same_line_is_refused_by_the_database(essentials_contract):
    line = essentials_contract.lines.get()
    before = Charge.objects.count()

    with pytest.raises(IntegrityError), transaction.atomic():
        schedule_charges(contract=essentials_contract, lines=[line])

    assert Charge.objects.count() == before == 12
