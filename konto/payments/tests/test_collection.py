"""Automatic collection on a fake clock: charged when issued, retried on days 1, 3 and 7, reconciled."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import translation

from konto.accounts.models import Org
from konto.billing.models import Invoice
from konto.billing.services.billing_run import run_billing
from konto.billing.services.invoices import invoice_purchase
from konto.contracts.models import Contract
from konto.contracts.services.orders import place_order
from konto.contracts.services.pricing import OrderItem
from konto.core.audit import Actor
from konto.payments import selectors
from konto.payments.models import Payment, PaymentAllocation
from konto.payments.services.collection import collect_invoices, retry_failed_collections
from konto.payments.services.pay import pay_invoices
from konto.payments.tasks import collect_invoices_task
from konto.sandbox import server
from konto.sandbox.models import SandboxCharge

from .core_helpers import (
    CHALLENGE,
    DECLINED,
    INSUFFICIENT_FUNDS,
    TIMEOUT,
    VISA,
    add_mandate,
    add_test_card,
    build_catalog,
    card_org,
    issue,
    sandbox_charges,
    state,
)

pytestmark = pytest.mark.django_db
JUNE = date(2026, 6, 1)  # issue date; due 2026-06-15
GROSS = Decimal("148.75")
SYSTEM = Actor.system("test")


def at(day: date, hour: int = 10) -> datetime:
    """`hour` o'clock in Berlin (summer time) on `day`."""
    return datetime(day.year, day.month, day.day, hour - 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clock(time_machine: Any) -> None:
    time_machine.move_to(at(JUNE), tick=False)


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture
def catalog() -> Any:
    return build_catalog()


@pytest.fixture
def org(catalog: Any) -> Org:
    return card_org(catalog, billing_email="buchhaltung@baeckerei.example", language="en")


def issued(org: Org, capture: Any, day: date = JUNE) -> Invoice:
    """Issue the org's invoice and run what its commit triggers (the automatic collection)."""
    with capture(execute=True):
        return issue(org, day)


def collections(invoice: Invoice) -> list[tuple[str, str, int, str, date | None]]:
    return [
        (p.idempotency_key, p.status, p.retry_count, p.origin, p.next_retry_on)
        for p in Payment.objects.filter(allocations__invoice=invoice).order_by("id")
    ]


# ---------------------------------------------------------------- charged when issued


def test_a_card_org_is_charged_off_session_when_the_invoice_is_issued(org, django_capture_on_commit_callbacks):
    add_test_card(org, VISA)

    invoice = issued(org, django_capture_on_commit_callbacks)

    key = f"collect-{invoice.public_id}-0"
    assert collections(invoice) == [(key, "succeeded", 0, "automatic", None)]
    assert state(invoice) == [("paid", GROSS)]
    charge = SandboxCharge.objects.get()
    assert (charge.amount, charge.is_on_session, charge.idempotency_key) == (
        GROSS,
        False,
        Payment.objects.get().public_id,
    )


def test_a_3d_secure_card_is_charged_without_a_challenge_off_session(org, django_capture_on_commit_callbacks):
    add_test_card(org, CHALLENGE)

    invoice = issued(org, django_capture_on_commit_callbacks)

    assert state(invoice) == [("paid", GROSS)]


def test_a_sepa_org_gets_a_pending_collection_on_the_announced_date(org, django_capture_on_commit_callbacks):
    mandate = add_mandate(org)

    invoice = issued(org, django_capture_on_commit_callbacks)

    assert invoice.payment_details == {
        "mandate_reference": mandate.mandate_reference,
        "creditor_id": "DE98ZZZ09999999999",
        "debited_iban_masked": "DE02XXXXXXXXXXXXXX2051",
        "collection_date": "2026-06-15",  # the due date: later than the pre-notification day (2 June)
    }
    payment = Payment.objects.get()
    assert (payment.status, payment.gateway, payment.collection_date, payment.amount) == (
        "pending",
        "bank",
        date(2026, 6, 15),
        GROSS,
    )
    assert sandbox_charges() == 0
    assert state(invoice) == [("open", Decimal("0.00"))]


def test_transfer_orgs_and_orgs_without_a_method_are_not_charged(org, catalog, django_capture_on_commit_callbacks):
    nothing = issued(org, django_capture_on_commit_callbacks)
    transfer = card_org(catalog, "Überweiser GmbH")
    add_test_card(transfer, VISA)  # a card on file, but the contract (changed by staff since) says transfer
    Contract.objects.filter(org=transfer).update(payment_method_kind="bank_transfer")
    by_transfer = issued(transfer, django_capture_on_commit_callbacks)

    assert Payment.objects.count() == 0
    assert state(nothing, by_transfer) == [("open", Decimal("0.00")), ("open", Decimal("0.00"))]


def test_collecting_again_charges_nothing_twice(org, django_capture_on_commit_callbacks):
    add_test_card(org, VISA)
    invoice = issued(org, django_capture_on_commit_callbacks)

    again = collect_invoices(invoice_ids=[invoice.pk, invoice.pk], today=JUNE)

    assert again == []
    assert (Payment.objects.count(), sandbox_charges()) == (1, 1)


def test_nothing_is_collected_while_the_customers_own_payment_is_on_its_way(org):
    add_test_card(org, CHALLENGE)
    invoice = issue(org, JUNE)
    waiting = pay_invoices(org=org, invoice_ids=[invoice.public_id], idempotency_key="mine", actor=SYSTEM).payment
    assert waiting.status == "requires_action"

    assert collect_invoices(invoice_ids=[invoice.pk], today=JUNE) == []
    assert Payment.objects.count() == 1


def test_the_billing_run_collects_what_it_issued(org, catalog, django_capture_on_commit_callbacks):
    add_test_card(org, VISA)
    declined = card_org(catalog, "Knapp bei Kasse GmbH")
    add_test_card(declined, INSUFFICIENT_FUNDS)

    with django_capture_on_commit_callbacks(execute=True):
        run = run_billing(billing_date=JUNE)

    assert run.invoices_created == 2
    paid, failed = (Invoice.objects.get(org=org), Invoice.objects.get(org=declined))
    assert state(paid, failed) == [("paid", GROSS), ("open", Decimal("0.00"))]
    assert collections(failed) == [
        (f"collect-{failed.public_id}-0", "failed", 0, "automatic", date(2026, 6, 2)),
    ]


def test_an_essentials_purchase_is_invoiced_and_charged_at_once(catalog, django_capture_on_commit_callbacks):
    shop = card_org(catalog, "Kiosk GmbH", edition="essentials")
    add_test_card(shop, VISA)
    Contract.objects.filter(org=shop).update(start_date=date(2026, 5, 1))  # the June charge is billed already
    issue(shop, JUNE)
    Payment.objects.all().delete()

    with django_capture_on_commit_callbacks(execute=True):
        placed = place_order(
            org=shop,
            actor=SYSTEM,
            contract=Contract.objects.get(org=shop),
            items=[OrderItem(product="essentials", quantity=1)],
            idempotency_key="buy-1",
            today=date(2026, 6, 16),
            after_place=invoice_purchase,
        )

    (invoice,) = placed.order.invoices.all()
    assert state(invoice)[0][0] == "paid"
    assert collections(invoice)[0][1:4] == ("succeeded", 0, "automatic")


def test_the_collection_task_returns_the_payments_made(org):
    add_test_card(org, VISA)
    invoice = issue(org, JUNE)

    result = collect_invoices_task.enqueue(invoice_ids=[invoice.pk], today="2026-06-01")

    assert result.return_value == [Payment.objects.get().public_id]


# ---------------------------------------------------------------- retries on days 1, 3, 7


def test_a_declined_collection_is_retried_on_days_1_3_and_7_after_the_first_failure(
    org, time_machine, django_capture_on_commit_callbacks
):
    add_test_card(org, DECLINED)
    invoice = issued(org, django_capture_on_commit_callbacks)
    base = f"collect-{invoice.public_id}"
    assert collections(invoice) == [(f"{base}-0", "failed", 0, "automatic", date(2026, 6, 2))]
    assert retry_failed_collections(today=JUNE) == 0

    for day, expected_next in (
        (date(2026, 6, 2), date(2026, 6, 4)),
        (date(2026, 6, 4), date(2026, 6, 8)),
        (date(2026, 6, 8), None),
    ):
        time_machine.move_to(at(day, hour=3))
        assert retry_failed_collections(today=day) == 1
        assert retry_failed_collections(today=day) == 0  # the same day again: nothing twice
        assert collections(invoice)[-1][1:] == ("failed", collections(invoice)[-1][2], "retry", expected_next)

    time_machine.move_to(at(date(2026, 6, 20)))
    assert retry_failed_collections(today=date(2026, 6, 20)) == 0
    assert [row[0] for row in collections(invoice)] == [f"{base}-{count}" for count in range(4)]
    assert [row[2] for row in collections(invoice)] == [0, 1, 2, 3]
    assert sandbox_charges() == 4
    assert state(invoice) == [("open", Decimal("0.00"))]
    latest = selectors.latest_failed_collection(org=org)
    assert latest is not None
    assert latest.idempotency_key == f"{base}-3"


def test_a_retry_after_the_card_was_replaced_succeeds_and_ends_the_retries(
    org, time_machine, django_capture_on_commit_callbacks
):
    declined = add_test_card(org, DECLINED)
    invoice = issued(org, django_capture_on_commit_callbacks)
    assert selectors.latest_failed_collection(org=org) is not None
    add_test_card(org, VISA, replaces=declined)

    time_machine.move_to(at(date(2026, 6, 2), hour=3))
    assert retry_failed_collections(today=date(2026, 6, 2)) == 1

    assert state(invoice) == [("paid", GROSS)]
    assert collections(invoice)[-1][1:] == ("succeeded", 1, "retry", None)
    assert selectors.latest_failed_collection(org=org) is None
    time_machine.move_to(at(date(2026, 6, 4), hour=3))
    assert retry_failed_collections(today=date(2026, 6, 4)) == 0


def test_no_retry_for_an_invoice_paid_meanwhile(org, time_machine, django_capture_on_commit_callbacks):
    declined = add_test_card(org, DECLINED)
    invoice = issued(org, django_capture_on_commit_callbacks)
    add_test_card(org, VISA, replaces=declined)
    pay_invoices(org=org, invoice_ids=[invoice.public_id], idempotency_key="by-hand", actor=SYSTEM)

    time_machine.move_to(at(date(2026, 6, 2), hour=3))
    assert retry_failed_collections(today=date(2026, 6, 2)) == 0

    first = Payment.objects.get(idempotency_key=f"collect-{invoice.public_id}-0")
    assert first.next_retry_on is None  # done with: the next run does not look at it again
    assert Payment.objects.count() == 2


def test_the_retry_days_come_from_the_dunning_schedule(org, time_machine, django_capture_on_commit_callbacks):
    from konto.payments.services.standing import get_dunning_policy

    policy = get_dunning_policy()
    policy.retry_days = [2, 5]
    policy.save()
    add_test_card(org, DECLINED)
    invoice = issued(org, django_capture_on_commit_callbacks)
    assert collections(invoice)[0][4] == date(2026, 6, 3)

    time_machine.move_to(at(date(2026, 6, 3), hour=3))
    retry_failed_collections(today=date(2026, 6, 3))
    assert collections(invoice)[-1][4] == date(2026, 6, 6)


# ---------------------------------------------------------------- reconciliation and the daily command


def test_run_payments_reconciles_a_collection_that_timed_out(org, time_machine, django_capture_on_commit_callbacks):
    add_test_card(org, TIMEOUT)
    invoice = issued(org, django_capture_on_commit_callbacks)
    assert collections(invoice)[0][1] == "unknown"
    assert PaymentAllocation.objects.get().is_in_flight is True

    time_machine.move_to(at(JUNE, hour=11))
    out = StringIO()
    call_command("run_payments", "--date", "2026-06-01", stdout=out)

    assert out.getvalue() == "2026-06-01: 0 collection(s) retried, 1 payment(s) reconciled\n"
    assert state(invoice) == [("paid", GROSS)]
    assert sandbox_charges() == 1


def test_run_payments_retries_what_is_due(org, time_machine, django_capture_on_commit_callbacks):
    add_test_card(org, DECLINED)
    issued(org, django_capture_on_commit_callbacks)
    time_machine.move_to(at(date(2026, 6, 2), hour=3))
    out = StringIO()

    call_command("run_payments", "--date", "2026-06-02", stdout=out)

    assert out.getvalue() == "2026-06-02: 1 collection(s) retried, 0 payment(s) reconciled\n"


def test_run_payments_refuses_a_bad_date():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--date must be YYYY-MM-DD"):
        call_command("run_payments", "--date", "2026-13-01")


def test_a_challenged_customer_payment_is_reconciled_once_confirmed(org, time_machine):
    add_test_card(org, CHALLENGE)
    invoice = issue(org, JUNE)
    waiting = pay_invoices(org=org, invoice_ids=[invoice.public_id], idempotency_key="k", actor=SYSTEM).payment
    server.answer_charge_challenge(charge_ref=waiting.gateway_ref, is_confirmed=True)

    time_machine.move_to(at(JUNE) + timedelta(hours=2))
    call_command("run_payments", "--date", "2026-06-01", stdout=StringIO())

    assert state(invoice) == [("paid", GROSS)]
