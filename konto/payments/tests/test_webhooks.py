"""Stripe's webhook endpoint: real signatures (HMAC-SHA256 with a test secret), and what each event changes.

The payments are made end to end through the Stripe adapter against the
local Stripe stand-in (a SEPA mandate set up at Stripe, a PaymentIntent that
stays processing); the webhook then settles them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from konto.accounts.models import Org
from konto.accounts.testing import make_admin
from konto.billing.models import Invoice
from konto.core.audit import Actor
from konto.core.models import AuditEvent
from konto.payments.models import Payment
from konto.payments.services.pay import pay_invoices
from konto.payments.tests.core_helpers import actor_of, add_mandate, build_catalog, card_org, issue, state
from konto.payments.tests.stripe_stub import Reply, StripeStub, recorded, reply

pytestmark = pytest.mark.django_db

WEBHOOK_SECRET = "whsec_konto_test_5f0c2b7e9d1a4c3b8e6f"
URL = "/payments/stripe/webhook/"
NOW = datetime(2026, 7, 2, 8, 0, tzinfo=UTC)
INTENT = "pi_3SZkD1Qx8mEoyl2Zb2Se5Pa6"
GROSS = Decimal("148.75")


def signed(payload: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The Stripe-Signature header: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<payload>">."""
    moment = int(NOW.timestamp()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{moment}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={moment},v1={digest}"


def event_body(name: str, **object_fields: Any) -> bytes:
    event = recorded(name)
    event["data"]["object"].update(object_fields)
    return json.dumps(event, indent=2).encode()


def deliver(client: Any, payload: bytes, signature: str | None = None) -> Any:
    headers = {"Stripe-Signature": signed(payload) if signature is None else signature}
    return client.post(URL, payload, content_type="application/json", headers=headers)


@pytest.fixture(autouse=True)
def _clock(time_machine: Any) -> None:
    time_machine.move_to(NOW, tick=False)


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture
def stub(settings: Any) -> Iterator[StripeStub]:
    server = StripeStub()
    server.start()
    settings.KONTO_PAYMENT_GATEWAY = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_test_51KontoTestKey000000000000000000"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = server.url
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    yield server
    server.stop()


@pytest.fixture
def org() -> Org:
    return card_org(build_catalog(), billing_email="buchhaltung@baeckerei.example", language="en")


@pytest.fixture
def payer(org: Org) -> Actor:
    return actor_of(make_admin(org, "anna@baeckerei.example", full_name="Anna Admin"))


@pytest.fixture
def june(org: Org) -> Invoice:
    return issue(org, date(2026, 6, 1))


@pytest.fixture
def pending(stub: StripeStub, org: Org, june: Invoice, payer: Actor) -> Payment:
    """A SEPA Direct Debit payment of the June invoice at Stripe, still processing."""
    stub.on("POST", "/v1/customers", reply("customer_created"))
    stub.on("POST", "/v1/setup_intents", reply("setup_intent_sepa_succeeded"))
    mandate = add_mandate(org)
    processing = recorded("payment_intent_processing_sepa") | {"amount": 14875}
    stub.on("POST", "/v1/payment_intents", Reply(body=processing))
    payment = pay_invoices(
        org=org, invoice_ids=[june.public_id], idempotency_key="key-1", actor=payer, method=mandate
    ).payment
    assert (mandate.gateway, mandate.gateway_ref) == ("stripe", "pm_1SZkA1Qx8mEoyl2ZbSepa3000")
    assert (payment.status, payment.gateway, payment.gateway_ref) == ("pending", "stripe", INTENT)
    charge_request = stub.requests[-1]
    assert charge_request.param("allowed_payment_method_types[0]") == "sepa_debit"
    assert charge_request.param("amount") == "14875"
    assert charge_request.headers["Idempotency-Key"] == payment.public_id
    return payment


# ---------------------------------------------------------------- signatures


def test_signed_event_is_accepted(client, stub):
    response = deliver(client, event_body("event_customer_created"))

    assert response.status_code == 200
    assert response.content == b"ok"


def test_url_is_the_documented_one():
    assert reverse("payments:stripe_webhook") == URL


def test_tampered_payload_is_refused_and_changes_nothing(client, pending):
    payload = event_body("event_payment_intent_succeeded")
    header = signed(payload)
    tampered = payload.replace(b'"amount_received": 5950', b'"amount_received": 1')
    assert tampered != payload

    response = deliver(client, tampered, header)

    pending.refresh_from_db()
    assert response.status_code == 400
    assert pending.status == "pending"


def test_wrong_secret_is_refused(client, pending):
    payload = event_body("event_payment_intent_succeeded")

    response = deliver(client, payload, signed(payload, secret="whsec_someone_else"))

    pending.refresh_from_db()
    assert response.status_code == 400
    assert pending.status == "pending"


def test_too_old_timestamp_is_refused(client, pending):
    payload = event_body("event_payment_intent_succeeded")
    six_minutes_ago = int(NOW.timestamp()) - 360

    response = deliver(client, payload, signed(payload, timestamp=six_minutes_ago))

    pending.refresh_from_db()
    assert response.status_code == 400
    assert pending.status == "pending"


def test_timestamp_within_five_minutes_is_accepted(client, stub):
    payload = event_body("event_customer_created")

    response = deliver(client, payload, signed(payload, timestamp=int(NOW.timestamp()) - 240))

    assert response.status_code == 200


@pytest.mark.parametrize("header", ["", "t=abc,v1=00", "v1=deadbeef"])
def test_missing_or_malformed_signature_is_refused(client, stub, header):
    response = client.post(
        URL, event_body("event_customer_created"), content_type="application/json", headers={"Stripe-Signature": header}
    )

    assert response.status_code == 400


def test_without_a_configured_secret_nothing_is_accepted(client, stub, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""

    response = deliver(client, event_body("event_customer_created"))

    assert response.status_code == 503


def test_no_csrf_token_is_needed(stub):
    strict = Client(enforce_csrf_checks=True)

    response = deliver(strict, event_body("event_customer_created"))

    assert response.status_code == 200


def test_only_post(client, stub):
    assert client.get(URL).status_code == 405


# ---------------------------------------------------------------- what the events change


def test_payment_intent_succeeded_pays_the_invoice_once(client, pending, june):
    payload = event_body("event_payment_intent_succeeded", amount=14875, amount_received=14875)

    first = deliver(client, payload)
    again = deliver(client, payload)  # Stripe retries and may send an event twice

    pending.refresh_from_db()
    assert (first.status_code, again.status_code) == (200, 200)
    assert pending.status == "succeeded"
    assert state(june) == [("paid", GROSS)]
    assert AuditEvent.objects.filter(action="payment.succeeded", object_id=pending.public_id).count() == 1


def test_payment_intent_payment_failed_fails_the_payment_and_reopens_the_invoice(client, pending, june):
    response = deliver(client, event_body("event_payment_intent_payment_failed", amount=14875))

    pending.refresh_from_db()
    assert response.status_code == 200
    assert (pending.status, pending.failure_code) == ("failed", "insufficient_funds")
    assert state(june) == [("open", Decimal("0.00"))]


def test_processing_event_changes_nothing(client, pending, june):
    response = deliver(client, event_body("event_payment_intent_processing"))

    pending.refresh_from_db()
    assert response.status_code == 200
    assert pending.status == "pending"


def test_event_for_a_payment_konto_does_not_know_is_acknowledged(client, pending):
    response = deliver(client, event_body("event_payment_intent_succeeded", id="pi_3SZkZZQx8mEoyl2ZbOther00"))

    pending.refresh_from_db()
    assert response.status_code == 200
    assert pending.status == "pending"


def test_refund_made_at_stripe_leaves_one_note_on_the_payment(client, pending):
    deliver(client, event_body("event_payment_intent_succeeded", amount=14875))
    payload = event_body("event_charge_refunded", payment_intent=INTENT, amount=14875, amount_refunded=14875)

    deliver(client, payload)
    deliver(client, payload)

    (note,) = AuditEvent.objects.filter(action="payment.refunded_at_gateway")
    assert (note.org_id, note.object_type, note.object_id, note.actor_email) == (
        pending.org_id,
        "payment",
        pending.public_id,
        "stripe webhook",
    )
    assert note.after == {
        "event_id": "evt_3SZkB2Qx8mEoyl2Zb0Ev3Rf3",
        "gateway_ref": INTENT,
        "amount": "14875",
        "amount_refunded": "14875",
        "currency": "eur",
        "status": "succeeded",
    }
    pending.refresh_from_db()
    assert pending.status == "succeeded"  # staff decide; a refund in Konto goes through refund_payment


def test_dispute_leaves_a_note_on_the_payment(client, pending):
    response = deliver(client, event_body("event_charge_dispute_created", payment_intent=INTENT))

    (note,) = AuditEvent.objects.filter(action="payment.dispute_opened")
    assert response.status_code == 200
    assert note.object_id == pending.public_id
    assert note.after is not None
    assert (note.after["reason"], note.after["status"]) == ("fraudulent", "needs_response")
