"""Refunds: vendor staff give money back on a succeeded payment, through its gateway, at most what was paid.

The refund row (pending, with its idempotency key) is committed before the
gateway is asked, with the payment's remaining amount checked under its lock
and pending refunds counted as taken, so two refunds can never give back more
than was paid. The gateway gets the refund's public id as its key.

A succeeded refund lowers the amount paid of the payment's invoices (the
money not allocated to an invoice first, then the invoices from the last
allocated backwards) and reopens a paid invoice that is owed again (paid →
open). That is the decision for a refund without a credit note: the customer
has the money back, so the invoice is open again and dunning follows it. A
goodwill refund therefore comes after a credit note, which lowers what is
owed; then the invoice stays paid.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from konto.accounts.models import User
from konto.core.audit import Actor, record_event
from konto.core.exceptions import PermissionDenied
from konto.core.money import ZERO
from konto.payments.exceptions import IdempotencyKeyReused, InvalidAmount, InvalidInput, PaymentNotRefundable
from konto.payments.gateways import get_gateway
from konto.payments.gateways.base import GatewayTimeout, GatewayUnavailable, RefundOutcome
from konto.payments.models import Payment, PaymentStatus, Refund
from konto.payments.services import ledger
from konto.payments.services.pay import clean_amount, clean_idempotency_key

logger = logging.getLogger(__name__)

REFUNDABLE = (PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED)
MAX_REASON = 300


def refund_payment(*, payment: Payment, amount: Decimal, reason: str, actor: Actor, idempotency_key: str) -> Refund:
    """Give back `amount` of a succeeded payment (staff only); returns the refund.

    Refused, with nothing written: a caller who is not vendor staff, a payment
    that is not succeeded (`payment_not_refundable`), an amount that is not
    positive cents (`invalid_amount`) or more than is left to refund
    (`payment_not_refundable`), no reason. The same key again returns the
    first refund (a pending one is asked about again at the gateway); the same
    key for another payment or amount is `idempotency_key_reused`. Payments
    without a gateway (bank transfer, the vendor's own SEPA collections) are
    paid back by the vendor's bank: the refund is recorded as succeeded.
    """
    _check_staff(actor)
    key = clean_idempotency_key(idempotency_key)
    value = clean_amount(amount)
    if value is None:
        raise InvalidAmount(_("Enter the amount to refund."), fields={"amount": _("Enter the amount to refund.")})
    text = " ".join(str(reason or "").split())
    if not text or len(text) > MAX_REASON:
        message = _("Give a reason of at most %(max)d characters.") % {"max": MAX_REASON}
        raise InvalidInput(message, code="invalid_reason", fields={"reason": message})
    refund = _open_refund(payment=payment, amount=value, reason=text, actor=actor, key=key)
    if refund.status != Refund.Status.PENDING:
        return refund
    outcome = _refund_at_gateway(refund)
    if outcome is None:
        return refund
    return _record_refund(refund_id=refund.pk, outcome=outcome, actor=actor)


def _check_staff(actor: Actor) -> None:
    is_staff = (
        actor.user_id is not None and User.objects.filter(pk=actor.user_id, is_staff=True, is_active=True).exists()
    )
    if not is_staff:
        raise PermissionDenied(_("Only vendor staff can refund payments."))


@transaction.atomic(durable=True)
def _open_refund(*, payment: Payment, amount: Decimal, reason: str, actor: Actor, key: str) -> Refund:
    locked, _invoices = ledger.lock_payment_with_invoices(payment.pk)
    existing = Refund.objects.filter(idempotency_key=key).first()
    if existing is not None:
        if (existing.payment_id, existing.amount) != (payment.pk, amount):
            raise IdempotencyKeyReused(_("This Idempotency-Key was already used for a different refund."))
        return existing
    if locked.status not in REFUNDABLE:
        raise PaymentNotRefundable(_("Only a succeeded payment can be refunded."))
    pending = Refund.objects.filter(payment=locked, status=Refund.Status.PENDING).aggregate(total=Sum("amount"))
    left = locked.amount - locked.amount_refunded - (pending["total"] or ZERO)
    if amount > left:
        message = _("At most %(left)s %(currency)s of this payment can still be refunded.") % {
            "left": left,
            "currency": locked.currency,
        }
        raise PaymentNotRefundable(message, fields={"amount": message}, extra={"refundable": str(left)})
    refund = Refund.objects.create(
        payment=locked,
        org_id=locked.org_id,
        amount=amount,
        reason=reason,
        idempotency_key=key,
        created_by_id=actor.user_id,
    )
    record_event(
        actor=actor,
        org_id=locked.org_id,
        action="refund.created",
        object_type="refund",
        object_id=refund.public_id,
        after={"payment": locked.public_id, "amount": str(amount), "currency": locked.currency, "reason": reason},
    )
    return refund


def _refund_at_gateway(refund: Refund) -> RefundOutcome | None:
    """The gateway's answer (no transaction); a payment without a gateway is paid back by the vendor's bank."""
    payment = refund.payment
    if payment.gateway in ("", ledger.BANK_GATEWAY) or not payment.gateway_ref:
        return RefundOutcome(status="succeeded")
    try:
        return get_gateway(payment.gateway).refund(
            gateway_ref=payment.gateway_ref,
            amount=refund.amount,
            currency=payment.currency,
            idempotency_key=refund.public_id,
        )
    except GatewayTimeout:
        logger.warning("gateway %s did not answer for refund %s", payment.gateway, refund.public_id)
        return None  # stays pending: asking again with the same key finishes it
    except GatewayUnavailable as error:
        return RefundOutcome(status="failed", failure_message=str(error)[:300])


@transaction.atomic(durable=True)
def _record_refund(*, refund_id: int, outcome: RefundOutcome, actor: Actor) -> Refund:
    payment_id = Refund.objects.values_list("payment_id", flat=True).get(pk=refund_id)
    payment, invoices = ledger.lock_payment_with_invoices(payment_id)
    refund = Refund.objects.select_for_update().get(pk=refund_id)
    if refund.status != Refund.Status.PENDING or outcome.status == "pending":
        if outcome.gateway_ref and not refund.gateway_ref:
            refund.gateway_ref = outcome.gateway_ref
            refund.save(update_fields=["gateway_ref"])
        return refund
    refund.gateway_ref = outcome.gateway_ref
    if outcome.status != "succeeded":
        refund.status = Refund.Status.FAILED
        refund.failure_message = outcome.failure_message[:300]
        refund.save(update_fields=["status", "gateway_ref", "failure_message"])
        record_event(
            actor=actor,
            org_id=payment.org_id,
            action="refund.failed",
            object_type="refund",
            object_id=refund.public_id,
            after={"payment": payment.public_id, "amount": str(refund.amount), "message": refund.failure_message},
        )
        return refund
    reversed_parts = ledger.reverse_allocations(payment, invoices, amount=refund.amount, actor=actor)
    before = payment.status
    payment.amount_refunded += refund.amount
    payment.status = (
        PaymentStatus.REFUNDED if payment.amount_refunded >= payment.amount else PaymentStatus.PARTIALLY_REFUNDED
    )
    now = timezone.now()
    payment.status_changed_at = now
    payment.save(update_fields=["amount_refunded", "status", "status_changed_at"])
    refund.status = Refund.Status.SUCCEEDED
    refund.save(update_fields=["status", "gateway_ref"])
    record_event(
        actor=actor,
        org_id=payment.org_id,
        action="refund.succeeded",
        object_type="refund",
        object_id=refund.public_id,
        before={"payment_status": before},
        after={
            "payment": payment.public_id,
            "payment_status": payment.status,
            "amount": str(refund.amount),
            "amount_refunded": str(payment.amount_refunded),
            "currency": payment.currency,
            "reopened": [[invoice.number, str(part)] for invoice, part in reversed_parts],
        },
    )
    ledger.refresh_standing(payment.org_id, today=timezone.localdate(now), actor=actor)
    return refund
