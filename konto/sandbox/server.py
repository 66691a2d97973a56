"""The sandbox gateway's server side, called in-process by Konto's sandbox adapter (no HTTP).

Each function is what a real processor's API endpoint would do: it answers a
request or refuses it with `SandboxRefused` (the equivalent of an HTTP 4xx),
and its writes are its own (a savepoint inside the caller's transaction; call
gateways outside transactions, as Konto's payment services do, so they stay).
Charges and refunds are unique per idempotency key: the database constraint,
not an earlier read, makes a repeated or concurrent request find the first
row instead of charging twice.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from konto.sandbox.cards import Behaviour, find_test_card
from konto.sandbox.models import SandboxCard, SandboxCharge, SandboxRefund, SandboxSetup

_REF_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
CURRENCIES = frozenset({"EUR", "CHF"})


class SandboxRefused(Exception):
    """The sandbox refused a request; nothing was done. `code` is stable, `message` is the gateway's English text."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class _Attempt:
    status: str
    failure_code: str = ""
    failure_message: str = ""


# What a first charge attempt does, by the card's behaviour (off-session; on-session challenge cards are asked first).
_ATTEMPTS: dict[str, _Attempt] = {
    Behaviour.SUCCEEDS: _Attempt(SandboxCharge.Status.SUCCEEDED),
    Behaviour.CHALLENGE: _Attempt(SandboxCharge.Status.SUCCEEDED),
    Behaviour.TIMEOUT: _Attempt(SandboxCharge.Status.SUCCEEDED),
    Behaviour.DECLINED: _Attempt(SandboxCharge.Status.FAILED, "card_declined", "Your card was declined."),
    Behaviour.INSUFFICIENT_FUNDS: _Attempt(
        SandboxCharge.Status.FAILED, "insufficient_funds", "Your card has insufficient funds."
    ),
    Behaviour.EXPIRED_CARD: _Attempt(SandboxCharge.Status.FAILED, "expired_card", "Your card has expired."),
    Behaviour.PROCESSING_ERROR: _Attempt(
        SandboxCharge.Status.FAILED,
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
}
AUTHENTICATION_FAILED_MESSAGE = "The card holder did not confirm the payment (3-D Secure authentication failed)."


def new_ref(prefix: str) -> str:
    """An unguessable reference such as "pi_sb_…" (it appears in page URLs, so it must not be enumerable)."""
    return prefix + "_" + "".join(secrets.choice(_REF_ALPHABET) for _ in range(24))


def is_enabled() -> bool:
    """Whether this installation runs the sandbox (never in production with real money)."""
    return bool(getattr(settings, "KONTO_SANDBOX_ENABLED", True))


def _absolute(path: str) -> str:
    return str(settings.KONTO_BASE_URL).rstrip("/") + path


def card_page_url(setup: SandboxSetup) -> str:
    return _absolute(reverse("sandbox:card", kwargs={"ref": setup.ref}))


def setup_challenge_url(setup: SandboxSetup) -> str:
    return _absolute(reverse("sandbox:setup_challenge", kwargs={"ref": setup.ref}))


def charge_challenge_url(charge: SandboxCharge) -> str:
    return _absolute(reverse("sandbox:charge_challenge", kwargs={"ref": charge.ref}))


def setup_return_url(setup: SandboxSetup) -> str:
    """Where the browser goes when the setup is finished: Konto's return URL with `?setup=<ref>` added."""
    return add_query(setup.return_url, setup=setup.ref)


def add_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = parts.query + ("&" if parts.query else "") + urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _check_return_url(url: str, *, is_required: bool) -> None:
    if not url and not is_required:
        return
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise SandboxRefused("invalid_return_url", "The return URL must be an absolute http(s) URL.")


def _check_money(amount: Decimal, currency: str) -> None:
    if currency not in CURRENCIES:
        raise SandboxRefused("invalid_currency", f"The sandbox charges EUR and CHF, not {currency!r}.")
    if amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise SandboxRefused("invalid_amount", "The amount must be positive with at most two decimals.")


# ---------------------------------------------------------------- card setup


def create_setup(*, org_ref: str, customer_ref: str, return_url: str) -> SandboxSetup:
    """Start a card setup; the browser then opens `card_page_url(setup)`. A new customer ref unless one is given."""
    _check_return_url(return_url, is_required=True)
    return SandboxSetup.objects.create(
        ref=new_ref("seti_sb"),
        org_ref=org_ref,
        customer_ref=customer_ref or new_ref("cus_sb"),
        return_url=return_url,
    )


def get_setup(*, ref: str) -> SandboxSetup | None:
    return SandboxSetup.objects.select_related("card").filter(ref=ref).first()


@sensitive_variables("number")
@transaction.atomic
def submit_card(*, setup_ref: str, number: str, exp_month: int, exp_year: int) -> SandboxSetup:
    """Tokenise a test card for a pending setup (called by the hosted card page with validated input).

    Keeps the token, brand, last 4 digits, expiry and the behaviour the number
    stands for; the number itself is dropped here. A challenge card waits for
    the 3-D Secure page; any other card finishes the setup at once.
    """
    setup = SandboxSetup.objects.select_for_update().filter(ref=setup_ref).first()
    if setup is None:
        raise SandboxRefused("resource_missing", "No such setup.")
    if setup.status != SandboxSetup.Status.PENDING:
        raise SandboxRefused("setup_already_used", "This setup has already received a card.")
    test_card = find_test_card(number)
    if test_card is None:
        raise SandboxRefused("not_a_test_card", "The sandbox accepts only its test cards.")
    is_challenged = test_card.behaviour == Behaviour.CHALLENGE
    card = SandboxCard.objects.create(
        token=new_ref("pm_sb"),
        customer_ref=setup.customer_ref,
        brand=test_card.brand,
        last4=test_card.last4,
        exp_month=exp_month,
        exp_year=exp_year,
        behaviour=test_card.behaviour,
        is_active=not is_challenged,
    )
    setup.card = card
    if is_challenged:
        setup.status = SandboxSetup.Status.REQUIRES_ACTION
    else:
        setup.status = SandboxSetup.Status.SUCCEEDED
        setup.finished_at = timezone.now()
    setup.save(update_fields=["card", "status", "finished_at"])
    return setup


@transaction.atomic
def answer_setup_challenge(*, setup_ref: str, is_confirmed: bool) -> SandboxSetup:
    """The card holder confirms or fails 3-D Secure for a setup; a second answer changes nothing."""
    setup = SandboxSetup.objects.select_for_update().filter(ref=setup_ref).first()
    if setup is None:
        raise SandboxRefused("resource_missing", "No such setup.")
    if setup.status != SandboxSetup.Status.REQUIRES_ACTION:
        return setup
    if is_confirmed and setup.card is not None:  # a setup waiting for a challenge always has its card
        setup.card.is_active = True
        setup.card.save(update_fields=["is_active"])
        setup.status = SandboxSetup.Status.SUCCEEDED
    else:
        setup.status = SandboxSetup.Status.FAILED
        setup.failure_code = "authentication_failed"
    setup.finished_at = timezone.now()
    setup.save(update_fields=["status", "failure_code", "finished_at"])
    return setup


@transaction.atomic
def detach_card(*, token: str) -> SandboxCard:
    """The card can no longer be charged; detaching twice is fine."""
    card = SandboxCard.objects.select_for_update().filter(token=token).first()
    if card is None:
        raise SandboxRefused("resource_missing", "No such payment method.")
    if card.detached_at is None:
        card.is_active = False
        card.detached_at = timezone.now()
        card.save(update_fields=["is_active", "detached_at"])
    return card


# ---------------------------------------------------------------- charges


def create_charge(
    *,
    card_token: str,
    customer_ref: str,
    amount: Decimal,
    currency: str,
    idempotency_key: str,
    description: str,
    is_on_session: bool,
    return_url: str,
) -> SandboxCharge:
    """Charge a card once per idempotency key; the same key returns the first charge, whatever happened since.

    The same key with another card, amount or currency is refused
    ("idempotency_key_reused"), like a real gateway does.
    """
    if not idempotency_key:
        raise SandboxRefused("missing_idempotency_key", "Every charge needs an idempotency key.")
    try:
        with transaction.atomic():
            _check_money(amount, currency)
            _check_return_url(return_url, is_required=False)
            card = SandboxCard.objects.filter(token=card_token).first()
            if card is None or not card.is_active:
                raise SandboxRefused("method_unusable", "This payment method cannot be charged (unknown or removed).")
            attempt = _ATTEMPTS[card.behaviour]
            if card.behaviour == Behaviour.CHALLENGE and is_on_session:
                attempt = _Attempt(SandboxCharge.Status.REQUIRES_ACTION)
            charge = SandboxCharge.objects.create(
                ref=new_ref("pi_sb"),
                idempotency_key=idempotency_key,
                card=card,
                customer_ref=customer_ref,
                amount=amount,
                currency=currency,
                description=description[:300],
                is_on_session=is_on_session,
                return_url=return_url,
                status=attempt.status,
                failure_code=attempt.failure_code,
                failure_message=attempt.failure_message,
            )
    except IntegrityError:
        # Another request with this key got there first (or long before): answer with its charge.
        charge = SandboxCharge.objects.select_related("card").get(idempotency_key=idempotency_key)
    except SandboxRefused:
        # A repeat of a request that was accepted before still gets the first answer.
        charge_or_none = SandboxCharge.objects.select_related("card").filter(idempotency_key=idempotency_key).first()
        if charge_or_none is None:
            raise
        charge = charge_or_none
    if (charge.card.token, charge.amount, charge.currency) != (card_token, amount, currency):
        raise SandboxRefused(
            "idempotency_key_reused",
            "This idempotency key was used before with another payment method, amount or currency.",
        )
    return charge


def find_charge(*, ref: str, idempotency_key: str) -> SandboxCharge | None:
    """The charge by its ref, or by the idempotency key it was created with when the ref is not known."""
    charges = SandboxCharge.objects.select_related("card")
    if ref:
        return charges.filter(ref=ref).first()
    if idempotency_key:
        return charges.filter(idempotency_key=idempotency_key).first()
    return None


@transaction.atomic
def answer_charge_challenge(*, charge_ref: str, is_confirmed: bool) -> SandboxCharge:
    """The card holder confirms or fails 3-D Secure for a charge; a second answer changes nothing."""
    charge = SandboxCharge.objects.select_for_update().filter(ref=charge_ref).first()
    if charge is None:
        raise SandboxRefused("resource_missing", "No such charge.")
    if charge.status != SandboxCharge.Status.REQUIRES_ACTION:
        return charge
    if is_confirmed:
        charge.status = SandboxCharge.Status.SUCCEEDED
    else:
        charge.status = SandboxCharge.Status.FAILED
        charge.failure_code = "authentication_failed"
        charge.failure_message = AUTHENTICATION_FAILED_MESSAGE
    charge.save(update_fields=["status", "failure_code", "failure_message"])
    return charge


# ---------------------------------------------------------------- refunds


def create_refund(*, charge_ref: str, amount: Decimal, currency: str, idempotency_key: str) -> SandboxRefund:
    """Refund part or all of a succeeded charge, once per idempotency key; never more than was charged."""
    if not idempotency_key:
        raise SandboxRefused("missing_idempotency_key", "Every refund needs an idempotency key.")
    try:
        with transaction.atomic():
            _check_money(amount, currency)
            charge = SandboxCharge.objects.select_for_update().filter(ref=charge_ref).first()
            if charge is None:
                raise SandboxRefused("resource_missing", "No such charge.")
            if charge.status != SandboxCharge.Status.SUCCEEDED:
                raise SandboxRefused("charge_not_refundable", "Only a succeeded charge can be refunded.")
            if currency != charge.currency:
                raise SandboxRefused("invalid_currency", "A refund is made in the charge's currency.")
            if amount > charge.amount - charge.amount_refunded:
                raise SandboxRefused("amount_too_large", "The refund is larger than what is left of the charge.")
            refund = SandboxRefund.objects.create(
                ref=new_ref("re_sb"), idempotency_key=idempotency_key, charge=charge, amount=amount
            )
            charge.amount_refunded += amount
            charge.save(update_fields=["amount_refunded"])
    except IntegrityError:
        refund = SandboxRefund.objects.select_related("charge").get(idempotency_key=idempotency_key)
    except SandboxRefused:
        refund_or_none = SandboxRefund.objects.select_related("charge").filter(idempotency_key=idempotency_key).first()
        if refund_or_none is None:
            raise
        refund = refund_or_none
    if (refund.charge.ref, refund.amount) != (charge_ref, amount):
        raise SandboxRefused(
            "idempotency_key_reused", "This idempotency key was used before for another charge or amount."
        )
    return refund
