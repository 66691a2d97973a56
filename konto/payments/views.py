"""The payment gateways' server-to-server endpoints: Stripe's webhook."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from konto.payments.gateways.stripe import InvalidWebhook, parse_webhook
from konto.payments.services.webhooks import handle_gateway_event

logger = logging.getLogger(__name__)


@csrf_exempt  # Stripe cannot send a CSRF token; the signature proves where the request comes from
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Verify a Stripe event and hand it on. 400 for a bad signature; a 500 makes Stripe send it again later."""
    secret = str(getattr(settings, "STRIPE_WEBHOOK_SECRET", ""))
    if not secret:
        logger.error("Stripe webhook received but STRIPE_WEBHOOK_SECRET is not set")
        return HttpResponse("Webhook secret not configured.", status=503, content_type="text/plain")
    try:
        event = parse_webhook(
            payload=request.body, signature_header=request.headers.get("Stripe-Signature", ""), secret=secret
        )
    except InvalidWebhook as error:
        logger.warning("Stripe webhook refused: %s", error)
        return HttpResponse("Invalid signature.", status=400, content_type="text/plain")
    handle_gateway_event(
        gateway="stripe",
        event_type=event.event_type,
        gateway_ref=event.gateway_ref,
        outcome=event.outcome,
        event_id=event.event_id,
        details=event.details,
    )
    return HttpResponse("ok", content_type="text/plain")
