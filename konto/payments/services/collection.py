"""Automatic collection: card and SEPA orgs are charged when an invoice is issued, retried, reconciled.

- `collect_invoices`: one payment per issued invoice of an org whose default
  method is a usable card or SEPA mandate, key "collect-<invoice>-0"; the
  card is charged off-session, a mandate of the vendor's bank waits (pending)
  for the pain.008 file on its announced collection date.
- `retry_failed_collections`: a failed collection is tried again on the
  dunning schedule's retry days (1, 3, 7) after the first failure, key
  "collect-<invoice>-<n>", origin retry. The unique key per org makes a rerun
  (two cron runs, a crash) create nothing twice.
- `reconcile_unknown_payments`: payments whose outcome is unknown (the gateway
  did not answer), and gateway payments still pending after a while, are
  asked about with `retrieve_charge` and recorded.

Nothing is charged for an invoice that has a payment on its way.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from konto.billing.models import Invoice, InvoiceStatus
from konto.core.audit import Actor
from konto.payments.models import MethodKind, Payment, PaymentAllocation, PaymentMethod, PaymentStatus
from konto.payments.services import ledger

logger = logging.getLogger(__name__)

SYSTEM = Actor.system("payments")
PENDING_RECONCILE_AFTER = timedelta(minutes=15)  # a gateway payment pending this long is asked about
REQUIRES_ACTION_RECONCILE_AFTER = timedelta(hours=1)  # an unconfirmed 3-D Secure payment is asked about


# ---------------------------------------------------------------- SEPA collection dates


def pre_notification_days() -> int:
    """How long before a debit it is announced (KONTO_SEPA_PRE_NOTIFICATION_DAYS, at least 1, default 1)."""
    return max(int(getattr(settings, "KONTO_SEPA_PRE_NOTIFICATION_DAYS", 1)), 1)


def earliest_collection_date(today: date) -> date:
    """The first TARGET2 business day at least the pre-notification period after `today`."""
    from konto.payments.services.sepa_export import is_target_business_day

    day = today + timedelta(days=pre_notification_days())
    while not is_target_business_day(day):
        day += timedelta(days=1)
    return day


def collection_date_for(*, today: date, due_date: date) -> date:
    """The announced debit date: never before the due date, never before the pre-notification period is over."""
    from konto.payments.services.sepa_export import is_target_business_day

    day = max(earliest_collection_date(today), due_date)
    while not is_target_business_day(day):
        day += timedelta(days=1)
    return day


# ---------------------------------------------------------------- what issued invoices say about payment


def payment_details_for_orgs(org_ids: Sequence[int], issue_date: date) -> dict[int, dict[str, Any]]:
    """billing.ports provider: how each org pays as invoices are issued on `issue_date` (cards, mandates only).

    Card: brand and last 4 digits (an expired card gives nothing: the invoice
    then asks for a transfer). Mandate: reference, creditor ID, masked IBAN
    (country, check digits, X for the rest, last 4 — valid IBAN syntax for
    the e-invoice's BT-91, never the account number) and the earliest
    collection date; billing moves it to the due date where that is later.
    """
    details: dict[int, dict[str, Any]] = {}
    methods = PaymentMethod.objects.filter(
        org_id__in=list(org_ids),
        is_default=True,
        status=PaymentMethod.Status.ACTIVE,
        kind__in=[MethodKind.CARD, MethodKind.SEPA_DEBIT],
    )
    for method in methods:
        if method.kind == MethodKind.CARD:
            if ledger.is_card_expired(method, issue_date):
                continue
            details[method.org_id] = {"card_brand": method.card_brand, "card_last4": method.card_last4}
        else:
            details[method.org_id] = {
                "mandate_reference": method.mandate_reference,
                "creditor_id": method.creditor_id,
                "debited_iban_masked": masked_iban_for_documents(method.iban),
                "collection_date": earliest_collection_date(issue_date).isoformat(),
            }
    return details


def masked_iban_for_documents(iban: str) -> str:
    """ "DE89XXXXXXXXXXXXXX3000": the IBAN's length and syntax, only country, check digits and last 4 readable."""
    compact = iban.replace(" ", "")
    if len(compact) <= 8:
        return "X" * len(compact)
    return compact[:4] + "X" * (len(compact) - 8) + compact[-4:]


def on_invoices_issued(invoice_ids: list[int]) -> None:
    """billing.ports listener (after the issuing transaction committed): queue the automatic collection."""
    from konto.payments.tasks import collect_invoices_task  # the tasks module imports the services

    if not _has_collectable_org(invoice_ids):
        return
    collect_invoices_task.enqueue(invoice_ids=list(invoice_ids), today=timezone.localdate().isoformat())


def _has_collectable_org(invoice_ids: list[int]) -> bool:
    """Whether any of these invoices belongs to an org with a card or mandate as default (cheap pre-check)."""
    org_ids = Invoice.objects.filter(pk__in=invoice_ids).values("org_id")
    return PaymentMethod.objects.filter(
        org_id__in=org_ids,
        is_default=True,
        status=PaymentMethod.Status.ACTIVE,
        kind__in=[MethodKind.CARD, MethodKind.SEPA_DEBIT],
    ).exists()


# ---------------------------------------------------------------- collecting


def collection_key(invoice: Invoice, retry_count: int) -> str:
    return f"collect-{invoice.public_id}-{retry_count}"


def collect_invoices(*, invoice_ids: Sequence[int], today: date) -> list[Payment]:
    """Charge each open invoice of a card or SEPA org once (first attempt); returns the payments made.

    Invoices of orgs paying by transfer, without a usable default method,
    already paid or with a payment on its way are left alone; running this
    again for the same invoices makes no second payment (key per invoice).
    """
    payments = []
    for invoice_id in sorted(set(invoice_ids)):
        payment = _collect(invoice_id=invoice_id, today=today, retry_of=None)
        if payment is not None:
            payments.append(payment)
    return payments


def retry_failed_collections(*, today: date) -> int:
    """Try every failed collection again whose retry day has come; returns the number of new attempts."""
    due = list(
        Payment.objects.filter(
            status=PaymentStatus.FAILED,
            origin__in=[Payment.Origin.AUTOMATIC, Payment.Origin.RETRY],
            next_retry_on__lte=today,
        )
        .order_by("next_retry_on", "pk")
        .values_list("pk", flat=True)
    )
    attempts = 0
    for payment_id in due:
        invoice_id = (
            PaymentAllocation.objects.filter(payment_id=payment_id).values_list("invoice_id", flat=True).first()
        )
        if invoice_id is not None and _collect(invoice_id=invoice_id, today=today, retry_of=payment_id) is not None:
            attempts += 1
    return attempts


def _collect(*, invoice_id: int, today: date, retry_of: int | None) -> Payment | None:
    try:
        opened = _open_collection(invoice_id=invoice_id, today=today, retry_of=retry_of)
    except Exception:  # one invoice's trouble never stops the others; the next run tries again
        logger.exception("collecting invoice %s failed", invoice_id)
        return None
    if opened is None:
        return None
    payment, first_failed_on = opened
    if payment.gateway == ledger.BANK_GATEWAY:
        return payment  # collected by the vendor's bank from the pain.008 file
    outcome = ledger.charge_at_gateway(payment, on_session=False)
    recorded = ledger.record_outcome(
        payment_id=payment.pk, outcome=outcome, actor=SYSTEM, today=today, first_failed_on=first_failed_on
    )
    return recorded.payment


@transaction.atomic(durable=True)
def _open_collection(*, invoice_id: int, today: date, retry_of: int | None) -> tuple[Payment, date | None] | None:
    """Transaction 1 of a collection: every check under the locks, then the payment row and, for a retry, the
    day the first attempt failed (its schedule's day minus the retry days); None when nothing is to be done."""
    org_id = Invoice.objects.values_list("org_id", flat=True).get(pk=invoice_id)
    org = ledger.lock_org(org_id)
    invoice = ledger.lock_invoices([invoice_id])[invoice_id]
    previous = ledger.lock_payment(retry_of) if retry_of is not None else None
    first_failed_on = None
    if previous is not None:
        if previous.status != PaymentStatus.FAILED or previous.next_retry_on is None:
            return None  # retried meanwhile
        days = ledger.retry_days()
        if previous.retry_count < len(days):
            first_failed_on = previous.next_retry_on - timedelta(days=days[previous.retry_count])
        previous.next_retry_on = None
        previous.save(update_fields=["next_retry_on"])
    retry_count = previous.retry_count + 1 if previous is not None else 0
    key = collection_key(invoice, retry_count)
    if Payment.objects.filter(org=org, idempotency_key=key).exists():
        return None
    if (
        invoice.status != InvoiceStatus.OPEN
        or invoice.payment_method_kind == MethodKind.BANK_TRANSFER
        or invoice.open_amount <= 0
        or ledger.in_flight_invoice_ids([invoice.pk])
    ):
        return None
    method = PaymentMethod.objects.filter(org=org, is_default=True, status=PaymentMethod.Status.ACTIVE).first()
    if (
        method is None
        or method.kind not in (MethodKind.CARD, MethodKind.SEPA_DEBIT)
        or ledger.is_card_expired(method, today)
        or (method.kind == MethodKind.SEPA_DEBIT and invoice.currency != "EUR")
    ):
        return None
    collection_date = None
    if method.kind == MethodKind.SEPA_DEBIT and method.gateway == ledger.BANK_GATEWAY:
        announced = (invoice.payment_details or {}).get("collection_date") if retry_count == 0 else None
        collection_date = (
            date.fromisoformat(announced)
            if announced and (invoice.payment_details or {}).get("mandate_reference") == method.mandate_reference
            else collection_date_for(today=today, due_date=invoice.due_date)
        )
    payment = ledger.create_payment(
        org=org,
        method=method,
        kind=method.kind,
        allocations=[(invoice, invoice.open_amount)],
        origin=Payment.Origin.AUTOMATIC if previous is None else Payment.Origin.RETRY,
        idempotency_key=key,
        actor=SYSTEM,
        retry_count=retry_count,
        collection_date=collection_date,
    )
    return payment, first_failed_on


# ---------------------------------------------------------------- reconciliation


def reconcile_unknown_payments(*, now: dt.datetime) -> int:
    """Ask the gateway about payments whose outcome is not known; returns how many got a final outcome.

    Asked: every payment with status unknown, gateway payments still pending
    after 15 minutes (e.g. a crash between the payment row and the gateway
    call: the gateway then says "not_found" and the payment fails, so the
    invoice can be paid again) and 3-D Secure payments unconfirmed after an
    hour. Collections of the vendor's bank wait for their pain.008 file.
    """
    candidates = list(
        Payment.objects.filter(
            Q(status=PaymentStatus.UNKNOWN)
            | Q(status=PaymentStatus.PENDING, created_at__lte=now - PENDING_RECONCILE_AFTER)
            | Q(status=PaymentStatus.REQUIRES_ACTION, created_at__lte=now - REQUIRES_ACTION_RECONCILE_AFTER)
        )
        .exclude(gateway__in=["", ledger.BANK_GATEWAY])
        .select_related("method")
        .order_by("pk")
    )
    settled = 0
    for payment in candidates:
        outcome = ledger.retrieve_at_gateway(payment)
        Payment.objects.filter(pk=payment.pk).update(last_checked_at=now)
        if outcome is None:
            continue
        recorded = ledger.record_outcome(payment_id=payment.pk, outcome=outcome, actor=SYSTEM, now=now)
        if recorded.is_changed and not recorded.payment.is_in_flight:
            settled += 1
    return settled
