"""SEPA Direct Debit collections handed to the vendor's bank as one pain.008 file.

The file uses pain.008.001.08 (ISO 20022 2019, the German banks' "GBIC_4"
format of the DFÜ-Abkommen, Anlage 3): the German banks end pain.008.001.02
(DK format life cycle: November 2025, some banks November 2026), and
sepaxml builds .08 and validates it against the official XSD. The file holds
the debtors' full IBANs because the bank needs them; it is stored and
downloaded by billing operations, never logged or mailed.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from sepaxml import SepaDD  # type: ignore[import-untyped]  # no type hints published
from sepaxml.validation import ValidationError as SepaValidationError  # type: ignore[import-untyped]
from stdnum import bic as stdnum_bic
from stdnum import iban as stdnum_iban

from konto.accounts.models import Vendor
from konto.core.audit import Actor, record_event
from konto.core.money import ZERO
from konto.payments.exceptions import NoCreditorId, PaymentError
from konto.payments.gateways.base import ChargeOutcome
from konto.payments.models import MethodKind, Payment, PaymentMethod, PaymentStatus, SepaExport
from konto.payments.services import ledger

logger = logging.getLogger(__name__)

SCHEMA = "pain.008.001.08"
BANK_GATEWAY = ledger.BANK_GATEWAY  # collections the vendor's own bank makes from a pain.008 file
SEPA_CURRENCY = "EUR"
FIRST, RECURRING = "FRST", "RCUR"
MAX_REMITTANCE = 140  # Ustrd

# Identifiers in a SEPA file (message id, end-to-end id, mandate reference) use the restricted character set
# of the EPC and the German banks (DK TVS "RestrictedIdentificationSEPA1"): no underscore, no umlaut.
SEPA_ID = re.compile(r"[A-Za-z0-9+?/\-:().,']{1,35}")


class SepaFileInvalid(PaymentError):
    """The collections did not make a valid pain.008 file (the XSD refused it); nothing was exported."""

    code = "sepa_file_invalid"
    status = 409


def end_to_end_id(payment: Payment) -> str:
    """The payment's public id as the bank file carries it: the SEPA character set has no "_"."""
    return str(payment.public_id).replace("_", "-")


def payment_public_id(end_to_end: str) -> str:
    """The public id of a payment from an end-to-end id of a SEPA file or a bank statement (inverse of the above)."""
    value = end_to_end.strip()
    if value[:4].lower() in ("pay-", "pay_"):
        return "pay_" + value[4:].lower()
    return value


# ---------------------------------------------------------------- collection dates


def _easter_sunday(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous algorithm of Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    leap = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * leap) // 451
    month = (h + leap - 7 * m + 114) // 31
    day = (h + leap - 7 * m + 114) % 31 + 1
    return date(year, month, day)


def is_target_business_day(day: date) -> bool:
    """A TARGET2 day, when SEPA collections settle: Monday to Friday except the TARGET2 holidays.

    The holidays: 1 January, Good Friday, Easter Monday, 1 May, 25 and 26 December.
    """
    if day.weekday() >= 5:
        return False
    easter = _easter_sunday(day.year)
    closed = {
        date(day.year, 1, 1),
        easter - timedelta(days=2),
        easter + timedelta(days=1),
        date(day.year, 5, 1),
        date(day.year, 12, 25),
        date(day.year, 12, 26),
    }
    return day not in closed


def requested_collection_date(*, announced: date, today: date) -> date:
    """The date asked of the bank: the announced one, but not before the next TARGET2 day after today.

    SEPA CORE needs the file at the bank one business day before the debit (D-1); an overdue
    collection is asked for as soon as possible, never earlier than the customer was told.
    """
    day = max(announced, today + timedelta(days=1))
    while not is_target_business_day(day):
        day += timedelta(days=1)
    return day


# ---------------------------------------------------------------- building the file


@dataclass(frozen=True)
class Collection:
    """One debit of the file: the payment, its mandate and what the bank is asked to do."""

    payment: Payment
    mandate: PaymentMethod
    mandate_signed_on: date  # DtOfSgntr, the local date of the customer's acceptance
    sequence_type: str  # FRST or RCUR
    collection_date: date  # requested collection date (ReqdColltnDt)
    remittance: str  # invoice numbers


def _cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


def _creditor_config(vendor: Vendor) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": vendor.legal_name,
        "IBAN": vendor.iban,
        "batch": True,
        "creditor_id": vendor.sepa_creditor_id,
        "currency": SEPA_CURRENCY,
    }
    if vendor.bic:
        config["BIC"] = vendor.bic
    return config


def build_pain008(
    *, vendor: Vendor, collections: Sequence[Collection], message_id: str, created_at: dt.datetime
) -> bytes:
    """The pain.008.001.08 XML of these collections, validated against the XSD by sepaxml.

    One payment information block per (sequence type, collection date), batch booking.
    """
    document = SepaDD(_creditor_config(vendor), schema=SCHEMA, clean=True)
    # sepaxml builds the group header in its constructor with a random id and the wall clock, and offers no
    # setter: Konto's message id (stored and unique) and the service's clock go in here.
    header = document._xml.find("CstmrDrctDbtInitn/GrpHdr")
    header.find("MsgId").text = message_id
    header.find("CreDtTm").text = timezone.localtime(created_at).strftime("%Y-%m-%dT%H:%M:%S")
    document.msg_id = message_id
    for collection in collections:
        mandate = collection.mandate
        transaction_data: dict[str, Any] = {
            "name": mandate.account_holder,
            "IBAN": mandate.iban,
            "amount": _cents(collection.payment.amount),
            "currency": SEPA_CURRENCY,
            "type": collection.sequence_type,
            "collection_date": collection.collection_date,
            "mandate_id": mandate.mandate_reference,
            "mandate_date": collection.mandate_signed_on,
            "description": collection.remittance,
            "endtoend_id": end_to_end_id(collection.payment),
        }
        if mandate.bic:
            transaction_data["BIC"] = mandate.bic
        document.add_payment(transaction_data)
    try:
        content: bytes = document.export(validate=True)
    except SepaValidationError:
        # The schema's message quotes the offending value, which may be an IBAN: it is not passed on.
        raise SepaFileInvalid(
            _("The SEPA file could not be built: the pain.008 schema refused it. Check the vendor's bank data.")
        ) from None
    return content


# ---------------------------------------------------------------- choosing what is due


def _vendor_for_collections() -> Vendor:
    vendor = Vendor.objects.order_by("pk").first()
    if vendor is None or not (vendor.legal_name and vendor.iban and vendor.sepa_creditor_id):
        raise NoCreditorId(_("Enter the vendor's name, IBAN and SEPA creditor ID before exporting direct debits."))
    return vendor


def _unusable_reason(mandate: PaymentMethod | None) -> str:
    """Why a payment's mandate cannot be collected ("" when it can); never names the IBAN."""
    if mandate is None or mandate.kind != MethodKind.SEPA_DEBIT:
        return "no_mandate"
    if mandate.status != PaymentMethod.Status.ACTIVE:
        return "mandate_removed"  # a revoked mandate is never collected
    if not stdnum_iban.is_valid(mandate.iban):
        return "invalid_iban"
    if mandate.bic and not stdnum_bic.is_valid(mandate.bic):
        return "invalid_bic"
    if not SEPA_ID.fullmatch(mandate.mandate_reference) or mandate.mandate_signed_at is None:
        return "invalid_mandate"
    if not mandate.account_holder.strip():
        return "no_account_holder"
    return ""


def _remittance(payment: Payment) -> str:
    numbers = sorted({allocation.invoice.number or "" for allocation in payment.allocations.all()} - {""})
    text = ", ".join(numbers) or end_to_end_id(payment)
    return text[:MAX_REMITTANCE]


def _due_payments(*, collection_date_until: date, payment_ids: Sequence[int]) -> list[Payment]:
    """Lock the due collections among `payment_ids`; rows another transaction holds are skipped, not waited for."""
    return list(
        Payment.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(
            pk__in=payment_ids,
            kind=MethodKind.SEPA_DEBIT,
            gateway=BANK_GATEWAY,
            status=PaymentStatus.PENDING,
            exported_at__isnull=True,
            collection_date__isnull=False,
            collection_date__lte=collection_date_until,
            currency=SEPA_CURRENCY,
        )
        .select_related("method")
        .prefetch_related("allocations__invoice")
        .order_by("collection_date", "created_at", "id")
    )


def _sequence_types(payments: Sequence[Payment]) -> dict[int, str]:
    """FRST for a mandate's first collection ever sent to the bank, RCUR for every later one."""
    method_ids = {payment.method_id for payment in payments}
    collected_before = set(
        Payment.objects.filter(method_id__in=method_ids, exported_at__isnull=False)
        .values_list("method_id", flat=True)
        .distinct()
    )
    types: dict[int, str] = {}
    for payment in payments:  # oldest first: the first of a new mandate opens it
        if payment.method_id in collected_before:
            types[payment.pk] = RECURRING
        else:
            types[payment.pk] = FIRST
            if payment.method_id is not None:
                collected_before.add(payment.method_id)
    return types


def _message_id(now: dt.datetime) -> str:
    return f"KONTO-{timezone.localtime(now):%Y%m%d%H%M%S}-{secrets.token_hex(4)}"


# ---------------------------------------------------------------- the service


@transaction.atomic(durable=True)
def export_sepa_collections(*, collection_date_until: date, actor: Actor, now: dt.datetime) -> SepaExport | None:
    """Put every due SEPA collection of the vendor's bank into one new pain.008 file; None when nothing is due.

    Due: a pending SEPA Direct Debit payment (gateway "bank", EUR) not exported yet whose announced
    collection date is on or before `collection_date_until`. Each one is exported once: the file, the
    payments' `exported_at` and their outcome "succeeded" (payments-core's `apply_outcome`, which applies
    them to their invoices) commit together, and a rerun finds nothing left. A payment whose mandate
    cannot be collected (revoked, invalid data) stays pending and is named in the audit event.

    Locks follow the payments order (orgs, then invoices, then payments); the payments are taken with
    SKIP LOCKED, so a payment another transaction holds is left for the next file.
    """
    candidates = _candidate_scope(collection_date_until=collection_date_until)
    if not candidates:
        return None
    for org_id in sorted({org_id for org_id, _invoice_ids in candidates.values()}):
        ledger.lock_org(org_id)
    invoices = ledger.lock_invoices(
        invoice_id for _org_id, invoice_ids in candidates.values() for invoice_id in invoice_ids
    )
    payments = _due_payments(collection_date_until=collection_date_until, payment_ids=list(candidates))
    usable: list[tuple[Payment, PaymentMethod]] = []
    skipped: list[dict[str, str]] = []
    for payment in payments:
        reason = _unusable_reason(payment.method)
        if reason or payment.method is None:
            skipped.append({"payment": payment.public_id, "reason": reason})
        else:
            usable.append((payment, payment.method))
    if skipped:
        logger.warning("SEPA export skipped %d collections: %s", len(skipped), skipped)  # ids and reasons only
    if not usable:
        return None
    vendor = _vendor_for_collections()
    today = timezone.localdate(now)
    sequence_types = _sequence_types([payment for payment, _mandate in usable])
    collections = [
        Collection(
            payment=payment,
            mandate=mandate,
            mandate_signed_on=timezone.localdate(mandate.mandate_signed_at or now),
            sequence_type=sequence_types[payment.pk],
            collection_date=requested_collection_date(announced=payment.collection_date or today, today=today),
            remittance=_remittance(payment),
        )
        for payment, mandate in usable
    ]
    message_id = _message_id(now)
    content = build_pain008(vendor=vendor, collections=collections, message_id=message_id, created_at=now)
    total = sum((payment.amount for payment, _mandate in usable), ZERO)
    export = SepaExport.objects.create(
        message_id=message_id,
        collection_date=min(collection.collection_date for collection in collections),
        currency=SEPA_CURRENCY,
        payments_count=len(usable),
        total_amount=total,
        content=content,
        created_by_id=actor.user_id,
    )
    for payment, _mandate in usable:
        payment.exported_at = now
        payment.save(update_fields=["exported_at"])
        # The bank collects what the file asks for: the payment counts as paid now; a return reverses it.
        outcome = ChargeOutcome(status="succeeded", gateway_ref=f"{message_id}:{end_to_end_id(payment)}")
        ledger.apply_outcome(payment, invoices, outcome=outcome, actor=actor, now=now, today=today)
    record_event(
        actor=actor,
        org_id=None,
        action="sepa_export.created",
        object_type="sepa_export",
        object_id=export.public_id,
        after={
            "message_id": message_id,
            "payments": [payment.public_id for payment, _mandate in usable],
            "total_amount": str(total),
            "currency": SEPA_CURRENCY,
            "collection_date": export.collection_date.isoformat(),
            "skipped": skipped,
        },
    )
    return export


def _candidate_scope(*, collection_date_until: date) -> dict[int, tuple[int, list[int]]]:
    """payment id → (org id, invoice ids) of the due collections, read without locks to take the locks in order."""
    rows = (
        Payment.objects.filter(
            kind=MethodKind.SEPA_DEBIT,
            gateway=BANK_GATEWAY,
            status=PaymentStatus.PENDING,
            exported_at__isnull=True,
            collection_date__isnull=False,
            collection_date__lte=collection_date_until,
            currency=SEPA_CURRENCY,
        )
        .values_list("pk", "org_id", "allocations__invoice_id")
        .order_by("pk")
    )
    scope: dict[int, tuple[int, list[int]]] = {}
    for payment_id, org_id, invoice_id in rows:
        entry = scope.setdefault(payment_id, (org_id, []))
        if invoice_id is not None:
            entry[1].append(invoice_id)
    return scope
