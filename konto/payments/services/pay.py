"""Paying invoices: the customer pays open invoices, 3-D Secure is confirmed, gateways and the bank report back.

`pay_invoices` is the heart of "money moves exactly once" (see ledger.py):
the payment row with its idempotency key and its allocations is committed
first, the gateway is called with the payment's public id as its key, the
answer is recorded in a second transaction. Repeating a request (double
click, retry, two tabs) returns the first payment; another payment for an
invoice that has one on its way is refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import partial

from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from stdnum import iban as stdnum_iban

from konto.accounts.models import Org
from konto.billing.models import Invoice, InvoiceStatus
from konto.billing.services.invoices import get_vendor
from konto.core.audit import Actor, record_event
from konto.core.countries import babel_locale
from konto.core.money import CENT, ZERO, format_money
from konto.payments.exceptions import (
    AlreadyBeingPaid,
    AmountMismatch,
    IdempotencyKeyMissing,
    IdempotencyKeyReused,
    InvalidAmount,
    InvalidPaymentTransition,
    InvoiceNotPayable,
    MethodUnusable,
    NotFound,
)
from konto.payments.gateways.base import ChargeOutcome
from konto.payments.models import MethodKind, Payment, PaymentAllocation, PaymentMethod, PaymentStatus
from konto.payments.services import ledger
from konto.payments.services.collection import collection_date_for

MAX_INVOICES = 100  # per payment
MAX_IDEMPOTENCY_KEY_LENGTH = 255


@dataclass
class PayResult:
    payment: Payment
    is_replay: bool  # the same idempotency key was seen before: this is the first request's payment


# ---------------------------------------------------------------- input


def clean_idempotency_key(key: object) -> str:
    if (
        not isinstance(key, str)
        or not key.strip()
        or len(key.strip()) > MAX_IDEMPOTENCY_KEY_LENGTH
        or any(ord(char) < 32 or ord(char) == 127 for char in key)
    ):
        message = _("Send an Idempotency-Key of 1 to 255 characters with every payment.")
        raise IdempotencyKeyMissing(message, fields={"idempotency_key": message})
    return key.strip()


def _clean_invoice_ids(invoice_ids: object) -> list[str]:
    if isinstance(invoice_ids, str) or not isinstance(invoice_ids, Sequence):
        invoice_ids = []
    ids = list(dict.fromkeys(value.strip() for value in invoice_ids if isinstance(value, str) and value.strip()))
    if not ids or len(ids) > MAX_INVOICES or len(ids) != len(invoice_ids):
        message = _("Choose between 1 and %(max)d open invoices to pay.") % {"max": MAX_INVOICES}
        raise InvoiceNotPayable(message, fields={"invoice_ids": message})
    return ids


def clean_amount(amount: object) -> Decimal | None:
    """None, or a positive amount in cents; InvalidAmount otherwise."""
    if amount is None:
        return None
    message = _("Enter a positive amount with at most two decimals.")
    if isinstance(amount, bool | float):
        raise InvalidAmount(message, fields={"amount": message})
    try:
        value = Decimal(str(amount).strip()) if isinstance(amount, str | int | Decimal) else None
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value <= 0 or value != value.quantize(CENT) or value >= 10**12:
        raise InvalidAmount(message, fields={"amount": message})
    return value.quantize(CENT)


def request_fingerprint(*, invoice_ids: Sequence[str], amount: Decimal | None, method: PaymentMethod | None) -> str:
    """What was asked, so that the same key with another request is recognised (sha256 of canonical JSON)."""
    body = {
        "invoices": sorted(invoice_ids),
        "amount": str(amount) if amount is not None else None,
        "method": method.public_id if method is not None else None,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


# ---------------------------------------------------------------- paying


def pay_invoices(
    *,
    org: Org,
    invoice_ids: Sequence[str],
    idempotency_key: str,
    actor: Actor,
    method: PaymentMethod | None = None,
    amount: Decimal | None = None,
    return_url: str = "",
) -> PayResult:
    """Pay open invoices of `org` now with `method` (default: the org's default method), in full or in part.

    Refused, with nothing written and nothing charged: an invoice that is not
    this org's, not open or has nothing left to pay (`invoice_not_payable`,
    the same for another org's id as for a missing one); an amount that is
    not positive cents (`invalid_amount`) or more than the selection's open
    total (`amount_mismatch`); an invoice with a payment on its way
    (`already_being_paid`); an unusable method (`method_unusable`: expired
    card, another org's, bank transfer — which the customer pays from their
    bank, the message says where to). A partial amount pays the oldest
    invoices first (due date, issue date, number).

    The same key with the same request returns the first payment
    (`is_replay`); with another request: `idempotency_key_reused`. A card is
    charged on-session (3-D Secure may ask for confirmation: status
    requires_action with `action_url`); a SEPA mandate of the vendor's bank
    stays pending until the pain.008 file is exported.
    """
    key = clean_idempotency_key(idempotency_key)
    ids = _clean_invoice_ids(invoice_ids)
    wanted = clean_amount(amount)
    fingerprint = request_fingerprint(invoice_ids=ids, amount=wanted, method=method)
    try:
        payment, is_replay = _open_payment(
            org=org, invoice_ids=ids, key=key, fingerprint=fingerprint, actor=actor, method=method, amount=wanted
        )
    except IntegrityError as error:  # the constraints behind the locks: only reached by a writer without them
        if "allocation_one_in_flight_per_invoice" in str(error):
            raise AlreadyBeingPaid(_("A payment for one of these invoices is already being processed.")) from None
        raise
    if is_replay or payment.status != PaymentStatus.PENDING or payment.gateway in ("", ledger.BANK_GATEWAY):
        return PayResult(payment=payment, is_replay=is_replay)
    outcome = ledger.charge_at_gateway(payment, on_session=True, return_url=return_url)
    recorded = ledger.record_outcome(payment_id=payment.pk, outcome=outcome, actor=actor)
    return PayResult(payment=recorded.payment, is_replay=False)


@transaction.atomic(durable=True)
def _open_payment(
    *,
    org: Org,
    invoice_ids: list[str],
    key: str,
    fingerprint: str,
    actor: Actor,
    method: PaymentMethod | None,
    amount: Decimal | None,
) -> tuple[Payment, bool]:
    """Transaction 1: the replay check, every rule, the payment row and its allocations (org, invoices locked)."""
    org = ledger.lock_org(org.pk)
    existing = Payment.objects.select_related("method").filter(org=org, idempotency_key=key).first()
    if existing is not None:
        if existing.request_fingerprint != fingerprint:
            raise IdempotencyKeyReused(_("This Idempotency-Key was already used for a different payment."))
        return existing, True
    found = list(Invoice.objects.filter(org=org, public_id__in=invoice_ids).values_list("pk", flat=True))
    if len(found) != len(invoice_ids):
        raise InvoiceNotPayable(_("One of these invoices was not found or cannot be paid."))
    invoices = list(ledger.lock_invoices(found).values())
    for invoice in invoices:
        if invoice.status != InvoiceStatus.OPEN or invoice.open_amount <= 0:
            raise InvoiceNotPayable(
                _("Invoice %(number)s is not open for payment.") % {"number": invoice.number},
                extra={"invoice": invoice.public_id},
            )
    if len({invoice.currency for invoice in invoices}) > 1:
        raise InvoiceNotPayable(_("Invoices in different currencies are paid one currency at a time."))
    total = sum((invoice.open_amount for invoice in invoices), ZERO)
    if amount is not None and amount > total:
        message = _("The amount is more than the %(total)s open on these invoices.") % {"total": total}
        raise AmountMismatch(message, fields={"amount": message}, extra={"open_total": str(total)})
    chosen = _usable_method(org=org, method=method, invoices=invoices, total=amount or total)
    if ledger.in_flight_invoice_ids(found):
        raise AlreadyBeingPaid(
            _("A payment for one of these invoices is already being processed. Please wait for its result.")
        )
    allocations = ledger.allocate_oldest_first(invoices, amount or total)
    collection_date = None
    if chosen.kind == MethodKind.SEPA_DEBIT and chosen.gateway == ledger.BANK_GATEWAY:
        collection_date = collection_date_for(
            today=timezone.localdate(), due_date=max(invoice.due_date for invoice, _part in allocations)
        )
    payment = ledger.create_payment(
        org=org,
        method=chosen,
        kind=chosen.kind,
        allocations=allocations,
        origin=Payment.Origin.CUSTOMER,
        idempotency_key=key,
        fingerprint=fingerprint,
        actor=actor,
        collection_date=collection_date,
    )
    return payment, False


def _usable_method(*, org: Org, method: PaymentMethod | None, invoices: list[Invoice], total: Decimal) -> PaymentMethod:
    """The method that pays: the one asked for (this org's, active) or the default; refused if it cannot."""
    methods = PaymentMethod.objects.filter(org=org, status=PaymentMethod.Status.ACTIVE)
    chosen = methods.filter(pk=method.pk).first() if method is not None else methods.filter(is_default=True).first()
    if chosen is None:
        message = (
            _("This payment method is not available. Please choose another one.")
            if method is not None
            else _("Add a payment method first.")
        )
        raise MethodUnusable(message, fields={"method": message})
    if chosen.kind == MethodKind.BANK_TRANSFER:
        raise MethodUnusable(_transfer_instructions(invoices, total))
    if ledger.is_card_expired(chosen, timezone.localdate()):
        raise MethodUnusable(_("This card has expired. Please add a new card or choose another payment method."))
    if chosen.kind == MethodKind.SEPA_DEBIT and invoices[0].currency != "EUR":
        raise MethodUnusable(_("SEPA Direct Debit pays invoices in EUR only. Please choose another payment method."))
    return chosen


def _transfer_instructions(invoices: list[Invoice], total: Decimal) -> str:
    """Bank transfer cannot be paid online: the message says where to transfer what, quoting which numbers."""
    seller = invoices[0].seller
    iban = (seller.get("qr_bill_iban") if invoices[0].currency == "CHF" else "") or seller.get("iban", "")
    numbers = ", ".join(sorted(invoice.number or "" for invoice in invoices))
    if not iban:
        try:
            iban = get_vendor().iban
        except Exception:  # no vendor data: the message still names the reference
            iban = ""
    locale = babel_locale(translation.get_language() or "de", invoices[0].buyer.get("country") or "DE")
    return _(
        "Invoices paid by bank transfer cannot be paid here. Please transfer %(amount)s to %(name)s, "
        "IBAN %(iban)s, quoting %(reference)s."
    ) % {
        "amount": format_money(total, invoices[0].currency, locale),
        "name": seller.get("name", ""),
        "iban": stdnum_iban.format(iban) if iban else "—",
        "reference": numbers,
    }


# ---------------------------------------------------------------- outcomes reported later


def confirm_payment_action(*, org: Org, payment: Payment, actor: Actor) -> Payment:
    """After the 3-D Secure page: ask the gateway how the payment ended and record it (idempotent).

    Another org's payment is not found. A payment that is not waiting for
    anything is returned as it is.
    """
    payment = Payment.objects.select_related("method").filter(pk=payment.pk, org=org).first()  # type: ignore[assignment]
    if payment is None:
        raise NotFound(_("Payment not found."))
    if not payment.is_in_flight or payment.gateway in ("", ledger.BANK_GATEWAY):
        return payment
    outcome = ledger.retrieve_at_gateway(payment)
    if outcome is None:
        return payment
    return ledger.record_outcome(payment_id=payment.pk, outcome=outcome, actor=actor).payment


def record_gateway_outcome(*, gateway: str, gateway_ref: str, outcome: ChargeOutcome) -> Payment | None:
    """A gateway's webhook: record the outcome of its charge `gateway_ref` (None when Konto has no such payment).

    Idempotent: the same event twice changes nothing the second time; an
    outcome that contradicts a settled payment is audited, not applied.
    """
    payment = Payment.objects.filter(gateway=gateway, gateway_ref=gateway_ref).first() if gateway_ref else None
    if payment is None:
        return None
    return ledger.record_outcome(
        payment_id=payment.pk, outcome=outcome, actor=Actor.system(f"gateway:{gateway}")
    ).payment


def record_payment_outcome(*, payment: Payment, outcome: ChargeOutcome, actor: Actor) -> Payment:
    """Record an outcome known outside a gateway, e.g. a SEPA collection the vendor's bank made (pain.008)."""
    return ledger.record_outcome(payment_id=payment.pk, outcome=outcome, actor=actor).payment


# ---------------------------------------------------------------- the vendor's bank account


def record_bank_transfer(
    *, invoice: Invoice, amount: Decimal, booking_date: date, reference: str, actor: Actor, idempotency_key: str
) -> Payment:
    """A transfer received on the vendor's account (camt.053 line) booked on one invoice: succeeded at once.

    Keyed by the statement line (`idempotency_key`): booking the same line
    again returns the first payment; the same key for another invoice or
    amount is `idempotency_key_reused`. The invoice must be open or
    uncollectible, the amount at most its open amount (`amount_mismatch`), and
    no collection of it may be on its way (`already_being_paid`).
    """
    key = clean_idempotency_key(idempotency_key)
    value = clean_amount(amount)
    if value is None:
        raise InvalidAmount(_("Enter a positive amount with at most two decimals."))
    fingerprint = hashlib.sha256(
        json.dumps({"invoice": invoice.public_id, "amount": str(value)}, sort_keys=True).encode()
    ).hexdigest()
    return _book_transfer(
        invoice=invoice,
        amount=value,
        booking_date=booking_date,
        reference=reference,
        actor=actor,
        key=key,
        fingerprint=fingerprint,
    )


@transaction.atomic(durable=True)
def _book_transfer(
    *,
    invoice: Invoice,
    amount: Decimal,
    booking_date: date,
    reference: str,
    actor: Actor,
    key: str,
    fingerprint: str,
) -> Payment:
    org = ledger.lock_org(invoice.org_id)
    existing = Payment.objects.filter(org=org, idempotency_key=key).first()
    if existing is not None:
        if existing.request_fingerprint != fingerprint:
            raise IdempotencyKeyReused(_("This statement line was already booked on another invoice or amount."))
        return existing
    locked = ledger.lock_invoices([invoice.pk])[invoice.pk]
    if locked.status not in ledger.PAYABLE_STATUSES or locked.open_amount <= 0:
        raise InvoiceNotPayable(_("Invoice %(number)s is not open for payment.") % {"number": locked.number})
    if amount > locked.open_amount:
        raise AmountMismatch(
            _("The amount is more than the %(open)s open on invoice %(number)s.")
            % {"open": locked.open_amount, "number": locked.number}
        )
    if ledger.in_flight_invoice_ids([locked.pk]):
        raise AlreadyBeingPaid(_("A payment for invoice %(number)s is being processed.") % {"number": locked.number})
    now = timezone.now()
    payment = ledger.create_payment(
        org=org,
        method=None,
        kind=MethodKind.BANK_TRANSFER,
        allocations=[(locked, amount)],
        origin=Payment.Origin.BANK_TRANSFER,
        idempotency_key=key,
        fingerprint=fingerprint,
        actor=actor,
        status=PaymentStatus.SUCCEEDED,
        now=now,
    )
    ledger.apply_allocations(payment, {locked.pk: locked}, actor=actor, now=now)
    record_event(
        actor=actor,
        org_id=org.pk,
        action="payment.succeeded",
        object_type="payment",
        object_id=payment.public_id,
        after={
            **ledger.describe(payment, None),
            "booking_date": booking_date.isoformat(),
            "reference": reference[:140],
            "invoice": locked.number,
        },
    )
    ledger.refresh_standing(org.pk, today=timezone.localdate(now), actor=actor)
    transaction.on_commit(partial(ledger.enqueue_receipt, payment_id=payment.pk))
    return payment


# SEPA R-transaction reason codes (ISO 20022 ExternalReturnReason) the customer is told about.
SEPA_RETURN_REASONS = {
    "AC01": _lazy("Incorrect account number"),
    "AC04": _lazy("Account closed"),
    "AC06": _lazy("Account blocked"),
    "AG01": _lazy("Direct debit not allowed on this account"),
    "AM04": _lazy("Insufficient funds"),
    "MD01": _lazy("No valid mandate"),
    "MD06": _lazy("Refund requested by the account holder"),
    "MD07": _lazy("Account holder deceased"),
    "MS02": _lazy("Refused by the account holder"),
    "MS03": _lazy("Reason not specified"),
    "SL01": _lazy("Specific service offered by the debtor's bank"),
}
OTHER_RETURN_REASON = _lazy("Returned by the account holder's bank")


def sepa_return_reason(code: str) -> str:
    """The reason of a SEPA return code in the active language."""
    return str(SEPA_RETURN_REASONS.get(code, OTHER_RETURN_REASON))


@transaction.atomic(durable=True)
def record_sepa_return(*, payment: Payment, reason_code: str, actor: Actor) -> Payment:
    """A collected direct debit came back (R-transaction): succeeded → failed, the invoices are owed again.

    Each applied allocation is taken back from its invoice (amount paid down,
    a paid invoice reopens), the reason code is kept as `failure_code`, the
    org's standing is recomputed and the billing contact is told after commit.
    The same return recorded twice changes nothing the second time.
    """
    locked, invoices = ledger.lock_payment_with_invoices(payment.pk)
    org_id = locked.org_id
    code = (reason_code or "").strip().upper()[:4] or "MS03"
    if locked.status == PaymentStatus.FAILED and locked.failure_code == code:
        return locked
    if locked.kind != MethodKind.SEPA_DEBIT or locked.status != PaymentStatus.SUCCEEDED:
        raise InvalidPaymentTransition(
            _("Only a collected SEPA Direct Debit can be returned."),
            extra={"from": locked.status, "to": PaymentStatus.FAILED},
        )
    reversed_parts = ledger.reverse_allocations(locked, invoices, amount=None, actor=actor)
    PaymentAllocation.objects.filter(payment=locked).update(is_applied=False, is_in_flight=False)
    now = timezone.now()
    locked.status = PaymentStatus.FAILED
    locked.failure_code = code
    with translation.override("en"):  # stored in English, like gateways' messages; shown translated by code
        locked.failure_message = sepa_return_reason(code)
    locked.status_changed_at = now
    locked.save(update_fields=["status", "failure_code", "failure_message", "status_changed_at"])
    record_event(
        actor=actor,
        org_id=org_id,
        action="payment.returned",
        object_type="payment",
        object_id=locked.public_id,
        before={"status": PaymentStatus.SUCCEEDED},
        after={
            **ledger.describe(locked, locked.method),
            "reason_code": code,
            "reversed": [[invoice.number, str(part)] for invoice, part in reversed_parts],
        },
    )
    ledger.refresh_standing(org_id, today=timezone.localdate(now), actor=actor)
    transaction.on_commit(partial(ledger.enqueue_sepa_return_notice, payment_id=locked.pk))
    return locked
