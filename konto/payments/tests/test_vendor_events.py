"""org.suspended / org.reactivated posted to the vendor's webhook: signed, once, retried; a real local HTTP server."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail
from django_tasks import task_backends

from konto.accounts.models import Org
from konto.billing.models import Invoice
from konto.core.models import AuditEvent
from konto.payments.services.dunning_emails import LEVEL_HEADER
from konto.payments.services.standing import get_dunning_policy
from konto.payments.services.vendor_events import VendorEvent, is_valid_signature, sign
from konto.payments.tasks import send_vendor_event_task

from .dunning_helpers import WebhookReceiver, after_due, at, customer, issued_invoice, pay, run_on, webhook_receiver

pytestmark = pytest.mark.django_db
SECRET = "whsec-test-7f3a"


@pytest.fixture(autouse=True)
def _secret(settings: Any) -> None:
    settings.KONTO_WEBHOOK_SECRET = SECRET


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    yield from webhook_receiver()


@pytest.fixture
def invoice() -> Invoice:
    return issued_invoice(customer(billing_email="buchhaltung@baeckerei.example"))


def use_webhook(url: str) -> None:
    policy = get_dunning_policy()
    policy.suspension_webhook_url = url
    policy.save()


def expected_signature(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def events(action: str) -> list[dict[str, Any]]:
    afters = AuditEvent.objects.filter(action=action).order_by("id").values_list("after", flat=True)
    return [after for after in afters if isinstance(after, dict)]


def test_suspension_posts_one_signed_event(invoice, receiver, django_capture_on_commit_callbacks):
    use_webhook(receiver.url)
    org = invoice.org
    for days in (3, 14, 28, 44):
        run_on(after_due(days), django_capture_on_commit_callbacks)
    assert receiver.requests == []  # reminders and overdue are not the product's business

    run_on(after_due(45), django_capture_on_commit_callbacks)
    for days in (45, 46, 60):
        run_on(after_due(days), django_capture_on_commit_callbacks)

    (request,) = receiver.requests
    assert request.path == "/hooks/konto?token=abc"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-konto-signature"] == expected_signature(request.body)
    assert request.headers["x-konto-event"] == "org.suspended"
    body = request.json
    assert set(body) == {"id", "event", "org", "occurred_at"}
    assert (body["event"], body["org"], body["occurred_at"]) == (
        "org.suspended",
        org.public_id,
        "2026-08-29T04:00:00+00:00",  # the run at 06:00 in Berlin
    )
    assert body["id"].startswith("evt_")
    assert request.headers["x-konto-delivery"] == body["id"]
    assert events("org.vendor_event_delivered") == [
        {"event": "org.suspended", "id": body["id"], "attempts": 1, "result": "HTTP 204"}
    ]


def test_paying_a_suspended_org_posts_org_reactivated(invoice, receiver, django_capture_on_commit_callbacks):
    use_webhook(receiver.url)
    run_on(after_due(45), django_capture_on_commit_callbacks)

    pay(invoice, "297.50", day=after_due(47), capture=django_capture_on_commit_callbacks)

    assert [request.json["event"] for request in receiver.requests] == ["org.suspended", "org.reactivated"]
    reactivated = receiver.requests[1]
    assert reactivated.json["org"] == invoice.org.public_id
    assert reactivated.json["occurred_at"] == "2026-08-31T10:00:00+00:00"
    assert reactivated.headers["x-konto-signature"] == expected_signature(reactivated.body)
    assert reactivated.json["id"] != receiver.requests[0].json["id"]


def test_an_org_leaving_overdue_posts_nothing(invoice, receiver, django_capture_on_commit_callbacks):
    use_webhook(receiver.url)
    run_on(after_due(28), django_capture_on_commit_callbacks)

    pay(invoice, "297.50", day=after_due(30), capture=django_capture_on_commit_callbacks)

    invoice.org.refresh_from_db()
    assert invoice.org.status == "active"
    assert receiver.requests == []


def test_without_a_webhook_url_nothing_is_posted(invoice, receiver, django_capture_on_commit_callbacks):
    run_on(after_due(45), django_capture_on_commit_callbacks)

    assert Org.objects.get(pk=invoice.org_id).status == "suspended"
    assert receiver.requests == []
    assert not AuditEvent.objects.filter(action__startswith="org.vendor_event").exists()


def test_a_failed_delivery_is_tried_again_with_the_same_body(invoice, receiver, django_capture_on_commit_callbacks):
    use_webhook(receiver.url)
    receiver.statuses[:] = [500, 503]

    run_on(after_due(45), django_capture_on_commit_callbacks)

    assert len(receiver.requests) == 3
    assert len({request.body for request in receiver.requests}) == 1
    assert all(r.headers["x-konto-signature"] == expected_signature(r.body) for r in receiver.requests)
    (delivered,) = events("org.vendor_event_delivered")
    assert (delivered["attempts"], delivered["result"]) == (3, "HTTP 204")
    assert events("org.vendor_event_failed") == []


def test_delivery_gives_up_after_four_attempts_and_says_so(invoice, receiver, django_capture_on_commit_callbacks):
    use_webhook(receiver.url)
    receiver.statuses[:] = [500, 500, 500, 500, 500]

    run_on(after_due(45), django_capture_on_commit_callbacks)

    assert len(receiver.requests) == 4
    (failed,) = events("org.vendor_event_failed")
    assert (failed["event"], failed["attempts"], failed["result"]) == ("org.suspended", 4, "HTTP 500")
    assert events("org.vendor_event_delivered") == []
    # the org is suspended all the same, and the customer was told
    assert Org.objects.get(pk=invoice.org_id).status == "suspended"
    assert [m.extra_headers[LEVEL_HEADER] for m in mail.outbox if LEVEL_HEADER in m.extra_headers] == ["suspension"]


def test_an_unreachable_receiver_is_a_failed_delivery(invoice, django_capture_on_commit_callbacks):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    use_webhook(f"http://127.0.0.1:{port}/hooks")

    run_on(after_due(45), django_capture_on_commit_callbacks)

    (failed,) = events("org.vendor_event_failed")
    assert (failed["attempts"], failed["result"]) == (4, "ConnectionError")


def test_without_a_secret_nothing_is_sent_unsigned(invoice, receiver, settings, django_capture_on_commit_callbacks):
    settings.KONTO_WEBHOOK_SECRET = ""
    use_webhook(receiver.url)

    run_on(after_due(45), django_capture_on_commit_callbacks)

    assert receiver.requests == []
    (failed,) = events("org.vendor_event_failed")
    assert failed["result"] == "KONTO_WEBHOOK_SECRET is not set"


def test_a_deferring_task_backend_gets_the_next_attempt_a_minute_later(invoice, receiver, settings):
    # Given a queue that runs tasks later (as the database backend does), and a receiver answering 500
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    use_webhook(receiver.url)
    receiver.statuses[:] = [500]
    now = at(after_due(45))

    with time_machine.travel(now, tick=False):
        detail = send_vendor_event_task.call(
            event="org.suspended", org=invoice.org.public_id, occurred_at=now.isoformat(), event_id="evt_1"
        )

    assert detail == "HTTP 500"
    assert len(receiver.requests) == 1
    (queued,) = task_backends["default"].results  # type: ignore[attr-defined]
    assert queued.task.run_after == now + timedelta(seconds=60)
    assert queued.kwargs == {
        "event": "org.suspended",
        "org": invoice.org.public_id,
        "occurred_at": now.isoformat(),
        "event_id": "evt_1",
        "attempt": 2,
    }


def test_the_signature_is_hmac_sha256_of_the_exact_body():
    event = VendorEvent(id="evt_1", event="org.suspended", org="org_abc", occurred_at="2026-08-29T04:00:00+00:00")
    body = event.body()

    assert json.loads(body) == {
        "id": "evt_1",
        "event": "org.suspended",
        "org": "org_abc",
        "occurred_at": "2026-08-29T04:00:00+00:00",
    }
    assert sign(body, SECRET) == expected_signature(body)
    assert is_valid_signature(body, expected_signature(body), SECRET)
    assert not is_valid_signature(body.replace(b"suspended", b"reactivated"), expected_signature(body), SECRET)
    assert not is_valid_signature(body, expected_signature(body), "another-secret")
