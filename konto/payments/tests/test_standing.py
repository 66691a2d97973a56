"""An org's standing from its open invoices and the dunning schedule, recomputed inside the caller's transaction."""

from __future__ import annotations

from datetime import date

import pytest
import time_machine
from django.db import transaction

from konto.accounts.models import Org
from konto.billing.models import Invoice
from konto.billing.services.invoices import invoice_due_charges, mark_invoice_uncollectible
from konto.core.models import AuditEvent
from konto.payments.models import DunningPolicy, MethodKind, Payment, PaymentAllocation
from konto.payments.services.standing import get_dunning_policy, refresh_org_standing

from .dunning_helpers import ACTOR, DUE_ON, after_due, at, customer, issued_invoice, pay

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice() -> Invoice:
    return issued_invoice(customer())


def refresh(org: Org, today: date) -> str:
    with time_machine.travel(at(today), tick=False), transaction.atomic():
        refresh_org_standing(org=org, today=today, actor=ACTOR)
    org.refresh_from_db()
    return org.status


def status_changes(org: Org) -> list[tuple[str, str]]:
    events = AuditEvent.objects.filter(action="org.status_changed", org_id=org.pk).order_by("id")
    return [(str((e.before or {})["status"]), str((e.after or {})["status"])) for e in events]


def in_flight_payment(invoice: Invoice) -> PaymentAllocation:
    payment = Payment.objects.create(
        org=invoice.org,
        kind=MethodKind.SEPA_DEBIT,
        origin=Payment.Origin.AUTOMATIC,
        amount=invoice.gross_amount,
        currency="EUR",
        idempotency_key=f"collect-{invoice.pk}",
    )
    return PaymentAllocation.objects.create(
        payment=payment, invoice=invoice, org=invoice.org, amount=invoice.gross_amount
    )


def test_the_policy_is_created_with_the_default_schedule_once():
    assert DunningPolicy.objects.count() == 0

    first = get_dunning_policy()
    second = get_dunning_policy()

    assert first.pk == second.pk
    assert DunningPolicy.objects.count() == 1
    assert (
        first.reminder_days,
        first.second_reminder_days,
        first.final_notice_days,
        first.suspension_days,
        first.retry_days,
        first.suspension_webhook_url,
    ) == (3, 14, 28, 45, [1, 3, 7], "")


@pytest.mark.django_db(transaction=True)
def test_it_runs_only_inside_the_callers_transaction(invoice):
    with pytest.raises(RuntimeError, match="inside the caller's transaction"):
        refresh_org_standing(org=invoice.org, today=after_due(30), actor=ACTOR)

    invoice.org.refresh_from_db()
    assert invoice.org.status == "active"
    assert not AuditEvent.objects.filter(action="org.status_changed").exists()


@pytest.mark.parametrize(
    ("days", "expected"),
    [(-5, "active"), (27, "active"), (28, "overdue"), (44, "overdue"), (45, "suspended"), (200, "suspended")],
)
def test_standing_follows_the_oldest_open_invoice(invoice, days, expected):
    assert refresh(invoice.org, after_due(days)) == expected


def test_a_change_is_audited_with_the_status_before_and_after_and_a_repeat_changes_nothing(invoice):
    org = invoice.org
    refresh(org, after_due(28))
    refresh(org, after_due(30))
    refresh(org, after_due(45))

    assert status_changes(org) == [("active", "overdue"), ("overdue", "suspended")]
    event = AuditEvent.objects.filter(action="org.status_changed").order_by("id").first()
    assert event is not None
    assert (event.object_type, event.object_id, event.actor_email) == ("org", org.public_id, "test")
    assert event.after == {"status": "overdue", "today": "2026-08-12", "oldest_open_due_on": DUE_ON.isoformat()}


def test_the_callers_org_object_carries_the_new_status(invoice):
    org = invoice.org
    with transaction.atomic():
        refresh_org_standing(org=org, today=after_due(28), actor=ACTOR)
        assert org.status == "overdue"


def test_paying_everything_clears_a_suspension_at_once(invoice, django_capture_on_commit_callbacks):
    org = invoice.org
    assert refresh(org, after_due(50)) == "suspended"

    pay(invoice, "297.50", day=after_due(51), capture=django_capture_on_commit_callbacks)

    org.refresh_from_db()
    assert org.status == "active"
    assert status_changes(org) == [("active", "suspended"), ("suspended", "active")]


def test_paying_part_keeps_the_standing(invoice, django_capture_on_commit_callbacks):
    assert refresh(invoice.org, after_due(50)) == "suspended"

    pay(invoice, "297.49", day=after_due(51), capture=django_capture_on_commit_callbacks)

    invoice.org.refresh_from_db()
    assert invoice.org.status == "suspended"


def test_only_the_oldest_open_invoice_counts_and_paying_it_leaves_the_younger_ones(
    invoice, django_capture_on_commit_callbacks
):
    org = invoice.org
    with time_machine.travel(at(date(2026, 8, 1), 10), tick=False):
        (younger,) = invoice_due_charges(org=org, billing_date=date(2026, 8, 1), documents=False)
    assert (younger.due_date, str(younger.gross_amount)) == (date(2026, 8, 15), "148.75")
    assert refresh(org, after_due(60)) == "suspended"  # 60 days after the oldest, 29 after the younger

    pay(invoice, "297.50", day=after_due(60), capture=django_capture_on_commit_callbacks)
    org.refresh_from_db()
    assert org.status == "overdue"

    pay(younger, "148.75", day=after_due(60), capture=django_capture_on_commit_callbacks)
    org.refresh_from_db()
    assert org.status == "active"


def test_a_written_off_invoice_no_longer_counts(invoice):
    assert refresh(invoice.org, after_due(30)) == "overdue"

    mark_invoice_uncollectible(invoice=invoice, actor=ACTOR)

    assert refresh(invoice.org, after_due(30)) == "active"


def test_a_closed_org_is_never_touched(invoice):
    Org.objects.filter(pk=invoice.org_id).update(status=Org.Status.CLOSED)

    assert refresh(invoice.org, after_due(60)) == "closed"
    assert status_changes(invoice.org) == []


def test_a_payment_in_flight_neither_escalates_nor_clears(invoice):
    org = invoice.org
    # An overdue org starts paying: the pending debit does not clear the overdue state ...
    assert refresh(org, after_due(30)) == "overdue"
    allocation = in_flight_payment(invoice)
    assert refresh(org, after_due(31)) == "overdue"
    # ... and while it is on its way, the suspension day passes without suspending the org
    assert refresh(org, after_due(46)) == "overdue"
    # the debit bounces: nothing is on its way any more, the schedule applies again
    PaymentAllocation.objects.filter(pk=allocation.pk).update(is_in_flight=False)
    assert refresh(org, after_due(47)) == "suspended"


def test_an_active_org_with_a_payment_in_flight_stays_active_past_the_final_notice_day(invoice):
    in_flight_payment(invoice)

    assert refresh(invoice.org, after_due(60)) == "active"
    assert status_changes(invoice.org) == []


def test_the_schedule_of_the_policy_decides(invoice):
    DunningPolicy.objects.create(reminder_days=2, second_reminder_days=5, final_notice_days=10, suspension_days=20)

    assert [refresh(invoice.org, after_due(days)) for days in (9, 10, 19, 20)] == [
        "active",
        "overdue",
        "overdue",
        "suspended",
    ]
