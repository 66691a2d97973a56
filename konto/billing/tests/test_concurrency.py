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

from konto.billing.models import Invoice, InvoiceLine, NumberCounter
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

    run = run_billing(billing_date=JULY, workers=2, batch_size=5, documents=False)

    assert (run.status, run.workers, run.invoices_created, run.orgs_billed) == ("finished", 2, 40, 40)
    assert sorted(Invoice.objects.values_list("org_id", flat=True)) == sorted(org.pk for org in orgs)
    assert sorted(str(number) for number in Invoice.objects.values_list("number", flat=True)) == [
        f"RE-2026-{seq:06}" for seq in range(1, 41)
    ]


def test_a_thousand_invoices_finalised_concurrently_get_numbers_one_to_a_thousand():
    # Given 1,000 drafts of 1,000 orgs (documents off: this is about the number counter, not rendering)
    catalog = build_catalog()
    drafts = []
    for index in range(1000):
        org = german_org(f"Firma {index:04} GmbH")
        monthly_contract(org, catalog, quantity=1)
        drafts.extend(create_draft_invoices(org=org, billing_date=JULY))
    assert len(drafts) == 1000

    # When 8 threads issue their 125 drafts each, all at once
    def issue_share(share: list[Invoice]) -> list[str]:
        return [str(issue_invoice(invoice=draft, actor=Actor.system("t"), documents=False).number) for draft in share]

    results = _run_together([partial(issue_share, drafts[worker::8]) for worker in range(8)])

    # Then every call succeeded and the numbers are exactly 1..1000 of the series: consecutive, no gap, no duplicate
    assert not any(isinstance(result, Exception) for result in results), [
        result for result in results if isinstance(result, Exception)
    ]
    assert [len(result) for result in results] == [125] * 8
    expected = [f"RE-2026-{seq:06}" for seq in range(1, 1001)]
    assert sorted(number for result in results for number in result) == expected
    assert sorted(str(number) for number in Invoice.objects.values_list("number", flat=True)) == expected
    assert Invoice.objects.filter(status="open").count() == 1000
    assert list(NumberCounter.objects.values_list("year", "last_number")) == [(2026, 1000)]
    # Each thread saw its own numbers rise, and the threads really overlapped: every one of them had taken
    # its first number before any had taken its last (so this did not pass by running one after another)
    assert all(result == sorted(result) for result in results)
    assert max(result[0] for result in results) < min(result[-1] for result in results)
