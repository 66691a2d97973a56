"""No card number, CVC or full IBAN anywhere but where it must be: logs, emails, audit events, payments, documents.

The flows run for real: the card is typed into the sandbox's card page
(through the test client), charged, declined, refunded; a SEPA mandate is
signed, collected, returned. Then everything they wrote or said is searched
for the secrets, in every spelling a person would type them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.forms.models import model_to_dict
from django.test import Client
from django.utils import translation

from konto.accounts.models import Org
from konto.accounts.testing import make_admin, make_user
from konto.billing.models import Invoice, StoredDocument
from konto.core.models import AuditEvent
from konto.payments.gateways.base import ChargeOutcome
from konto.payments.models import Payment, PaymentAllocation, PaymentMethod, Refund
from konto.payments.services.methods import add_card, add_sepa_mandate, start_card_setup
from konto.payments.services.pay import pay_invoices, record_payment_outcome, record_sepa_return
from konto.payments.services.refunds import refund_payment

from .core_helpers import RETURN_URL, actor_of, build_catalog, card_org, issue

pytestmark = pytest.mark.django_db

CARD_NUMBER = "4242424242424242"
DECLINED_NUMBER = "4000000000000002"
CVC = "9173"
IBAN = "DE02120300000000202051"


def spellings() -> list[str]:
    """Each secret as stored, grouped in fours as people type it, and the IBAN's account number alone."""
    grouped = [" ".join(value[i : i + 4] for i in range(0, len(value), 4)) for value in (CARD_NUMBER, IBAN)]
    return [CARD_NUMBER, DECLINED_NUMBER, CVC, IBAN, *grouped, IBAN[4:], IBAN.lower()]


@pytest.fixture(autouse=True)
def _clock(time_machine: Any) -> None:
    time_machine.move_to(datetime(2026, 7, 2, 8, 0, tzinfo=UTC), tick=False)


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


def card_through_the_card_page(org: Org, actor: Any, number: str, *, replaces: PaymentMethod | None = None) -> Any:
    start = start_card_setup(org=org, actor=actor, return_url=RETURN_URL)
    page = start.redirect_url.removeprefix("http://testserver")
    response = Client().post(
        page, {"number": " ".join(number[i : i + 4] for i in range(0, 16, 4)), "expiry": "12/30", "cvc": CVC,
               "holder": "Anna Admin"},
    )  # fmt: skip
    assert response.status_code == 302, response.content
    assert response["Location"].startswith(RETURN_URL + "?setup=")
    return add_card(org=org, actor=actor, setup_ref=start.setup_ref, replaces=replaces)


def test_no_secret_is_logged_mailed_audited_or_stored_by_the_payment_flows(caplog, django_capture_on_commit_callbacks):
    caplog.set_level(logging.DEBUG)
    catalog = build_catalog()
    card_payer = card_org(catalog, billing_email="buchhaltung@baeckerei.example", language="en")
    debit_payer = card_org(catalog, "Lastschrift GmbH", billing_email="ap@lastschrift.example", language="en")
    anna = actor_of(make_admin(card_payer, "anna@baeckerei.example"))
    bernd = actor_of(make_admin(debit_payer, "bernd@lastschrift.example"))
    staff = actor_of(make_user(None, "ops@vendor.example"))

    def step() -> Any:  # each service's after-commit work (collections, emails) runs when it returns
        return django_capture_on_commit_callbacks(execute=True)

    with step():
        declined = card_through_the_card_page(card_payer, anna, DECLINED_NUMBER)
    with step():
        june = issue(card_payer, date(2026, 6, 1))  # collected automatically: declined
    with step():
        card = card_through_the_card_page(card_payer, anna, CARD_NUMBER, replaces=declined)
    with step():
        paid = pay_invoices(org=card_payer, invoice_ids=[june.public_id], idempotency_key="k", actor=anna).payment
    with step():
        refund_payment(payment=paid, amount=Decimal("10.00"), reason="Goodwill", actor=staff, idempotency_key="r")
    with step():
        add_sepa_mandate(
            org=debit_payer,
            actor=bernd,
            account_holder="Lastschrift GmbH",
            iban=" ".join(IBAN[i : i + 4] for i in range(0, len(IBAN), 4)),
            bic="BYLADEM1001",
            is_accepted=True,
            ip="203.0.113.9",
            user_agent="Mozilla/5.0",
        )
    with step():
        debit_invoice = issue(debit_payer, date(2026, 6, 1))  # a pending collection of the vendor's bank
    collection = Payment.objects.get(org=debit_payer)
    with step():
        record_payment_outcome(payment=collection, outcome=ChargeOutcome(status="succeeded"), actor=staff)
    with step():
        record_sepa_return(payment=collection, reason_code="AM04", actor=staff)

    # The flows happened: a declined collection, a payment, a refund, a collection and its return, emails.
    assert card.card_last4 == "4242"
    assert sorted(Payment.objects.values_list("status", flat=True)) == ["failed", "failed", "partially_refunded"]
    assert Refund.objects.get().status == "succeeded"
    subjects = [message.subject for message in mail.outbox if not message.subject.startswith("Invoice ")]
    assert subjects == ["Payment received: €148.75"] * 2 + ["Direct debit returned: €148.75"]

    places: dict[str, str] = {
        "logs": caplog.text + "\n".join(record.getMessage() for record in caplog.records),
        "emails": "\n".join(
            "\n".join(
                [
                    str(message.subject),
                    str(message.body),
                    *[str(part[0]) for part in getattr(message, "alternatives", [])],
                ]
            )
            for message in mail.outbox
        ),
        "audit events": json.dumps(
            [model_to_dict(event) for event in AuditEvent.objects.all()], default=str, ensure_ascii=False
        ),
        "payments": json.dumps(
            [model_to_dict(row) for model in (Payment, PaymentAllocation, Refund) for row in model.objects.all()],
            default=str,
        ),
        "invoices": json.dumps([model_to_dict(row) for row in Invoice.objects.all()], default=str, ensure_ascii=False),
        "stored XML": "\n".join(
            document.file.read().decode() for document in StoredDocument.objects.filter(kind="xml")
        ),
        "card methods": json.dumps(
            [model_to_dict(row) for row in PaymentMethod.objects.filter(kind="card")], default=str
        ),
    }
    for place, text in places.items():
        for secret in spellings():
            assert secret not in text, f"{secret!r} found in the {place}"
    # Masked forms are what people see.
    assert "DE02 •••• 2051" in places["audit events"]
    assert "Visa •••• 4242" in places["emails"]
    assert debit_invoice.payment_details["debited_iban_masked"] == "DE02XXXXXXXXXXXXXX2051"
    # The mandate itself keeps the IBAN: the vendor's bank needs it for the pain.008 file.
    assert PaymentMethod.objects.get(kind="sepa_debit").iban == IBAN
