"""Money moves once under concurrency (PostgreSQL): 20 requests at once, one charge.

Threads are released together by a barrier; each has its own connection and
closes it. SQLite serialises writers anyway, so these run on PostgreSQL only.
The sandbox gateway's charges (SandboxCharge rows, unique per idempotency
key) count what the gateway was asked to charge.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from functools import partial
from typing import Any

import pytest
from django.db import connection

from konto.accounts.models import Org
from konto.billing.models import Invoice
from konto.billing.services.billing_run import run_billing
from konto.core.audit import Actor
from konto.core.exceptions import KontoError
from konto.payments.models import Payment, PaymentAllocation
from konto.payments.services.collection import collect_invoices, retry_failed_collections
from konto.payments.services.pay import PayResult, pay_invoices
from konto.sandbox.models import SandboxCharge

from .core_helpers import CHALLENGE, DECLINED, VISA, add_test_card, build_catalog, card_org, issue

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (set DATABASE_URL=postgres://…)"),
    pytest.mark.django_db(transaction=True),
]
JUNE = date(2026, 6, 1)
CALLS = 20
SYSTEM = Actor.system("test")


def run_together(calls: list[Callable[[], Any]]) -> list[Any]:
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


def scene(card: str) -> tuple[Org, Invoice]:
    """An org with an open invoice and then a card (added after issuing, so nothing is collected automatically)."""
    org = card_org(build_catalog())
    invoice = issue(org, JUNE)
    add_test_card(org, card)
    return org, invoice


def pay(org: Org, invoice: Invoice, key: str) -> PayResult:
    return pay_invoices(org=org, invoice_ids=[invoice.public_id], idempotency_key=key, actor=SYSTEM)


def codes(results: list[Any]) -> list[str]:
    return sorted(result.code if isinstance(result, KontoError) else "ok" for result in results)


def test_twenty_requests_with_the_same_key_charge_once_and_all_answer_the_first_payment():
    org, invoice = scene(VISA)

    results = run_together([partial(pay, org, invoice, "same-key")] * CALLS)

    assert all(isinstance(result, PayResult) for result in results), results
    assert {result.payment.pk for result in results} == {Payment.objects.get().pk}
    assert sorted(result.is_replay for result in results) == [False] + [True] * (CALLS - 1)
    assert SandboxCharge.objects.count() == 1
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid) == ("paid", invoice.gross_amount)


def test_twenty_requests_with_different_keys_for_one_invoice_charge_once():
    org, invoice = scene(CHALLENGE)  # stays awaiting 3-D Secure: in flight for everyone after the first

    results = run_together([partial(pay, org, invoice, f"key-{index}") for index in range(CALLS)])

    assert codes(results) == ["already_being_paid"] * (CALLS - 1) + ["ok"]
    assert SandboxCharge.objects.count() == 1
    assert Payment.objects.get().status == "requires_action"
    assert PaymentAllocation.objects.filter(is_in_flight=True).count() == 1


def test_twenty_requests_for_a_card_that_succeeds_at_once_still_charge_once():
    org, invoice = scene(VISA)

    results = run_together([partial(pay, org, invoice, f"key-{index}") for index in range(CALLS)])

    # Refused while the first is on its way, or because it has paid the invoice already.
    assert set(codes(results)) <= {"ok", "already_being_paid", "invoice_not_payable"}
    assert codes(results).count("ok") == 1
    assert SandboxCharge.objects.count() == 1
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid) == ("paid", invoice.gross_amount)


def test_the_automatic_collection_and_the_customer_at_once_charge_once():
    org, invoice = scene(CHALLENGE)

    results = run_together(
        [partial(collect_invoices, invoice_ids=[invoice.pk], today=JUNE)] * 5
        + [partial(pay, org, invoice, f"key-{index}") for index in range(5)]
    )

    assert not [result for result in results if isinstance(result, Exception) and not isinstance(result, KontoError)]
    assert SandboxCharge.objects.count() == 1
    assert Payment.objects.count() == 1


def test_two_retry_runs_at_once_make_one_attempt():
    _org, invoice = scene(DECLINED)
    collect_invoices(invoice_ids=[invoice.pk], today=JUNE)
    assert Payment.objects.get().next_retry_on == date(2026, 6, 2)

    results = run_together([partial(retry_failed_collections, today=date(2026, 6, 2))] * 4)

    assert sorted(results) == [0, 0, 0, 1]
    assert SandboxCharge.objects.count() == 2
    assert Payment.objects.filter(origin="retry").count() == 1


def test_the_set_based_billing_run_stores_payment_details_and_collects():
    catalog = build_catalog()
    orgs = [card_org(catalog, f"Firma {index} GmbH") for index in range(3)]
    for org in orgs[:2]:
        add_test_card(org, VISA)

    run = run_billing(billing_date=JUNE, documents=False)  # PostgreSQL, no documents: bulk_billing

    assert run.invoices_created == 3
    details = dict(Invoice.objects.values_list("org_id", "payment_details"))
    assert details == {
        orgs[0].pk: {"card_brand": "visa", "card_last4": "4242"},
        orgs[1].pk: {"card_brand": "visa", "card_last4": "4242"},
        orgs[2].pk: {},
    }
    statuses = dict(Invoice.objects.values_list("org_id", "status"))
    assert statuses == {orgs[0].pk: "paid", orgs[1].pk: "paid", orgs[2].pk: "open"}
    assert SandboxCharge.objects.count() == 2
