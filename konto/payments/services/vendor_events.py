"""Telling the vendor's product that an org was suspended or reactivated: a signed JSON POST to its webhook URL.

The body is `{"id", "event", "org", "occurred_at"}` (compact JSON, UTF-8);
`X-Konto-Signature: sha256=<hex>` is the HMAC-SHA256 of exactly those bytes
with settings.KONTO_WEBHOOK_SECRET. A retry sends the same body (same `id`), so
the receiver can drop a delivery it has already seen. Any 2xx answer counts as
delivered; anything else, a timeout or a refused connection is tried again by
the task (`konto.payments.tasks.send_vendor_event_task`) up to MAX_ATTEMPTS.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass

import requests
from django.conf import settings

from konto.accounts.models import Org
from konto.core.audit import Actor, record_event
from konto.payments.services.standing import get_dunning_policy

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Konto-Signature"
TIMEOUT = (3.05, 5.0)  # seconds: connect, read; the receiver should answer at once and work later
MAX_ATTEMPTS = 4
RETRY_DELAYS = (60, 600, 3600)  # seconds before attempt 2, 3, 4 (where the task backend can defer)
ACTOR = Actor.system("vendor-events")


@dataclass(frozen=True)
class VendorEvent:
    id: str  # evt_…, the same on every attempt
    event: str  # "org.suspended" | "org.reactivated"
    org: str  # the org's public id
    occurred_at: str  # ISO 8601, UTC offset included

    def body(self) -> bytes:
        data = {"id": self.id, "event": self.event, "org": self.org, "occurred_at": self.occurred_at}
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def sign(body: bytes, secret: str) -> str:
    """The signature header's value: "sha256=" + HMAC-SHA256(secret, body) in hex."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def is_valid_signature(body: bytes, header: str, secret: str) -> bool:
    """What a receiver checks (constant-time compare); documented in docs/payments.md."""
    return hmac.compare_digest(sign(body, secret), header)


@dataclass(frozen=True)
class Delivery:
    is_done: bool  # nothing more to try: delivered, or there is nowhere to deliver to
    detail: str  # "delivered 204", "no webhook URL", "HTTP 500", "ConnectTimeout", …


def deliver_vendor_event(event: VendorEvent, *, attempt: int) -> Delivery:
    """POST the event once to the webhook URL of the dunning schedule; audited when delivered.

    An empty URL means the vendor does not want these events: done, nothing
    sent. A missing secret is a configuration error: nothing is sent unsigned.
    """
    url = get_dunning_policy().suspension_webhook_url
    if not url:
        return Delivery(is_done=True, detail="no webhook URL")
    secret = settings.KONTO_WEBHOOK_SECRET
    if not secret:
        logger.error("vendor event %s for %s not sent: KONTO_WEBHOOK_SECRET is not set", event.event, event.org)
        return Delivery(is_done=False, detail="KONTO_WEBHOOK_SECRET is not set")
    body = event.body()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Konto-Webhook/1",
        SIGNATURE_HEADER: sign(body, secret),
        "X-Konto-Event": event.event,
        "X-Konto-Delivery": event.id,
    }
    try:
        response = requests.post(url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False)
    except requests.RequestException as error:
        detail = type(error).__name__
        logger.warning("vendor event %s (%s) attempt %d failed: %s", event.id, event.event, attempt, detail)
        return Delivery(is_done=False, detail=detail)
    if not 200 <= response.status_code < 300:
        logger.warning("vendor event %s (%s) attempt %d: HTTP %d", event.id, event.event, attempt, response.status_code)
        return Delivery(is_done=False, detail=f"HTTP {response.status_code}")
    _audit(event, action="org.vendor_event_delivered", attempt=attempt, detail=f"HTTP {response.status_code}")
    return Delivery(is_done=True, detail=f"delivered {response.status_code}")


def give_up_vendor_event(event: VendorEvent, *, attempt: int, detail: str) -> None:
    """The last attempt failed: logged as an error and audited, for billing operations to follow up."""
    logger.error(
        "vendor event %s (%s) for %s not delivered after %d attempts", event.id, event.event, event.org, attempt
    )
    _audit(event, action="org.vendor_event_failed", attempt=attempt, detail=detail)


def _audit(event: VendorEvent, *, action: str, attempt: int, detail: str) -> None:
    org_id = Org.objects.filter(public_id=event.org).values_list("pk", flat=True).first()
    record_event(
        actor=ACTOR,
        org_id=org_id,
        action=action,
        object_type="org",
        object_id=event.org,
        after={"event": event.event, "id": event.id, "attempts": attempt, "result": detail},
    )
