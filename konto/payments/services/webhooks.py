"""What Konto does with a gateway's event (Stripe webhooks): record a payment's outcome, note refunds and disputes.

Gateways repeat events (Stripe retries until it gets a 2xx, and may send one
event twice): recording an outcome is idempotent in `record_gateway_outcome`,
and a refund or dispute notice is written once per event id.
"""

from __future__ import annotations

import logging

from django.db import transaction

from konto.core.audit import Actor, record_event
from konto.core.models import AuditEvent
from konto.payments.gateways.base import ChargeOutcome
from konto.payments.models import Payment
from konto.payments.services import pay

logger = logging.getLogger(__name__)

# Outcomes a webhook may settle; "pending" and "requires_action" only say that the payment is still on its way.
SETTLED_STATUSES = frozenset({"succeeded", "failed"})
# Events about money moving back after a payment succeeded: staff act on them (a refund made in the gateway's
# dashboard, a chargeback), Konto keeps a note on the payment's audit trail.
NOTICE_ACTIONS = {
    "charge.refunded": "payment.refunded_at_gateway",
    "charge.dispute.created": "payment.dispute_opened",
    "charge.dispute.closed": "payment.dispute_closed",
    "charge.dispute.funds_withdrawn": "payment.dispute_funds_withdrawn",
    "charge.dispute.funds_reinstated": "payment.dispute_funds_reinstated",
}


def handle_gateway_event(
    *,
    gateway: str,
    event_type: str,
    gateway_ref: str,
    outcome: ChargeOutcome | None,
    event_id: str = "",
    details: dict[str, str] | None = None,
) -> Payment | None:
    """Hand a verified gateway event to the payment it is about; None when Konto has no such payment.

    payment_intent.succeeded / payment_failed / canceled settle the payment
    through `pay.record_gateway_outcome`. charge.refunded and charge.dispute.*
    leave an audit note on the payment (once per event id). Anything else is
    ignored.
    """
    if not gateway_ref:
        return None
    if event_type.startswith("payment_intent."):
        if outcome is None or outcome.status not in SETTLED_STATUSES:
            return None
        return pay.record_gateway_outcome(gateway=gateway, gateway_ref=gateway_ref, outcome=outcome)
    action = NOTICE_ACTIONS.get(event_type)
    if action is None:
        return None
    return _note_on_payment(
        gateway=gateway, gateway_ref=gateway_ref, action=action, event_id=event_id, details=details or {}
    )


@transaction.atomic(durable=True)
def _note_on_payment(
    *, gateway: str, gateway_ref: str, action: str, event_id: str, details: dict[str, str]
) -> Payment | None:
    payment = Payment.objects.select_for_update().filter(gateway=gateway, gateway_ref=gateway_ref).first()
    if payment is None:
        logger.info("%s event for unknown %s payment %s ignored", action, gateway, gateway_ref)
        return None
    if (
        event_id
        and AuditEvent.objects.filter(
            object_type="payment", object_id=payment.public_id, action=action, after__event_id=event_id
        ).exists()
    ):
        return payment  # a repeated event
    logger.warning("%s for payment %s (%s): staff should check it", action, payment.public_id, gateway)
    record_event(
        actor=Actor.system(f"{gateway} webhook"),
        org_id=payment.org_id,
        action=action,
        object_type="payment",
        object_id=payment.public_id,
        after={"event_id": event_id, "gateway_ref": gateway_ref, **details},
    )
    return payment
