"""Refunds by staff, SEPA returns and bank transfers received: the invoices' amounts paid follow exactly."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.utils import translation

from konto.accounts.models import Org
from konto.accounts.testing import make_admin, make_user
from konto.billing.services.credit_notes import issue_credit_note
from konto.core.audit import Actor
from konto.core.exceptions import KontoError
from konto.core.models import AuditEvent
from konto.payments.gateways.base import ChargeOutcome
from konto.payments.models import Payment, PaymentAllocation, Refund
from konto.payments.services.pay import (
    pay_invoices,
    record_bank_transfer,
    record_payment_outcome,
    record_sepa_return,
)
from konto.payments.services.refunds import refund_payment
from konto.sandbox.models import SandboxCharge, SandboxRefund

from .core_helpers import VISA, actor_of, add_mandate, add_test_card, build_catalog, card_org, issue, state

pytestmark = pytest.mark.django_db
JUNE, JULY = date(2026, 6, 1), date(2026, 7, 1)
GROSS = Decimal("148.75")
ZERO = Decimal("0.00")


@pytest.fixture(autouse=True)
def _clock(time_machine: Any) -> None:
    time_machine.move_to(datetime(2026, 7, 2, 8, 0, tzinfo=UTC), tick=False)


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


@pytest.fixture
def staff() -> Actor:
    return actor_of(make_user(None, "ops@vendor.example", staff_role="billing_ops"))


@pytest.fixture
def customer(org: Org) -> Actor:
    return actor_of(make_admin(org, "anna@baeckerei.example"))


def paid_by_card(org: Org, customer: Actor, *days: date) -> tuple[Payment, list[Any]]:
    add_test_card(org, VISA)
    invoices = [issue(org, day) for day in days]
    payment = pay_invoices(
        org=org, invoice_ids=[invoice.public_id for invoice in invoices], idempotency_key="pay", actor=customer
    ).payment
    assert payment.status == "succeeded"
    return payment, invoices


# ---------------------------------------------------------------- refunds


def test_a_full_refund_gives_the_money_back_and_reopens_the_invoice(org, customer, staff):
    payment, (june,) = paid_by_card(org, customer, JUNE)

    refund = refund_payment(payment=payment, amount=GROSS, reason="Double booking", actor=staff, idempotency_key="r1")

    assert (refund.status, refund.amount, refund.reason) == ("succeeded", GROSS, "Double booking")
    sandbox_refund = SandboxRefund.objects.get()
    assert (refund.gateway_ref, sandbox_refund.idempotency_key, sandbox_refund.amount) == (
        sandbox_refund.ref,
        refund.public_id,
        GROSS,
    )
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == ("refunded", GROSS)
    assert state(june) == [("open", ZERO)]
    assert list(AuditEvent.objects.filter(object_type="refund").order_by("id").values_list("action", flat=True)) == [
        "refund.created",
        "refund.succeeded",
    ]
    assert AuditEvent.objects.filter(action="invoice.open", object_id=june.public_id).count() == 1


def test_partial_refunds_add_up_to_the_payment(org, customer, staff):
    payment, (june,) = paid_by_card(org, customer, JUNE)

    refund_payment(payment=payment, amount=Decimal("50.00"), reason="Goodwill", actor=staff, idempotency_key="r1")
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == ("partially_refunded", Decimal("50.00"))
    assert state(june) == [("open", Decimal("98.75"))]

    refund_payment(payment=payment, amount=Decimal("98.75"), reason="Goodwill", actor=staff, idempotency_key="r2")
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == ("refunded", GROSS)
    assert state(june) == [("open", ZERO)]
    assert SandboxCharge.objects.get().amount_refunded == GROSS


def test_a_refund_takes_back_from_the_last_invoice_first(org, customer, staff):
    payment, (june, july) = paid_by_card(org, customer, JUNE, JULY)

    refund_payment(payment=payment, amount=Decimal("200.00"), reason="Cancelled", actor=staff, idempotency_key="r1")

    assert state(june, july) == [("open", Decimal("97.50")), ("open", ZERO)]
    refund_payment(payment=payment, amount=Decimal("97.50"), reason="Cancelled", actor=staff, idempotency_key="r2")
    assert state(june, july) == [("open", ZERO), ("open", ZERO)]


def test_a_refund_after_a_credit_note_leaves_the_invoice_paid(org, customer, staff):
    payment, (june,) = paid_by_card(org, customer, JUNE)
    issue_credit_note(invoice=june, reason="Service outage", actor=staff)

    refund_payment(payment=payment, amount=GROSS, reason="Service outage", actor=staff, idempotency_key="r1")

    june.refresh_from_db()
    assert (june.status, june.amount_paid, june.amount_credited, june.open_amount) == ("paid", ZERO, GROSS, ZERO)


def test_the_same_refund_key_gives_back_once(org, customer, staff):
    payment, _invoices = paid_by_card(org, customer, JUNE)
    first = refund_payment(payment=payment, amount=GROSS, reason="x", actor=staff, idempotency_key="r1")

    again = refund_payment(payment=payment, amount=GROSS, reason="x", actor=staff, idempotency_key="r1")

    assert again.pk == first.pk
    assert (Refund.objects.count(), SandboxRefund.objects.count()) == (1, 1)
    with pytest.raises(KontoError) as reused:
        refund_payment(payment=payment, amount=Decimal("1.00"), reason="x", actor=staff, idempotency_key="r1")
    assert reused.value.code == "idempotency_key_reused"


def refused(payment: Payment, actor: Actor, amount: Any, **options: Any) -> str:
    before = (Refund.objects.count(), SandboxRefund.objects.count())
    with pytest.raises(KontoError) as error:
        refund_payment(
            payment=payment,
            amount=amount,
            reason=options.get("reason", "x"),
            actor=actor,
            idempotency_key=options.get("key", "bad"),
        )
    assert (Refund.objects.count(), SandboxRefund.objects.count()) == before
    return error.value.code


def test_refunds_beyond_the_payment_or_by_customers_are_refused(org, customer, staff):
    payment, (june,) = paid_by_card(org, customer, JUNE)

    assert refused(payment, staff, Decimal("148.76")) == "payment_not_refundable"
    assert refused(payment, staff, Decimal("0")) == "invalid_amount"
    assert refused(payment, staff, "-5") == "invalid_amount"
    assert refused(payment, staff, GROSS, reason="  ") == "invalid_reason"
    assert refused(payment, customer, GROSS) == "permission_denied"
    assert refused(payment, Actor.system("cron"), GROSS) == "permission_denied"
    refund_payment(payment=payment, amount=Decimal("100.00"), reason="x", actor=staff, idempotency_key="r1")
    assert refused(payment, staff, Decimal("48.76")) == "payment_not_refundable"
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == ("partially_refunded", Decimal("100.00"))
    assert state(june) == [("open", Decimal("48.75"))]


def test_a_failed_payment_is_not_refundable(org, customer, staff):
    add_test_card(org, "4000000000000002")
    june = issue(org, JUNE)
    failed = pay_invoices(org=org, invoice_ids=[june.public_id], idempotency_key="k", actor=customer).payment

    assert refused(failed, staff, Decimal("1.00")) == "payment_not_refundable"


def test_a_bank_transfer_is_refunded_by_the_vendors_bank(org, staff):
    june = issue(org, JUNE)
    payment = record_bank_transfer(
        invoice=june, amount=GROSS, booking_date=JULY, reference="RE", actor=staff, idempotency_key="line-1"
    )

    refund = refund_payment(payment=payment, amount=GROSS, reason="Paid twice", actor=staff, idempotency_key="r1")

    assert (refund.status, refund.gateway_ref) == ("succeeded", "")
    assert SandboxRefund.objects.count() == 0
    assert state(june) == [("open", ZERO)]


# ---------------------------------------------------------------- SEPA returns


def collected_by_direct_debit(org: Org, customer: Actor) -> tuple[Payment, Any]:
    add_mandate(org)
    june = issue(org, JUNE)
    payment = pay_invoices(org=org, invoice_ids=[june.public_id], idempotency_key="dd", actor=customer).payment
    payment = record_payment_outcome(payment=payment, outcome=ChargeOutcome(status="succeeded"), actor=customer)
    assert state(june) == [("paid", GROSS)]
    return payment, june


def test_a_sepa_return_reopens_the_invoice_and_tells_the_billing_contact(
    org, customer, staff, django_capture_on_commit_callbacks
):
    payment, june = collected_by_direct_debit(org, customer)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        returned = record_sepa_return(payment=payment, reason_code="am04", actor=staff)

    assert (returned.status, returned.failure_code, returned.failure_message) == (
        "failed",
        "AM04",
        "Insufficient funds",
    )
    assert state(june) == [("open", ZERO)]
    assert list(PaymentAllocation.objects.values_list("is_applied", "is_in_flight")) == [(False, False)]
    event = AuditEvent.objects.get(action="payment.returned")
    assert event.after is not None
    assert event.after["reason_code"] == "AM04"
    assert event.after["reversed"] == [[june.number, "148.75"]]
    assert event.after["iban"] == "DE02 •••• 2051"
    (notice,) = [message for message in mail.outbox if message.subject.startswith("Direct debit returned")]
    assert notice.to == ["buchhaltung@baeckerei.example"]
    assert "Reason: Insufficient funds (AM04)" in notice.body
    assert f"- {june.number}: €148.75" in notice.body
    assert "DE02 •••• 2051" in notice.body


def test_the_same_return_twice_changes_nothing(org, customer, staff):
    payment, june = collected_by_direct_debit(org, customer)
    record_sepa_return(payment=payment, reason_code="MD06", actor=staff)

    again = record_sepa_return(payment=payment, reason_code="MD06", actor=staff)

    assert again.status == "failed"
    assert state(june) == [("open", ZERO)]
    assert AuditEvent.objects.filter(action="payment.returned").count() == 1


def test_only_a_collected_direct_debit_can_be_returned(org, customer, staff):
    add_mandate(org)
    june = issue(org, JUNE)
    pending = pay_invoices(org=org, invoice_ids=[june.public_id], idempotency_key="dd", actor=customer).payment

    with pytest.raises(KontoError) as refused_pending:
        record_sepa_return(payment=pending, reason_code="AM04", actor=staff)

    assert refused_pending.value.code == "invalid_status_transition"
    pending.refresh_from_db()
    assert pending.status == "pending"


# ---------------------------------------------------------------- bank transfers received


def test_a_transfer_received_pays_the_invoice_once(org, staff):
    june = issue(org, JUNE)

    part = record_bank_transfer(
        invoice=june, amount=Decimal("100.00"), booking_date=JULY, reference="RE x", actor=staff, idempotency_key="l1"
    )
    again = record_bank_transfer(
        invoice=june, amount=Decimal("100.00"), booking_date=JULY, reference="RE x", actor=staff, idempotency_key="l1"
    )
    rest = record_bank_transfer(
        invoice=june, amount=Decimal("48.75"), booking_date=JULY, reference="RE y", actor=staff, idempotency_key="l2"
    )

    assert part.pk == again.pk
    assert [(p.status, p.origin, p.kind, p.method, p.amount) for p in (part, rest)] == [
        ("succeeded", "bank_transfer", "bank_transfer", None, Decimal("100.00")),
        ("succeeded", "bank_transfer", "bank_transfer", None, Decimal("48.75")),
    ]
    assert state(june) == [("paid", GROSS)]
    assert Payment.objects.count() == 2


def test_the_receipt_of_a_transfer_goes_to_the_org_not_the_staff_who_booked_it(
    org, staff, django_capture_on_commit_callbacks
):
    june = issue(org, JUNE)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        record_bank_transfer(
            invoice=june, amount=GROSS, booking_date=JULY, reference="RE", actor=staff, idempotency_key="line-1"
        )

    (receipt,) = mail.outbox
    assert receipt.to == ["buchhaltung@baeckerei.example"]
    assert "Payment method: Bank transfer" in receipt.body


def test_a_transfer_that_does_not_fit_is_refused(org, customer, staff):
    june = issue(org, JUNE)

    def code(**options: Any) -> str:
        arguments: dict[str, Any] = {"amount": GROSS, "idempotency_key": "l9"} | options
        with pytest.raises(KontoError) as refused_transfer:
            record_bank_transfer(invoice=june, booking_date=JULY, reference="r", actor=staff, **arguments)
        return refused_transfer.value.code

    assert code(amount=Decimal("148.76")) == "amount_mismatch"
    assert code(amount=Decimal("0")) == "invalid_amount"
    assert code(idempotency_key="") == "idempotency_key_missing"
    add_mandate(org)
    pay_invoices(org=org, invoice_ids=[june.public_id], idempotency_key="dd", actor=customer)  # pending debit
    assert code() == "already_being_paid"
    assert Payment.objects.count() == 1
    with pytest.raises(KontoError) as reused:
        record_bank_transfer(
            invoice=june, amount=Decimal("1.00"), booking_date=JULY, reference="r", actor=staff, idempotency_key="dd"
        )
    assert reused.value.code == "idempotency_key_reused"
