"""The bookkeeping every payment flow shares: locks, payment rows and allocations, gateway calls, outcomes.

"Money moves exactly once" rests on four rules kept here:

1. The Payment row and its allocations are committed (transaction 1) before
   the gateway is called; the gateway gets the payment's public id as its
   idempotency key, so asking again can never charge again.
2. An invoice has at most one allocation in flight (pending, awaiting
   confirmation, outcome unknown): the partial unique constraint
   `allocation_one_in_flight_per_invoice` guarantees it, the invoice row locks
   make a second request wait and then see the first one's allocation.
3. The gateway is called outside any transaction; what it answers is recorded
   in transaction 2 (`record_outcome`), which is idempotent: an outcome the
   payment already has changes nothing, a late contradicting one is audited
   and ignored.
4. Locks are taken in one order everywhere: the org row, then invoice rows by
   id, then the payment row.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import partial

from django.db import transaction
from django.utils import timezone

from konto.accounts.models import Org
from konto.billing.models import Invoice, InvoiceStatus
from konto.billing.services.invoices import apply_invoice_payment, reverse_invoice_payment
from konto.core.audit import Actor, record_event
from konto.core.money import ZERO
from konto.payments.gateways import get_gateway
from konto.payments.gateways.base import ChargeOutcome, GatewayTimeout, GatewayUnavailable
from konto.payments.models import (
    PAYMENT_TRANSITIONS,
    MethodKind,
    Payment,
    PaymentAllocation,
    PaymentMethod,
    PaymentStatus,
)

logger = logging.getLogger(__name__)

BANK_GATEWAY = "bank"  # SEPA mandates collected by the vendor's own bank from a pain.008 file
UNKNOWN = "unknown"  # ChargeOutcome.status Konto records when the gateway did not answer
PAYABLE_STATUSES = (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE)  # statuses that take money

_OUTCOME_STATUS = {
    "succeeded": PaymentStatus.SUCCEEDED,
    "failed": PaymentStatus.FAILED,
    "requires_action": PaymentStatus.REQUIRES_ACTION,
    "pending": PaymentStatus.PENDING,
    UNKNOWN: PaymentStatus.UNKNOWN,
}


# ---------------------------------------------------------------- locks (org → invoices by id → payment)


def lock_org(org_id: int) -> Org:
    return Org.objects.select_for_update().get(pk=org_id)


def lock_invoices(invoice_ids: Iterable[int]) -> dict[int, Invoice]:
    ids = sorted(set(invoice_ids))
    return {invoice.pk: invoice for invoice in Invoice.objects.select_for_update().filter(pk__in=ids).order_by("pk")}


def lock_payment(payment_id: int) -> Payment:
    return Payment.objects.select_for_update(of=("self",)).select_related("method").get(pk=payment_id)


def lock_payment_with_invoices(payment_id: int) -> tuple[Payment, dict[int, Invoice]]:
    """Lock a payment's org, invoices and the payment itself, in the lock order."""
    org_id, allocated = payment_scope(payment_id)
    lock_org(org_id)
    invoices = lock_invoices(allocated)
    return lock_payment(payment_id), invoices


def payment_scope(payment_id: int) -> tuple[int, list[int]]:
    org_id = Payment.objects.values_list("org_id", flat=True).get(pk=payment_id)
    allocated = list(PaymentAllocation.objects.filter(payment_id=payment_id).values_list("invoice_id", flat=True))
    return org_id, allocated


# ---------------------------------------------------------------- reading and checking


def in_flight_invoice_ids(invoice_ids: Iterable[int]) -> set[int]:
    return set(
        PaymentAllocation.objects.filter(invoice_id__in=list(invoice_ids), is_in_flight=True).values_list(
            "invoice_id", flat=True
        )
    )


def is_card_expired(method: PaymentMethod, today: date) -> bool:
    """A card is valid through the last day of its expiry month."""
    if method.kind != MethodKind.CARD or method.card_exp_year is None or method.card_exp_month is None:
        return False
    return (method.card_exp_year, method.card_exp_month) < (today.year, today.month)


def allocate_oldest_first(invoices: Sequence[Invoice], amount: Decimal) -> list[tuple[Invoice, Decimal]]:
    """Split `amount` over the invoices, oldest first (due date, issue date, number); invoices left over get nothing."""
    plan: list[tuple[Invoice, Decimal]] = []
    remaining = amount
    for invoice in sorted(invoices, key=lambda item: (item.due_date, item.issue_date, item.number or "", item.pk)):
        if remaining <= 0:
            break
        part = min(remaining, invoice.open_amount)
        if part > 0:
            plan.append((invoice, part))
            remaining -= part
    return plan


# ---------------------------------------------------------------- transaction 1: the payment row


def create_payment(
    *,
    org: Org,
    method: PaymentMethod | None,
    kind: str,
    allocations: Sequence[tuple[Invoice, Decimal]],
    origin: str,
    idempotency_key: str,
    actor: Actor,
    fingerprint: str = "",
    retry_count: int = 0,
    collection_date: date | None = None,
    status: str = PaymentStatus.PENDING,
    now: dt.datetime | None = None,
) -> Payment:
    """Insert a payment and its allocations (in flight unless it is already succeeded), inside the caller's locks.

    The caller has locked the org and the invoices and checked that none of
    them has an allocation in flight; the constraint refuses it anyway.
    """
    now = now or timezone.now()
    amount = sum((part for _invoice, part in allocations), ZERO)
    currency = allocations[0][0].currency
    payment = Payment.objects.create(
        org=org,
        method=method,
        kind=kind,
        origin=origin,
        status=status,
        amount=amount,
        currency=currency,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
        gateway=method.gateway if method is not None else "",
        retry_count=retry_count,
        collection_date=collection_date,
        initiated_by_id=actor.user_id,
        status_changed_at=now,
    )
    is_in_flight = status in (PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION, PaymentStatus.UNKNOWN)
    PaymentAllocation.objects.bulk_create(
        [
            PaymentAllocation(
                payment=payment,
                invoice=invoice,
                org=org,
                amount=part,
                is_in_flight=is_in_flight,
                is_applied=False,
            )
            for invoice, part in allocations
        ]
    )
    record_event(
        actor=actor,
        org_id=org.pk,
        action="payment.created",
        object_type="payment",
        object_id=payment.public_id,
        after={
            **describe(payment, method),
            "origin": origin,
            "invoices": [invoice.number for invoice, _part in allocations],
            "allocations": [[invoice.number, str(part)] for invoice, part in allocations],
        },
    )
    return payment


def describe(payment: Payment, method: PaymentMethod | None) -> dict[str, object]:
    """What the audit trail and receipts say about a payment: never a card number or a full IBAN."""
    described: dict[str, object] = {
        "status": payment.status,
        "amount": str(payment.amount),
        "currency": payment.currency,
        "kind": payment.kind,
    }
    if method is not None and method.kind == MethodKind.CARD:
        described["card"] = f"{method.card_brand} {method.card_last4}"
    elif method is not None and method.kind == MethodKind.SEPA_DEBIT:
        described["iban"] = method.masked_iban
        described["mandate_reference"] = method.mandate_reference
    return described


# ---------------------------------------------------------------- the gateway call (no transaction)


def charge_at_gateway(payment: Payment, *, on_session: bool, return_url: str = "") -> ChargeOutcome:
    """Ask the payment's gateway to charge it; GatewayTimeout (or any surprise) → status "unknown".

    Never inside a transaction: the payment row must be committed first, so a
    crash after the gateway charged leaves a row reconciliation can ask about.
    """
    if _in_transaction():
        raise RuntimeError("the gateway is called outside transactions, after the payment row is committed")
    method = payment.method
    if method is None:
        raise RuntimeError("a payment without a method is not charged at a gateway")
    try:
        gateway = get_gateway(payment.gateway)
        return gateway.charge(
            method_ref=method.gateway_ref,
            customer_ref=method.gateway_customer_ref,
            amount=payment.amount,
            currency=payment.currency,
            idempotency_key=payment.public_id,
            description=charge_description(payment),
            on_session=on_session,
            return_url=return_url,
            method_kind=method.kind,
        )
    except GatewayTimeout:
        logger.warning("gateway %s did not answer for payment %s: outcome unknown", payment.gateway, payment.public_id)
        return ChargeOutcome(status=UNKNOWN)
    except GatewayUnavailable as error:
        logger.warning("gateway %s refused payment %s: %s", payment.gateway, payment.public_id, error)
        return ChargeOutcome(status="failed", failure_code="gateway_unavailable", failure_message=str(error)[:300])
    except Exception:  # the outcome is not known: reconciliation asks the gateway later
        logger.exception("charging payment %s failed unexpectedly: outcome unknown", payment.public_id)
        return ChargeOutcome(status=UNKNOWN)


def _in_transaction() -> bool:
    """Inside a transaction of our own; the one Django's TestCase wraps each test in does not count (as for durable)."""
    blocks = transaction.get_connection().atomic_blocks
    return bool(blocks) and not getattr(blocks[-1], "_from_testcase", False)


def retrieve_at_gateway(payment: Payment) -> ChargeOutcome | None:
    """What the gateway says about the payment now; None when it does not answer (ask again later)."""
    try:
        return get_gateway(payment.gateway).retrieve_charge(
            gateway_ref=payment.gateway_ref, idempotency_key=payment.public_id
        )
    except (GatewayTimeout, GatewayUnavailable) as error:
        logger.warning("gateway %s gave no answer about payment %s: %s", payment.gateway, payment.public_id, error)
        return None


def charge_description(payment: Payment) -> str:
    numbers = sorted(
        number
        for number in PaymentAllocation.objects.filter(payment=payment).values_list("invoice__number", flat=True)
        if number
    )
    return ("Konto " + ", ".join(numbers))[:300]


# ---------------------------------------------------------------- transaction 2: the outcome


@dataclass(frozen=True)
class Recorded:
    """What recording an outcome did: the payment as it is now and whether its status changed."""

    payment: Payment
    is_changed: bool


def record_outcome(
    *,
    payment_id: int,
    outcome: ChargeOutcome,
    actor: Actor,
    now: dt.datetime | None = None,
    today: date | None = None,
    first_failed_on: date | None = None,
) -> Recorded:
    """Record what the gateway answered, in its own transaction (idempotent; see the module docstring).

    `today` is the business day of the attempt (default: the local date of
    `now`); `first_failed_on`, for a retry, the day the first attempt failed —
    both only matter for scheduling the next retry of a failed collection.
    """
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        payment, invoices = lock_payment_with_invoices(payment_id)
        return apply_outcome(
            payment,
            invoices,
            outcome=outcome,
            actor=actor,
            now=now,
            today=today or timezone.localdate(now),
            first_failed_on=first_failed_on,
        )


def apply_outcome(
    payment: Payment,
    invoices: dict[int, Invoice],
    *,
    outcome: ChargeOutcome,
    actor: Actor,
    now: dt.datetime,
    today: date,
    first_failed_on: date | None = None,
) -> Recorded:
    """`record_outcome` inside the caller's transaction, with the org, invoices and payment locked."""
    target = _OUTCOME_STATUS.get(outcome.status)
    if target is None:
        raise ValueError(f"unknown outcome status {outcome.status!r}")
    changed_fields: list[str] = []
    if outcome.gateway_ref and not payment.gateway_ref:
        payment.gateway_ref = outcome.gateway_ref
        changed_fields.append("gateway_ref")
    if not payment.is_in_flight:
        # Settled already: only a SEPA return or a refund changes it, never a gateway's late word.
        if target not in (payment.status, PaymentStatus.UNKNOWN, PaymentStatus.PENDING):
            logger.warning(
                "payment %s is %s; the gateway says %s: not applied", payment.public_id, payment.status, target
            )
            record_event(
                actor=actor,
                org_id=payment.org_id,
                action="payment.outcome_conflict",
                object_type="payment",
                object_id=payment.public_id,
                before={"status": payment.status},
                after={"reported_status": str(target), "gateway_ref": outcome.gateway_ref},
            )
        if changed_fields:
            payment.save(update_fields=changed_fields)
        return Recorded(payment=payment, is_changed=False)
    if target == payment.status or target not in PAYMENT_TRANSITIONS[payment.status]:
        # Nothing new for a payment on its way: a repeated answer, "still processing", a timeout after an
        # answer. Keep the status; note the gateway's ref or a new confirmation URL.
        if target == PaymentStatus.REQUIRES_ACTION and outcome.action_url and outcome.action_url != payment.action_url:
            payment.action_url = outcome.action_url[:500]
            changed_fields.append("action_url")
        if changed_fields:
            payment.save(update_fields=changed_fields)
        return Recorded(payment=payment, is_changed=False)
    before = payment.status
    payment.status = target
    payment.status_changed_at = now
    changed_fields += ["status", "status_changed_at"]
    if target == PaymentStatus.REQUIRES_ACTION:
        payment.action_url = outcome.action_url[:500]
        changed_fields.append("action_url")
    elif target == PaymentStatus.SUCCEEDED:
        apply_allocations(payment, invoices, actor=actor, now=now)
    elif target == PaymentStatus.FAILED:
        payment.failure_code = outcome.failure_code[:40]
        payment.failure_message = outcome.failure_message[:300]
        changed_fields += ["failure_code", "failure_message"]
        PaymentAllocation.objects.filter(payment=payment, is_in_flight=True).update(is_in_flight=False)
        if payment.origin in (Payment.Origin.AUTOMATIC, Payment.Origin.RETRY):
            payment.next_retry_on = next_retry_on(payment, failed_on=today, first_failed_on=first_failed_on)
            changed_fields.append("next_retry_on")
    payment.save(update_fields=changed_fields)
    record_event(
        actor=actor,
        org_id=payment.org_id,
        action=f"payment.{target}",
        object_type="payment",
        object_id=payment.public_id,
        before={"status": before},
        after={
            **describe(payment, payment.method),
            "gateway_ref": payment.gateway_ref,
            "failure_code": payment.failure_code,
            **({"next_retry_on": payment.next_retry_on.isoformat()} if payment.next_retry_on else {}),
        },
    )
    if target in (PaymentStatus.SUCCEEDED, PaymentStatus.FAILED):
        refresh_standing(payment.org_id, today=today, actor=actor)
    if target == PaymentStatus.SUCCEEDED:
        transaction.on_commit(partial(enqueue_receipt, payment_id=payment.pk))
    return Recorded(payment=payment, is_changed=True)


def apply_allocations(payment: Payment, invoices: dict[int, Invoice], *, actor: Actor, now: dt.datetime) -> None:
    """Add each allocation to its invoice's amount paid (paid in full → status paid); none is in flight after.

    An invoice that can no longer take the whole allocation (credited or voided
    while the payment was on its way) takes what it can; the rest stays with
    the payment, unallocated, and is audited for staff to refund.
    """
    unapplied = ZERO
    for allocation in PaymentAllocation.objects.filter(payment=payment).order_by("id"):
        invoice = invoices[allocation.invoice_id]
        room = invoice.open_amount if invoice.status in PAYABLE_STATUSES else ZERO
        part = min(allocation.amount, max(room, ZERO))
        if part > 0:
            apply_invoice_payment(invoice=invoice, amount=part, actor=actor, now=now)
        unapplied += allocation.amount - part
        allocation.is_in_flight = False
        allocation.is_applied = part > 0
        if 0 < part < allocation.amount:
            allocation.amount = part
        allocation.save(update_fields=["is_in_flight", "is_applied", "amount"])
    if unapplied > 0:
        record_event(
            actor=actor,
            org_id=payment.org_id,
            action="payment.unallocated_amount",
            object_type="payment",
            object_id=payment.public_id,
            after={"amount": str(unapplied), "currency": payment.currency},
        )


def reverse_allocations(
    payment: Payment, invoices: dict[int, Invoice], *, amount: Decimal | None, actor: Actor
) -> list[tuple[Invoice, Decimal]]:
    """Take `amount` (None: everything applied) back from the payment's invoices, newest allocation first.

    What a payment has already given back (`amount_refunded`) is skipped: the
    money not allocated to any invoice first, then the allocations from the
    last one backwards, so successive refunds never take the same cents twice.
    """
    applied = list(PaymentAllocation.objects.filter(payment=payment, is_applied=True).order_by("-id"))
    total_applied = sum((allocation.amount for allocation in applied), ZERO)
    already = payment.amount_refunded
    # Refunds first use up what no invoice holds (an overpayment), then the allocations.
    unallocated = payment.amount - total_applied
    skip = max(already - unallocated, ZERO)
    wanted = total_applied - skip if amount is None else max(amount - max(unallocated - already, ZERO), ZERO)
    reversed_parts: list[tuple[Invoice, Decimal]] = []
    for allocation in applied:
        if wanted <= 0:
            break
        available = allocation.amount - min(skip, allocation.amount)
        skip = max(skip - allocation.amount, ZERO)
        part = min(available, wanted)
        if part <= 0:
            continue
        invoice = invoices[allocation.invoice_id]
        invoice = invoices[allocation.invoice_id] = reverse_invoice_payment(invoice=invoice, amount=part, actor=actor)
        reversed_parts.append((invoice, part))
        wanted -= part
    return reversed_parts


# ---------------------------------------------------------------- retries, standing, receipts


def next_retry_on(payment: Payment, *, failed_on: date, first_failed_on: date | None = None) -> date | None:
    """The day of the next automatic attempt: retry days (1, 3, 7) after the first failure; None after the last.

    For a retry the first failure's day is given by the caller (from the
    schedule it ran on) or, for an outcome that arrived later, read from the
    first attempt.
    """
    days = retry_days()
    if payment.retry_count >= len(days):
        return None
    first = failed_on if payment.retry_count == 0 else first_failed_on or first_failure_date(payment) or failed_on
    return first + timedelta(days=days[payment.retry_count])


def first_failure_date(payment: Payment) -> date | None:
    """When the first automatic attempt for this payment's invoice failed (local date)."""
    invoice_ids = PaymentAllocation.objects.filter(payment=payment).values_list("invoice_id", flat=True)
    first = (
        Payment.objects.filter(
            org_id=payment.org_id,
            origin=Payment.Origin.AUTOMATIC,
            retry_count=0,
            status=PaymentStatus.FAILED,
            allocations__invoice_id__in=list(invoice_ids),
        )
        .exclude(pk=payment.pk)
        .order_by("-created_at")
        .values_list("status_changed_at", flat=True)
        .first()
    )
    return timezone.localdate(first) if first is not None else None


def retry_days() -> list[int]:
    """The dunning schedule's retry days (DunningPolicy.retry_days), ascending, whole days ≥ 1 only."""
    from konto.payments.services.standing import get_dunning_policy

    raw = get_dunning_policy().retry_days
    days = raw if isinstance(raw, list) else []
    return sorted({day for day in days if isinstance(day, int) and not isinstance(day, bool) and day >= 1})


def refresh_standing(org_id: int, *, today: date, actor: Actor) -> None:
    """The org's standing after money moved (dunning's `refresh_org_standing`, same transaction)."""
    from konto.payments.services.standing import refresh_org_standing

    refresh_org_standing(org=Org.objects.get(pk=org_id), today=today, actor=actor)


def enqueue_receipt(*, payment_id: int) -> None:
    from konto.payments.tasks import send_payment_receipt_task  # the tasks module imports the services

    send_payment_receipt_task.enqueue(payment_id=payment_id)


def enqueue_sepa_return_notice(*, payment_id: int) -> None:
    from konto.payments.tasks import send_sepa_return_notice_task  # the tasks module imports the services

    send_sepa_return_notice_task.enqueue(payment_id=payment_id)
