"""Payment methods: cards through the gateway's setup page, SEPA Direct Debit mandates, bank transfer, the default.

One active method per org is the default (database constraint); it pays the
org's invoices, so when its kind changes the org's active contracts follow
(`contracts.services.payment_method.set_contracts_payment_method_kind`).
Cards are the gateway's tokens with brand, last 4 digits and expiry; a
mandate keeps the full IBAN for the bank file and shows it masked everywhere:
audit events carry `masked_iban`, never the IBAN, a card number or a CVC.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import date
from functools import partial

from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from stdnum import bic as stdnum_bic
from stdnum import iban as stdnum_iban
from stdnum.exceptions import ValidationError as StdnumError

from konto.accounts.models import Org, Vendor
from konto.billing.services.invoices import VendorMissing, get_vendor
from konto.contracts.models import Contract
from konto.contracts.services.payment_method import set_contracts_payment_method_kind
from konto.core.audit import Actor, record_event
from konto.core.editions import Edition
from konto.payments.exceptions import (
    CardSetupFailed,
    InvalidBic,
    InvalidIban,
    InvalidInput,
    MandateNotAccepted,
    MethodInUse,
    MethodUnusable,
    NoCreditorId,
)
from konto.payments.gateways import get_gateway
from konto.payments.gateways.base import GatewayTimeout, GatewayUnavailable, SetupOutcome, SetupStart
from konto.payments.models import IN_FLIGHT_STATUSES, MethodKind, Payment, PaymentMethod
from konto.payments.services.collection import pre_notification_days
from konto.payments.services.ledger import BANK_GATEWAY, is_card_expired, lock_org

logger = logging.getLogger(__name__)

MAX_ACCOUNT_HOLDER = 70  # SEPA: the debtor name in a pain.008 file
SEPA_CURRENCY = "EUR"

# Countries of the SEPA scheme (EPC list: EU/EEA, CH, GB, SM, VA, AD, MC and the French overseas codes that
# have their own IBAN prefixes), by the first two letters of the IBAN.
SEPA_COUNTRIES = frozenset(
    {
        *("AD", "AT", "BE", "BG", "CH", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GB", "GI", "GR"),
        *("HR", "HU", "IE", "IS", "IT", "LI", "LT", "LU", "LV", "MC", "MT", "NL", "NO", "PL", "PT", "RO"),
        *("SE", "SI", "SK", "SM", "VA", "GF", "GP", "MQ", "YT", "RE", "PM", "BL", "MF"),
    }
)


# ---------------------------------------------------------------- cards


def start_card_setup(*, org: Org, actor: Actor, return_url: str) -> SetupStart:
    """Begin adding a card: the browser goes to the gateway's card page, which returns to `return_url`.

    The org keeps one customer at the gateway: a card added later reuses the
    customer of its existing cards. Nothing is stored until `add_card`.
    """
    gateway = get_gateway()
    customer_ref = (
        PaymentMethod.objects.filter(org=org, gateway=gateway.name)
        .exclude(gateway_customer_ref="")
        .order_by("-created_at")
        .values_list("gateway_customer_ref", flat=True)
        .first()
        or ""
    )
    try:
        return gateway.begin_card_setup(org_ref=org.public_id, customer_ref=customer_ref, return_url=return_url)
    except (GatewayUnavailable, GatewayTimeout) as error:
        logger.warning("card setup for %s could not start: %s", org.public_id, error)
        raise CardSetupFailed(
            _("The card page cannot be opened right now. Please try again in a few minutes.")
        ) from error


# Lazy: translated when shown, in the language of the request that sees them.
_SETUP_MESSAGES = {
    "authentication_failed": gettext_lazy("The card was not confirmed with your bank (3-D Secure). Please try again."),
    "expired_card": gettext_lazy("The card has expired. Please use another card."),
    "card_declined": gettext_lazy("The card was declined. Please use another card."),
    "setup_incomplete": gettext_lazy("No card was entered. Please add the card again."),
    "setup_not_found": gettext_lazy("The card setup was not found. Please add the card again."),
}


def _setup_failed(outcome: SetupOutcome) -> CardSetupFailed:
    message = _SETUP_MESSAGES.get(outcome.failure_code, _("The card could not be added. Please try again."))
    return CardSetupFailed(message, extra={"failure_code": outcome.failure_code})


def add_card(
    *,
    org: Org,
    actor: Actor,
    setup_ref: str,
    replaces: PaymentMethod | None = None,
    make_default: bool = True,
) -> PaymentMethod:
    """Keep the card of a finished gateway setup (the browser came back with `setup_ref`).

    Refused: a setup that did not succeed (`card_setup_failed`), one started
    for another org (same error: setup refs arrive in URLs), an expired card
    (`method_unusable`). The same setup twice (a reload of the return page)
    returns the card kept the first time. `replaces` is removed in the same
    transaction (this card takes its place); its token is detached at the
    gateway after commit.
    """
    gateway = get_gateway()
    try:
        outcome = gateway.finish_card_setup(setup_ref=setup_ref)
    except (GatewayUnavailable, GatewayTimeout) as error:
        logger.warning("card setup %s could not be finished: %s", org.public_id, error)
        raise CardSetupFailed(_("The card could not be confirmed right now. Please try again.")) from error
    if outcome.status != "succeeded" or outcome.card is None or not outcome.method_ref:
        raise _setup_failed(outcome)
    if outcome.org_ref and outcome.org_ref != org.public_id:
        logger.warning("card setup of another org presented by %s", org.public_id)
        raise _setup_failed(SetupOutcome(status="failed", failure_code="setup_not_found"))
    card = outcome.card
    today = timezone.localdate()
    method = _add_card(
        org=org,
        actor=actor,
        gateway_name=gateway.name,
        outcome=outcome,
        replaces=replaces,
        make_default=make_default,
        today=today,
    )
    logger.info("card %s •••• %s added for %s", card.brand, card.last4, org.public_id)
    return method


@transaction.atomic(durable=True)
def _add_card(
    *,
    org: Org,
    actor: Actor,
    gateway_name: str,
    outcome: SetupOutcome,
    replaces: PaymentMethod | None,
    make_default: bool,
    today: date,
) -> PaymentMethod:
    org = lock_org(org.pk)
    card = outcome.card
    if card is None:  # checked by the caller
        raise _setup_failed(outcome)
    existing = PaymentMethod.objects.filter(
        org=org, gateway=gateway_name, gateway_ref=outcome.method_ref, status=PaymentMethod.Status.ACTIVE
    ).first()
    if existing is not None:
        return existing  # the same setup presented again
    if PaymentMethod.objects.filter(gateway=gateway_name, gateway_ref=outcome.method_ref).exists():
        raise _setup_failed(SetupOutcome(status="failed", failure_code="setup_not_found"))
    replaced = _active_method(org, replaces) if replaces is not None else None
    method = PaymentMethod(
        org=org,
        kind=MethodKind.CARD,
        gateway=gateway_name,
        gateway_ref=outcome.method_ref,
        gateway_customer_ref=outcome.customer_ref,
        card_brand=card.brand[:20],
        card_last4=card.last4[-4:],
        card_exp_month=card.exp_month,
        card_exp_year=card.exp_year,
        created_by_id=actor.user_id,
    )
    if is_card_expired(method, today):
        raise MethodUnusable(
            _("The card expired in %(month)02d/%(year)d. Please use another card.")
            % {"month": card.exp_month, "year": card.exp_year}
        )
    method.save()
    record_event(
        actor=actor,
        org_id=org.pk,
        action="payment_method.added",
        object_type="payment_method",
        object_id=method.public_id,
        after=_describe(method),
    )
    if replaced is not None:
        _remove(org=org, method=replaced, actor=actor, replacement=method)
    elif make_default or not _has_default(org):
        _make_default(org=org, method=method, actor=actor)
    method.refresh_from_db()
    return method


# ---------------------------------------------------------------- SEPA Direct Debit mandates


def mandate_text(*, org: Org, vendor: Vendor, language: str) -> str:
    """The SEPA Core mandate text the customer reads and accepts, in `language` (stored with the mandate).

    It shortens the pre-notification of each debit to the period Konto uses
    (KONTO_SEPA_PRE_NOTIFICATION_DAYS, default 1 day): the invoice announces the
    debit at least that long before it.
    """
    days = pre_notification_days()
    with translation.override(language if language in ("de", "en") else org.language):
        return "\n\n".join(
            (
                _(
                    "SEPA Direct Debit mandate: I authorise (A) %(creditor)s to send instructions to my bank to debit "
                    "my account and (B) my bank to debit my account in accordance with the instructions from "
                    "%(creditor)s, for the invoices of %(org)s."
                )
                % {"creditor": vendor.legal_name, "org": org.legal_name},
                _(
                    "As part of my rights, I am entitled to a refund from my bank under the terms and conditions of "
                    "my agreement with my bank. A refund must be claimed within 8 weeks starting from the date on "
                    "which my account was debited."
                ),
                _(
                    "Creditor identifier: %(creditor_id)s. The mandate reference is shown once the mandate is "
                    "saved. I will be notified of the amount and date of each debit with the invoice, at least "
                    "%(days)d day(s) before it."
                )
                % {"creditor_id": vendor.sepa_creditor_id or "—", "days": days},
            )
        )


def clean_iban(iban: object) -> str:
    """The compact IBAN, or InvalidIban naming the expected format (check digits, SEPA country)."""
    message = _(
        "Enter a valid IBAN: 2 letters for the country, 2 check digits and the account number, "
        "e.g. DE89 3704 0044 0532 0130 00."
    )
    if not isinstance(iban, str) or not iban.strip():
        raise InvalidIban(message, fields={"iban": message})
    try:
        compact = str(stdnum_iban.validate(iban))
    except StdnumError:
        raise InvalidIban(message, fields={"iban": message}) from None
    if compact[:2] not in SEPA_COUNTRIES:
        other = _("SEPA Direct Debit needs an account in the SEPA area (EU, EEA, Switzerland, United Kingdom, …).")
        raise InvalidIban(other, fields={"iban": other})
    return compact


def clean_bic(bic: object) -> str:
    """The compact BIC ("" when none is given: IBAN-only is enough in SEPA), or InvalidBic naming the format."""
    if bic is None or (isinstance(bic, str) and not bic.strip()):
        return ""
    message = _("Enter a valid BIC: 8 or 11 letters and digits, e.g. COBADEFFXXX.")
    if not isinstance(bic, str):
        raise InvalidBic(message, fields={"bic": message})
    try:
        return str(stdnum_bic.validate(bic))
    except StdnumError:
        raise InvalidBic(message, fields={"bic": message}) from None


def _clean_account_holder(account_holder: object) -> str:
    message = _("Enter the account holder's name (at most %(max)d characters).") % {"max": MAX_ACCOUNT_HOLDER}
    if (
        not isinstance(account_holder, str)
        or not account_holder.strip()
        or len(account_holder.strip()) > MAX_ACCOUNT_HOLDER
        or any(ord(char) < 32 for char in account_holder)
    ):
        raise InvalidInput(message, code="invalid_account_holder", fields={"account_holder": message})
    return " ".join(account_holder.split())


def add_sepa_mandate(
    *,
    org: Org,
    actor: Actor,
    account_holder: str,
    iban: str,
    bic: str,
    is_accepted: bool,
    ip: str | None,
    user_agent: str,
    make_default: bool = True,
) -> PaymentMethod:
    """Sign a SEPA Direct Debit mandate: the text shown is stored with when, from which IP and browser.

    Checked before anything is written: the account holder, the IBAN (format,
    check digits, SEPA country) and the BIC (optional; format) with messages
    naming the expected format, the acceptance (`mandate_not_accepted`), the
    vendor's creditor ID (`no_creditor_id`) and the org's currency (SEPA is
    EUR only: `method_unusable`). The mandate reference is
    "KONTO-<org number>-<counter>", unique. Collected by the vendor's bank
    (pain.008, gateway "bank"), or by Stripe where it is the gateway.
    """
    holder = _clean_account_holder(account_holder)
    compact_iban = clean_iban(iban)
    compact_bic = clean_bic(bic)
    if is_accepted is not True:
        message = _("Please accept the SEPA Direct Debit mandate.")
        raise MandateNotAccepted(message, fields={"is_accepted": message})
    try:
        vendor = get_vendor()
    except VendorMissing:
        raise NoCreditorId(_("SEPA Direct Debit is not available yet. Please choose another payment method.")) from None
    if not vendor.sepa_creditor_id:
        raise NoCreditorId(_("SEPA Direct Debit is not available yet. Please choose another payment method."))
    if org.currency != SEPA_CURRENCY:
        raise MethodUnusable(_("SEPA Direct Debit is available for accounts billed in EUR only."))
    check_edition_allows(org, MethodKind.SEPA_DEBIT)
    language = translation.get_language() or org.language
    text = mandate_text(org=org, vendor=vendor, language=language)
    gateway = get_gateway()
    gateway_name, method_ref, customer_ref, gateway_mandate_ref = BANK_GATEWAY, "", "", ""
    if gateway.name == "stripe" and gateway.supports_sepa_debit:
        outcome = _setup_at_gateway(org=org, holder=holder, iban=compact_iban, ip=ip, user_agent=user_agent)
        gateway_name, method_ref, customer_ref = gateway.name, outcome.method_ref, outcome.customer_ref
        gateway_mandate_ref = outcome.mandate_ref
    return _add_mandate(
        org=org,
        actor=actor,
        holder=holder,
        iban=compact_iban,
        bic=compact_bic,
        creditor_id=vendor.sepa_creditor_id,
        text=text,
        ip=ip,
        user_agent=user_agent,
        gateway_name=gateway_name,
        method_ref=method_ref,
        customer_ref=customer_ref,
        gateway_mandate_ref=gateway_mandate_ref,
        make_default=make_default,
    )


def _setup_at_gateway(*, org: Org, holder: str, iban: str, ip: str | None, user_agent: str) -> SetupOutcome:
    gateway = get_gateway()
    customer_ref = (
        PaymentMethod.objects.filter(org=org, gateway=gateway.name)
        .exclude(gateway_customer_ref="")
        .values_list("gateway_customer_ref", flat=True)
        .first()
        or ""
    )
    key = "sepa-" + hashlib.sha256(f"{org.public_id}:{iban}".encode()).hexdigest()[:40]
    try:
        outcome = gateway.setup_sepa_debit(
            org_ref=org.public_id,
            customer_ref=customer_ref,
            account_holder=holder,
            email=org.billing_email,
            iban=iban,
            ip=ip or "",
            user_agent=user_agent,
            idempotency_key=key,
        )
    except (GatewayUnavailable, GatewayTimeout) as error:
        logger.warning("SEPA mandate of %s could not be set up at the gateway: %s", org.public_id, error)
        raise MethodUnusable(_("The mandate cannot be saved right now. Please try again in a few minutes.")) from error
    if outcome.status != "succeeded" or not outcome.method_ref:
        raise MethodUnusable(_("The bank account was not accepted for SEPA Direct Debit. Please check it."))
    return outcome


@transaction.atomic(durable=True)
def _add_mandate(
    *,
    org: Org,
    actor: Actor,
    holder: str,
    iban: str,
    bic: str,
    creditor_id: str,
    text: str,
    ip: str | None,
    user_agent: str,
    gateway_name: str,
    method_ref: str,
    customer_ref: str,
    gateway_mandate_ref: str,
    make_default: bool,
) -> PaymentMethod:
    org = lock_org(org.pk)
    counter = PaymentMethod.objects.filter(org=org).exclude(mandate_reference="").count() + 1
    reference = f"KONTO-{org.pk:06d}-{counter:03d}"
    while PaymentMethod.objects.filter(mandate_reference=reference).exists():  # e.g. a mandate moved by staff
        counter += 1
        reference = f"KONTO-{org.pk:06d}-{counter:03d}"
    method = PaymentMethod.objects.create(
        org=org,
        kind=MethodKind.SEPA_DEBIT,
        gateway=gateway_name,
        gateway_ref=method_ref,
        gateway_customer_ref=customer_ref,
        gateway_mandate_ref=gateway_mandate_ref,
        account_holder=holder,
        iban=iban,
        bic=bic,
        mandate_reference=reference,
        creditor_id=creditor_id,
        mandate_text=text,
        mandate_signed_at=timezone.now(),
        mandate_ip=ip or None,
        mandate_user_agent=user_agent[:400],
        created_by_id=actor.user_id,
    )
    record_event(
        actor=actor,
        org_id=org.pk,
        action="payment_method.added",
        object_type="payment_method",
        object_id=method.public_id,
        after=_describe(method),
    )
    if make_default or not _has_default(org):
        _make_default(org=org, method=method, actor=actor)
    method.refresh_from_db()
    return method


# ---------------------------------------------------------------- bank transfer, the default, removing


@transaction.atomic(durable=True)
def choose_bank_transfer(*, org: Org, actor: Actor) -> PaymentMethod:
    """Pay by bank transfer from now on: the org's one bank-transfer method becomes the default (made once)."""
    org = lock_org(org.pk)
    check_edition_allows(org, MethodKind.BANK_TRANSFER)
    method = PaymentMethod.objects.filter(
        org=org, kind=MethodKind.BANK_TRANSFER, status=PaymentMethod.Status.ACTIVE
    ).first()
    if method is None:
        method = PaymentMethod.objects.create(org=org, kind=MethodKind.BANK_TRANSFER, created_by_id=actor.user_id)
        record_event(
            actor=actor,
            org_id=org.pk,
            action="payment_method.added",
            object_type="payment_method",
            object_id=method.public_id,
            after=_describe(method),
        )
    if not method.is_default:
        _make_default(org=org, method=method, actor=actor)
        method.refresh_from_db()
    return method


@transaction.atomic(durable=True)
def set_default_payment_method(*, org: Org, method: PaymentMethod, actor: Actor) -> PaymentMethod:
    """Make an active method of the org its default; an expired card is refused (`method_unusable`)."""
    org = lock_org(org.pk)
    method = _active_method(org, method)
    check_edition_allows(org, method.kind)
    if is_card_expired(method, timezone.localdate()):
        raise MethodUnusable(_("This card has expired and cannot be the default. Please add a new card."))
    if not method.is_default:
        _make_default(org=org, method=method, actor=actor)
        method.refresh_from_db()
    return method


@transaction.atomic(durable=True)
def remove_payment_method(
    *, org: Org, method: PaymentMethod, actor: Actor, replacement: PaymentMethod | None = None
) -> None:
    """Remove a method; the card's token is detached at the gateway after commit.

    The default method pays the org's active contracts: removing it needs a
    usable replacement, which becomes the default (`method_in_use` without
    one). A method with a payment on its way is never removed (`method_in_use`).
    """
    org = lock_org(org.pk)
    method = _active_method(org, method)
    chosen = _active_method(org, replacement) if replacement is not None else None
    if chosen is not None and chosen.pk == method.pk:
        raise MethodInUse(_("Choose another payment method as the replacement."))
    if chosen is not None:
        check_edition_allows(org, chosen.kind)
    if chosen is not None and is_card_expired(chosen, timezone.localdate()):
        raise MethodUnusable(_("This card has expired and cannot replace the payment method. Please add a new card."))
    _remove(org=org, method=method, actor=actor, replacement=chosen)


def _remove(*, org: Org, method: PaymentMethod, actor: Actor, replacement: PaymentMethod | None) -> None:
    if Payment.objects.filter(method=method, status__in=IN_FLIGHT_STATUSES).exists():
        raise MethodInUse(
            _("A payment with this payment method is still being processed. Please try again once it is finished.")
        )
    pays_contracts = method.is_default and _has_paying_contracts(org, method.kind)
    if pays_contracts and replacement is None:
        raise MethodInUse(
            _("This payment method pays your active contracts. Choose or add a replacement before removing it.")
        )
    was_default = method.is_default
    method.status = PaymentMethod.Status.REMOVED
    method.is_default = False
    method.removed_at = timezone.now()
    method.save(update_fields=["status", "is_default", "removed_at"])
    record_event(
        actor=actor,
        org_id=org.pk,
        action="payment_method.removed",
        object_type="payment_method",
        object_id=method.public_id,
        before=_describe(method),
        after={"status": method.status, "replacement": replacement.public_id if replacement else None},
    )
    if replacement is not None and (was_default or not _has_default(org)):
        _make_default(org=org, method=replacement, actor=actor)
    if method.kind == MethodKind.CARD and method.gateway_ref and method.gateway not in ("", BANK_GATEWAY):
        transaction.on_commit(partial(_detach, gateway_name=method.gateway, method_ref=method.gateway_ref))


def _detach(*, gateway_name: str, method_ref: str) -> None:
    try:
        get_gateway(gateway_name).detach(method_ref=method_ref)
    except Exception:  # the method is removed in Konto already; the gateway token is only left unused
        logger.exception("detaching a removed card at %s failed", gateway_name)


def _make_default(*, org: Org, method: PaymentMethod, actor: Actor) -> None:
    """Move the default to `method` (org locked); active contracts follow when the kind changes."""
    previous = PaymentMethod.objects.filter(org=org, is_default=True, status=PaymentMethod.Status.ACTIVE).first()
    if previous is not None:
        if previous.pk == method.pk:
            return
        previous.is_default = False
        previous.save(update_fields=["is_default"])
    PaymentMethod.objects.filter(pk=method.pk).update(is_default=True)
    record_event(
        actor=actor,
        org_id=org.pk,
        action="payment_method.default_changed",
        object_type="payment_method",
        object_id=method.public_id,
        before={"default": previous.public_id if previous else None, "kind": previous.kind if previous else None},
        after={"default": method.public_id, "kind": method.kind},
    )
    set_contracts_payment_method_kind(org=org, kind=method.kind, actor=actor)


def check_edition_allows(org: Org, kind: str) -> None:
    """Essentials orgs pay by card (DESIGN.md §6): a mandate or bank transfer is refused (`method_unusable`)."""
    if org.edition == Edition.ESSENTIALS and kind != MethodKind.CARD:
        raise MethodUnusable(_("Essentials is paid by card. Please add a card."))


def _active_method(org: Org, method: PaymentMethod) -> PaymentMethod:
    """The org's method, locked and active; another org's or a removed one is unusable alike."""
    found = (
        PaymentMethod.objects.select_for_update()
        .filter(pk=method.pk, org=org, status=PaymentMethod.Status.ACTIVE)
        .first()
    )
    if found is None:
        raise MethodUnusable(_("This payment method is not available. Please choose another one."))
    return found


def _has_default(org: Org) -> bool:
    return PaymentMethod.objects.filter(org=org, is_default=True, status=PaymentMethod.Status.ACTIVE).exists()


def _has_paying_contracts(org: Org, kind: str) -> bool:
    return Contract.objects.filter(org=org, status=Contract.Status.ACTIVE, payment_method_kind=kind).exists()


def _describe(method: PaymentMethod) -> dict[str, object]:
    """A method as the audit trail shows it: brand and last 4, or the masked IBAN; never more."""
    described: dict[str, object] = {"kind": method.kind, "gateway": method.gateway, "status": method.status}
    if method.kind == MethodKind.CARD:
        described |= {
            "card_brand": method.card_brand,
            "card_last4": method.card_last4,
            "card_expiry": f"{method.card_exp_month:02d}/{method.card_exp_year}" if method.card_exp_year else "",
        }
    elif method.kind == MethodKind.SEPA_DEBIT:
        described |= {
            "account_holder": method.account_holder,
            "iban": method.masked_iban,
            "bic": method.bic,
            "mandate_reference": method.mandate_reference,
            "creditor_id": method.creditor_id,
            "mandate_signed_at": method.mandate_signed_at.isoformat() if method.mandate_signed_at else None,
        }
    return described
