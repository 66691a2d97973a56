"""The sandbox gateway through Konto's gateway interface: every test card's outcome, idempotency, refunds, removal."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.apps import apps
from django.db import connection, models
from django.utils import translation

from konto.payments.gateways import get_gateway
from konto.payments.gateways.base import (
    CardDetails,
    ChargeOutcome,
    GatewayTimeout,
    GatewayUnavailable,
    RefundOutcome,
    SetupOutcome,
)
from konto.payments.gateways.sandbox import TEST_CARDS, SandboxGateway
from konto.sandbox.models import SandboxCard, SandboxCharge, SandboxRefund, SandboxSetup
from konto.sandbox.tests.helpers import ORG_REF, RETURN_URL, add_card, path_of

pytestmark = pytest.mark.django_db

VISA = "4242424242424242"
MASTERCARD = "5555555555554444"
CHALLENGE = "4000002500003155"
DECLINED = "4000000000000002"
INSUFFICIENT_FUNDS = "4000000000009995"
EXPIRED = "4000000000000069"
PROCESSING_ERROR = "4000000000000119"
TIMEOUT = "4000000000003220"
PAY_RETURN_URL = "http://testserver/account/payments/pay_0k3x9q2m7v4b8n1c/confirm/"


@pytest.fixture(autouse=True)
def _today() -> Any:
    with time_machine.travel(datetime(2026, 11, 27, 9, 0, tzinfo=UTC), tick=True):
        yield


@pytest.fixture
def gateway() -> SandboxGateway:
    chosen = get_gateway()
    assert isinstance(chosen, SandboxGateway)
    return chosen


def token_of(client: Any, number: str) -> str:
    _start, outcome = add_card(client, number)
    assert outcome.status == "succeeded"
    return outcome.method_ref


def charge(
    gateway: SandboxGateway, method_ref: str, key: str = "pay_0k3x9q2m7v4b8n1c", **overrides: Any
) -> ChargeOutcome:
    arguments: dict[str, Any] = {
        "method_ref": method_ref,
        "customer_ref": "",
        "amount": Decimal("119.00"),
        "currency": "EUR",
        "idempotency_key": key,
        "description": "Konto RE-2026-000042",
        "on_session": False,
        "return_url": "",
    }
    arguments.update(overrides)
    return gateway.charge(**arguments)


# ---------------------------------------------------------------- the test card list


def test_test_cards_list_every_documented_number_with_outcome_and_brand():
    numbers = [number for number, _outcome, _brand in TEST_CARDS]
    assert numbers == [
        "4242 4242 4242 4242",
        "5555 5555 5555 4444",
        "4000 0025 0000 3155",
        "4000 0000 0000 0002",
        "4000 0000 0000 9995",
        "4000 0000 0000 0069",
        "4000 0000 0000 0119",
        "4000 0000 0000 3220",
    ]
    assert TEST_CARDS[1][2] == "mastercard"
    with translation.override("en"):  # the label is translated when shown
        assert str(TEST_CARDS[3][1]) == "Payment is declined"


def test_default_gateway_is_the_sandbox(settings):
    settings.KONTO_PAYMENT_GATEWAY = "sandbox"

    assert get_gateway().name == "sandbox"
    assert get_gateway("sandbox").supports_sepa_debit is False


# ---------------------------------------------------------------- card setup


def test_card_setup_keeps_token_brand_last4_and_expiry(client, gateway):
    start, outcome = add_card(client, VISA)

    card = SandboxCard.objects.get()
    assert outcome == SetupOutcome(
        status="succeeded",
        method_ref=card.token,
        customer_ref=card.customer_ref,
        card=CardDetails(brand="visa", last4="4242", exp_month=12, exp_year=2030),
        org_ref=ORG_REF,
    )
    assert card.token.startswith("pm_sb_")
    assert start.setup_ref.startswith("seti_sb_")
    assert start.redirect_url == f"http://testserver/sandbox-gateway/setup/{start.setup_ref}/"


def test_mastercard_setup(client, gateway):
    _start, outcome = add_card(client, MASTERCARD)

    assert outcome.card == CardDetails(brand="mastercard", last4="4444", exp_month=12, exp_year=2030)


def test_second_card_of_an_org_keeps_its_customer(client, gateway):
    _start, first = add_card(client, VISA)
    _start, second = add_card(client, MASTERCARD, customer_ref=first.customer_ref)

    assert first.customer_ref.startswith("cus_sb_")
    assert second.customer_ref == first.customer_ref
    assert second.method_ref != first.method_ref


def test_challenge_card_setup_waits_for_3ds(client, gateway):
    start = gateway.begin_card_setup(org_ref=ORG_REF, customer_ref="", return_url=RETURN_URL)
    response = client.post(
        path_of(start.redirect_url), {"number": CHALLENGE, "expiry": "12/30", "cvc": "123", "holder": "Bea"}
    )

    outcome = gateway.finish_card_setup(setup_ref=start.setup_ref)

    challenge_url = f"http://testserver/sandbox-gateway/setup/{start.setup_ref}/challenge/"
    assert response["Location"] == challenge_url
    assert outcome.status == "requires_action"
    assert outcome.action_url == challenge_url
    assert outcome.method_ref == ""


def test_challenge_card_setup_confirmed(client, gateway):
    _start, outcome = add_card(client, CHALLENGE, decision="confirm")

    assert outcome.status == "succeeded"
    assert outcome.card == CardDetails(brand="visa", last4="3155", exp_month=12, exp_year=2030)


def test_challenge_card_setup_failed_authentication(client, gateway):
    _start, outcome = add_card(client, CHALLENGE, decision="fail")

    assert (outcome.status, outcome.failure_code, outcome.method_ref, outcome.card) == (
        "failed",
        "authentication_failed",
        "",
        None,
    )
    assert SandboxCard.objects.get().is_active is False


def test_setup_without_a_card_entered_fails_as_incomplete(gateway):
    start = gateway.begin_card_setup(org_ref=ORG_REF, customer_ref="", return_url=RETURN_URL)

    outcome = gateway.finish_card_setup(setup_ref=start.setup_ref)

    assert (outcome.status, outcome.failure_code, outcome.org_ref) == ("failed", "setup_incomplete", ORG_REF)


def test_unknown_setup_ref_fails_as_not_found(gateway):
    outcome = gateway.finish_card_setup(setup_ref="seti_sb_doesnotexist")

    assert (outcome.status, outcome.failure_code) == ("failed", "setup_not_found")


def test_setup_with_a_relative_return_url_is_refused(gateway):
    with pytest.raises(GatewayUnavailable, match="absolute"):
        gateway.begin_card_setup(org_ref=ORG_REF, customer_ref="", return_url="/account/payment/")

    assert SandboxSetup.objects.count() == 0


def test_sandbox_does_not_do_sepa(gateway):
    with pytest.raises(GatewayUnavailable, match=r"pain\.008"):
        gateway.setup_sepa_debit(
            org_ref=ORG_REF,
            customer_ref="",
            account_holder="Bäckerei Test GmbH",
            email="billing@test.example",
            iban="DE89370400440532013000",
            ip="203.0.113.7",
            user_agent="Mozilla/5.0",
            idempotency_key="sepa-1",
        )


# ---------------------------------------------------------------- charges: one outcome per test card


def test_visa_charge_succeeds(client, gateway):
    token = token_of(client, VISA)

    outcome = charge(gateway, token)

    stored = SandboxCharge.objects.get()
    assert outcome == ChargeOutcome(status="succeeded", gateway_ref=stored.ref)
    assert (stored.amount, stored.currency, stored.idempotency_key) == (
        Decimal("119.00"),
        "EUR",
        "pay_0k3x9q2m7v4b8n1c",
    )


def test_mastercard_charge_in_chf_succeeds(client, gateway):
    token = token_of(client, MASTERCARD)

    outcome = charge(gateway, token, currency="CHF", amount=Decimal("907.40"))

    assert outcome.status == "succeeded"
    assert SandboxCharge.objects.get().currency == "CHF"


@pytest.mark.parametrize(
    ("number", "code", "message"),
    [
        (DECLINED, "card_declined", "Your card was declined."),
        (INSUFFICIENT_FUNDS, "insufficient_funds", "Your card has insufficient funds."),
        (EXPIRED, "expired_card", "Your card has expired."),
        (
            PROCESSING_ERROR,
            "processing_error",
            "An error occurred while processing your card. Try again in a little bit.",
        ),
    ],
)
def test_failing_cards_fail_with_their_code(client, gateway, number, code, message):
    token = token_of(client, number)

    outcome = charge(gateway, token)

    stored = SandboxCharge.objects.get()
    assert outcome == ChargeOutcome(status="failed", gateway_ref=stored.ref, failure_code=code, failure_message=message)
    assert stored.status == "failed"


def test_challenge_card_off_session_charge_succeeds(client, gateway):
    token = add_card(client, CHALLENGE, decision="confirm")[1].method_ref

    outcome = charge(gateway, token, on_session=False)

    assert outcome.status == "succeeded"


def test_challenge_card_on_session_charge_asks_then_succeeds_when_confirmed(client, gateway):
    token = add_card(client, CHALLENGE, decision="confirm")[1].method_ref

    outcome = charge(gateway, token, on_session=True, return_url=PAY_RETURN_URL)

    stored = SandboxCharge.objects.get()
    challenge_url = f"http://testserver/sandbox-gateway/charges/{stored.ref}/challenge/"
    assert outcome == ChargeOutcome(status="requires_action", gateway_ref=stored.ref, action_url=challenge_url)
    page = client.get(path_of(challenge_url))
    assert page.status_code == 200
    response = client.post(path_of(challenge_url), {"decision": "confirm"})
    assert response.status_code == 302
    assert response["Location"] == PAY_RETURN_URL
    assert gateway.retrieve_charge(gateway_ref=stored.ref, idempotency_key="") == ChargeOutcome(
        status="succeeded", gateway_ref=stored.ref
    )


def test_challenge_card_on_session_charge_fails_when_authentication_fails(client, gateway):
    token = add_card(client, CHALLENGE, decision="confirm")[1].method_ref
    outcome = charge(gateway, token, on_session=True, return_url=PAY_RETURN_URL)

    client.post(path_of(outcome.action_url), {"decision": "fail"})

    after = gateway.retrieve_charge(gateway_ref=outcome.gateway_ref, idempotency_key="")
    assert (after.status, after.failure_code) == ("failed", "authentication_failed")


def test_timeout_card_charges_but_the_answer_never_arrives(client, gateway):
    token = token_of(client, TIMEOUT)

    with pytest.raises(GatewayTimeout):
        charge(gateway, token)

    stored = SandboxCharge.objects.get()
    assert stored.status == "succeeded"
    assert gateway.retrieve_charge(gateway_ref="", idempotency_key="pay_0k3x9q2m7v4b8n1c") == ChargeOutcome(
        status="succeeded", gateway_ref=stored.ref
    )


def test_timeout_card_asked_again_with_the_same_key_charges_nothing_more(client, gateway):
    token = token_of(client, TIMEOUT)
    with pytest.raises(GatewayTimeout):
        charge(gateway, token)

    with pytest.raises(GatewayTimeout):
        charge(gateway, token)

    assert SandboxCharge.objects.count() == 1


def test_retrieve_of_a_charge_the_sandbox_never_saw_is_not_found(gateway):
    outcome = gateway.retrieve_charge(gateway_ref="", idempotency_key="pay_neverseen00000")

    assert outcome == ChargeOutcome(
        status="failed", failure_code="not_found", failure_message="The sandbox has no such charge."
    )


# ---------------------------------------------------------------- idempotency


def test_same_idempotency_key_returns_the_same_charge(client, gateway):
    token = token_of(client, VISA)

    first = charge(gateway, token)
    second = charge(gateway, token)

    assert second == first
    assert SandboxCharge.objects.count() == 1


def test_same_key_for_a_declined_card_returns_the_same_decline(client, gateway):
    token = token_of(client, DECLINED)

    first = charge(gateway, token)
    second = charge(gateway, token)

    assert second == first
    assert SandboxCharge.objects.count() == 1


def test_same_key_with_another_amount_is_an_unknown_outcome_and_charges_nothing(client, gateway):
    token = token_of(client, VISA)
    charge(gateway, token)

    with pytest.raises(GatewayTimeout, match="idempotency key"):
        charge(gateway, token, amount=Decimal("120.00"))

    assert list(SandboxCharge.objects.values_list("amount", flat=True)) == [Decimal("119.00")]


def test_different_keys_are_different_charges(client, gateway):
    token = token_of(client, VISA)

    first = charge(gateway, token, key="pay_first000000000")
    second = charge(gateway, token, key="pay_second00000000")

    assert first.gateway_ref != second.gateway_ref
    assert SandboxCharge.objects.count() == 2


def test_charge_without_an_idempotency_key_is_refused(client, gateway):
    token = token_of(client, VISA)

    with pytest.raises(GatewayUnavailable):
        charge(gateway, token, key="")

    assert SandboxCharge.objects.count() == 0


def test_invalid_amount_fails_and_charges_nothing(client, gateway):
    token = token_of(client, VISA)

    outcome = charge(gateway, token, amount=Decimal("10.005"))

    assert (outcome.status, outcome.failure_code) == ("failed", "invalid_amount")
    assert SandboxCharge.objects.count() == 0


# ---------------------------------------------------------------- refunds


def test_partial_then_full_refund(client, gateway):
    ref = charge(gateway, token_of(client, VISA)).gateway_ref

    first = gateway.refund(gateway_ref=ref, amount=Decimal("19.00"), currency="EUR", idempotency_key="ref_1")
    rest = gateway.refund(gateway_ref=ref, amount=Decimal("100.00"), currency="EUR", idempotency_key="ref_2")

    refunds = list(SandboxRefund.objects.order_by("id"))
    assert first == RefundOutcome(status="succeeded", gateway_ref=refunds[0].ref)
    assert rest == RefundOutcome(status="succeeded", gateway_ref=refunds[1].ref)
    assert SandboxCharge.objects.get().amount_refunded == Decimal("119.00")


def test_refund_is_idempotent(client, gateway):
    ref = charge(gateway, token_of(client, VISA)).gateway_ref

    first = gateway.refund(gateway_ref=ref, amount=Decimal("19.00"), currency="EUR", idempotency_key="ref_1")
    again = gateway.refund(gateway_ref=ref, amount=Decimal("19.00"), currency="EUR", idempotency_key="ref_1")

    assert again == first
    assert SandboxRefund.objects.count() == 1
    assert SandboxCharge.objects.get().amount_refunded == Decimal("19.00")


def test_refund_above_what_is_left_fails_and_changes_nothing(client, gateway):
    ref = charge(gateway, token_of(client, VISA)).gateway_ref
    gateway.refund(gateway_ref=ref, amount=Decimal("100.00"), currency="EUR", idempotency_key="ref_1")

    outcome = gateway.refund(gateway_ref=ref, amount=Decimal("19.01"), currency="EUR", idempotency_key="ref_2")

    assert outcome == RefundOutcome(
        status="failed", failure_message="The refund is larger than what is left of the charge."
    )
    assert SandboxRefund.objects.count() == 1
    assert SandboxCharge.objects.get().amount_refunded == Decimal("100.00")


def test_refund_of_a_failed_charge_fails(client, gateway):
    ref = charge(gateway, token_of(client, DECLINED)).gateway_ref

    outcome = gateway.refund(gateway_ref=ref, amount=Decimal("1.00"), currency="EUR", idempotency_key="ref_1")

    assert outcome.status == "failed"
    assert SandboxRefund.objects.count() == 0


def test_refund_in_another_currency_fails(client, gateway):
    ref = charge(gateway, token_of(client, VISA)).gateway_ref

    outcome = gateway.refund(gateway_ref=ref, amount=Decimal("1.00"), currency="CHF", idempotency_key="ref_1")

    assert outcome == RefundOutcome(status="failed", failure_message="A refund is made in the charge's currency.")
    assert SandboxRefund.objects.count() == 0


# ---------------------------------------------------------------- detaching


def test_detached_card_cannot_be_charged(client, gateway):
    token = token_of(client, VISA)

    gateway.detach(method_ref=token)

    outcome = charge(gateway, token)
    assert (outcome.status, outcome.failure_code) == ("failed", "method_unusable")
    assert SandboxCharge.objects.count() == 0
    assert SandboxCard.objects.get().detached_at is not None


def test_detach_twice_or_unknown_is_fine(client, gateway):
    token = token_of(client, VISA)
    gateway.detach(method_ref=token)

    gateway.detach(method_ref=token)
    gateway.detach(method_ref="pm_sb_unknown")

    assert SandboxCard.objects.filter(is_active=False).count() == 1


def test_replay_after_detaching_still_answers_with_the_first_charge(client, gateway):
    token = token_of(client, VISA)
    first = charge(gateway, token)
    gateway.detach(method_ref=token)

    assert charge(gateway, token) == first


# ---------------------------------------------------------------- a disabled sandbox


def test_disabled_sandbox_refuses_everything(client, gateway, settings):
    token = token_of(client, VISA)
    settings.KONTO_SANDBOX_ENABLED = False

    with pytest.raises(GatewayUnavailable, match="disabled"):
        charge(gateway, token)
    with pytest.raises(GatewayUnavailable):
        gateway.begin_card_setup(org_ref=ORG_REF, customer_ref="", return_url=RETURN_URL)

    assert SandboxCharge.objects.count() == 0


# ---------------------------------------------------------------- the card number stays out


def _text_columns() -> list[tuple[str, str]]:
    columns = []
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, models.CharField | models.TextField | models.JSONField):
                columns.append((model._meta.db_table, field.column))
    return columns


def test_card_number_never_reaches_logs_or_the_database(client, gateway, caplog):
    caplog.set_level(logging.DEBUG)
    spaced = "4000 0025 0000 3155"

    start = gateway.begin_card_setup(org_ref=ORG_REF, customer_ref="", return_url=RETURN_URL)
    # A wrong CVC first (the form comes back), then the right one, then 3-D Secure and a charge.
    refused = client.post(
        path_of(start.redirect_url), {"number": spaced, "expiry": "12/30", "cvc": "1", "holder": "Bea"}
    )
    response = client.post(
        path_of(start.redirect_url), {"number": spaced, "expiry": "12/30", "cvc": "123", "holder": "Bea"}
    )
    client.post(path_of(response["Location"]), {"decision": "confirm"})
    outcome = gateway.finish_card_setup(setup_ref=start.setup_ref)
    charge(gateway, outcome.method_ref, on_session=True, return_url=PAY_RETURN_URL)

    assert refused.status_code == 422
    assert outcome.status == "succeeded"
    assert caplog.records  # the requests were logged at all (so the check below looks at something)
    for form in (CHALLENGE, spaced, "0025 0000"):
        assert form not in caplog.text
    tables = {table for table, _column in _text_columns()}
    assert {"sandbox_sandboxcard", "sandbox_sandboxsetup", "sandbox_sandboxcharge", "payments_payment"} <= tables
    with connection.cursor() as cursor:
        for table, column in _text_columns():
            for form in (CHALLENGE, spaced):
                quoted_table = connection.ops.quote_name(table)
                quoted_column = connection.ops.quote_name(column)
                cursor.execute(
                    f"SELECT COUNT(*) FROM {quoted_table} WHERE CAST({quoted_column} AS TEXT) LIKE %s",  # noqa: S608 - names from the model registry
                    [f"%{form}%"],
                )
                assert cursor.fetchone()[0] == 0, f"{table}.{column} holds the card number"
