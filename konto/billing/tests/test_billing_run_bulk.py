"""The billing run's set-based path on PostgreSQL (bulk_billing): the same invoices as the ORM path, row for row.

Every test runs both paths on the same charges — the set-based one, then the
ORM one (invoices.bill_orgs) after rolling the first back — and compares
every stored value except ids and timestamps, so a difference in VAT
rounding, line order, notes, snapshots or numbering fails here.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from konto.accounts.models import Org
from konto.billing.models import BillingRun, Invoice, InvoiceLine, InvoiceTax
from konto.billing.services.billing_run import run_billing
from konto.billing.services.bulk_billing import bill_orgs_set_based
from konto.billing.services.invoices import bill_orgs, get_vendor
from konto.contracts.models import Charge

from .helpers import add_contract, build_catalog, german_org, monthly_contract

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (set DATABASE_URL=postgres://…)"),
    pytest.mark.django_db,
]
JULY = date(2026, 7, 1)
SKIP = {"id", "public_id", "created_at", "issued_at", "status_changed_at", "invoice", "invoice_id", "billing_run"}


class Rollback(Exception):
    pass


def _rows() -> dict[str, list[dict[str, Any]]]:
    """Everything the run wrote, keyed by invoice number, without ids and timestamps."""
    number = dict(Invoice.objects.values_list("pk", "number"))
    invoices = [
        {key: value for key, value in row.items() if key not in SKIP}
        for row in Invoice.objects.order_by("number").values()
    ]
    lines = sorted(
        (
            {"number": number[row["invoice_id"]]} | {k: v for k, v in row.items() if k not in SKIP}
            for row in InvoiceLine.objects.values()
        ),
        key=lambda row: (row["number"], row["position"]),
    )
    taxes = sorted(
        (
            {"number": number[row["invoice_id"]]} | {k: v for k, v in row.items() if k not in SKIP}
            for row in InvoiceTax.objects.values()
        ),
        key=lambda row: (row["number"], row["tax_category"], -Decimal(str(row["tax_rate"]))),
    )
    return {"invoices": invoices, "lines": lines, "taxes": taxes}


def _both_paths(org_ids: list[int], billing_date: date = JULY) -> tuple[Any, Any, dict[str, Any], dict[str, Any]]:
    """(set-based result, ORM result, set-based rows, ORM rows), each path starting from the same state."""
    vendor, now = get_vendor(), timezone.now()
    outcome: dict[str, Any] = {}
    for name, bill in (("sql", bill_orgs_set_based), ("orm", bill_orgs)):
        extra: dict[str, Any] = {"documents": False} if name == "orm" else {}
        try:
            with transaction.atomic():
                result = bill(org_ids=org_ids, billing_date=billing_date, vendor=vendor, now=now, **extra)
                outcome[name] = (result, _rows())
                raise Rollback
        except Rollback:
            pass
    return outcome["sql"][0], outcome["orm"][0], outcome["sql"][1], outcome["orm"][1]


@pytest.fixture
def mixed_orgs(db) -> list[Org]:
    """German B2B, an English-speaking German org, Austrian reverse charge, Swiss (not taxable), prorated, 2 lines."""
    catalog = build_catalog()
    german = german_org("Firma A GmbH")
    monthly_contract(german, catalog, quantity=2, price="1.75")  # 2 × 1.75 × 2 months = 7.00 → VAT 1.33
    english = german_org("Firma B GmbH", language="en")
    monthly_contract(english, catalog, quantity=1, price="1.75")  # 3.50 → 0.665 → 0.67 half-up (0.66 half-even)
    austrian = german_org("Firma C GmbH", country="AT", vat_id="ATU13585627", postal_code="1010", city="Wien")
    monthly_contract(austrian, catalog, quantity=3)
    swiss = german_org("Firma D AG", country="CH", vat_id="", postal_code="8001", city="Zürich", currency="CHF")
    monthly_contract(swiss, catalog, quantity=1, price="10.00")
    prorated = german_org("Firma E GmbH")
    add_contract(
        prorated,
        catalog,
        start=date(2026, 6, 17),
        end=date(2027, 6, 17),
        frequency="monthly",
        lines=[("essentials", 3, Decimal("9.99")), ("identity-pack", 1, Decimal("4.05"))],
    )
    return [german, english, austrian, swiss, prorated]


def test_set_based_path_writes_what_the_orm_path_writes(mixed_orgs):
    sql, orm, sql_rows, orm_rows = _both_paths([org.pk for org in mixed_orgs])

    assert sql_rows == orm_rows
    assert (len(sql.invoices), sql.lines_created, sql.orgs_billed, sql.failures) == (
        len(orm.invoices),
        orm.lines_created,
        orm.orgs_billed,
        {},
    )
    assert [invoice.number for invoice in sql.invoices] == [f"RE-2026-{seq:06}" for seq in range(1, 6)]
    assert len(sql_rows["lines"]) == Charge.objects.filter(period_start__lte=JULY).count()
    # Half-up on the sum, as round_money: 3.50 × 19 % = 0.665 → 0.67 (banker's rounding would give 0.66)
    english = next(row for row in sql_rows["invoices"] if row["org_id"] == mixed_orgs[1].pk)
    assert (english["net_amount"], english["tax_amount"], english["gross_amount"], english["language"]) == (
        Decimal("3.50"),
        Decimal("0.67"),
        Decimal("4.17"),
        "en",
    )
    austrian = next(row for row in sql_rows["taxes"] if row["org_id"] == mixed_orgs[2].pk)
    assert (austrian["tax_category"], austrian["tax_rate"], austrian["tax_amount"]) == ("AE", Decimal("0.00"), 0)
    assert austrian["note"]
    assert [row["notes"] for row in sql_rows["invoices"] if row["org_id"] == mixed_orgs[2].pk] == [[austrian["note"]]]


def test_vat_in_sql_equals_round_money_on_half_cents(db):
    # Nets whose VAT ends in exactly half a cent: 19 % of 2.50, 3.50, 0.50, 10.50, 1.50 (x.xx5 each)
    catalog = build_catalog()
    orgs = []
    for index, price in enumerate(("1.25", "1.75", "0.25", "5.25", "0.75")):
        org = german_org(f"Rundung {index} GmbH")
        monthly_contract(org, catalog, quantity=1, price=price)
        orgs.append(org)

    _sql, _orm, sql_rows, orm_rows = _both_paths([org.pk for org in orgs])

    assert sql_rows == orm_rows
    assert [(row["taxable_amount"], row["tax_amount"]) for row in sql_rows["taxes"]] == [
        (Decimal("2.50"), Decimal("0.48")),
        (Decimal("3.50"), Decimal("0.67")),
        (Decimal("0.50"), Decimal("0.10")),
        (Decimal("10.50"), Decimal("2.00")),
        (Decimal("1.50"), Decimal("0.29")),
    ]


def test_an_org_whose_tax_fails_is_left_out_whole(mixed_orgs):
    Org.objects.filter(pk=mixed_orgs[1].pk).update(country="EL")  # Greece's VAT prefix: the tax engine refuses it

    sql, orm, sql_rows, orm_rows = _both_paths([org.pk for org in mixed_orgs])

    assert sql_rows == orm_rows
    assert set(sql.failures) == set(orm.failures) == {mixed_orgs[1].pk}
    assert sql.failures == orm.failures
    assert mixed_orgs[1].pk not in {row["org_id"] for row in sql_rows["invoices"]}
    assert [row["number"] for row in sql_rows["invoices"]] == [f"RE-2026-{seq:06}" for seq in range(1, 5)]


def test_run_without_documents_uses_it_bills_once_and_resumes_without_gap(mixed_orgs):
    class Crash(Exception):
        pass

    def crash_after_two(done: int, total: int) -> None:
        if done == 2:
            raise Crash

    with pytest.raises(Crash):
        run_billing(billing_date=JULY, batch_size=1, documents=False, progress=crash_after_two)
    assert Invoice.objects.count() == 2

    run = run_billing(billing_date=JULY, batch_size=2, documents=False)
    again = run_billing(billing_date=JULY, documents=False)

    assert (run.status, run.invoices_created, again.orgs_due, again.invoices_created) == ("finished", 3, 0, 0)
    assert sorted(str(n) for n in Invoice.objects.values_list("number", flat=True)) == [
        f"RE-2026-{seq:06}" for seq in range(1, 6)
    ]
    assert InvoiceLine.objects.count() == Charge.objects.filter(period_start__lte=JULY).count()
    assert set(Invoice.objects.values_list("status", flat=True)) == {"open"}
    assert BillingRun.objects.filter(status="failed").count() == 1


def test_a_charge_already_on_an_invoice_is_not_billed_again(mixed_orgs):
    vendor, now = get_vendor(), timezone.now()
    with transaction.atomic():
        first = bill_orgs_set_based(org_ids=[mixed_orgs[0].pk], billing_date=JULY, vendor=vendor, now=now)
    with transaction.atomic():
        second = bill_orgs_set_based(org_ids=[mixed_orgs[0].pk], billing_date=JULY, vendor=vendor, now=now)

    assert (len(first.invoices), first.lines_created, len(second.invoices)) == (1, 2, 0)
    assert Invoice.objects.get().public_id.startswith("inv_")
    assert len(Invoice.objects.get().public_id) == 20
