"""Background tasks of payments: each takes ids or ISO dates, reloads, calls one service, and is safe to run twice."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.utils import timezone
from django_tasks import task

from konto.payments.services import collection, notifications, vendor_events
from konto.payments.services.dunning import run_dunning
from konto.payments.services.dunning_emails import send_dunning_notice_email

# ---------------------------------------------------------------- dunning (owner: helper "dunning")
# run_dunning_task: the nightly dunning run; send_dunning_notice_task: one notice's email, once;
# send_vendor_event_task: org.suspended / org.reactivated to the vendor's webhook, with retries.


@task()
def run_dunning_task(today: str | None = None) -> dict[str, Any]:
    """Take every dunning step due on `today` (YYYY-MM-DD; default: today in the default time zone)."""
    result = run_dunning(today=date.fromisoformat(today) if today else timezone.localdate())
    return {
        "today": result.today.isoformat(),
        "notices": {str(level): count for level, count in result.notices.items()},
        "held_in_flight": result.held_in_flight,
        "standings_changed": result.standings_changed,
    }


@task()
def send_dunning_notice_task(notice_id: int, today: str) -> list[str]:
    """Email one dunning notice (once, however often this task runs); returns the addresses."""
    return send_dunning_notice_email(notice_id=notice_id, today=date.fromisoformat(today))


@task()
def send_vendor_event_task(event: str, org: str, occurred_at: str, event_id: str, attempt: int = 1) -> str:
    """POST one vendor event; on failure queue the next attempt (later, where the backend can defer) or give up."""
    vendor_event = vendor_events.VendorEvent(id=event_id, event=event, org=org, occurred_at=occurred_at)
    delivery = vendor_events.deliver_vendor_event(vendor_event, attempt=attempt)
    if delivery.is_done:
        return delivery.detail
    if attempt >= vendor_events.MAX_ATTEMPTS:
        vendor_events.give_up_vendor_event(vendor_event, attempt=attempt, detail=delivery.detail)
        return delivery.detail
    retry = send_vendor_event_task
    if retry.get_backend().supports_defer:
        delay = vendor_events.RETRY_DELAYS[min(attempt, len(vendor_events.RETRY_DELAYS)) - 1]
        retry = retry.using(run_after=timezone.now() + timedelta(seconds=delay))
    retry.enqueue(event=event, org=org, occurred_at=occurred_at, event_id=event_id, attempt=attempt + 1)
    return delivery.detail


# ---------------------------------------------------------------- end of dunning


# ---------------------------------------------------------------- payments-core: collection, receipts
# collect_invoices_task: charge card / SEPA orgs for invoices just issued (billing.ports listener);
# run_payment_jobs_task: retries of failed collections and reconciliation (as `manage.py run_payments`);
# send_payment_receipt_task / send_sepa_return_notice_task: the emails, queued after commit.


@task()
def collect_invoices_task(invoice_ids: list[int], today: str) -> list[str]:
    """Charge the orgs of these issued invoices (once per invoice); returns the public ids of the payments made."""
    payments = collection.collect_invoices(invoice_ids=invoice_ids, today=date.fromisoformat(today))
    return [payment.public_id for payment in payments]


@task()
def run_payment_jobs_task(today: str | None = None) -> dict[str, int]:
    """Retry failed collections due on `today` (default: today) and reconcile payments of unknown outcome."""
    day = date.fromisoformat(today) if today else timezone.localdate()
    retried = collection.retry_failed_collections(today=day)
    reconciled = collection.reconcile_unknown_payments(now=timezone.now())
    return {"retried": retried, "reconciled": reconciled}


@task()
def send_payment_receipt_task(payment_id: int) -> list[str]:
    """Email the receipt of a succeeded payment; returns the addresses."""
    return notifications.send_payment_receipt(payment_id=payment_id)


@task()
def send_sepa_return_notice_task(payment_id: int) -> list[str]:
    """Email the billing contacts that a SEPA debit came back; returns the addresses."""
    return notifications.send_sepa_return_notice(payment_id=payment_id)


# ---------------------------------------------------------------- end of payments-core
