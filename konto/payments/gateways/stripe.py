"""The Stripe adapter: cards through Stripe Checkout (setup mode), PaymentIntents, SEPA Direct Debit, refunds.

Every POST carries an idempotency key, so the library's own network retries
(STRIPE_MAX_NETWORK_RETRIES) and Konto's retries can never charge twice.
Errors are mapped onto the gateway contract: a decline is a failed outcome;
no answer (connection lost, time-out, Stripe 5xx after the retries) is
`GatewayTimeout`; a refusal before anything happened (rate limit, bad API
key) is `GatewayUnavailable`.

Card setup uses a Checkout Session in setup mode: Stripe hosts the card page
(3-D Secure included) and sends the browser back to
`return_url?setup=<session id>`; `finish_card_setup` reads the session and
its SetupIntent's payment method. SEPA Direct Debit at Stripe is a
SetupIntent confirmed with the mandate acceptance (`setup_sepa_debit`), then
off-session PaymentIntents that stay "processing" (pending) until a webhook
says succeeded or failed.

This Stripe API version (the library's, 2026-10-28.endive) no longer accepts
`payment_method_types` on PaymentIntents, SetupIntents and Checkout
Sessions; `allowed_payment_method_types` takes its place.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import stripe
from stripe.params import PaymentIntentCreateParams, SetupIntentCreateParams
from stripe.params.checkout import SessionCreateParams

from konto.payments.gateways.base import (
    CardDetails,
    ChargeOutcome,
    GatewayTimeout,
    GatewayUnavailable,
    RefundOutcome,
    SetupOutcome,
    SetupStart,
)

ORG_METADATA_KEY = "konto_org"
IDEMPOTENCY_METADATA_KEY = "konto_idempotency_key"
RECENT_INTENTS_SCANNED = 100  # how many newest PaymentIntents reconciliation reads when search has not indexed one

# Stripe's error codes → Konto's stable failure codes (anything else keeps Stripe's code).
_FAILURE_CODES = {
    "payment_intent_authentication_failure": "authentication_failed",
    "setup_intent_authentication_failure": "authentication_failed",
    "resource_missing": "method_unusable",
}
# Issuer decline reasons that Konto names itself; other declines are "card_declined".
_DECLINE_CODES = frozenset({"insufficient_funds", "expired_card", "processing_error", "incorrect_cvc", "lost_card"})


def to_minor_units(amount: Decimal) -> int:
    """EUR and CHF amounts in cents, as Stripe wants them; refuses fractions of a cent."""
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"{amount} has more than two decimals")
    return int(cents)


def _data(obj: Any) -> dict[str, Any]:
    """A Stripe object (or a part of one) as a plain dict; the library's objects are no dicts since v15."""
    if isinstance(obj, stripe.StripeObject):
        return obj.to_dict()
    return obj if isinstance(obj, dict) else {}


def failure_code(code: str | None, decline_code: str | None) -> str:
    """Konto's stable failure code for a Stripe error or last_payment_error."""
    if decline_code in _DECLINE_CODES:
        return str(decline_code)
    if code in _DECLINE_CODES or code == "authentication_required":
        return str(code)
    if code in _FAILURE_CODES:
        return _FAILURE_CODES[str(code)]
    return code or "card_declined"


def charge_outcome(intent: dict[str, Any]) -> ChargeOutcome:
    """A PaymentIntent (as a dict: from an answer, an error or a webhook) as a charge outcome."""
    status = intent.get("status")
    ref = str(intent.get("id") or "")
    if status == "succeeded":
        return ChargeOutcome(status="succeeded", gateway_ref=ref)
    if status in {"processing", "requires_capture", "requires_confirmation"}:
        return ChargeOutcome(status="pending", gateway_ref=ref)
    if status == "requires_action":
        next_action = intent.get("next_action") or {}
        redirect = next_action.get("redirect_to_url") or {}
        return ChargeOutcome(status="requires_action", gateway_ref=ref, action_url=str(redirect.get("url") or ""))
    if status == "canceled":
        reason = intent.get("cancellation_reason") or "canceled"
        return ChargeOutcome(
            status="failed", gateway_ref=ref, failure_code="canceled", failure_message=f"Canceled ({reason})."
        )
    error = intent.get("last_payment_error") or {}
    if not error:  # requires_payment_method without an attempt: nothing was charged
        return ChargeOutcome(
            status="failed", gateway_ref=ref, failure_code="payment_failed", failure_message="The payment failed."
        )
    return ChargeOutcome(
        status="failed",
        gateway_ref=ref,
        failure_code=failure_code(error.get("code"), error.get("decline_code")),
        failure_message=str(error.get("message") or "The payment failed."),
    )


def _error_fields(error: stripe.StripeError) -> tuple[str | None, str | None, str]:
    body = _data(error.error)
    if not body:
        return error.code, None, error.user_message or ""
    return body.get("code"), body.get("decline_code"), str(body.get("message") or error.user_message or "")


def _unanswered(error: stripe.StripeError) -> Exception:
    """The exception a call raises for an error that is not an answer about the payment itself."""
    if isinstance(error, stripe.RateLimitError | stripe.AuthenticationError | stripe.PermissionError):
        return GatewayUnavailable(f"Stripe refused the request: {error.user_message}")
    # APIConnectionError (no answer), APIError (5xx after the retries), IdempotencyError (another request with
    # this key exists or is running) and anything unexpected: the outcome is unknown; ask retrieve_charge later.
    return GatewayTimeout(f"Stripe did not answer: {type(error).__name__}")


@dataclass(frozen=True)
class WebhookEvent:
    """A verified Stripe event, reduced to what Konto acts on."""

    event_id: str
    event_type: str
    gateway_ref: str  # the PaymentIntent id
    outcome: ChargeOutcome | None  # payment_intent.* events
    details: dict[str, str] = field(default_factory=dict)  # charge.refunded / charge.dispute.*: amounts, reason


class InvalidWebhook(Exception):
    """The request is not a genuine, fresh Stripe event (bad or missing signature, old timestamp, not JSON)."""


def parse_webhook(*, payload: bytes, signature_header: str, secret: str) -> WebhookEvent:
    """Verify the Stripe-Signature header (HMAC-SHA256 with the endpoint secret, 5 minutes tolerance) and read it."""
    try:
        event = _data(stripe.Webhook.construct_event(payload, signature_header, secret))
    except (stripe.SignatureVerificationError, ValueError) as error:
        raise InvalidWebhook(str(error)) from error
    event_type = str(event.get("type") or "")
    data = event.get("data") or {}
    obj = data.get("object") or {}
    if event_type.startswith("payment_intent."):
        return WebhookEvent(
            event_id=str(event.get("id") or ""),
            event_type=event_type,
            gateway_ref=str(obj.get("id") or ""),
            outcome=charge_outcome(obj),
        )
    details: dict[str, str] = {}
    for key in ("amount", "amount_refunded", "currency", "reason", "status"):
        if obj.get(key) is not None:
            details[key] = str(obj.get(key))
    return WebhookEvent(
        event_id=str(event.get("id") or ""),
        event_type=event_type,
        gateway_ref=str(obj.get("payment_intent") or ""),
        outcome=None,
        details=details,
    )


class StripeGateway:
    """Stripe through the official library's StripeClient."""

    name = "stripe"
    supports_sepa_debit = True

    def __init__(
        self, *, secret_key: str, api_base: str = "", max_network_retries: int = 2, timeout_seconds: float = 30.0
    ) -> None:
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base or stripe.DEFAULT_API_BASE},
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=timeout_seconds),
        )

    # ------------------------------------------------------------ customers and setup

    def _customer(self, *, org_ref: str, customer_ref: str) -> str:
        if customer_ref:
            return customer_ref
        try:
            customer = self._client.v1.customers.create(
                {"description": f"Konto org {org_ref}", "metadata": {ORG_METADATA_KEY: org_ref}},
                {"idempotency_key": f"konto-customer-{org_ref}"},
            )
        except stripe.StripeError as error:
            raise _unanswered(error) from error
        return customer.id

    def begin_card_setup(self, *, org_ref: str, customer_ref: str, return_url: str) -> SetupStart:
        customer = self._customer(org_ref=org_ref, customer_ref=customer_ref)
        separator = "&" if "?" in return_url else "?"
        params: SessionCreateParams = {
            "mode": "setup",
            "customer": customer,
            "allowed_payment_method_types": ["card"],
            # Stripe fills in {CHECKOUT_SESSION_ID}; it must reach Stripe unencoded.
            "success_url": f"{return_url}{separator}setup={{CHECKOUT_SESSION_ID}}",
            "cancel_url": return_url,
            "metadata": {ORG_METADATA_KEY: org_ref},
            "setup_intent_data": {"metadata": {ORG_METADATA_KEY: org_ref}},
        }
        try:
            session = self._client.v1.checkout.sessions.create(
                params, {"idempotency_key": f"konto-setup-{uuid.uuid4().hex}"}
            )
        except stripe.StripeError as error:
            raise _unanswered(error) from error
        return SetupStart(setup_ref=session.id, redirect_url=str(session.url or ""))

    def finish_card_setup(self, *, setup_ref: str) -> SetupOutcome:
        try:
            session = _data(
                self._client.v1.checkout.sessions.retrieve(
                    setup_ref, {"expand": ["setup_intent", "setup_intent.payment_method"]}
                )
            )
        except stripe.InvalidRequestError as error:
            return SetupOutcome(
                status="failed", failure_code="setup_not_found", failure_message=_error_fields(error)[2]
            )
        except stripe.StripeError as error:
            raise _unanswered(error) from error
        org_ref = str((session.get("metadata") or {}).get(ORG_METADATA_KEY) or "")
        customer = session.get("customer")
        customer_ref = str(customer if isinstance(customer, str) else (customer or {}).get("id") or "")
        common: dict[str, Any] = {"customer_ref": customer_ref, "org_ref": org_ref}
        intent = session.get("setup_intent") or {}  # expanded objects, not ids
        method = intent.get("payment_method") or {}
        if session.get("status") == "complete" and intent.get("status") == "succeeded" and method.get("card"):
            card = method["card"]
            details = CardDetails(
                brand=str(card.get("brand")),
                last4=str(card.get("last4")),
                exp_month=int(card.get("exp_month")),
                exp_year=int(card.get("exp_year")),
            )
            return SetupOutcome(status="succeeded", method_ref=str(method.get("id")), card=details, **common)
        if session.get("status") == "expired":
            return SetupOutcome(
                status="failed", failure_code="setup_expired", failure_message="The card page expired.", **common
            )
        setup_error = intent.get("last_setup_error") or {}
        return SetupOutcome(
            status="failed",
            failure_code=(
                failure_code(setup_error.get("code"), setup_error.get("decline_code"))
                if setup_error
                else "setup_incomplete"
            ),
            failure_message=str(setup_error.get("message") or "No card was saved on the Stripe page."),
            **common,
        )

    def setup_sepa_debit(
        self,
        *,
        org_ref: str,
        customer_ref: str,
        account_holder: str,
        email: str,
        iban: str,
        ip: str,
        user_agent: str,
        idempotency_key: str,
    ) -> SetupOutcome:
        """Create a SEPA Direct Debit payment method with its mandate at Stripe (the customer accepted it online)."""
        customer = self._customer(org_ref=org_ref, customer_ref=customer_ref)
        params: SetupIntentCreateParams = {
            "customer": customer,
            "allowed_payment_method_types": ["sepa_debit"],
            "payment_method_data": {
                "type": "sepa_debit",
                "sepa_debit": {"iban": iban},
                "billing_details": {"name": account_holder, "email": email},
            },
            "mandate_data": {
                "customer_acceptance": {"type": "online", "online": {"ip_address": ip, "user_agent": user_agent}}
            },
            "confirm": True,
            "usage": "off_session",
            "metadata": {ORG_METADATA_KEY: org_ref},
        }
        try:
            intent = _data(self._client.v1.setup_intents.create(params, {"idempotency_key": idempotency_key}))
        except stripe.InvalidRequestError as error:
            code, _decline, message = _error_fields(error)
            return SetupOutcome(
                status="failed",
                customer_ref=customer,
                org_ref=org_ref,
                failure_code=code or "invalid_request",
                failure_message=message,
            )
        except stripe.StripeError as error:
            raise _unanswered(error) from error
        common: dict[str, Any] = {"customer_ref": customer, "org_ref": org_ref}
        if intent.get("status") in {"succeeded", "processing"}:
            return SetupOutcome(
                status="succeeded",
                method_ref=str(intent.get("payment_method") or ""),
                mandate_ref=str(intent.get("mandate") or ""),
                **common,
            )
        setup_error = intent.get("last_setup_error") or {}
        return SetupOutcome(
            status="failed",
            failure_code=str(setup_error.get("code") or intent.get("status")),
            failure_message=str(setup_error.get("message") or "The SEPA Direct Debit mandate was not accepted."),
            **common,
        )

    # ------------------------------------------------------------ charges

    def _method_kind(self, method_ref: str) -> str:
        try:
            method = self._client.v1.payment_methods.retrieve(method_ref)
        except stripe.InvalidRequestError:
            return "card"  # the charge itself then fails with "method_unusable"
        except stripe.StripeError as error:
            raise _unanswered(error) from error
        return str(method.type)

    def charge(
        self,
        *,
        method_ref: str,
        customer_ref: str,
        amount: Decimal,
        currency: str,
        idempotency_key: str,
        description: str,
        on_session: bool,
        return_url: str,
        method_kind: str | None = None,
    ) -> ChargeOutcome:
        kind = method_kind or self._method_kind(method_ref)
        params: PaymentIntentCreateParams = {
            "amount": to_minor_units(amount),
            "currency": currency.lower(),
            "payment_method": method_ref,
            "allowed_payment_method_types": [kind],
            "confirm": True,
            "description": description,
            "metadata": {IDEMPOTENCY_METADATA_KEY: idempotency_key},
        }
        if customer_ref:
            params["customer"] = customer_ref
        if not (on_session and kind == "card"):
            params["off_session"] = True
        elif return_url:
            # 3-D Secure comes back as next_action.redirect_to_url; Stripe then sends the browser to return_url.
            params["return_url"] = return_url
        try:
            intent = self._client.v1.payment_intents.create(params, {"idempotency_key": idempotency_key})
        except (stripe.CardError, stripe.InvalidRequestError) as error:
            failed_intent = _data(error.error).get("payment_intent")
            if failed_intent:
                outcome = charge_outcome(failed_intent)
                if outcome.status != "failed":
                    return outcome
            code, decline_code, message = _error_fields(error)
            return ChargeOutcome(
                status="failed",
                gateway_ref=str((failed_intent or {}).get("id") or ""),
                failure_code=failure_code(code, decline_code),
                failure_message=message,
            )
        except stripe.StripeError as error:
            raise _unanswered(error) from error
        return charge_outcome(_data(intent))

    def retrieve_charge(self, *, gateway_ref: str, idempotency_key: str) -> ChargeOutcome:
        """The PaymentIntent by id, or by the idempotency key in its metadata when the first call got no answer.

        Search (eventually consistent) is asked first, then the newest
        PaymentIntents are read, so a charge made a moment ago is found too.
        """
        try:
            if gateway_ref:
                return charge_outcome(_data(self._client.v1.payment_intents.retrieve(gateway_ref)))
            quoted = idempotency_key.replace("\\", "\\\\").replace("'", "\\'")
            found = self._client.v1.payment_intents.search(
                {"query": f"metadata['{IDEMPOTENCY_METADATA_KEY}']:'{quoted}'", "limit": 1}
            )
            for intent in found.data:
                return charge_outcome(_data(intent))
            recent = self._client.v1.payment_intents.list({"limit": RECENT_INTENTS_SCANNED})
            for listed in map(_data, recent.data):
                if (listed.get("metadata") or {}).get(IDEMPOTENCY_METADATA_KEY) == idempotency_key:
                    return charge_outcome(listed)
        except stripe.InvalidRequestError as error:
            if error.code != "resource_missing":
                raise _unanswered(error) from error
        except stripe.StripeError as error:
            raise _unanswered(error) from error
        return ChargeOutcome(
            status="failed",
            gateway_ref=gateway_ref,
            failure_code="not_found",
            failure_message="Stripe has no PaymentIntent for this payment.",
        )

    # ------------------------------------------------------------ refunds and removal

    def refund(self, *, gateway_ref: str, amount: Decimal, currency: str, idempotency_key: str) -> RefundOutcome:
        try:
            refund = self._client.v1.refunds.create(
                {
                    "payment_intent": gateway_ref,
                    "amount": to_minor_units(amount),
                    "metadata": {IDEMPOTENCY_METADATA_KEY: idempotency_key},
                },
                {"idempotency_key": idempotency_key},
            )
        except stripe.InvalidRequestError as error:
            return RefundOutcome(status="failed", failure_message=_error_fields(error)[2])
        except stripe.StripeError as error:
            raise _unanswered(error) from error
        if refund.status == "succeeded":
            return RefundOutcome(status="succeeded", gateway_ref=refund.id)
        if refund.status in {"failed", "canceled"}:
            return RefundOutcome(
                status="failed", gateway_ref=refund.id, failure_message=str(refund.failure_reason or "")
            )
        return RefundOutcome(status="pending", gateway_ref=refund.id)

    def detach(self, *, method_ref: str) -> None:
        """The payment method can no longer be charged; one that is unknown or already detached is fine."""
        try:
            self._client.v1.payment_methods.detach(
                method_ref, options={"idempotency_key": f"konto-detach-{method_ref}"}
            )
        except stripe.InvalidRequestError:
            return
        except stripe.StripeError as error:
            raise _unanswered(error) from error
