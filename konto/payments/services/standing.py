"""An org's standing (active / overdue / suspended) from its open invoices and the dunning schedule.

The rule (DESIGN.md §6, docs/payments.md "Dunning"): an org is *overdue* while
one of its open invoices (status open, open amount > 0) is `final_notice_days`
or more past its due date, *suspended* from `suspension_days` on, and *active*
otherwise. Closed orgs are never touched.

A payment on its way (an in-flight allocation: pending, awaiting 3-D Secure,
outcome unknown) holds its invoice where it is: it neither escalates the org
(no suspension while the customer's SEPA debit is being collected) nor clears it
(a debit can still bounce); once the payment is applied, the next refresh clears
the state at once. Payments call `refresh_org_standing` after every applied
payment, the dunning run after every step it takes.
"""

from __future__ import annotations

import secrets
from datetime import date, timedelta
from functools import partial

from django.db import transaction
from django.db.models import DecimalField, Exists, ExpressionWrapper, F, Min, OuterRef, Q, QuerySet
from django.utils import timezone

from konto.accounts.models import Org
from konto.billing.models import Invoice, InvoiceStatus
from konto.core.audit import Actor, record_event
from konto.payments.models import DunningPolicy, PaymentAllocation
from konto.payments.services import ledger

ACTIVE, OVERDUE, SUSPENDED = Org.Status.ACTIVE, Org.Status.OVERDUE, Org.Status.SUSPENDED
# Worse standing ranks higher; closed orgs are outside dunning.
_RANK: dict[str, int] = {ACTIVE: 0, OVERDUE: 1, SUSPENDED: 2}

EVENT_SUSPENDED = "org.suspended"
EVENT_REACTIVATED = "org.reactivated"

OPEN_AMOUNT = ExpressionWrapper(
    F("gross_amount") - F("amount_paid") - F("amount_credited"),
    output_field=DecimalField(max_digits=14, decimal_places=2),
)


def get_dunning_policy() -> DunningPolicy:
    """The installation's dunning schedule; the row is created with the defaults (3/14/28/45 days) on first use."""
    policy, _created = DunningPolicy.objects.get_or_create(singleton=True)
    return policy


def open_invoices_of(org_id: int) -> QuerySet[Invoice]:
    """Invoices of the org that are open and still have an open amount, each marked `in_flight`."""
    return (
        Invoice.objects.filter(org_id=org_id, status=InvoiceStatus.OPEN)
        .annotate(open_total=OPEN_AMOUNT)
        .filter(open_total__gt=0)
        .annotate(in_flight=Exists(PaymentAllocation.objects.filter(invoice=OuterRef("pk"), is_in_flight=True)))
    )


def standing_for(*, oldest_due_on: date | None, today: date, policy: DunningPolicy) -> str:
    """active, overdue or suspended for the oldest open invoice's due date (None: nothing open)."""
    if oldest_due_on is None:
        return ACTIVE
    if oldest_due_on + timedelta(days=policy.suspension_days) <= today:
        return SUSPENDED
    if oldest_due_on + timedelta(days=policy.final_notice_days) <= today:
        return OVERDUE
    return ACTIVE


def refresh_org_standing(*, org: Org, today: date, actor: Actor) -> None:
    """Recompute `org.status` between active / overdue / suspended inside the caller's transaction.

    Locks the org row; a caller that locks invoices too takes the org's lock
    first (lock order: org, then invoices). A change is audited ("org.status_changed", status before and
    after); entering or leaving *suspended* notifies the vendor's product after
    commit (`org.suspended` / `org.reactivated`, when a webhook URL is set).
    The caller's `org` object carries the new status afterwards. Calling it
    again changes nothing.
    """
    apply_org_standing(org=org, today=today, actor=actor, policy=get_dunning_policy())


def apply_org_standing(*, org: Org, today: date, actor: Actor, policy: DunningPolicy) -> tuple[str, str] | None:
    """`refresh_org_standing` with the schedule already read; returns (before, after) when the status changed."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("refresh_org_standing runs inside the caller's transaction")
    locked = ledger.lock_org(org.pk)
    before = locked.status
    if before not in _RANK:  # closed: outside dunning
        org.status = before
        return None
    dates = open_invoices_of(locked.pk).aggregate(
        oldest=Min("due_date"), oldest_settled=Min("due_date", filter=Q(in_flight=False))
    )
    with_in_flight = standing_for(oldest_due_on=dates["oldest"], today=today, policy=policy)
    if _RANK[with_in_flight] <= _RANK[before]:
        after = with_in_flight  # better or equal: counting in-flight invoices, so a pending payment clears nothing
    else:
        settled = standing_for(oldest_due_on=dates["oldest_settled"], today=today, policy=policy)
        after = max(before, settled, key=_RANK.__getitem__)  # worse: only invoices with no payment on its way
    org.status = after
    if after == before:
        return None
    locked.status = after
    locked.save(update_fields=["status", "updated_at"])
    oldest = dates["oldest"]
    record_event(
        actor=actor,
        org_id=locked.pk,
        action="org.status_changed",
        object_type="org",
        object_id=locked.public_id,
        before={"status": before},
        after={
            "status": after,
            "today": today.isoformat(),
            "oldest_open_due_on": oldest.isoformat() if oldest else None,
        },
    )
    event = EVENT_SUSPENDED if after == SUSPENDED else EVENT_REACTIVATED if before == SUSPENDED else ""
    if event and policy.suspension_webhook_url:
        transaction.on_commit(
            partial(
                _enqueue_vendor_event,
                event=event,
                org_public_id=locked.public_id,
                occurred_at=timezone.now().isoformat(),
                event_id=f"evt_{secrets.token_hex(12)}",
            )
        )
    return before, after


def _enqueue_vendor_event(*, event: str, org_public_id: str, occurred_at: str, event_id: str) -> None:
    from konto.payments.tasks import send_vendor_event_task  # the tasks module imports the services

    send_vendor_event_task.enqueue(event=event, org=org_public_id, occurred_at=occurred_at, event_id=event_id)
