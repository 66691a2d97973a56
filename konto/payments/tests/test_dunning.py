"""The dunning run on a fake clock: each step on its exact day, once, in the org's language, with the invoice PDF."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.core.management import call_command
from django.db import connection
from django.urls import NoReverseMatch, reverse
from django.utils import translation

from konto.accounts.models import Org
from konto.accounts.testing import make_admin, make_billing_user, make_user
from konto.billing.models import Invoice, InvoiceRecipient, StoredDocument
from konto.billing.services.credit_notes import issue_credit_note
from konto.billing.services.invoices import create_draft_invoices, mark_invoice_uncollectible
from konto.billing.tests.helpers import add_contract, build_catalog
from konto.contracts.exceptions import PurchaseRefused
from konto.contracts.models import Contract, Order
from konto.contracts.services.orders import place_order
from konto.contracts.services.pricing import OrderItem
from konto.core.models import AuditEvent
from konto.payments.models import DunningNotice, DunningPolicy, MethodKind, Payment, PaymentAllocation
from konto.payments.services.dunning import DunningRunResult, run_dunning
from konto.payments.services.dunning_emails import LEVEL_HEADER, send_dunning_notice_email
from konto.payments.services.pay import record_bank_transfer
from konto.payments.services.standing import get_dunning_policy
from konto.payments.tasks import run_dunning_task

from .dunning_helpers import ACTOR, DUE_ON, after_due, at, customer, issued_invoice, pay, recorded, run_on

pytestmark = pytest.mark.django_db
NUMBER = "RE-2026-000001"


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture
def org() -> Org:
    return customer(billing_email="buchhaltung@baeckerei.example", language="en")


@pytest.fixture
def invoice(org: Org) -> Invoice:
    return issued_invoice(org)


def notices(invoice: Invoice) -> list[tuple[str, date, Decimal]]:
    return list(
        DunningNotice.objects.filter(invoice=invoice).order_by("id").values_list("level", "due_on", "open_amount")
    )


def dunning_mails() -> list[EmailMultiAlternatives]:
    """The dunning emails sent (an invoice whose PDF is stored for the reminder is also delivered by billing)."""
    return [
        message
        for message in mail.outbox
        if isinstance(message, EmailMultiAlternatives) and LEVEL_HEADER in message.extra_headers
    ]


def subjects() -> list[str]:
    return [str(message.subject) for message in dunning_mails()]


def status(org: Org) -> str:
    org.refresh_from_db()
    return org.status


def buy_one_license(org: Org, key: str) -> Order:
    contract = Contract.objects.get(org=org)
    return place_order(
        org=org,
        actor=ACTOR,
        contract=contract,
        items=[OrderItem("professional", 1)],
        idempotency_key=key,
        today=after_due(28),
    ).order


# ---------------------------------------------------------------- each step on its exact day


def test_nothing_happens_the_day_before_the_reminder(invoice, django_capture_on_commit_callbacks):
    result = run_on(after_due(2), django_capture_on_commit_callbacks)

    assert result.notices_sent == 0
    assert notices(invoice) == []
    assert dunning_mails() == []
    assert status(invoice.org) == "active"


def test_the_reminder_goes_out_on_due_plus_3(invoice, django_capture_on_commit_callbacks):
    result = run_on(after_due(3), django_capture_on_commit_callbacks)

    assert result.notices == {"reminder": 1, "second_reminder": 0, "final_notice": 0, "suspension": 0}
    assert notices(invoice) == [("reminder", date(2026, 7, 18), Decimal("297.50"))]
    assert subjects() == [f"Payment reminder: invoice {NUMBER}"]
    assert dunning_mails()[0].to == ["buchhaltung@baeckerei.example"]
    assert status(invoice.org) == "active"
    event = AuditEvent.objects.get(action="invoice.dunning_step_taken")
    assert event.object_id == invoice.public_id
    assert recorded("invoice.dunning_step_taken") | {"notice": 0} == {
        "level": "reminder",
        "notice": 0,
        "due_on": "2026-07-18",
        "open_amount": "297.50",
        "currency": "EUR",
        "skipped": [],
    }


def test_the_second_reminder_goes_out_on_due_plus_14(invoice, django_capture_on_commit_callbacks):
    run_on(after_due(3), django_capture_on_commit_callbacks)
    assert run_on(after_due(13), django_capture_on_commit_callbacks).notices_sent == 0

    result = run_on(after_due(14), django_capture_on_commit_callbacks)

    assert result.notices["second_reminder"] == 1
    assert [level for level, _due, _open in notices(invoice)] == ["reminder", "second_reminder"]
    assert subjects() == [f"Payment reminder: invoice {NUMBER}", f"Second reminder: invoice {NUMBER}"]
    assert status(invoice.org) == "active"


def test_the_final_notice_on_due_plus_28_makes_the_org_overdue_and_blocks_purchases(
    invoice, django_capture_on_commit_callbacks
):
    org = invoice.org
    for days in (3, 14, 27):
        run_on(after_due(days), django_capture_on_commit_callbacks)
    assert status(org) == "active"
    assert len(dunning_mails()) == 2

    result = run_on(after_due(28), django_capture_on_commit_callbacks)

    assert (result.notices["final_notice"], result.standings_changed) == (1, 1)
    assert notices(invoice)[-1] == ("final_notice", date(2026, 8, 12), Decimal("297.50"))
    assert subjects()[-1] == f"Final notice: invoice {NUMBER}"
    assert "Your account is now overdue: purchases are blocked until paid." in dunning_mails()[-1].body
    assert status(org) == "overdue"
    event = AuditEvent.objects.get(action="org.status_changed")
    assert (event.org_id, event.before) == (org.pk, {"status": "active"})
    assert recorded("org.status_changed")["status"] == "overdue"
    # and buying is refused, with nothing ordered
    with pytest.raises(PurchaseRefused) as refused:
        buy_one_license(org, "after-final-notice")
    assert refused.value.code == "org_overdue"
    assert Order.objects.filter(org=org).count() == 0


def test_suspension_on_due_plus_45(invoice, django_capture_on_commit_callbacks):
    org = invoice.org
    for days in (3, 14, 28, 44):
        run_on(after_due(days), django_capture_on_commit_callbacks)
    assert status(org) == "overdue"
    assert len(dunning_mails()) == 3

    result = run_on(after_due(45), django_capture_on_commit_callbacks)

    assert (result.notices["suspension"], result.standings_changed) == (1, 1)
    assert subjects()[-1] == f"Account suspended: invoice {NUMBER} is unpaid"
    assert status(org) == "suspended"
    assert [level for level, _due, _open in notices(invoice)] == [
        "reminder",
        "second_reminder",
        "final_notice",
        "suspension",
    ]


def test_a_rerun_sends_nothing_twice(invoice, django_capture_on_commit_callbacks):
    for days in (3, 3, 14, 14, 28, 28, 45, 45, 46, 90):
        run_on(after_due(days), django_capture_on_commit_callbacks)

    assert DunningNotice.objects.filter(invoice=invoice).count() == 4
    assert len(dunning_mails()) == 4
    assert AuditEvent.objects.filter(action="invoice.dunning_notice_emailed").count() == 4
    assert list(
        AuditEvent.objects.filter(action="org.status_changed").order_by("id").values_list("after__status", flat=True)
    ) == [
        "overdue",
        "suspended",
    ]


def test_running_the_email_task_again_sends_nothing(invoice, django_capture_on_commit_callbacks):
    run_on(after_due(3), django_capture_on_commit_callbacks)
    notice = DunningNotice.objects.get(invoice=invoice)

    with time_machine.travel(at(after_due(3), 7), tick=False):
        assert send_dunning_notice_email(notice_id=notice.pk, today=after_due(3)) == []

    assert len(dunning_mails()) == 1


def test_a_run_missed_for_weeks_sends_only_the_highest_step_reached(invoice, django_capture_on_commit_callbacks):
    # Given no run happened between the due date and day 20
    result = run_on(after_due(20), django_capture_on_commit_callbacks)

    # Then only the second reminder goes out; the reminder is named as skipped and never sent later
    assert result.notices == {"reminder": 0, "second_reminder": 1, "final_notice": 0, "suspension": 0}
    assert subjects() == [f"Second reminder: invoice {NUMBER}"]
    after = recorded("invoice.dunning_step_taken")
    assert (after["level"], after["skipped"]) == ("second_reminder", ["reminder"])
    assert run_on(after_due(21), django_capture_on_commit_callbacks).notices_sent == 0
    # and a run 50 days late goes straight to suspension (final notice skipped, org suspended)
    result = run_on(after_due(50), django_capture_on_commit_callbacks)
    assert result.notices["suspension"] == 1
    assert subjects()[-1] == f"Account suspended: invoice {NUMBER} is unpaid"
    assert status(invoice.org) == "suspended"
    assert [level for level, _due, _open in notices(invoice)] == ["second_reminder", "suspension"]
    steps = AuditEvent.objects.filter(action="invoice.dunning_step_taken").order_by("id")
    assert [((e.after or {})["level"], (e.after or {})["skipped"]) for e in steps] == [
        ("second_reminder", ["reminder"]),
        ("suspension", ["final_notice"]),
    ]


def test_a_lower_step_is_never_sent_after_a_higher_one_when_the_schedule_changes(
    invoice, django_capture_on_commit_callbacks
):
    run_on(after_due(14), django_capture_on_commit_callbacks)  # second reminder (reminder skipped)
    DunningPolicy.objects.update(reminder_days=15, second_reminder_days=20, final_notice_days=30, suspension_days=40)

    result = run_on(after_due(16), django_capture_on_commit_callbacks)

    assert result.notices_sent == 0
    assert subjects() == [f"Second reminder: invoice {NUMBER}"]


def test_the_schedule_of_the_vendor_is_respected(invoice, django_capture_on_commit_callbacks):
    policy = get_dunning_policy()
    policy.reminder_days, policy.second_reminder_days, policy.final_notice_days, policy.suspension_days = 7, 10, 20, 30
    policy.save()

    sent_on = {}
    for days in range(32):
        result = run_on(after_due(days), django_capture_on_commit_callbacks)
        for level, count in result.notices.items():
            if count:
                sent_on[level] = days
        if days == 19:
            assert status(invoice.org) == "active"
        if days == 20:
            assert status(invoice.org) == "overdue"

    assert sent_on == {"reminder": 7, "second_reminder": 10, "final_notice": 20, "suspension": 30}
    assert status(invoice.org) == "suspended"
    assert len(dunning_mails()) == 4


# ---------------------------------------------------------------- paying


def test_paying_clears_overdue_at_once_and_buying_works_again(invoice, django_capture_on_commit_callbacks):
    org = invoice.org
    run_on(after_due(28), django_capture_on_commit_callbacks)
    assert status(org) == "overdue"

    pay(invoice, "297.50", day=after_due(29), capture=django_capture_on_commit_callbacks)

    assert status(org) == "active"
    assert buy_one_license(org, "after-paying").status == "fulfilled"
    # and nothing more is sent for the paid invoice
    assert run_on(after_due(45), django_capture_on_commit_callbacks).notices_sent == 0
    assert len(dunning_mails()) == 1


def test_a_bank_transfer_booked_by_payments_clears_a_suspension_at_once(invoice, django_capture_on_commit_callbacks):
    run_on(after_due(45), django_capture_on_commit_callbacks)
    assert status(invoice.org) == "suspended"

    with time_machine.travel(at(after_due(46), 9), tick=False), django_capture_on_commit_callbacks(execute=True):
        record_bank_transfer(
            invoice=invoice,
            amount=Decimal("297.50"),
            booking_date=after_due(46),
            reference=NUMBER,
            actor=ACTOR,
            idempotency_key="stmt-1/line-1",
        )

    assert status(invoice.org) == "active"
    assert list(
        AuditEvent.objects.filter(action="org.status_changed").order_by("id").values_list("after__status", flat=True)
    ) == ["suspended", "active"]


def test_paying_part_of_the_invoice_keeps_the_org_overdue(invoice, django_capture_on_commit_callbacks):
    run_on(after_due(28), django_capture_on_commit_callbacks)

    pay(invoice, "100.00", day=after_due(29), capture=django_capture_on_commit_callbacks)

    assert status(invoice.org) == "overdue"
    run_on(after_due(45), django_capture_on_commit_callbacks)
    assert notices(invoice)[-1] == ("suspension", date(2026, 8, 29), Decimal("197.50"))
    assert "€197.50" in dunning_mails()[-1].body


def test_an_invoice_paid_between_the_step_and_its_email_is_not_emailed(invoice, django_capture_on_commit_callbacks):
    with time_machine.travel(at(after_due(3)), tick=False):
        run_dunning(today=after_due(3))  # committed work not run: the email waits in the queue
    pay(invoice, "297.50", day=after_due(3), capture=django_capture_on_commit_callbacks)
    notice = DunningNotice.objects.get(invoice=invoice)

    assert send_dunning_notice_email(notice_id=notice.pk, today=after_due(3)) == []
    assert dunning_mails() == []


# ---------------------------------------------------------------- what is never dunned


def test_draft_paid_void_and_uncollectible_invoices_are_never_dunned(django_capture_on_commit_callbacks):
    paid = issued_invoice(customer("Bezahlt GmbH"))
    pay(paid, "297.50", day=DUE_ON, capture=django_capture_on_commit_callbacks)
    void = issued_invoice(customer("Storniert GmbH"))
    with time_machine.travel(at(DUE_ON), tick=False):
        issue_credit_note(invoice=void, actor=ACTOR, reason="Cancelled order", documents=False)
    uncollectible = issued_invoice(customer("Abgeschrieben GmbH"))
    mark_invoice_uncollectible(invoice=uncollectible, actor=ACTOR)
    issued_invoice(customer("Hilfsfirma GmbH"))  # the one open invoice
    draft_org = customer("Entwurf GmbH")
    add_contract(
        draft_org,
        build_catalog(),
        start=date(2026, 6, 1),
        end=date(2027, 6, 1),
        frequency="monthly",
        lines=[("professional", 5, Decimal("25.00"))],
        payment="bank_transfer",
    )
    (draft,) = create_draft_invoices(org=draft_org, billing_date=date(2026, 7, 1))
    Invoice.objects.filter(pk=draft.pk).update(due_date=DUE_ON)
    statuses = dict(Invoice.objects.values_list("org__legal_name", "status"))
    assert statuses == {
        "Bezahlt GmbH": "paid",
        "Storniert GmbH": "void",
        "Abgeschrieben GmbH": "uncollectible",
        "Entwurf GmbH": "draft",
        "Hilfsfirma GmbH": "open",
    }

    run_on(after_due(60), django_capture_on_commit_callbacks)

    assert list(DunningNotice.objects.values_list("invoice__org__legal_name", "level")) == [
        ("Hilfsfirma GmbH", "suspension")
    ]
    assert dict(Org.objects.values_list("legal_name", "status")) == {
        "Bezahlt GmbH": "active",
        "Storniert GmbH": "active",
        "Abgeschrieben GmbH": "active",
        "Entwurf GmbH": "active",
        "Hilfsfirma GmbH": "suspended",
    }


def test_closed_orgs_are_untouched(invoice, django_capture_on_commit_callbacks):
    Org.objects.filter(pk=invoice.org_id).update(status=Org.Status.CLOSED)

    for days in (3, 14, 28, 45):
        assert run_on(after_due(days), django_capture_on_commit_callbacks).notices_sent == 0

    assert status(invoice.org) == "closed"
    assert DunningNotice.objects.count() == 0
    assert dunning_mails() == []
    assert not AuditEvent.objects.filter(action__in=["org.status_changed", "invoice.dunning_step_taken"]).exists()


def test_an_invoice_with_a_payment_in_flight_waits_until_the_payment_ends(invoice, django_capture_on_commit_callbacks):
    # Given a SEPA debit of the invoice is on its way (pending at the bank)
    payment = Payment.objects.create(
        org=invoice.org,
        kind=MethodKind.SEPA_DEBIT,
        origin=Payment.Origin.AUTOMATIC,
        amount=invoice.gross_amount,
        currency="EUR",
        idempotency_key="collect-1",
    )
    allocation = PaymentAllocation.objects.create(
        payment=payment, invoice=invoice, org=invoice.org, amount=invoice.gross_amount
    )

    # When the final notice's day comes, nothing is sent and the org stays active
    result = run_on(after_due(28), django_capture_on_commit_callbacks)
    assert (result.notices_sent, result.held_in_flight) == (0, 1)
    assert status(invoice.org) == "active"
    assert dunning_mails() == []

    # Then the debit fails and the next run sends the final notice (only that) and makes the org overdue
    Payment.objects.filter(pk=payment.pk).update(status=Payment.Status.FAILED)
    PaymentAllocation.objects.filter(pk=allocation.pk).update(is_in_flight=False)
    result = run_on(after_due(29), django_capture_on_commit_callbacks)
    assert (result.notices["final_notice"], result.held_in_flight) == (1, 0)
    assert subjects() == [f"Final notice: invoice {NUMBER}"]
    assert status(invoice.org) == "overdue"


def test_an_overdue_org_whose_invoice_was_credited_is_active_after_the_next_run(
    invoice, django_capture_on_commit_callbacks
):
    run_on(after_due(28), django_capture_on_commit_callbacks)
    with time_machine.travel(at(after_due(30)), tick=False):
        issue_credit_note(invoice=invoice, actor=ACTOR, reason="Goodwill", documents=False)
    assert status(invoice.org) == "overdue"

    result = run_on(after_due(31), django_capture_on_commit_callbacks)

    assert (result.notices_sent, result.standings_changed) == (0, 1)
    assert status(invoice.org) == "active"


# ---------------------------------------------------------------- the emails


def _pay_link() -> str:
    try:
        return "http://testserver" + reverse("portal:pay_invoices")
    except NoReverseMatch:
        return "http://testserver" + reverse("portal:invoices")


def test_the_english_reminder_names_amount_dates_and_how_to_pay_with_the_pdf_attached(
    org, django_capture_on_commit_callbacks
):
    invoice = issued_invoice(org, documents=True)
    InvoiceRecipient.objects.create(org=org, email="ap@baeckerei.example", name="AP")

    run_on(after_due(3), django_capture_on_commit_callbacks)

    (message,) = dunning_mails()
    assert message.to == ["buchhaltung@baeckerei.example", "ap@baeckerei.example"]
    assert message.subject == f"Payment reminder: invoice {NUMBER}"
    body = message.body
    for line in [
        "Hello,",
        f"Invoice number: {NUMBER}",
        "Issue date: Jul 1, 2026",
        "Due date: Jul 15, 2026",
        "Days overdue: 3",
        "Open amount: €297.50",
        f"- Online in My Account: {_pay_link()}",
        "  IBAN: DE89 3704 0044 0532 0130 00",
        f"  Reference: {NUMBER}",
        f"The invoice is attached as a PDF ({NUMBER}.pdf).",
        "If you have paid in the meantime, thank you – please disregard this email.",
    ]:
        assert line in body.splitlines(), line
    assert "This is a friendly payment reminder." in body
    html, mimetype = message.alternatives[0]
    assert isinstance(html, str)
    assert mimetype == "text/html"
    assert '<html lang="en">' in html
    assert f'href="{_pay_link()}"' in html
    ((filename, content, attachment_type),) = message.attachments
    stored = StoredDocument.objects.get(invoice=invoice, kind="pdf")
    assert (filename, attachment_type) == (f"{NUMBER}.pdf", "application/pdf")
    assert content == stored.file.open("rb").read()
    assert content.startswith(b"%PDF")
    after = recorded("invoice.dunning_notice_emailed")
    assert after["to"] == ["buchhaltung@baeckerei.example", "ap@baeckerei.example"]
    assert (after["attachment"], after["level"], after["language"]) == (f"{NUMBER}.pdf", "reminder", "en")


def test_the_german_reminder_is_in_german_with_german_formats(django_capture_on_commit_callbacks):
    org = customer(billing_email="buchhaltung@baeckerei.example", language="de")
    issued_invoice(org, documents=True)

    run_on(after_due(3), django_capture_on_commit_callbacks)

    (message,) = dunning_mails()
    lines = message.body.splitlines()
    for line in [
        "Guten Tag,",
        f"Rechnungsnummer: {NUMBER}",
        "Fällig am: 15.07.2026",
        "Offener Betrag: 297,50\xa0€",
        "  IBAN: DE89 3704 0044 0532 0130 00",
    ]:
        assert line in lines, line
    assert '<html lang="de">' in str(message.alternatives[0][0])
    assert message.attachments[0][0] == f"{NUMBER}.pdf"


def test_an_invoice_issued_without_documents_gets_its_pdf_rendered_for_the_email(
    invoice, django_capture_on_commit_callbacks
):
    assert not StoredDocument.objects.filter(invoice=invoice).exists()

    run_on(after_due(3), django_capture_on_commit_callbacks)

    ((filename, content, _type),) = dunning_mails()[0].attachments
    assert (filename, content[:5]) == (f"{NUMBER}.pdf", b"%PDF-")
    assert StoredDocument.objects.filter(invoice=invoice, kind="pdf").count() == 1


def test_the_final_notice_says_purchases_are_blocked_and_when_suspension_follows(
    invoice, django_capture_on_commit_callbacks
):
    run_on(after_due(28), django_capture_on_commit_callbacks)

    body = dunning_mails()[0].body
    assert "Your account is now overdue: purchases are blocked until paid." in body
    assert "If the open amount is still unpaid on Aug 29, 2026, your account will be suspended." in body
    assert "Days overdue: 28" in body.splitlines()


def test_without_billing_email_or_recipients_the_users_who_may_pay_get_the_notice(
    django_capture_on_commit_callbacks,
):
    org = customer("Ohne Adresse GmbH", language="en")
    make_admin(org, "admin@ohne.example")
    make_billing_user(org, "ap@ohne.example")
    make_user(org, "sales@ohne.example")
    issued_invoice(org)

    run_on(after_due(3), django_capture_on_commit_callbacks)

    assert dunning_mails()[0].to == ["admin@ohne.example", "ap@ohne.example"]


# ---------------------------------------------------------------- entry points


def test_the_command_runs_the_dunning_of_a_date(invoice, django_capture_on_commit_callbacks):
    out = StringIO()
    with time_machine.travel(at(after_due(40)), tick=False), django_capture_on_commit_callbacks(execute=True):
        call_command("run_dunning", "--date", after_due(28).isoformat(), stdout=out)

    assert out.getvalue().strip() == (
        "Dunning run for 2026-08-12: 1 notices (0 reminder, 0 second_reminder, 1 final_notice, 0 suspension); "
        "0 invoices wait for a payment in flight; 1 org statuses changed."
    )
    assert status(invoice.org) == "overdue"


def test_the_command_refuses_a_bad_date(invoice):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--date must be YYYY-MM-DD"):
        call_command("run_dunning", "--date", "12.08.2026")
    assert DunningNotice.objects.count() == 0


def test_the_task_runs_the_dunning_of_today(invoice, django_capture_on_commit_callbacks):
    with time_machine.travel(at(after_due(14)), tick=False), django_capture_on_commit_callbacks(execute=True):
        result = run_dunning_task.enqueue()

    assert result.return_value == {
        "today": "2026-07-29",
        "notices": {"reminder": 0, "second_reminder": 1, "final_notice": 0, "suspension": 0},
        "held_in_flight": 0,
        "standings_changed": 0,
    }
    assert subjects() == [f"Second reminder: invoice {NUMBER}"]


# ---------------------------------------------------------------- PostgreSQL: two runs at once


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (set DATABASE_URL=postgres://…)")
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_send_each_notice_once():
    # Given 20 orgs with an open invoice (documents stored at issue), 28 days past due
    invoices = [
        issued_invoice(customer(f"Firma {index:02} GmbH", billing_email=f"ap{index}@firma.example"), documents=True)
        for index in range(20)
    ]
    mail.outbox.clear()  # the invoices' own delivery at issue

    # When two dunning runs for that day start together, each on its own connection
    barrier = threading.Barrier(2)
    results: list[DunningRunResult | Exception | None] = [None, None]

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = run_dunning(today=after_due(28), batch_size=3)
        except Exception as error:
            results[index] = error
        finally:
            connection.close()

    with time_machine.travel(at(after_due(28)), tick=False):
        threads = [threading.Thread(target=run, args=(index,)) for index in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)

    # Then every invoice got exactly one final notice and one email, and every org is overdue once
    assert not any(isinstance(result, Exception) for result in results), results
    assert sum(result.notices["final_notice"] for result in results if isinstance(result, DunningRunResult)) == 20
    assert sorted(DunningNotice.objects.values_list("invoice_id", "level")) == sorted(
        (invoice.pk, "final_notice") for invoice in invoices
    )
    assert sorted(message.to[0] for message in dunning_mails()) == sorted(f"ap{i}@firma.example" for i in range(20))
    assert AuditEvent.objects.filter(action="invoice.dunning_notice_emailed").count() == 20
    assert AuditEvent.objects.filter(action="org.status_changed").count() == 20
    assert set(Org.objects.values_list("status", flat=True)) == {"overdue"}
