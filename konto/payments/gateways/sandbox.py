"""The sandbox gateway adapter: Konto's side of the built-in test processor (konto.sandbox), called in-process.

Outcomes are decided by the test card's number (see `TEST_CARDS` and
docs/payments.md "Gateways"). The timeout card is charged at the sandbox and
then the answer is "lost": `charge` raises `GatewayTimeout` every time, while
`retrieve_charge` reports the charge as succeeded.
"""

from __future__ import annotations

from decimal import Decimal

from django.utils.functional import Promise

from konto.payments.gateways.base import (
    CardDetails,
    ChargeOutcome,
    GatewayTimeout,
    GatewayUnavailable,
    RefundOutcome,
    SetupOutcome,
    SetupStart,
)
from konto.sandbox import cards, server
from konto.sandbox.models import SandboxCharge, SandboxSetup

# The test cards for the payment page: (number as typed, what happens (lazy-translated), brand).
TEST_CARDS: list[tuple[str, Promise, str]] = [
    (card.display_number, card.outcome, card.brand) for card in cards.TEST_CARDS
]


def _charge_outcome(charge: SandboxCharge) -> ChargeOutcome:
    if charge.status == SandboxCharge.Status.REQUIRES_ACTION:
        return ChargeOutcome(
            status="requires_action", gateway_ref=charge.ref, action_url=server.charge_challenge_url(charge)
        )
    return ChargeOutcome(
        status=charge.status,
        gateway_ref=charge.ref,
        failure_code=charge.failure_code,
        failure_message=charge.failure_message,
    )


class SandboxGateway:
    """Test cards with deterministic outcomes; no money moves. Refuses everything where the sandbox is disabled."""

    name = "sandbox"
    supports_sepa_debit = False

    def _check_enabled(self) -> None:
        if not server.is_enabled():
            raise GatewayUnavailable("The sandbox gateway is disabled on this installation (KONTO_SANDBOX_ENABLED).")

    def begin_card_setup(self, *, org_ref: str, customer_ref: str, return_url: str) -> SetupStart:
        self._check_enabled()
        try:
            setup = server.create_setup(org_ref=org_ref, customer_ref=customer_ref, return_url=return_url)
        except server.SandboxRefused as refused:
            raise GatewayUnavailable(refused.message) from refused
        return SetupStart(setup_ref=setup.ref, redirect_url=server.card_page_url(setup))

    def finish_card_setup(self, *, setup_ref: str) -> SetupOutcome:
        self._check_enabled()
        setup = server.get_setup(ref=setup_ref)
        if setup is None:
            return SetupOutcome(status="failed", failure_code="setup_not_found", failure_message="No such setup.")
        if setup.status == SandboxSetup.Status.SUCCEEDED and setup.card is not None:
            card = setup.card
            details = CardDetails(brand=card.brand, last4=card.last4, exp_month=card.exp_month, exp_year=card.exp_year)
            return SetupOutcome(
                status="succeeded",
                method_ref=card.token,
                customer_ref=setup.customer_ref,
                card=details,
                org_ref=setup.org_ref,
            )
        if setup.status == SandboxSetup.Status.REQUIRES_ACTION:
            return SetupOutcome(
                status="requires_action",
                customer_ref=setup.customer_ref,
                action_url=server.setup_challenge_url(setup),
                org_ref=setup.org_ref,
            )
        if setup.status == SandboxSetup.Status.FAILED:
            return SetupOutcome(
                status="failed",
                failure_code=setup.failure_code,
                failure_message="The card holder did not confirm the card (3-D Secure authentication failed).",
                customer_ref=setup.customer_ref,
                org_ref=setup.org_ref,
            )
        return SetupOutcome(
            status="failed",
            failure_code="setup_incomplete",
            failure_message="No card was entered for this setup.",
            customer_ref=setup.customer_ref,
            org_ref=setup.org_ref,
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
        raise GatewayUnavailable(
            "The sandbox gateway does not collect SEPA Direct Debit; the vendor's bank does (pain.008)."
        )

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
        self._check_enabled()
        try:
            charge = server.create_charge(
                card_token=method_ref,
                customer_ref=customer_ref,
                amount=amount,
                currency=currency,
                idempotency_key=idempotency_key,
                description=description,
                is_on_session=on_session,
                return_url=return_url,
            )
        except server.SandboxRefused as refused:
            if refused.code == "idempotency_key_reused":
                raise GatewayTimeout(refused.message) from refused  # a charge with this key exists: ask for it
            if refused.code == "missing_idempotency_key":
                raise GatewayUnavailable(refused.message) from refused
            return ChargeOutcome(status="failed", failure_code=refused.code, failure_message=refused.message)
        if charge.card.behaviour == cards.Behaviour.TIMEOUT:
            raise GatewayTimeout("The sandbox did not answer (test card 4000 0000 0000 3220).")
        return _charge_outcome(charge)

    def retrieve_charge(self, *, gateway_ref: str, idempotency_key: str) -> ChargeOutcome:
        self._check_enabled()
        charge = server.find_charge(ref=gateway_ref, idempotency_key=idempotency_key)
        if charge is None:
            return ChargeOutcome(
                status="failed",
                gateway_ref=gateway_ref,
                failure_code="not_found",
                failure_message="The sandbox has no such charge.",
            )
        return _charge_outcome(charge)

    def refund(self, *, gateway_ref: str, amount: Decimal, currency: str, idempotency_key: str) -> RefundOutcome:
        self._check_enabled()
        try:
            refund = server.create_refund(
                charge_ref=gateway_ref, amount=amount, currency=currency, idempotency_key=idempotency_key
            )
        except server.SandboxRefused as refused:
            if refused.code == "idempotency_key_reused":
                raise GatewayTimeout(refused.message) from refused
            if refused.code == "missing_idempotency_key":
                raise GatewayUnavailable(refused.message) from refused
            return RefundOutcome(status="failed", failure_message=refused.message)
        return RefundOutcome(status="succeeded", gateway_ref=refund.ref)

    def detach(self, *, method_ref: str) -> None:
        """The card can no longer be charged; an unknown or already detached card is fine."""
        self._check_enabled()
        try:
            server.detach_card(token=method_ref)
        except server.SandboxRefused as refused:
            if refused.code != "resource_missing":
                raise GatewayUnavailable(refused.message) from refused
