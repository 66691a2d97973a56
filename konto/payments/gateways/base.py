"""The one interface every payment gateway implements, and the shapes of its answers.

Contract (docs/payments.md "Gateways"):

- Gateways are called OUTSIDE database transactions, after the Payment row
  with its idempotency key is committed. `idempotency_key` must be unique in
  the whole installation (use the Payment's or Refund's public id), not the
  customer's Idempotency-Key header, which is only unique per org.
- The same idempotency key always answers with the same charge or refund;
  nothing is ever charged twice for one key. The same key with another
  method, amount or currency raises `GatewayTimeout` (a charge with that
  key exists; `retrieve_charge` tells its outcome).
- `GatewayTimeout`: no answer, the charge may or may not exist; ask
  `retrieve_charge` later. `GatewayUnavailable`: refused before anything
  happened (nothing was charged).
- Card setup is a browser redirect: `begin_card_setup` gives the URL of the
  gateway's card page; when the card is saved the gateway sends the browser
  to `return_url` with `?setup=<setup_ref>` added; Konto then calls
  `finish_card_setup`. Cancelling returns to `return_url` unchanged.
- 3-D Secure on a charge: `ChargeOutcome.status == "requires_action"` with
  `action_url`; the gateway sends the browser back to the charge's
  `return_url` afterwards and Konto asks `retrieve_charge`.

Additions beyond the first shared contract (payments_contract.md):

- `SetupOutcome.org_ref`: the org the setup was started for. A setup ref
  arrives in a URL the browser controls, so the caller must check that it
  equals the org adding the card before it keeps the card.
- `SetupOutcome.mandate_ref`: the gateway's mandate id of a SEPA Direct
  Debit method set up at the gateway (Stripe "mandate_…"), else "".
- `Gateway.supports_sepa_debit` and `Gateway.setup_sepa_debit(...)`: SEPA
  Direct Debit collected by the gateway (Stripe). The sandbox does not do
  SEPA (`supports_sepa_debit = False`; it raises `GatewayUnavailable`);
  mandates there are collected by the vendor's bank (pain.008).
- `charge(..., method_kind: str | None = None)`: "card" or "sepa_debit";
  Stripe needs it to create the right PaymentIntent (when None it looks the
  method up first). The sandbox only has cards and ignores it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True)
class CardDetails:
    brand: str  # "visa", "mastercard", "amex", …
    last4: str
    exp_month: int  # 1..12
    exp_year: int  # four digits


@dataclass(frozen=True)
class SetupStart:
    setup_ref: str
    redirect_url: str  # where the browser enters the card: the sandbox's card page or Stripe Checkout


@dataclass(frozen=True)
class SetupOutcome:
    status: str  # "succeeded" | "failed" | "requires_action"
    method_ref: str = ""  # the gateway's token / payment method id (on success)
    customer_ref: str = ""  # the gateway's customer id
    card: CardDetails | None = None
    failure_code: str = ""  # stable: "authentication_failed", "setup_incomplete", "setup_not_found", …
    failure_message: str = ""  # the gateway's English text; the UI translates by code
    action_url: str = ""  # requires_action: where the browser confirms (3-D Secure)
    org_ref: str = ""  # the org the setup was started for: the caller checks it is the org adding the card
    mandate_ref: str = ""  # SEPA Direct Debit at the gateway: its mandate id


@dataclass(frozen=True)
class ChargeOutcome:
    status: str  # "succeeded" | "failed" | "requires_action" | "pending"
    gateway_ref: str = ""  # the gateway's charge / PaymentIntent id
    failure_code: str = ""  # stable: "card_declined", "insufficient_funds", "expired_card", "processing_error",
    # "authentication_failed", "authentication_required", "method_unusable", "not_found", …
    failure_message: str = ""  # the gateway's English text; the UI translates by code
    action_url: str = ""  # requires_action: where the customer confirms (3-D Secure)


@dataclass(frozen=True)
class RefundOutcome:
    status: str  # "succeeded" | "failed" | "pending"
    gateway_ref: str = ""
    failure_message: str = ""


class GatewayTimeout(Exception):
    """No answer: the outcome is unknown (the charge may or may not have happened)."""


class GatewayUnavailable(Exception):
    """Refused before anything happened: safe to treat as not attempted."""


class Gateway(Protocol):
    name: str  # "sandbox", "stripe": stored on PaymentMethod.gateway and Payment.gateway
    supports_sepa_debit: bool

    def begin_card_setup(self, *, org_ref: str, customer_ref: str, return_url: str) -> SetupStart: ...

    def finish_card_setup(self, *, setup_ref: str) -> SetupOutcome: ...

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
    ) -> SetupOutcome: ...

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
    ) -> ChargeOutcome: ...

    def retrieve_charge(self, *, gateway_ref: str, idempotency_key: str) -> ChargeOutcome: ...

    def refund(self, *, gateway_ref: str, amount: Decimal, currency: str, idempotency_key: str) -> RefundOutcome: ...

    def detach(self, *, method_ref: str) -> None: ...
