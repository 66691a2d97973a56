"""The dunning run: reminders, final notice and suspension for open invoices past their due date.

Rules (DESIGN.md §6, docs/payments.md "Dunning"):

- an invoice is dunned while it is open with an open amount, its org is not
  closed and no payment for it is on its way (an in-flight allocation);
- a step is due when `due_date + days(step) <= today`; a run takes only the
  highest step reached, and only if no step at that level or above was taken
  for the invoice: a run that did not happen for two weeks sends the second
  reminder, not the reminder and then the second reminder; a step passed over
  is named in the audit event ("skipped") and never sent later, and a schedule
  changed afterwards never sends a lower step after a higher one;
- each step is one DunningNotice row, unique per (invoice, level), written in
  the invoice's own short transaction under the org's row lock: a rerun, or a
  second run at the same time, finds the row and sends nothing twice. The
  email goes after commit; the org's standing is refreshed in the same
  transaction (final notice → overdue, suspension → suspended).

Invoices are selected set-based and walked by id in batches, so 10,000 open
invoices never sit in memory at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from konto.accounts.models import Org
from konto.billing.models import Invoice, InvoiceStatus
from konto.core.audit import Actor, record_event
from konto.payments.models import DunningLevel, DunningNotice, DunningPolicy, PaymentAllocation
from konto.payments.services import ledger
from konto.payments.services.standing import OPEN_AMOUNT, apply_org_standing, get_dunning_policy

logger = logging.getLogger(__name__)

ACTOR = Actor.system("dunning")
BATCH_SIZE = 500  # invoice ids read per query

# The steps in order; a notice is never sent below or at a level already taken.
LEVELS: tuple[str, ...] = (
    DunningLevel.REMINDER,
    DunningLevel.SECOND_REMINDER,
    DunningLevel.FINAL_NOTICE,
    DunningLevel.SUSPENSION,
)


def step_days(policy: DunningPolicy) -> dict[str, int]:
    """Days after the due date at which each level is reached."""
    return {
        DunningLevel.REMINDER: policy.reminder_days,
        DunningLevel.SECOND_REMINDER: policy.second_reminder_days,
        DunningLevel.FINAL_NOTICE: policy.final_notice_days,
        DunningLevel.SUSPENSION: policy.suspension_days,
    }


def level_reached(*, due_date: date, today: date, policy: DunningPolicy) -> str | None:
    """The highest level whose day has come for an invoice due on `due_date`, or None before the first."""
    reached = None
    for level, days in step_days(policy).items():
        if due_date + timedelta(days=days) <= today:
            reached = level
    return reached


@dataclass
class DunningRunResult:
    """What a run did: notices per level, invoices held back by a payment on its way, standings refreshed."""

    today: date
    notices: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LEVELS, 0))
    held_in_flight: int = 0  # invoices with a step due that wait for their in-flight payment
    standings_changed: int = 0  # orgs whose status the run changed

    @property
    def notices_sent(self) -> int:
        return sum(self.notices.values())


def dunnable_invoices(*, in_flight: bool = False) -> QuerySet[Invoice]:
    """Open invoices with an open amount of orgs that are not closed; with(out) a payment on its way."""
    paying = Exists(PaymentAllocation.objects.filter(invoice=OuterRef("pk"), is_in_flight=True))
    return (
        Invoice.objects.filter(status=InvoiceStatus.OPEN)
        .exclude(org__status=Org.Status.CLOSED)
        .annotate(open_total=OPEN_AMOUNT)
        .filter(open_total__gt=0)
        .filter(paying if in_flight else ~paying)
    )


def _step_due(*, today: date, policy: DunningPolicy) -> Q:
    """Invoices whose highest reached level is not taken yet, nor any level above it (set-based)."""
    days = list(step_days(policy).values())
    condition = Q(pk__in=[])  # matches nothing; each level adds its window
    for index in range(len(LEVELS)):
        window = Q(due_date__lte=today - timedelta(days=days[index]))
        if index + 1 < len(LEVELS):
            window &= Q(due_date__gt=today - timedelta(days=days[index + 1]))
        taken = DunningNotice.objects.filter(invoice=OuterRef("pk"), level__in=LEVELS[index:])
        condition |= window & Q(~Exists(taken))
    return condition


def invoices_due_for_a_step(*, today: date, policy: DunningPolicy, in_flight: bool = False) -> QuerySet[Invoice]:
    return dunnable_invoices(in_flight=in_flight).filter(_step_due(today=today, policy=policy))


def _ids(queryset: QuerySet[Invoice] | QuerySet[Org], batch_size: int) -> Iterator[int]:
    """Primary keys of `queryset` in ascending order, read `batch_size` at a time (keyset, no open cursor)."""
    last = 0
    while True:
        batch = list(queryset.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:batch_size])
        yield from batch
        if len(batch) < batch_size:
            return
        last = batch[-1]


def run_dunning(*, today: date, batch_size: int = BATCH_SIZE) -> DunningRunResult:
    """Take every dunning step due on `today` (the org-local date of the run); safe to run again or in parallel.

    Then refresh the standing of every overdue or suspended org, so one whose
    invoices were credited, written off or paid meanwhile is active again.
    """
    policy = get_dunning_policy()
    result = DunningRunResult(today=today)
    for invoice_id in _ids(invoices_due_for_a_step(today=today, policy=policy), batch_size):
        level, changed = take_dunning_step(invoice_id=invoice_id, today=today, policy=policy)
        if level is not None:
            result.notices[level] += 1
        result.standings_changed += changed
    result.held_in_flight = invoices_due_for_a_step(today=today, policy=policy, in_flight=True).count()
    behind = Org.objects.filter(status__in=[Org.Status.OVERDUE, Org.Status.SUSPENDED])
    for org_id in _ids(behind, batch_size):
        result.standings_changed += _refresh_standing(org_id=org_id, today=today, policy=policy)
    logger.info(
        "dunning run %s: %s notices %s, %d held by payments in flight, %d standings changed",
        today.isoformat(),
        result.notices_sent,
        {str(level): count for level, count in result.notices.items() if count},
        result.held_in_flight,
        result.standings_changed,
    )
    return result


@transaction.atomic(durable=True)
def take_dunning_step(*, invoice_id: int, today: date, policy: DunningPolicy) -> tuple[str | None, bool]:
    """The due step of one invoice, in its own transaction: (level taken or None, whether the org's status changed).

    Locks the org, then the invoice, and checks everything again under the
    locks: another run may have taken the step, a payment may have arrived.
    """
    org_id = Invoice.objects.filter(pk=invoice_id).values_list("org_id", flat=True).first()
    if org_id is None:
        return None, False
    org = ledger.lock_org(org_id)
    if org.status == Org.Status.CLOSED:
        return None, False
    invoice = ledger.lock_invoices([invoice_id])[invoice_id]
    if invoice.status != InvoiceStatus.OPEN or invoice.open_amount <= 0:
        return None, False
    if PaymentAllocation.objects.filter(invoice=invoice, is_in_flight=True).exists():
        return None, False
    level = level_reached(due_date=invoice.due_date, today=today, policy=policy)
    if level is None:
        return None, False
    taken = set(DunningNotice.objects.filter(invoice=invoice).values_list("level", flat=True))
    if taken & set(LEVELS[LEVELS.index(level) :]):
        return None, False
    # No other notice at this level can exist: notices are only written under this invoice's row lock, and
    # `taken` was read under it (a race would still hit the unique (invoice, level) constraint, not send twice).
    notice = DunningNotice.objects.create(
        invoice=invoice,
        org=org,
        level=level,
        due_on=invoice.due_date + timedelta(days=step_days(policy)[level]),
        open_amount=invoice.open_amount,
    )
    last_taken = max((LEVELS.index(taken_level) for taken_level in taken), default=-1)
    skipped = list(LEVELS[last_taken + 1 : LEVELS.index(level)])  # passed over by this step, never sent later
    record_event(
        actor=ACTOR,
        org_id=org.pk,
        action="invoice.dunning_step_taken",
        object_type="invoice",
        object_id=invoice.public_id,
        after={
            "level": level,
            "notice": notice.pk,
            "due_on": notice.due_on.isoformat(),
            "open_amount": str(notice.open_amount),
            "currency": invoice.currency,
            "skipped": skipped,
        },
    )
    change = apply_org_standing(org=org, today=today, actor=ACTOR, policy=policy)
    transaction.on_commit(partial(_enqueue_notice_email, notice_id=notice.pk, today=today))
    return level, change is not None


@transaction.atomic(durable=True)
def _refresh_standing(*, org_id: int, today: date, policy: DunningPolicy) -> bool:
    org = Org.objects.get(pk=org_id)
    return apply_org_standing(org=org, today=today, actor=ACTOR, policy=policy) is not None


def _enqueue_notice_email(*, notice_id: int, today: date) -> None:
    from konto.payments.tasks import send_dunning_notice_task  # the tasks module imports the services

    send_dunning_notice_task.enqueue(notice_id=notice_id, today=today.isoformat())
