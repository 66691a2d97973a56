"""The billing run: every org once, idempotent, resumable after a crash, one failing org recorded."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from konto.accounts.models import Org
from konto.billing.models import BillingRun, BillingRunError, Invoice, InvoiceLine
from konto.billing.services.billing_run import run_billing
from konto.contracts.models import Charge

from .helpers import build_catalog, german_org, monthly_contract

pytestmark = pytest.mark.django_db
JULY = date(2026, 7, 1)


class Crash(Exception):
    pass


@pytest.fixture
def orgs(db):
    catalog = build_catalog()
    orgs = [german_org(f"Firma {index} GmbH") for index in range(5)]
    for index, org in enumerate(orgs, start=1):
        monthly_contract(org, catalog, quantity=index)
    return orgs


def numbers() -> list[str]:
    return sorted(str(number) for number in Invoice.objects.values_list("number", flat=True))


def test_run_bills_every_org_once_and_a_second_run_nothing(orgs):
    run = run_billing(billing_date=JULY, batch_size=2)

    assert (run.status, run.orgs_due, run.orgs_billed, run.invoices_created, run.lines_created) == (
        "finished",
        5,
        5,
        5,
        10,
    )
    assert numbers() == [f"RE-2026-{seq:06}" for seq in range(1, 6)]
    # Org 3 has 3 licenses: 2 months × 75.00 = 150.00 net, 28.50 VAT
    third = Invoice.objects.get(org=orgs[2])
    assert (third.net_amount, third.tax_amount, third.gross_amount) == (
        Decimal("150.00"),
        Decimal("28.50"),
        Decimal("178.50"),
    )
    assert set(InvoiceLine.objects.filter(invoice=third).values_list("charge__org_id", flat=True)) == {orgs[2].pk}

    again = run_billing(billing_date=JULY)
    assert (again.orgs_due, again.invoices_created) == (0, 0)
    assert Invoice.objects.count() == 5


def test_crashed_run_resumes_without_duplicate_or_gap(orgs):
    # Given a run that dies after its second batch of one org
    def crash_after_two(done: int, total: int) -> None:
        if done == 2:
            raise Crash

    with pytest.raises(Crash):
        run_billing(billing_date=JULY, batch_size=1, progress=crash_after_two)
    assert Invoice.objects.count() == 2
    assert BillingRun.objects.get().status == "failed"

    # When it runs again
    run = run_billing(billing_date=JULY, batch_size=1)

    # Then every org is billed exactly once, numbers 1..5 without gap
    assert run.invoices_created == 3
    assert sorted(Invoice.objects.values_list("org_id", flat=True)) == sorted(org.pk for org in orgs)
    assert numbers() == [f"RE-2026-{seq:06}" for seq in range(1, 6)]
    assert InvoiceLine.objects.count() == Charge.objects.filter(period_start__lte=JULY).count() == 10


def test_a_failing_org_is_recorded_and_the_run_goes_on(orgs):
    # Greece's VAT prefix instead of its country code: the tax engine refuses it
    Org.objects.filter(pk=orgs[1].pk).update(country="EL")

    run = run_billing(billing_date=JULY, batch_size=10)

    assert (run.status, run.orgs_billed, run.orgs_failed, run.invoices_created) == ("finished_with_errors", 4, 1, 4)
    error = BillingRunError.objects.get()
    assert error.org_id == orgs[1].pk
    assert "Greece" in error.message
    assert not Invoice.objects.filter(org=orgs[1]).exists()
    assert numbers() == [f"RE-2026-{seq:06}" for seq in range(1, 5)]


def test_command_prints_a_summary_and_a_progress_bar(orgs):
    out, err = StringIO(), StringIO()
    call_command("run_billing", "--date", "2026-07-01", stdout=out, stderr=err)

    assert "2026-07-01: finished; 5 orgs due, 5 billed, 0 failed; 5 invoices, 10 lines" in out.getvalue()
    assert Invoice.objects.count() == 5


def test_command_refuses_a_bad_date(orgs):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("run_billing", "--date", "1.7.2026", stdout=StringIO())
    assert BillingRun.objects.count() == 0
