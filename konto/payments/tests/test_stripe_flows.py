"""The payments services end to end with Stripe as the gateway, against the local Stripe stand-in.

Cards through the Checkout Session in setup mode, 3-D Secure settled by the
webhook, SEPA Direct Debit set up and collected at Stripe, a dropped
connection found again by reconciliation. The services are called as the
portal calls them; only Stripe's servers are replaced (recorded responses).
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
from django.utils import translation

from konto.accounts.models import Org
from konto.accounts.testing import make_admin
from konto.billing.models import Invoice
from konto.core.audit import Actor
from konto.core.models import AuditEvent
from konto.payments.exceptions import CardSetupFailed
from konto.payments.models import Payment, PaymentMethod
from konto.payments.services.collection import reconcile_unknown_payments
from konto.payments.services.methods import add_card, add_sepa_mandate, start_card_setup
from konto.payments.services.pay import pay_invoices
from konto.payments.tests.core_helpers import actor_of, build_catalog, card_org, issue, state
from konto.payments.tests.stripe_stub import DROP, Reply, StripeStub, recorded, reply

pytestmark = pytest.mark.django_db

SECRET_KEY = "sk_test_51KontoFlowsKey00000000000000000"
WEBHOOK_SECRET = "whsec_konto_flows_3e8a1d6c0b9f4a27"
WEBHOOK_URL = "/payments/stripe/webhook/"
NOW = datetime(2026, 7, 2, 8, 0, tzinfo=UTC)
RETURN_URL = "http://testserver/my-account/payment-methods/card/return"
PAY_RETURN_URL = "http://testserver/my-account/payments/return"
GROSS = Decimal("148.75")  # 5 licenses at 25.00 a month, 19 % VAT
CUSTOMER = "cus_TQx8mEoyl2ZbkP"
SESSION = "cs_test_c1Wd0ZkYp7Qm3nRt5vXb8Ae2Gh4Jl6No9PqSsUw1Yy3"
CARD = "pm_1SZk39Qx8mEoyl2ZbVisa4242"
SEPA = "pm_1SZkA1Qx8mEoyl2ZbSepa3000"
STRIPE_MANDATE = "mandate_1SZkA2Qx8mEoyl2ZbMd9Xq0"
IBAN = "DE89370400440532013000"
MANDATE_IP = "198.51.100.23"
MANDATE_USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"


# ---------------------------------------------------------------- the outside world: Stripe and its webhooks


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
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = server.url
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.KONTO_SANDBOX_ENABLED = False
    yield server
    server.stop()


def signed(payload: bytes) -> str:
    """The Stripe-Signature header Stripe sends: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<payload>">."""
    moment = int(NOW.timestamp())
    digest = hmac.new(WEBHOOK_SECRET.encode(), f"{moment}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={moment},v1={digest}"


def deliver(name: str, **object_fields: Any) -> int:
    """POST the recorded event `name` (its PaymentIntent changed by `object_fields`) to the webhook, signed."""
    event = recorded(name)
    event["data"]["object"].update(object_fields)
    payload = json.dumps(event, indent=2).encode()
    response = Client(enforce_csrf_checks=True).post(
        WEBHOOK_URL, payload, content_type="application/json", headers={"Stripe-Signature": signed(payload)}
    )
    return int(response.status_code)


def intent(name: str, **fields: Any) -> Reply:
    """A recorded PaymentIntent answer with some of its fields changed (id, amount)."""
    return Reply(body=recorded(name) | fields)


def charges(stub: StripeStub) -> list[Any]:
    return [request for request in stub.requests if (request.method, request.path) == ("POST", "/v1/payment_intents")]


# ---------------------------------------------------------------- the customer's side


@pytest.fixture
def org() -> Org:
    return card_org(build_catalog(), billing_email="buchhaltung@baeckerei.example", language="en")


@pytest.fixture
def payer(org: Org) -> Actor:
    return actor_of(make_admin(org, "anna@baeckerei.example", full_name="Anna Admin"))


@pytest.fixture
def june(org: Org) -> Invoice:
    """Issued before any method exists, so no automatic collection charges it behind the test's back."""
    return issue(org, date(2026, 6, 1))


@pytest.fixture
def july(org: Org, june: Invoice) -> Invoice:
    return issue(org, date(2026, 7, 1))


def add_stripe_card(stub: StripeStub, org: Org, payer: Actor) -> PaymentMethod:
    """The card of a completed Checkout Session, kept through start_card_setup → Stripe's page → add_card."""
    stub.on("POST", "/v1/customers", reply("customer_created"))
    stub.on("POST", "/v1/checkout/sessions", reply("checkout_session_setup_created"))
    start = start_card_setup(org=org, actor=payer, return_url=RETURN_URL)
    session = recorded("checkout_session_setup_complete") | {"metadata": {"konto_org": org.public_id}}
    stub.on("GET", f"/v1/checkout/sessions/{start.setup_ref}", Reply(body=session))
    return add_card(org=org, actor=payer, setup_ref=start.setup_ref)


def add_stripe_mandate(stub: StripeStub, org: Org, payer: Actor) -> PaymentMethod:
    stub.on("POST", "/v1/customers", reply("customer_created"))
    stub.on("POST", "/v1/setup_intents", reply("setup_intent_sepa_succeeded"))
    return add_sepa_mandate(
        org=org,
        actor=payer,
        account_holder="Bäckerei Test GmbH",
        iban="DE89 3704 0044 0532 0130 00",
        bic="COBADEFFXXX",
        is_accepted=True,
        ip=MANDATE_IP,
        user_agent=MANDATE_USER_AGENT,
    )


# ---------------------------------------------------------------- 1. a card through Checkout, paid at once


def test_card_added_through_checkout_pays_an_open_invoice(stub, org, june, payer):
    stub.on("POST", "/v1/customers", reply("customer_created"))
    stub.on("POST", "/v1/checkout/sessions", reply("checkout_session_setup_created"))

    start = start_card_setup(org=org, actor=payer, return_url=RETURN_URL)

    assert start.setup_ref == SESSION
    assert start.redirect_url.startswith(f"https://checkout.stripe.com/c/pay/{SESSION}#")
    customer, session = stub.requests
    assert customer.param("metadata[konto_org]") == org.public_id
    assert customer.headers["Idempotency-Key"] == f"konto-customer-{org.public_id}"
    assert session.param("mode") == "setup"
    assert session.param("customer") == CUSTOMER
    assert session.param("success_url") == RETURN_URL + "?setup={CHECKOUT_SESSION_ID}"
    assert session.param("metadata[konto_org]") == org.public_id
    assert PaymentMethod.objects.count() == 0  # nothing is kept before the browser comes back

    completed = recorded("checkout_session_setup_complete") | {"metadata": {"konto_org": org.public_id}}
    stub.on("GET", f"/v1/checkout/sessions/{SESSION}", Reply(body=completed))

    card = add_card(org=org, actor=payer, setup_ref=SESSION)

    assert (card.kind, card.gateway, card.gateway_ref, card.gateway_customer_ref) == ("card", "stripe", CARD, CUSTOMER)
    assert (card.card_brand, card.card_last4, card.card_exp_month, card.card_exp_year) == ("visa", "4242", 12, 2030)
    assert (card.status, card.is_default) == ("active", True)
    lookup = stub.requests[-1]
    assert (lookup.method, lookup.path) == ("GET", f"/v1/checkout/sessions/{SESSION}")
    assert lookup.query["expand[1]"] == ["setup_intent.payment_method"]

    succeeded = recorded("payment_intent_succeeded") | {"amount": 14875, "amount_received": 14875}
    stub.on("POST", "/v1/payment_intents", Reply(body=succeeded))

    result = pay_invoices(
        org=org, invoice_ids=[june.public_id], idempotency_key="pay-june-1", actor=payer, return_url=PAY_RETURN_URL
    )

    payment = result.payment
    assert (payment.status, payment.gateway, payment.gateway_ref) == ("succeeded", "stripe", succeeded["id"])
    assert (payment.amount, payment.currency, payment.method_id) == (GROSS, "EUR", card.pk)
    assert state(june) == [("paid", GROSS)]
    (charge,) = charges(stub)
    assert charge.headers["Idempotency-Key"] == payment.public_id
    assert charge.param("amount") == "14875"
    assert charge.param("currency") == "eur"
    assert charge.param("payment_method") == CARD
    assert charge.param("customer") == CUSTOMER
    assert charge.param("allowed_payment_method_types[0]") == "card"
    assert charge.param("metadata[konto_idempotency_key]") == payment.public_id
    assert charge.param("return_url") == PAY_RETURN_URL  # the customer is present: 3-D Secure may ask
    assert "off_session" not in charge.form
    assert charge.param("description") == f"Konto {june.number}"


def test_checkout_session_of_another_org_keeps_no_card(stub, org, payer):
    stub.on("POST", "/v1/customers", reply("customer_created"))
    stub.on("POST", "/v1/checkout/sessions", reply("checkout_session_setup_created"))
    start = start_card_setup(org=org, actor=payer, return_url=RETURN_URL)
    stub.on("GET", f"/v1/checkout/sessions/{start.setup_ref}", reply("checkout_session_setup_complete"))

    with pytest.raises(CardSetupFailed, match="card setup was not found") as refused:
        add_card(org=org, actor=payer, setup_ref=start.setup_ref)

    assert refused.value.code == "card_setup_failed"
    assert PaymentMethod.objects.count() == 0


# ---------------------------------------------------------------- 2. 3-D Secure, settled by the webhook


def test_card_needing_3d_secure_waits_and_the_webhook_pays_the_invoice_once(stub, org, june, payer):
    add_stripe_card(stub, org, payer)
    waiting = recorded("payment_intent_requires_action") | {"amount": 14875}
    stub.on("POST", "/v1/payment_intents", Reply(body=waiting))

    payment = pay_invoices(
        org=org, invoice_ids=[june.public_id], idempotency_key="pay-june-3ds", actor=payer, return_url=PAY_RETURN_URL
    ).payment

    assert (payment.status, payment.gateway_ref) == ("requires_action", waiting["id"])
    assert payment.action_url == waiting["next_action"]["redirect_to_url"]["url"]
    assert state(june) == [("open", Decimal("0.00"))]
    (charge,) = charges(stub)
    assert charge.headers["Idempotency-Key"] == payment.public_id
    assert charge.param("return_url") == PAY_RETURN_URL

    first = deliver("event_payment_intent_succeeded", id=waiting["id"], amount=14875, amount_received=14875)

    payment.refresh_from_db()
    assert first == 200
    assert payment.status == "succeeded"
    assert state(june) == [("paid", GROSS)]
    settled_at = payment.status_changed_at
    events = AuditEvent.objects.count()

    again = deliver("event_payment_intent_succeeded", id=waiting["id"], amount=14875, amount_received=14875)

    payment.refresh_from_db()
    assert again == 200
    assert (payment.status, payment.status_changed_at) == ("succeeded", settled_at)
    assert state(june) == [("paid", GROSS)]
    assert AuditEvent.objects.count() == events
    assert AuditEvent.objects.filter(action="payment.succeeded", object_id=payment.public_id).count() == 1
    assert len(charges(stub)) == 1  # the webhook never charges


# ---------------------------------------------------------------- 3. SEPA Direct Debit at Stripe


def test_sepa_mandate_is_set_up_at_stripe_with_the_customers_acceptance(stub, org, payer):
    mandate = add_stripe_mandate(stub, org, payer)

    assert (mandate.kind, mandate.gateway, mandate.gateway_ref) == ("sepa_debit", "stripe", SEPA)
    assert mandate.gateway_customer_ref == CUSTOMER
    assert mandate.mandate_reference == f"KONTO-{org.pk:06d}-001"
    assert mandate.gateway_mandate_ref == STRIPE_MANDATE
    assert mandate.masked_iban == "DE89 •••• 3000"
    assert (mandate.mandate_ip, mandate.mandate_user_agent) == (MANDATE_IP, MANDATE_USER_AGENT)
    assert mandate.is_default is True
    customer, setup = stub.requests
    assert customer.path == "/v1/customers"
    assert (setup.method, setup.path) == ("POST", "/v1/setup_intents")
    assert setup.param("customer") == CUSTOMER
    assert setup.param("allowed_payment_method_types[0]") == "sepa_debit"
    assert setup.param("payment_method_data[sepa_debit][iban]") == IBAN
    assert setup.param("payment_method_data[billing_details][name]") == "Bäckerei Test GmbH"
    assert setup.param("payment_method_data[billing_details][email]") == "buchhaltung@baeckerei.example"
    assert setup.param("mandate_data[customer_acceptance][type]") == "online"
    assert setup.param("mandate_data[customer_acceptance][online][ip_address]") == MANDATE_IP
    assert setup.param("mandate_data[customer_acceptance][online][user_agent]") == MANDATE_USER_AGENT
    assert setup.param("confirm") == "true"
    assert setup.param("usage") == "off_session"
    assert setup.headers["Idempotency-Key"].startswith("sepa-")
    (added,) = AuditEvent.objects.filter(action="payment_method.added")
    assert added.after is not None
    assert added.after["iban"] == "DE89 •••• 3000"
    assert IBAN not in json.dumps(added.after)


def test_sepa_payment_at_stripe_is_pending_until_the_webhook_settles_it(stub, org, june, july, payer):
    mandate = add_stripe_mandate(stub, org, payer)
    stub.on("POST", "/v1/payment_intents", intent("payment_intent_processing_sepa", amount=14875))

    june_payment = pay_invoices(
        org=org, invoice_ids=[june.public_id], idempotency_key="pay-june-sepa", actor=payer, method=mandate
    ).payment

    june_intent = "pi_3SZkD1Qx8mEoyl2Zb2Se5Pa6"
    assert (june_payment.status, june_payment.gateway, june_payment.gateway_ref) == ("pending", "stripe", june_intent)
    assert (june_payment.kind, june_payment.collection_date) == ("sepa_debit", None)  # Stripe collects, no pain.008
    assert state(june) == [("open", Decimal("0.00"))]
    (charge,) = charges(stub)
    assert charge.headers["Idempotency-Key"] == june_payment.public_id
    assert charge.param("amount") == "14875"
    assert charge.param("payment_method") == SEPA
    assert charge.param("allowed_payment_method_types[0]") == "sepa_debit"
    assert charge.param("off_session") == "true"

    assert deliver("event_payment_intent_processing", id=june_intent) == 200
    june_payment.refresh_from_db()
    assert june_payment.status == "pending"

    assert deliver("event_payment_intent_succeeded", id=june_intent, amount=14875, amount_received=14875) == 200
    june_payment.refresh_from_db()
    assert june_payment.status == "succeeded"
    assert state(june) == [("paid", GROSS)]

    july_intent = "pi_3SZkF8Qx8mEoyl2Zb5Se7Pb1"
    stub.on("POST", "/v1/payment_intents", intent("payment_intent_processing_sepa", id=july_intent, amount=14875))
    july_payment = pay_invoices(
        org=org, invoice_ids=[july.public_id], idempotency_key="pay-july-sepa", actor=payer, method=mandate
    ).payment
    assert (july_payment.status, july_payment.gateway_ref) == ("pending", july_intent)

    assert deliver("event_payment_intent_payment_failed", id=july_intent, amount=14875) == 200

    july_payment.refresh_from_db()
    june_payment.refresh_from_db()
    assert (july_payment.status, july_payment.failure_code) == ("failed", "insufficient_funds")
    assert state(july, june) == [("open", Decimal("0.00")), ("paid", GROSS)]
    assert june_payment.status == "succeeded"
    assert not july_payment.allocations.filter(is_in_flight=True).exists()  # July can be paid again
    assert len(charges(stub)) == 2


# ---------------------------------------------------------------- 4. no answer from Stripe, then reconciliation


def test_dropped_connection_leaves_the_outcome_unknown_until_reconciliation_finds_the_intent(
    stub, org, june, payer, time_machine
):
    add_stripe_card(stub, org, payer)
    stub.on("POST", "/v1/payment_intents", DROP)

    payment = pay_invoices(
        org=org, invoice_ids=[june.public_id], idempotency_key="pay-june-drop", actor=payer, return_url=PAY_RETURN_URL
    ).payment

    assert (payment.status, payment.gateway_ref) == ("unknown", "")
    assert state(june) == [("open", Decimal("0.00"))]
    (charge,) = charges(stub)
    assert charge.headers["Idempotency-Key"] == payment.public_id

    found = recorded("payment_intent_search_result")
    found["data"][0] |= {
        "amount": 14875,
        "amount_received": 14875,
        "metadata": {"konto_idempotency_key": payment.public_id},
    }
    stub.on("GET", "/v1/payment_intents/search", Reply(body=found))
    later = datetime(2026, 7, 2, 8, 10, tzinfo=UTC)
    time_machine.move_to(later, tick=False)

    settled = reconcile_unknown_payments(now=later)

    payment.refresh_from_db()
    assert settled == 1
    assert (payment.status, payment.gateway_ref, payment.last_checked_at) == (
        "succeeded",
        "pi_3SZkB2Qx8mEoyl2Zb0Tk4Xq1",
        later,
    )
    assert state(june) == [("paid", GROSS)]
    search = stub.requests[-1]
    assert (search.method, search.path) == ("GET", "/v1/payment_intents/search")
    assert search.param("query") == f"metadata['konto_idempotency_key']:'{payment.public_id}'"
    assert len(charges(stub)) == 1  # reconciliation asks, it never charges again
    assert Payment.objects.count() == 1
