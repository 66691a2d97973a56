"""Concurrent issuing and billing runs on PostgreSQL: consecutive numbers, every charge billed once.

Threads are released together by a barrier; each has its own connection and
closes it. SQLite serialises writers anyway, so these run on PostgreSQL only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from functools import partial
from typing import Any

import pytest
from django.db import connection

from konto.billing.models import Invoice, InvoiceLine
from konto.billing.services.billing_run import run_billing
from konto.billing.services.invoices import create_draft_invoices, issue_invoice
from konto.contracts.models import Charge
from konto.core.audit import Actor

from .helpers import build_catalog, german_org, monthly_contract

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (set DATABASE_URL=postgres://…)"),
    pytest.mark.django_db(transaction=True),
]
JULY = date(2026, 7, 1)


def _run_together(calls: list[Callable[[], Any]]) -> list[Any]:
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except Exception as error:
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads), "a call did not finish"
    return results


def _orgs(count: int) -> list[Any]:
    catalog = build_catalog()
    orgs = [german_org(f"Firma {index} GmbH") for index in range(count)]
    for org in orgs:
        monthly_contract(org, catalog, quantity=1)
    return orgs


def test_ten_invoices_finalised_at_once_get_numbers_one_to_ten():
    drafts = [create_draft_invoices(org=org, billing_date=JULY)[0] for org in _orgs(10)]

    results = _run_together([partial(issue_invoice, invoice=draft, actor=Actor.system("t")) for draft in drafts])

    assert all(isinstance(result, Invoice) for result in results), results
    assert sorted(str(number) for number in Invoice.objects.values_list("number", flat=True)) == [
        f"RE-2026-{seq:06}" for seq in range(1, 11)
    ]


def test_two_runs_at_once_bill_every_charge_once():
    orgs = _orgs(60)

    results = _run_together([lambda: run_billing(billing_date=JULY, batch_size=7)] * 2)

    assert not any(isinstance(result, Exception) for result in results), results
    assert sum(result.invoices_created for result in results) == 60
    assert InvoiceLine.objects.count() == Charge.objects.filter(period_start__lte=JULY).count() == 120
    assert sorted(Invoice.objects.values_list("org_id", flat=True)) == sorted(org.pk for org in orgs)
    assert sorted(str(number) for number in Invoice.objects.values_list("number", flat=True)) == [
        f"RE-2026-{seq:06}" for seq in range(1, 61)
    ]


def test_worker_processes_bill_every_org_once():
    orgs = _orgs(40)

    run = run_billing(billing_date=JULY, workers=2, batch_size=5)

    assert (run.status, run.workers, run.invoices_created, run.orgs_billed) == ("finished", 2, 40, 40)
    assert sorted(Invoice.objects.values_list("org_id", flat=True)) == sorted(org.pk for org in orgs)
    assert sorted(str(number) for number in Invoice.objects.values_list("number", flat=True)) == [
        f"RE-2026-{seq:06}" for seq in range(1, 41)
    ]
