"""Paying open invoices through the sandbox gateway: every test card's outcome, replays, partial payments, refusals."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.utils import translation

from konto.accounts.models import Org
from konto.accounts.testing import make_admin
from konto.billing.models import Invoice
from konto.billing.services.credit_notes import issue_credit_note
from konto.billing.services.invoices import create_draft_invoices
from konto.core.audit import Actor
from konto.core.exceptions import KontoError
from konto.core.models import AuditEvent
from konto.payments.gateways.base import ChargeOutcome
from konto.payments.models import Payment, PaymentAllocation, PaymentMethod
from konto.payments.services.collection import reconcile_unknown_payments
from konto.payments.services.methods import choose_bank_transfer
from konto.payments.services.pay import (
    confirm_payment_action,
    pay_invoices,
    record_gateway_outcome,
    record_payment_outcome,
)
from konto.sandbox import server
from konto.sandbox.models import SandboxCharge

from .core_helpers import (
    CHALLENGE,
    DECLINED,
    EXPIRED,
    INSUFFICIENT_FUNDS,
    PAY_RETURN_URL,
    PROCESSING_ERROR,
    TIMEOUT,
    VISA,
    actor_of,
    add_mandate,
    add_test_card,
    build_catalog,
    card_org,
    issue,
    sandbox_charges,
    state,
)

pytestmark = pytest.mark.django_db
JUNE, JULY = date(2026, 6, 1), date(2026, 7, 1)
NOW = datetime(2026, 7, 2, 8, 0, tzinfo=UTC)  # 10:00 in Berlin, the day after the July invoice
GROSS = Decimal("148.75")  # 5 × 25.00 + 19 % VAT


@pytest.fixture(autouse=True)
def _clock(time_machine: Any) -> None:
    time_machine.move_to(NOW, tick=False)


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
def payer(org: Org) -> Actor:
    return actor_of(make_admin(org, "anna@baeckerei.example", full_name="Anna Admin"))


@pytest.fixture
def june(org: Org) -> Invoice:
    return issue(org, JUNE)


def pay(org: Org, invoices: list[Invoice], actor: Actor, key: str = "key-1", **options: Any) -> Payment:
    result = pay_invoices(
        org=org,
        invoice_ids=[invoice.public_id for invoice in invoices],
        idempotency_key=key,
        actor=actor,
        return_url=PAY_RETURN_URL,
        **options,
    )
    assert result.is_replay is False
    return result.payment


# ---------------------------------------------------------------- card outcomes


def test_a_card_payment_succeeds_and_pays_the_invoice(org, june, payer):
    card = add_test_card(org, VISA)

    payment = pay(org, [june], payer)

    assert (payment.status, payment.amount, payment.currency, payment.method) == ("succeeded", GROSS, "EUR", card)
    assert (payment.origin, payment.kind, payment.gateway) == ("customer", "card", "sandbox")
    assert state(june) == [("paid", GROSS)]
    charge = SandboxCharge.objects.get()
    assert (charge.ref, charge.idempotency_key, charge.amount, charge.is_on_session) == (
        payment.gateway_ref,
        payment.public_id,
        GROSS,
        True,
    )
    allocation = PaymentAllocation.objects.get()
    assert (allocation.invoice, allocation.amount, allocation.is_in_flight, allocation.is_applied) == (
        june,
        GROSS,
        False,
        True,
    )
    actions = list(
        AuditEvent.objects.filter(object_id=payment.public_id).order_by("id").values_list("action", flat=True)
    )
    assert actions == ["payment.created", "payment.succeeded"]


def test_the_same_key_again_returns_the_first_payment_and_charges_nothing(org, june, payer):
    add_test_card(org, VISA)
    first = pay(org, [june], payer)

    again = pay_invoices(org=org, invoice_ids=[june.public_id], idempotency_key="key-1", actor=payer)

    assert again.is_replay is True
    assert again.payment.pk == first.pk
    assert (Payment.objects.count(), sandbox_charges()) == (1, 1)


def test_the_same_key_for_another_request_is_refused(org, june, payer):
    add_test_card(org, VISA)
    july = issue(org, JULY)
    pay(org, [june], payer)

    with pytest.raises(KontoError) as refused:
        pay_invoices(org=org, invoice_ids=[july.public_id], idempotency_key="key-1", actor=payer)

    assert refused.value.code == "idempotency_key_reused"
    assert (Payment.objects.count(), sandbox_charges()) == (1, 1)
    assert state(july) == [("open", Decimal("0.00"))]


@pytest.mark.parametrize(
    ("number", "failure_code"),
    [
        (DECLINED, "card_declined"),
        (INSUFFICIENT_FUNDS, "insufficient_funds"),
        (EXPIRED, "expired_card"),
        (PROCESSING_ERROR, "processing_error"),
    ],
)
def test_a_declined_card_fails_and_the_invoice_can_be_paid_again(org, june, payer, number, failure_code):
    add_test_card(org, number)

    failed = pay(org, [june], payer)

    assert (failed.status, failed.failure_code) == ("failed", failure_code)
    assert failed.failure_message != ""
    assert state(june) == [("open", Decimal("0.00"))]
    assert list(PaymentAllocation.objects.values_list("is_in_flight", "is_applied")) == [(False, False)]
    # The customer adds a working card and pays again with a new key.
    add_test_card(org, VISA)
    paid = pay(org, [june], payer, key="key-2")
    assert paid.status == "succeeded"
    assert state(june) == [("paid", GROSS)]
    assert sandbox_charges() == 2


def test_3d_secure_waits_for_the_customer_and_then_succeeds(org, june, payer):
    add_test_card(org, CHALLENGE)

    waiting = pay(org, [june], payer)

    assert waiting.status == "requires_action"
    assert waiting.action_url.startswith("http://testserver/")
    assert state(june) == [("open", Decimal("0.00"))]
    with pytest.raises(KontoError) as refused:
        pay(org, [june], payer, key="key-2")
    assert refused.value.code == "already_being_paid"
    # The customer confirms on the bank's page, the browser returns to Konto.
    server.answer_charge_challenge(charge_ref=waiting.gateway_ref, is_confirmed=True)

    confirmed = confirm_payment_action(org=org, payment=waiting, actor=payer)

    assert confirmed.status == "succeeded"
    assert state(june) == [("paid", GROSS)]
    assert sandbox_charges() == 1


def test_a_failed_3d_secure_challenge_releases_the_invoice(org, june, payer):
    add_test_card(org, CHALLENGE)
    waiting = pay(org, [june], payer)
    server.answer_charge_challenge(charge_ref=waiting.gateway_ref, is_confirmed=False)

    failed = confirm_payment_action(org=org, payment=waiting, actor=payer)

    assert (failed.status, failed.failure_code) == ("failed", "authentication_failed")
    assert state(june) == [("open", Decimal("0.00"))]
    assert PaymentAllocation.objects.filter(is_in_flight=True).count() == 0


def test_confirming_another_orgs_payment_is_not_found(org, june, payer, catalog):
    add_test_card(org, CHALLENGE)
    waiting = pay(org, [june], payer)
    other = card_org(catalog, "Fremdfirma GmbH")

    with pytest.raises(KontoError) as refused:
        confirm_payment_action(org=other, payment=waiting, actor=payer)

    assert refused.value.code == "not_found"
    waiting.refresh_from_db()
    assert waiting.status == "requires_action"


def test_a_timeout_leaves_the_outcome_unknown_until_reconciliation_finds_the_charge(org, june, payer, time_machine):
    add_test_card(org, TIMEOUT)

    unknown = pay(org, [june], payer)

    assert (unknown.status, unknown.gateway_ref) == ("unknown", "")
    assert state(june) == [("open", Decimal("0.00"))]
    assert PaymentAllocation.objects.get().is_in_flight is True
    with pytest.raises(KontoError) as refused:  # nothing is charged again while the outcome is unknown
        pay(org, [june], payer, key="key-2")
    assert refused.value.code == "already_being_paid"

    time_machine.shift(timedelta(minutes=5))
    assert reconcile_unknown_payments(now=NOW + timedelta(minutes=5)) == 1

    unknown.refresh_from_db()
    charge = SandboxCharge.objects.get()
    assert (unknown.status, unknown.gateway_ref) == ("succeeded", charge.ref)
    assert unknown.last_checked_at == NOW + timedelta(minutes=5)
    assert state(june) == [("paid", GROSS)]
    assert reconcile_unknown_payments(now=NOW + timedelta(minutes=10)) == 0


def test_a_payment_whose_gateway_call_never_happened_fails_at_reconciliation(org, june, payer):
    """A crash between the committed payment row and the gateway call: the gateway never saw the key."""
    method = add_test_card(org, VISA)
    payment = Payment.objects.create(
        org=org, method=method, kind="card", origin="customer", amount=GROSS, currency="EUR",
        idempotency_key="crashed", gateway="sandbox", status="pending",
    )  # fmt: skip
    PaymentAllocation.objects.create(payment=payment, invoice=june, org=org, amount=GROSS)
    Payment.objects.filter(pk=payment.pk).update(created_at=NOW - timedelta(minutes=20))

    assert reconcile_unknown_payments(now=NOW) == 1

    payment.refresh_from_db()
    assert (payment.status, payment.failure_code) == ("failed", "not_found")
    assert sandbox_charges() == 0
    assert pay(org, [june], payer, key="again").status == "succeeded"


# ---------------------------------------------------------------- several invoices, partial payments


def test_a_partial_payment_pays_the_oldest_invoice_first(org, june, payer):
    add_test_card(org, VISA)
    july = issue(org, JULY)

    payment = pay(org, [july, june], payer, amount=Decimal("200.00"))

    assert payment.amount == Decimal("200.00")
    assert list(PaymentAllocation.objects.order_by("id").values_list("invoice__number", "amount")) == [
        (june.number, GROSS),
        (july.number, Decimal("51.25")),
    ]
    assert state(june, july) == [("paid", GROSS), ("open", Decimal("51.25"))]
    assert SandboxCharge.objects.get().amount == Decimal("200.00")


def test_two_invoices_paid_in_full_with_one_charge(org, june, payer):
    add_test_card(org, VISA)
    july = issue(org, JULY)

    payment = pay(org, [june, july], payer)

    assert payment.amount == 2 * GROSS
    assert state(june, july) == [("paid", GROSS), ("paid", GROSS)]
    assert sandbox_charges() == 1


def test_a_partly_credited_invoice_is_paid_for_what_is_left(org, payer):
    add_test_card(org, VISA)
    both = issue(org, JULY)  # June and July on one invoice: 297.50
    first_line = both.lines.order_by("position")[0]
    issue_credit_note(invoice=both, line_ids=[first_line.pk], reason="Goodwill", actor=payer)

    payment = pay(org, [both], payer)

    assert payment.amount == GROSS
    assert state(both) == [("paid", GROSS)]


# ---------------------------------------------------------------- refused, with nothing changed


def assert_nothing_changed(*invoices: Invoice) -> None:
    assert Payment.objects.count() == 0
    assert PaymentAllocation.objects.count() == 0
    assert sandbox_charges() == 0
    for invoice in invoices:
        invoice.refresh_from_db()
        assert (invoice.status, invoice.amount_paid) == ("open", Decimal("0.00"))


def refused_code(org: Org, invoice_ids: list[str], actor: Actor, **options: Any) -> str:
    with pytest.raises(KontoError) as refused:
        pay_invoices(org=org, invoice_ids=invoice_ids, idempotency_key="bad", actor=actor, **options)
    return refused.value.code


def test_another_orgs_invoice_is_refused_like_a_missing_one(org, june, payer, catalog):
    add_test_card(org, VISA)
    other = card_org(catalog, "Fremdfirma GmbH")
    foreign = issue(other, JUNE)

    assert refused_code(org, [foreign.public_id], payer) == "invoice_not_payable"
    assert refused_code(org, [june.public_id, foreign.public_id], payer) == "invoice_not_payable"
    assert refused_code(org, ["inv_doesnotexist0000"], payer) == "invoice_not_payable"
    assert refused_code(org, [], payer) == "invoice_not_payable"
    assert_nothing_changed(june, foreign)


def test_an_amount_above_the_open_total_is_refused(org, june, payer):
    add_test_card(org, VISA)

    assert refused_code(org, [june.public_id], payer, amount=Decimal("148.76")) == "amount_mismatch"
    assert_nothing_changed(june)


@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("-1.00"), Decimal("1.001"), "abc", 1.5, "NaN", True])
def test_an_amount_that_is_not_positive_cents_is_refused(org, june, payer, amount):
    add_test_card(org, VISA)

    assert refused_code(org, [june.public_id], payer, amount=amount) == "invalid_amount"
    assert_nothing_changed(june)


def test_another_orgs_payment_method_is_refused(org, june, payer, catalog):
    add_test_card(org, VISA)
    other = card_org(catalog, "Fremdfirma GmbH")
    foreign_card = add_test_card(other, VISA)

    assert refused_code(org, [june.public_id], payer, method=foreign_card) == "method_unusable"
    assert_nothing_changed(june)


def test_an_expired_card_is_refused(org, june, payer):
    card = add_test_card(org, VISA)
    PaymentMethod.objects.filter(pk=card.pk).update(card_exp_month=6, card_exp_year=2026)  # ran out in June

    assert refused_code(org, [june.public_id], payer) == "method_unusable"
    assert_nothing_changed(june)


def test_a_removed_or_missing_method_is_refused(org, june, payer):
    assert refused_code(org, [june.public_id], payer) == "method_unusable"  # no method at all
    assert_nothing_changed(june)


def test_bank_transfer_cannot_be_paid_online_and_says_where_to_transfer(org, june, payer):
    choose_bank_transfer(org=org, actor=payer)

    with pytest.raises(KontoError) as refused:
        pay_invoices(org=org, invoice_ids=[june.public_id], idempotency_key="t", actor=payer)

    assert refused.value.code == "method_unusable"
    assert str(refused.value) == (
        "Invoices paid by bank transfer cannot be paid here. Please transfer €148.75 to Nimbus CRM GmbH, "
        f"IBAN DE89 3704 0044 0532 0130 00, quoting {june.number}."
    )
    assert_nothing_changed(june)


def test_a_paid_or_draft_invoice_is_refused(org, june, payer):
    add_test_card(org, VISA)
    pay(org, [june], payer)
    (draft,) = create_draft_invoices(org=org, billing_date=JULY)

    assert refused_code(org, [june.public_id], payer) == "invoice_not_payable"
    assert refused_code(org, [draft.public_id], payer) == "invoice_not_payable"
    assert (Payment.objects.count(), sandbox_charges()) == (1, 1)


@pytest.mark.parametrize("key", ["", "   ", "x" * 256, "line\nbreak", None])
def test_a_missing_or_bad_idempotency_key_is_refused(org, june, payer, key):
    add_test_card(org, VISA)

    with pytest.raises(KontoError) as refused:
        pay_invoices(org=org, invoice_ids=[june.public_id], idempotency_key=key, actor=payer)

    assert refused.value.code == "idempotency_key_missing"
    assert_nothing_changed(june)


# ---------------------------------------------------------------- SEPA Direct Debit by the vendor's bank


def test_a_sepa_payment_waits_for_the_bank_file_and_then_pays_the_invoice(org, june, payer):
    add_mandate(org)

    payment = pay(org, [june], payer)

    # Announced: the pre-notification day after today (Thu 2 July → Fri 3 July); the June invoice is overdue.
    assert (payment.status, payment.kind, payment.gateway, payment.collection_date) == (
        "pending",
        "sepa_debit",
        "bank",
        date(2026, 7, 3),
    )
    assert sandbox_charges() == 0
    assert state(june) == [("open", Decimal("0.00"))]

    collected = record_payment_outcome(payment=payment, outcome=ChargeOutcome(status="succeeded"), actor=payer)

    assert collected.status == "succeeded"
    assert state(june) == [("paid", GROSS)]


# ---------------------------------------------------------------- webhooks, standing, receipts


def test_a_webhook_outcome_is_recorded_once(org, june, payer):
    add_test_card(org, CHALLENGE)
    waiting = pay(org, [june], payer)
    server.answer_charge_challenge(charge_ref=waiting.gateway_ref, is_confirmed=True)
    outcome = ChargeOutcome(status="succeeded", gateway_ref=waiting.gateway_ref)

    first = record_gateway_outcome(gateway="sandbox", gateway_ref=waiting.gateway_ref, outcome=outcome)
    second = record_gateway_outcome(gateway="sandbox", gateway_ref=waiting.gateway_ref, outcome=outcome)
    late = record_gateway_outcome(
        gateway="sandbox", gateway_ref=waiting.gateway_ref, outcome=ChargeOutcome(status="failed")
    )

    assert first is not None
    assert second is not None
    assert late is not None
    assert (first.status, second.status, late.status) == ("succeeded", "succeeded", "succeeded")
    assert state(june) == [("paid", GROSS)]
    assert AuditEvent.objects.filter(action="payment.succeeded").count() == 1
    assert AuditEvent.objects.filter(action="payment.outcome_conflict").count() == 1
    assert record_gateway_outcome(gateway="sandbox", gateway_ref="pi_sb_unknown", outcome=outcome) is None


def test_paying_clears_a_suspended_org_at_once(org, june, payer):
    add_test_card(org, VISA)
    Org.objects.filter(pk=org.pk).update(status=Org.Status.SUSPENDED)

    pay(org, [june], payer)

    org.refresh_from_db()
    assert org.status == "active"


def test_the_receipt_goes_to_the_payer_and_the_billing_email(org, june, payer, django_capture_on_commit_callbacks):
    add_test_card(org, VISA)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        payment = pay(org, [june], payer)

    receipts = [message for message in mail.outbox if message.subject.startswith("Payment received")]
    assert len(receipts) == 1
    (receipt,) = receipts
    assert receipt.subject == "Payment received: €148.75"
    assert receipt.to == ["anna@baeckerei.example", "buchhaltung@baeckerei.example"]
    assert "Payment method: Visa •••• 4242" in receipt.body
    assert f"- {june.number}: €148.75" in receipt.body
    assert f"Payment reference: {payment.public_id}" in receipt.body


def test_the_receipt_is_in_the_orgs_language(org, june, payer, django_capture_on_commit_callbacks):
    Org.objects.filter(pk=org.pk).update(language="de")
    org.refresh_from_db()
    add_test_card(org, VISA)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        pay(org, [june], payer)

    (receipt,) = [message for message in mail.outbox if "148,75" in message.subject]
    assert "Visa •••• 4242" in receipt.body
    assert "148,75\N{NO-BREAK SPACE}€" in receipt.body


def test_no_receipt_for_a_failed_payment(org, june, payer, django_capture_on_commit_callbacks):
    add_test_card(org, DECLINED)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        pay(org, [june], payer)

    assert [message.subject for message in mail.outbox] == []
