"""The Stripe adapter against a local server that answers with recorded Stripe responses.

Each test checks what Konto sent (path, form-encoded parameters, the
Idempotency-Key header) and how Stripe's answer maps onto the gateway
contract.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from konto.payments.gateways import get_gateway
from konto.payments.gateways.base import (
    CardDetails,
    ChargeOutcome,
    Gateway,
    GatewayTimeout,
    GatewayUnavailable,
    RefundOutcome,
    SetupOutcome,
)
from konto.payments.gateways.stripe import StripeGateway, failure_code, to_minor_units
from konto.payments.tests.stripe_stub import DROP, Reply, StripeStub, reply

SECRET_KEY = "sk_test_51KontoTestKey000000000000000000"
ORG = "org_baeckerei000001"
CUSTOMER = "cus_TQx8mEoyl2ZbkP"
CARD = "pm_1SZk39Qx8mEoyl2ZbVisa4242"
SEPA = "pm_1SZkA1Qx8mEoyl2ZbSepa3000"
KEY = "pay_0k3x9q2m7v4b8n1c"
RETURN_URL = "http://testserver/account/payment/methods/card/return/"


@pytest.fixture
def stub() -> Iterator[StripeStub]:
    server = StripeStub()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def gateway(stub: StripeStub, settings: Any) -> StripeGateway:
    settings.KONTO_PAYMENT_GATEWAY = "stripe"
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_API_BASE = stub.url
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.STRIPE_TIMEOUT_SECONDS = 5
    chosen = get_gateway()
    assert isinstance(chosen, StripeGateway)
    return chosen


def charge_card(gateway: Gateway, **overrides: Any) -> ChargeOutcome:
    arguments: dict[str, Any] = {
        "method_ref": CARD,
        "customer_ref": CUSTOMER,
        "amount": Decimal("119.00"),
        "currency": "EUR",
        "idempotency_key": KEY,
        "description": "Konto RE-2026-000042",
        "on_session": False,
        "return_url": "",
        "method_kind": "card",
    }
    arguments.update(overrides)
    return gateway.charge(**arguments)


# ---------------------------------------------------------------- configuration


def test_stripe_without_secret_key_is_refused(settings):
    settings.STRIPE_SECRET_KEY = ""

    with pytest.raises(ImproperlyConfigured, match="STRIPE_SECRET_KEY"):
        get_gateway("stripe")


def test_unknown_gateway_name_is_refused():
    with pytest.raises(ImproperlyConfigured, match="paypal"):
        get_gateway("paypal")


def test_every_request_carries_the_secret_key_and_api_version(gateway, stub):
    stub.on("POST", "/v1/payment_intents", reply("payment_intent_succeeded"))

    charge_card(gateway)

    (request,) = stub.requests
    assert request.headers["Authorization"] == f"Bearer {SECRET_KEY}"
    assert request.headers["Stripe-Version"] == "2026-10-28.endive"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"


# ---------------------------------------------------------------- card setup (Checkout in setup mode)


def test_card_setup_creates_customer_and_checkout_session(gateway, stub):
    stub.on("POST", "/v1/customers", reply("customer_created"))
    stub.on("POST", "/v1/checkout/sessions", reply("checkout_session_setup_created"))

    start = gateway.begin_card_setup(org_ref=ORG, customer_ref="", return_url=RETURN_URL)

    assert start.setup_ref == "cs_test_c1Wd0ZkYp7Qm3nRt5vXb8Ae2Gh4Jl6No9PqSsUw1Yy3"
    assert start.redirect_url.startswith("https://checkout.stripe.com/c/pay/cs_test_c1Wd0ZkYp7Qm3nRt5vXb8Ae2Gh4")
    customer, session = stub.requests
    assert (customer.method, customer.path) == ("POST", "/v1/customers")
    assert customer.param("metadata[konto_org]") == ORG
    assert customer.headers["Idempotency-Key"] == f"konto-customer-{ORG}"
    assert (session.method, session.path) == ("POST", "/v1/checkout/sessions")
    assert session.param("mode") == "setup"
    assert session.param("customer") == CUSTOMER
    assert session.param("allowed_payment_method_types[0]") == "card"
    assert "payment_method_types[0]" not in session.form  # refused by this API version
    assert session.param("success_url") == RETURN_URL + "?setup={CHECKOUT_SESSION_ID}"
    assert session.param("cancel_url") == RETURN_URL
    assert session.param("metadata[konto_org]") == ORG
    assert session.param("setup_intent_data[metadata][konto_org]") == ORG
    assert session.headers["Idempotency-Key"].startswith("konto-setup-")


def test_card_setup_reuses_the_orgs_customer(gateway, stub):
    stub.on("POST", "/v1/checkout/sessions", reply("checkout_session_setup_created"))

    gateway.begin_card_setup(org_ref=ORG, customer_ref=CUSTOMER, return_url=RETURN_URL + "?from=overview")

    (session,) = stub.requests
    assert session.path == "/v1/checkout/sessions"
    assert session.param("customer") == CUSTOMER
    assert session.param("success_url") == RETURN_URL + "?from=overview&setup={CHECKOUT_SESSION_ID}"


def test_finished_card_setup_gives_token_and_card_details(gateway, stub):
    session_path = "/v1/checkout/sessions/cs_test_c1Wd0ZkYp7Qm3nRt5vXb8Ae2Gh4Jl6No9PqSsUw1Yy3"
    stub.on("GET", session_path, reply("checkout_session_setup_complete"))

    outcome = gateway.finish_card_setup(setup_ref="cs_test_c1Wd0ZkYp7Qm3nRt5vXb8Ae2Gh4Jl6No9PqSsUw1Yy3")

    assert outcome == SetupOutcome(
        status="succeeded",
        method_ref=CARD,
        customer_ref=CUSTOMER,
        card=CardDetails(brand="visa", last4="4242", exp_month=12, exp_year=2030),
        org_ref=ORG,
    )
    (request,) = stub.requests
    assert request.query["expand[0]"] == ["setup_intent"]
    assert request.query["expand[1]"] == ["setup_intent.payment_method"]


def test_card_setup_not_completed_on_stripe_fails(gateway, stub):
    stub.on("GET", "/v1/checkout/sessions/cs_test_open", reply("checkout_session_setup_open"))

    outcome = gateway.finish_card_setup(setup_ref="cs_test_open")

    assert outcome.status == "failed"
    assert outcome.failure_code == "setup_incomplete"
    assert outcome.method_ref == ""
    assert outcome.org_ref == ORG


def test_unknown_setup_ref_fails_as_not_found(gateway, stub):
    stub.on("GET", "/v1/checkout/sessions/cs_test_nope", reply("error_resource_missing_payment_intent", status=404))

    outcome = gateway.finish_card_setup(setup_ref="cs_test_nope")

    assert (outcome.status, outcome.failure_code, outcome.method_ref) == ("failed", "setup_not_found", "")


# ---------------------------------------------------------------- SEPA Direct Debit at Stripe


def test_sepa_mandate_is_a_confirmed_setup_intent_with_the_acceptance(gateway, stub):
    stub.on("POST", "/v1/setup_intents", reply("setup_intent_sepa_succeeded"))

    outcome = gateway.setup_sepa_debit(
        org_ref=ORG,
        customer_ref=CUSTOMER,
        account_holder="Bäckerei Test GmbH",
        email="billing@test.example",
        iban="DE89370400440532013000",
        ip="203.0.113.7",
        user_agent="Mozilla/5.0 (X11; Linux x86_64)",
        idempotency_key="sepa-4f1c",
    )

    assert outcome == SetupOutcome(
        status="succeeded",
        method_ref=SEPA,
        customer_ref=CUSTOMER,
        org_ref=ORG,
        mandate_ref="mandate_1SZkA2Qx8mEoyl2ZbMd9Xq0",
    )
    (request,) = stub.requests
    assert request.path == "/v1/setup_intents"
    assert request.headers["Idempotency-Key"] == "sepa-4f1c"
    assert request.param("allowed_payment_method_types[0]") == "sepa_debit"
    assert request.param("payment_method_data[type]") == "sepa_debit"
    assert request.param("payment_method_data[sepa_debit][iban]") == "DE89370400440532013000"
    assert request.param("payment_method_data[billing_details][name]") == "Bäckerei Test GmbH"
    assert request.param("payment_method_data[billing_details][email]") == "billing@test.example"
    assert request.param("mandate_data[customer_acceptance][type]") == "online"
    assert request.param("mandate_data[customer_acceptance][online][ip_address]") == "203.0.113.7"
    assert request.param("mandate_data[customer_acceptance][online][user_agent]") == "Mozilla/5.0 (X11; Linux x86_64)"
    assert request.param("confirm") == "true"
    assert request.param("usage") == "off_session"


def test_sepa_mandate_with_an_iban_stripe_refuses_fails(gateway, stub):
    stub.on("POST", "/v1/setup_intents", reply("error_invalid_iban", status=400))

    outcome = gateway.setup_sepa_debit(
        org_ref=ORG,
        customer_ref=CUSTOMER,
        account_holder="Bäckerei Test GmbH",
        email="billing@test.example",
        iban="DE00370400440532013000",
        ip="203.0.113.7",
        user_agent="Mozilla/5.0",
        idempotency_key="sepa-9a2b",
    )

    assert (outcome.status, outcome.failure_code, outcome.method_ref) == ("failed", "invalid_bank_account_iban", "")
    assert outcome.failure_message == "The IBAN you provided appears to be invalid."


# ---------------------------------------------------------------- charges


def test_off_session_card_charge_is_a_confirmed_payment_intent(gateway, stub):
    stub.on("POST", "/v1/payment_intents", reply("payment_intent_succeeded"))

    outcome = charge_card(gateway)

    assert outcome == ChargeOutcome(status="succeeded", gateway_ref="pi_3SZkB2Qx8mEoyl2Zb0Tk4Xq1")
    (request,) = stub.requests
    assert (request.method, request.path) == ("POST", "/v1/payment_intents")
    assert request.headers["Idempotency-Key"] == KEY
    assert request.param("amount") == "11900"
    assert request.param("currency") == "eur"
    assert request.param("customer") == CUSTOMER
    assert request.param("payment_method") == CARD
    assert request.param("allowed_payment_method_types[0]") == "card"
    assert request.param("confirm") == "true"
    assert request.param("off_session") == "true"
    assert request.param("description") == "Konto RE-2026-000042"
    assert request.param("metadata[konto_idempotency_key]") == KEY
    assert "return_url" not in request.form


def test_on_session_card_charge_needing_3ds_gives_the_redirect(gateway, stub):
    stub.on("POST", "/v1/payment_intents", reply("payment_intent_requires_action"))
    return_url = "http://testserver/account/payments/pay_0k3x9q2m7v4b8n1c/confirm/"

    outcome = charge_card(gateway, on_session=True, return_url=return_url)

    assert outcome.status == "requires_action"
    assert outcome.gateway_ref == "pi_3SZkC7Qx8mEoyl2Zb1Ds3Ch4"
    assert outcome.action_url.startswith("https://hooks.stripe.com/3d_secure_2/hosted?merchant=acct_1Qx8mEoyl2Zb")
    (request,) = stub.requests
    assert request.param("return_url") == return_url
    assert "off_session" not in request.form


def test_sepa_charge_is_off_session_and_pending_while_processing(gateway, stub):
    stub.on("POST", "/v1/payment_intents", reply("payment_intent_processing_sepa"))

    outcome = charge_card(
        gateway,
        method_ref=SEPA,
        amount=Decimal("59.50"),
        idempotency_key="pay_5s3p4d1e2b9t7x6y",
        method_kind="sepa_debit",
    )

    assert outcome == ChargeOutcome(status="pending", gateway_ref="pi_3SZkD1Qx8mEoyl2Zb2Se5Pa6")
    (request,) = stub.requests
    assert request.param("allowed_payment_method_types[0]") == "sepa_debit"
    assert request.param("amount") == "5950"
    assert request.param("off_session") == "true"
    assert request.headers["Idempotency-Key"] == "pay_5s3p4d1e2b9t7x6y"


def test_charge_without_kind_asks_stripe_for_the_payment_method_first(gateway, stub):
    stub.on("GET", f"/v1/payment_methods/{SEPA}", reply("payment_method_sepa_debit"))
    stub.on("POST", "/v1/payment_intents", reply("payment_intent_processing_sepa"))

    outcome = charge_card(gateway, method_ref=SEPA, method_kind=None)

    assert outcome.status == "pending"
    lookup, create = stub.requests
    assert (lookup.method, lookup.path) == ("GET", f"/v1/payment_methods/{SEPA}")
    assert create.param("allowed_payment_method_types[0]") == "sepa_debit"


def test_declined_card_402_is_a_failed_outcome_with_konto_code(gateway, stub):
    stub.on("POST", "/v1/payment_intents", reply("error_card_declined_insufficient_funds", status=402))

    outcome = charge_card(gateway)

    assert outcome == ChargeOutcome(
        status="failed",
        gateway_ref="pi_3SZkE4Qx8mEoyl2Zb3If5Nd2",
        failure_code="insufficient_funds",
        failure_message="Your card has insufficient funds.",
    )


def test_expired_card_402_is_a_failed_outcome(gateway, stub):
    stub.on("POST", "/v1/payment_intents", reply("error_card_declined_expired", status=402))

    outcome = charge_card(gateway)

    assert (outcome.status, outcome.failure_code, outcome.gateway_ref) == (
        "failed",
        "expired_card",
        "pi_3SZkE9Qx8mEoyl2Zb4Ex6Pi2",
    )


def test_off_session_charge_needing_authentication_fails_with_its_code(gateway, stub):
    stub.on("POST", "/v1/payment_intents", reply("error_authentication_required", status=402))

    outcome = charge_card(gateway)

    assert (outcome.status, outcome.failure_code) == ("failed", "authentication_required")


def test_removed_payment_method_fails_as_unusable(gateway, stub):
    stub.on("POST", "/v1/payment_intents", reply("error_resource_missing_payment_method", status=400))

    outcome = charge_card(gateway)

    assert (outcome.status, outcome.failure_code, outcome.gateway_ref) == ("failed", "method_unusable", "")


def test_rate_limit_is_unavailable_and_not_retried(gateway, stub, settings):
    settings.STRIPE_MAX_NETWORK_RETRIES = 2
    stub.on("POST", "/v1/payment_intents", reply("error_rate_limit", status=429))

    with pytest.raises(GatewayUnavailable, match="rate limit"):
        charge_card(get_gateway())

    assert len(stub.requests) == 1


def test_reused_idempotency_key_with_other_parameters_is_an_unknown_outcome(gateway, stub):
    stub.on("POST", "/v1/payment_intents", reply("error_idempotency_key_reused", status=400))

    with pytest.raises(GatewayTimeout):
        charge_card(gateway, amount=Decimal("120.00"))


def test_server_error_is_retried_with_the_same_idempotency_key(gateway, stub, settings):
    settings.STRIPE_MAX_NETWORK_RETRIES = 1
    stub.on("POST", "/v1/payment_intents", reply("error_api_500", status=500), reply("payment_intent_succeeded"))

    outcome = charge_card(get_gateway())

    assert outcome.status == "succeeded"
    first, retry = stub.requests
    assert first.headers["Idempotency-Key"] == retry.headers["Idempotency-Key"] == KEY
    assert first.form == retry.form


def test_server_errors_after_all_retries_are_an_unknown_outcome(gateway, stub, settings):
    settings.STRIPE_MAX_NETWORK_RETRIES = 1
    stub.on("POST", "/v1/payment_intents", reply("error_api_500", status=500), reply("error_api_500", status=500))

    with pytest.raises(GatewayTimeout):
        charge_card(get_gateway())

    assert [request.headers["Idempotency-Key"] for request in stub.requests] == [KEY, KEY]


def test_dropped_connection_is_retried_then_an_unknown_outcome(gateway, stub, settings):
    settings.STRIPE_MAX_NETWORK_RETRIES = 1
    stub.on("POST", "/v1/payment_intents", DROP, DROP)

    with pytest.raises(GatewayTimeout):
        charge_card(get_gateway())

    assert [request.headers["Idempotency-Key"] for request in stub.requests] == [KEY, KEY]


def test_no_answer_within_the_timeout_is_an_unknown_outcome(gateway, stub, settings):
    settings.STRIPE_TIMEOUT_SECONDS = 0.2
    held = threading.Event()
    stub.on("POST", "/v1/payment_intents", Reply(body={}, wait=held))

    try:
        with pytest.raises(GatewayTimeout):
            charge_card(get_gateway())
    finally:
        held.set()

    assert len(stub.requests) == 1


def test_amount_with_fractions_of_a_cent_is_refused_before_calling_stripe(gateway, stub):
    with pytest.raises(ValueError, match="two decimals"):
        charge_card(gateway, amount=Decimal("10.005"))

    assert stub.requests == []


# ---------------------------------------------------------------- reconciliation


def test_retrieve_by_gateway_ref(gateway, stub):
    stub.on("GET", "/v1/payment_intents/pi_3SZkC7Qx8mEoyl2Zb1Ds3Ch4", reply("payment_intent_failed_authentication"))

    outcome = gateway.retrieve_charge(gateway_ref="pi_3SZkC7Qx8mEoyl2Zb1Ds3Ch4", idempotency_key=KEY)

    assert outcome.status == "failed"
    assert outcome.failure_code == "authentication_failed"
    assert outcome.gateway_ref == "pi_3SZkC7Qx8mEoyl2Zb1Ds3Ch4"


def test_retrieve_after_a_timeout_finds_the_intent_by_idempotency_key(gateway, stub):
    stub.on("GET", "/v1/payment_intents/search", reply("payment_intent_search_result"))

    outcome = gateway.retrieve_charge(gateway_ref="", idempotency_key=KEY)

    assert outcome == ChargeOutcome(status="succeeded", gateway_ref="pi_3SZkB2Qx8mEoyl2Zb0Tk4Xq1")
    (request,) = stub.requests
    assert request.param("query") == f"metadata['konto_idempotency_key']:'{KEY}'"


def test_retrieve_reads_the_newest_intents_when_search_has_not_indexed_it_yet(gateway, stub):
    stub.on("GET", "/v1/payment_intents/search", reply("payment_intent_search_empty"))
    stub.on("GET", "/v1/payment_intents", reply("payment_intent_list_recent"))

    outcome = gateway.retrieve_charge(gateway_ref="", idempotency_key=KEY)

    assert outcome == ChargeOutcome(status="succeeded", gateway_ref="pi_3SZkB2Qx8mEoyl2Zb0Tk4Xq1")
    assert stub.requests[1].param("limit") == "100"


def test_retrieve_of_a_charge_stripe_never_saw_is_not_found(gateway, stub):
    stub.on("GET", "/v1/payment_intents/search", reply("payment_intent_search_empty"))
    stub.on("GET", "/v1/payment_intents", reply("payment_intent_list_unrelated"))

    outcome = gateway.retrieve_charge(gateway_ref="", idempotency_key=KEY)

    assert (outcome.status, outcome.failure_code, outcome.gateway_ref) == ("failed", "not_found", "")


def test_retrieve_of_an_unknown_intent_is_not_found(gateway, stub):
    path = "/v1/payment_intents/pi_3SZkZZQx8mEoyl2Zb9No0Ne0"
    stub.on("GET", path, reply("error_resource_missing_payment_intent", status=404))

    outcome = gateway.retrieve_charge(gateway_ref="pi_3SZkZZQx8mEoyl2Zb9No0Ne0", idempotency_key=KEY)

    assert (outcome.status, outcome.failure_code) == ("failed", "not_found")


def test_retrieve_without_an_answer_raises_timeout(gateway, stub):
    stub.on("GET", "/v1/payment_intents/pi_3SZkB2Qx8mEoyl2Zb0Tk4Xq1", DROP)

    with pytest.raises(GatewayTimeout):
        gateway.retrieve_charge(gateway_ref="pi_3SZkB2Qx8mEoyl2Zb0Tk4Xq1", idempotency_key=KEY)


# ---------------------------------------------------------------- refunds and detaching


def test_partial_refund_of_a_payment_intent(gateway, stub):
    stub.on("POST", "/v1/refunds", reply("refund_succeeded"))

    outcome = gateway.refund(
        gateway_ref="pi_3SZkB2Qx8mEoyl2Zb0Tk4Xq1", amount=Decimal("40.00"), currency="EUR", idempotency_key="ref_7h2k"
    )

    assert outcome == RefundOutcome(status="succeeded", gateway_ref="re_3SZkB2Qx8mEoyl2Zb0Rf1Nd5")
    (request,) = stub.requests
    assert request.headers["Idempotency-Key"] == "ref_7h2k"
    assert request.param("payment_intent") == "pi_3SZkB2Qx8mEoyl2Zb0Tk4Xq1"
    assert request.param("amount") == "4000"


def test_sepa_refund_is_pending(gateway, stub):
    stub.on("POST", "/v1/refunds", reply("refund_pending_sepa"))

    outcome = gateway.refund(
        gateway_ref="pi_3SZkD1Qx8mEoyl2Zb2Se5Pa6", amount=Decimal("59.50"), currency="EUR", idempotency_key="ref_1a2b"
    )

    assert outcome == RefundOutcome(status="pending", gateway_ref="re_3SZkD1Qx8mEoyl2Zb2Rf8Se9")


def test_refund_stripe_refuses_fails_with_its_message(gateway, stub):
    stub.on("POST", "/v1/refunds", reply("error_charge_already_refunded", status=400))

    outcome = gateway.refund(
        gateway_ref="pi_3SZkB2Qx8mEoyl2Zb0Tk4Xq1", amount=Decimal("119.00"), currency="EUR", idempotency_key="ref_9z"
    )

    assert outcome == RefundOutcome(
        status="failed", failure_message="Charge ch_3SZkB2Qx8mEoyl2Zb0Mq7Lp3 has already been refunded."
    )


def test_detach_posts_with_an_idempotency_key(gateway, stub):
    stub.on("POST", f"/v1/payment_methods/{CARD}/detach", reply("payment_method_detached"))

    gateway.detach(method_ref=CARD)

    (request,) = stub.requests
    assert request.headers["Idempotency-Key"] == f"konto-detach-{CARD}"


def test_detach_of_a_method_already_detached_is_fine(gateway, stub):
    stub.on("POST", f"/v1/payment_methods/{CARD}/detach", reply("error_payment_method_not_attached", status=400))

    gateway.detach(method_ref=CARD)

    assert len(stub.requests) == 1


def test_detach_without_an_answer_raises_timeout(gateway, stub):
    stub.on("POST", f"/v1/payment_methods/{CARD}/detach", reply("error_api_500", status=500))

    with pytest.raises(GatewayTimeout):
        gateway.detach(method_ref=CARD)


# ---------------------------------------------------------------- mapping helpers


@pytest.mark.parametrize(
    ("code", "decline_code", "expected"),
    [
        ("card_declined", "generic_decline", "card_declined"),
        ("card_declined", "insufficient_funds", "insufficient_funds"),
        ("card_declined", None, "card_declined"),
        ("expired_card", None, "expired_card"),
        ("processing_error", None, "processing_error"),
        ("payment_intent_authentication_failure", None, "authentication_failed"),
        ("authentication_required", "authentication_required", "authentication_required"),
        (None, None, "card_declined"),
    ],
)
def test_failure_codes(code, decline_code, expected):
    assert failure_code(code, decline_code) == expected


def test_minor_units():
    assert to_minor_units(Decimal("907.40")) == 90740
    assert to_minor_units(Decimal("0.01")) == 1
