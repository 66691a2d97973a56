"""Billing's background tasks: the billing run and the emails of issued invoices.

The billing run task is the same `run_billing` as `manage.py run_billing`, queued.
With KONTO_TASKS=db a task waits in the database for a `manage.py db_worker`
process; in development and tests the immediate backend runs it at enqueue.
Running the billing run twice for one date is safe: the run bills only charges
that are due and not yet invoiced, so a second run finds nothing to do. The
delivery task sends each invoice to each address once (InvoiceDelivery rows).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.utils.translation import gettext_lazy as _
from django_tasks import TaskResult, task

from konto.billing.services import delivery
from konto.billing.services.billing_run import run_billing
from konto.core.exceptions import InvalidInput


def parse_billing_date(value: str) -> date:
    """An ISO date (YYYY-MM-DD), or InvalidInput."""
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidInput(
            _("The billing date must be a date in the form YYYY-MM-DD."), fields={"billing_date": _("Invalid date.")}
        ) from None


@task()
def run_billing_task(billing_date: str, workers: int = 1) -> dict[str, Any]:
    """Invoice every due, uninvoiced charge on `billing_date` (YYYY-MM-DD); returns the run's summary."""
    run = run_billing(billing_date=parse_billing_date(billing_date), workers=workers)
    return {
        "run": str(run.public_id),
        "billing_date": run.billing_date.isoformat(),
        "status": str(run.status),
        "orgs_due": run.orgs_due,
        "orgs_billed": run.orgs_billed,
        "orgs_failed": run.orgs_failed,
        "invoices_created": run.invoices_created,
        "lines_created": run.lines_created,
    }


def enqueue_billing_run(*, billing_date: date | str, workers: int = 1) -> TaskResult[dict[str, Any]]:
    """Queue a billing run for `billing_date`; refuses a bad date or worker count before anything is queued.

    Call it outside a transaction: the immediate backend runs the billing run at
    once, and the run commits each batch of orgs in its own transaction.
    """
    if isinstance(billing_date, str):
        billing_date = parse_billing_date(billing_date)
    if workers < 1:
        raise InvalidInput(_("At least one worker is needed."), fields={"workers": _("At least 1.")})
    return run_billing_task.enqueue(billing_date=billing_date.isoformat(), workers=workers)


@task()
def deliver_invoices_task(invoice_ids: list[int]) -> dict[str, int]:
    """Email issued invoices to their recipients (`delivery.deliver_invoices`); safe to run twice.

    Queued by `delivery.deliver_on_commit` when the transaction that stores an
    invoice's documents commits. A rerun sends only what is still pending.
    """
    return {"invoices": len(invoice_ids), "emails_sent": delivery.deliver_invoices(invoice_ids=invoice_ids)}
