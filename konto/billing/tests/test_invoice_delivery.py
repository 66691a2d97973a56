"""Invoice delivery: issued invoices are emailed to the org's invoice recipients once per address, after commit."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.utils import translation

from konto.accounts.models import Org
from konto.billing.models import Invoice, InvoiceDelivery, InvoiceRecipient, StoredDocument
from konto.billing.services import delivery
from konto.billing.services.billing_run import run_billing
from konto.billing.services.invoices import create_draft_invoices, invoice_due_charges, invoice_purchase, issue_invoice
from konto.billing.services.sharing import email_invoice, remove_invoice_recipient
from konto.billing.tasks import deliver_invoices_task
from konto.contracts.services.orders import place_order
from konto.contracts.services.pricing import OrderItem
from konto.core.audit import Actor
from konto.core.models import AuditEvent

from .helpers import add_contract, build_catalog, german_org, monthly_contract

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("test")
JULY = date(2026, 7, 1)
LEITWEG_ID = "04011000-1234512345-06"
XRECHNUNG_GUIDELINE = b"urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"


@pytest.fixture(autouse=True)
def _media_and_clock(settings: Any, tmp_path: Any) -> Iterator[None]:
    settings.MEDIA_ROOT = tmp_path / "media"
    with time_machine.travel(date(2026, 7, 1), tick=False), translation.override("en"):
        yield


@pytest.fixture
def catalog(db: None) -> Any:
    return build_catalog()


def professional_contract(org: Org, catalog: Any, *, payment: str) -> Any:
    """Monthly from 2026-06-01, 5 Professional licenses at 25.00: July 1 bills June and July, 297.50 gross."""
    return add_contract(
        org,
        catalog,
        start=date(2026, 6, 1),
        end=date(2027, 6, 1),
        frequency="monthly",
        lines=[("professional", 5, Decimal("25.00"))],
        payment=payment,
    )


def _recipient(org: Org, email: str, format: str = "pdf", name: str = "") -> InvoiceRecipient:
    return InvoiceRecipient.objects.create(org=org, email=email, name=name, format=format)


def _read(invoice: Invoice, kind: str) -> bytes:
    document = StoredDocument.objects.get(invoice=invoice, kind=kind)
    with document.file.open("rb") as handle:
        data: bytes = handle.read()
    return data


def _issue(org: Org, capture: Any, **fields: Any) -> Invoice:
    """Issue the org's due invoice (billing date July 1) and run what its commit queues."""
    with capture(execute=True):
        (invoice,) = invoice_due_charges(org=org, billing_date=JULY, **fields)
    return invoice


def _by_recipient() -> dict[str, list[Any]]:
    sent: dict[str, list[Any]] = {}
    for message in mail.outbox:
        for address in message.to:
            sent.setdefault(address, []).append(message)
    return sent


# ---------------------------------------------------------------- who receives what


def test_each_recipient_gets_one_email_in_its_format_with_the_stored_document(
    catalog, mailoutbox, django_capture_on_commit_callbacks
):
    # Given a public buyer with a Leitweg-ID (XRechnung) and two recipients, one per format
    org = german_org(
        "Stadtwerke Teststadt", edition="professional", language="en", billing_email="ignored@stadtwerke.example"
    )
    add_contract(
        org,
        catalog,
        start=date(2026, 3, 1),
        end=date(2027, 3, 1),
        frequency="annual",
        lines=[("professional", 3)],
        payment="bank_transfer",
        buyer_reference=LEITWEG_ID,
    )
    _recipient(org, "ap@stadtwerke.example", "pdf", name="Kreditorenbuchhaltung")
    _recipient(org, "erechnung@stadtwerke.example", "xrechnung")

    # When the invoice is issued and the transaction commits
    with django_capture_on_commit_callbacks(execute=True):
        (invoice,) = invoice_due_charges(org=org, billing_date=date(2026, 3, 1))

    # Then each recipient has exactly one email, the billing email none (recipients take precedence)
    sent = _by_recipient()
    assert sorted(sent) == ["ap@stadtwerke.example", "erechnung@stadtwerke.example"]
    assert [len(messages) for messages in sent.values()] == [1, 1]
    ((pdf_name, pdf_bytes, pdf_type),) = sent["ap@stadtwerke.example"][0].attachments
    assert (pdf_name, pdf_type) == ("RE-2026-000001.pdf", "application/pdf")
    assert pdf_bytes == _read(invoice, "pdf")
    ((xml_name, xml_bytes, xml_type),) = sent["erechnung@stadtwerke.example"][0].attachments
    assert (xml_name, xml_type) == ("RE-2026-000001-xrechnung.xml", "application/xml")
    assert xml_bytes == _read(invoice, "xml")
    assert XRECHNUNG_GUIDELINE in xml_bytes
    assert "attached as XRechnung XML (RE-2026-000001-xrechnung.xml)" in sent["erechnung@stadtwerke.example"][0].body
    assert sent["ap@stadtwerke.example"][0].body.startswith("Hello Kreditorenbuchhaltung,")
    # And each delivery is recorded as sent and audited, with the address
    deliveries = list(InvoiceDelivery.objects.filter(invoice=invoice).values_list("email", "format", "status"))
    assert deliveries == [
        ("ap@stadtwerke.example", "pdf", "sent"),
        ("erechnung@stadtwerke.example", "xrechnung", "sent"),
    ]
    events = AuditEvent.objects.filter(action="invoice.delivered", object_id=invoice.public_id).order_by("id")
    assert [event.after for event in events] == [
        {"to": "ap@stadtwerke.example", "format": "pdf", "attachment": "RE-2026-000001.pdf", "billing_email": False},
        {
            "to": "erechnung@stadtwerke.example",
            "format": "xrechnung",
            "attachment": "RE-2026-000001-xrechnung.xml",
            "billing_email": False,
        },
    ]


def test_running_the_task_again_sends_nothing_twice(catalog, mailoutbox, django_capture_on_commit_callbacks):
    org = german_org()
    monthly_contract(org, catalog)
    _recipient(org, "buchhaltung@baeckerei.example")
    invoice = _issue(org, django_capture_on_commit_callbacks)
    assert len(mailoutbox) == 1

    result = deliver_invoices_task.enqueue(invoice_ids=[invoice.pk, invoice.pk])

    assert result.return_value == {"invoices": 2, "emails_sent": 0}
    assert len(mailoutbox) == 1
    assert InvoiceDelivery.objects.count() == 1
    assert AuditEvent.objects.filter(action="invoice.delivered").count() == 1


def test_a_new_recipient_gets_an_invoice_already_sent_to_others_only_once(
    catalog, mailoutbox, django_capture_on_commit_callbacks
):
    org = german_org()
    monthly_contract(org, catalog)
    _recipient(org, "buchhaltung@baeckerei.example")
    invoice = _issue(org, django_capture_on_commit_callbacks)
    _recipient(org, "steuerberater@kanzlei.example")

    deliver_invoices_task.enqueue(invoice_ids=[invoice.pk])
    deliver_invoices_task.enqueue(invoice_ids=[invoice.pk])

    assert [message.to for message in mailoutbox] == [
        ["buchhaltung@baeckerei.example"],
        ["steuerberater@kanzlei.example"],
    ]


def test_a_recipient_removed_before_its_email_went_out_gets_none(
    catalog, mailoutbox, django_capture_on_commit_callbacks
):
    # Given an invoice whose deliveries are planned but not sent yet (e.g. the worker stopped in between)
    org = german_org()
    monthly_contract(org, catalog)
    removed = _recipient(org, "alt@baeckerei.example")
    _recipient(org, "neu@baeckerei.example")
    with delivery.invoice_emails_suspended():
        invoice = _issue(org, django_capture_on_commit_callbacks)
    assert len(delivery.plan_deliveries(invoice_id=invoice.pk)) == 2

    # When one recipient is removed and the task runs
    remove_invoice_recipient(org=org, actor=SYSTEM, public_id=removed.public_id)
    sent = delivery.deliver_invoices(invoice_ids=[invoice.pk])

    # Then only the remaining recipient gets it; the removed one's pending delivery is gone
    assert sent == 1
    assert [message.to for message in mailoutbox] == [["neu@baeckerei.example"]]
    assert list(InvoiceDelivery.objects.values_list("email", "status")) == [("neu@baeckerei.example", "sent")]


def test_an_email_the_mail_server_refused_stays_pending_and_is_sent_by_the_next_run(
    catalog, mailoutbox, settings, django_capture_on_commit_callbacks
):
    # Given no mail server listens where the settings point
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
    org = german_org()
    monthly_contract(org, catalog)
    _recipient(org, "buchhaltung@baeckerei.example")

    invoice = _issue(org, django_capture_on_commit_callbacks)

    # Then the invoice is issued, its delivery pending and unaudited
    assert invoice.number == "RE-2026-000001"
    assert list(InvoiceDelivery.objects.values_list("status", "sent_at")) == [("pending", None)]
    assert not AuditEvent.objects.filter(action="invoice.delivered").exists()
    with pytest.raises(delivery.DeliveryFailed, match="1 invoice email"):
        delivery.deliver_invoices(invoice_ids=[invoice.pk])

    # When the mail server is back, the next run sends it, once
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert delivery.deliver_invoices(invoice_ids=[invoice.pk]) == 1
    assert delivery.deliver_invoices(invoice_ids=[invoice.pk]) == 0
    assert [message.to for message in mailoutbox] == [["buchhaltung@baeckerei.example"]]
    assert list(InvoiceDelivery.objects.values_list("status", flat=True)) == ["sent"]


def test_without_recipients_the_billing_email_receives_the_pdf(catalog, mailoutbox, django_capture_on_commit_callbacks):
    org = german_org(billing_email="rechnung@baeckerei.example")
    monthly_contract(org, catalog)

    invoice = _issue(org, django_capture_on_commit_callbacks)

    (message,) = mailoutbox
    assert message.to == ["rechnung@baeckerei.example"]
    assert [(name, kind) for name, _data, kind in message.attachments] == [("RE-2026-000001.pdf", "application/pdf")]
    assert message.attachments[0][1] == _read(invoice, "pdf")
    (row,) = InvoiceDelivery.objects.all()
    assert (row.email, row.recipient_id, row.is_billing_email, row.format, row.attachment) == (
        "rechnung@baeckerei.example",
        None,
        True,
        "pdf",
        "RE-2026-000001.pdf",
    )


def test_without_recipients_and_billing_email_nothing_is_sent_or_queued(
    catalog, mailoutbox, django_capture_on_commit_callbacks
):
    org = german_org()
    monthly_contract(org, catalog)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        invoice_due_charges(org=org, billing_date=JULY)

    assert [callback for callback in callbacks if getattr(callback, "func", None) is delivery._enqueue] == []
    assert mailoutbox == []
    assert InvoiceDelivery.objects.count() == 0


def test_a_rolled_back_issue_sends_no_email(catalog, mailoutbox, django_capture_on_commit_callbacks):
    # Given an org with a recipient and a draft
    org = german_org()
    monthly_contract(org, catalog)
    _recipient(org, "buchhaltung@baeckerei.example")
    (draft,) = create_draft_invoices(org=org, billing_date=JULY)

    def fail(invoices: Any) -> None:  # something after the documents are stored fails: the issue rolls back
        raise RuntimeError("later step failed")

    # When issuing fails after the documents were stored
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError, match="later step failed"):
        issue_invoice(invoice=draft, actor=SYSTEM, render_documents=fail)

    # Then nothing was sent, planned or issued
    assert mailoutbox == []
    assert InvoiceDelivery.objects.count() == 0
    draft.refresh_from_db()
    assert (draft.status, draft.number) == ("draft", None)

    # And issuing it successfully sends it once
    with django_capture_on_commit_callbacks(execute=True):
        issue_invoice(invoice=draft, actor=SYSTEM)
    assert [message.to for message in mailoutbox] == [["buchhaltung@baeckerei.example"]]


def test_invoices_issued_without_documents_are_sent_when_their_documents_are_stored(
    catalog, mailoutbox, django_capture_on_commit_callbacks
):
    from konto.billing.services.documents import issue_documents

    org = german_org(billing_email="rechnung@baeckerei.example")
    monthly_contract(org, catalog)

    invoice = _issue(org, django_capture_on_commit_callbacks, documents=False)
    assert mailoutbox == []
    deliver_invoices_task.enqueue(invoice_ids=[invoice.pk])  # documents missing: nothing planned yet
    assert (mailoutbox, InvoiceDelivery.objects.count()) == ([], 0)

    with django_capture_on_commit_callbacks(execute=True):
        issue_documents(invoice)
    with django_capture_on_commit_callbacks(execute=True):
        issue_documents(invoice)  # already stored: queues nothing new

    assert [message.to for message in mailoutbox] == [["rechnung@baeckerei.example"]]
    assert mailoutbox[0].attachments[0][1] == _read(invoice, "pdf")


def test_an_essentials_purchase_invoice_is_emailed_once(catalog, mailoutbox, django_capture_on_commit_callbacks):
    org = german_org(language="en", billing_email="rechnung@baeckerei.example")
    contract = monthly_contract(org, catalog)

    def buy() -> Any:
        return place_order(
            org=org,
            actor=SYSTEM,
            contract=contract,
            items=[OrderItem("essentials", 2)],
            idempotency_key="order-1",
            today=date(2026, 7, 10),
            after_place=invoice_purchase,
        )

    with time_machine.travel(date(2026, 7, 10), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            buy()
        with django_capture_on_commit_callbacks(execute=True):
            buy()  # the same submission again

    (invoice,) = Invoice.objects.filter(order__isnull=False)
    (message,) = mailoutbox
    assert message.to == ["rechnung@baeckerei.example"]
    assert message.subject == "Invoice RE-2026-000001 for €42.22 from Nimbus CRM GmbH"
    assert message.attachments[0][1] == _read(invoice, "pdf")


# ---------------------------------------------------------------- the billing run


@pytest.mark.django_db(transaction=True)
def test_a_billing_run_emails_every_invoice_it_issues_once(settings, tmp_path):
    # Real commits: the run's batches commit and their on_commit callbacks queue the task (immediate backend)
    catalog = build_catalog()
    orgs = [
        german_org(f"Firma {index} GmbH", language="en", billing_email=f"rechnung@firma{index}.example")
        for index in range(3)
    ]
    for org in orgs:
        monthly_contract(org, catalog, quantity=1)
    _recipient(orgs[2], "ap@firma2.example")
    _recipient(orgs[2], "cfo@firma2.example", "xrechnung")

    run = run_billing(billing_date=JULY, batch_size=2)
    again = run_billing(billing_date=JULY)

    assert (run.invoices_created, again.invoices_created) == (3, 0)
    numbers = dict(Invoice.objects.values_list("org_id", "number"))
    sent = {address: [message.subject for message in messages] for address, messages in _by_recipient().items()}
    amount = "€59.50"  # 2 months × 25.00 + 19 %
    assert sent == {
        "rechnung@firma0.example": [f"Invoice {numbers[orgs[0].pk]} for {amount} from Nimbus CRM GmbH"],
        "rechnung@firma1.example": [f"Invoice {numbers[orgs[1].pk]} for {amount} from Nimbus CRM GmbH"],
        "ap@firma2.example": [f"Invoice {numbers[orgs[2].pk]} for {amount} from Nimbus CRM GmbH"],
        "cfo@firma2.example": [f"Invoice {numbers[orgs[2].pk]} for {amount} from Nimbus CRM GmbH"],
    }
    assert InvoiceDelivery.objects.filter(status="sent").count() == 4


@pytest.mark.django_db(transaction=True)
def test_an_issue_rolled_back_for_real_queues_no_email(settings):
    catalog = build_catalog()
    org = german_org(billing_email="rechnung@baeckerei.example")
    monthly_contract(org, catalog)

    def fail(invoices: Any) -> None:
        raise RuntimeError("after the documents")

    with pytest.raises(RuntimeError):
        invoice_due_charges(org=org, billing_date=JULY, render_documents=fail)

    assert mail.outbox == []
    assert (Invoice.objects.count(), InvoiceDelivery.objects.count()) == (0, 0)


# ---------------------------------------------------------------- the email's content


def test_english_email_of_a_transfer_invoice(catalog, mailoutbox, django_capture_on_commit_callbacks):
    org = german_org(language="en", edition="professional", billing_email="accounts@baeckerei.example")
    professional_contract(org, catalog, payment="bank_transfer")

    _issue(org, django_capture_on_commit_callbacks)

    (message,) = mailoutbox
    assert message.subject == "Invoice RE-2026-000001 for €297.50 from Nimbus CRM GmbH"
    assert message.reply_to == ["billing@nimbus.example"]
    assert message.body == (
        "Hello,\n\n"
        "Nimbus CRM GmbH has issued invoice RE-2026-000001 to Bäckerei Test GmbH.\n\n"
        "Invoice number: RE-2026-000001\n"
        "Issue date: Jul 1, 2026\n"
        "Due date: Jul 15, 2026\n"
        "Amount: €297.50\n"
        "Open amount: €297.50\n\n"
        "Please transfer €297.50 by Jul 15, 2026 to Nimbus CRM GmbH, quoting RE-2026-000001:\n"
        "IBAN: DE89 3704 0044 0532 0130 00\n"
        "BIC: COBADEFFXXX\n"
        "Reference: RE-2026-000001\n\n"
        "The invoice is attached as a PDF with embedded e-invoice data (RE-2026-000001.pdf).\n\n"
        "You receive this email because this address receives the invoices of Bäckerei Test GmbH. "
        "Invoice recipients can be changed in My Account under Settings.\n"
    )
    ((html, mimetype),) = message.alternatives
    assert mimetype == "text/html"
    assert '<html lang="en">' in html
    assert '<td style="font-family: ui-monospace, Menlo, Consolas, monospace;">DE89 3704 0044 0532 0130 00</td>' in html


def test_german_email_follows_the_invoice_language(catalog, mailoutbox, django_capture_on_commit_callbacks):
    org = german_org(language="de", edition="professional", billing_email="rechnung@baeckerei.example")
    professional_contract(org, catalog, payment="bank_transfer")

    _issue(org, django_capture_on_commit_callbacks)  # the test itself runs in English

    (message,) = mailoutbox
    assert "RE-2026-000001" in message.subject
    assert "297,50\N{NO-BREAK SPACE}€" in message.subject
    body = message.body
    assert body.startswith("Guten Tag,\n")
    for line in (
        "Rechnungsnummer: RE-2026-000001",
        "Ausstellungsdatum: 01.07.2026",
        "Fällig am: 15.07.2026",
        "Offener Betrag: 297,50\N{NO-BREAK SPACE}€",
        (
            "Bitte überweisen Sie 297,50\N{NO-BREAK SPACE}€ bis zum 15.07.2026 an Nimbus CRM GmbH unter Angabe von "
            "RE-2026-000001:"
        ),
        "IBAN: DE89 3704 0044 0532 0130 00",
    ):
        assert line in body
    assert '<html lang="de">' in message.alternatives[0][0]


SEPA_DETAILS = {
    "mandate_reference": "KONTO-MDT-000042",
    "creditor_id": "DE98ZZZ09999999999",
    "debited_iban_masked": "DE02 •••• 3000",
    "collection_date": "2026-07-17",
}


@pytest.fixture
def sepa_invoice(catalog: Any) -> Invoice:
    org = german_org(language="en", edition="professional")
    professional_contract(org, catalog, payment="sepa_debit")
    (invoice,) = invoice_due_charges(org=org, billing_date=JULY)
    return invoice


def _body(invoice: Invoice) -> str:
    document = StoredDocument.objects.get(invoice=invoice, kind="pdf")
    return str(delivery.build_invoice_email(invoice=invoice, document=document, to="ap@example.com").body)


def test_a_sepa_invoice_with_a_mandate_carries_the_pre_notification(sepa_invoice):
    sepa_invoice.payment_details = dict(SEPA_DETAILS)  # as the payments app stores them at issue

    body = _body(sepa_invoice)

    assert (
        "The amount of €297.50 will be collected on Jul 17, 2026 from DE02 •••• 3000 under mandate "
        "KONTO-MDT-000042, creditor ID DE98ZZZ09999999999.\n"
    ) in body


def test_a_sepa_invoice_issued_without_a_mandate_asks_for_a_transfer_like_its_pdf(sepa_invoice):
    sepa_invoice.payment_details = {}  # no mandate on file at issue: nothing can be collected

    body = _body(sepa_invoice)

    assert "The amount will be collected by SEPA Direct Debit." not in body
    assert "Please transfer €297.50 by" in body
    assert "mandate" not in body


def test_a_full_iban_in_the_payment_details_is_masked_in_the_email(sepa_invoice):
    sepa_invoice.payment_details = {**SEPA_DETAILS, "debited_iban_masked": "DE02120300000000202051"}

    body = _body(sepa_invoice)

    assert "from DE02 •••• 2051 under mandate" in body
    assert "DE02120300000000202051" not in body


def test_a_card_invoice_names_the_card_it_will_be_charged_to(catalog):
    org = german_org(language="en")
    monthly_contract(org, catalog, payment="card")
    (invoice,) = invoice_due_charges(org=org, billing_date=JULY)

    invoice.payment_details = {"card_brand": "visa", "card_last4": "4242"}
    assert "The amount of €297.50 will be charged to Visa •••• 4242.\n" in _body(invoice)
    invoice.payment_details = {}  # no card on file at issue: like the PDF, the email asks for a transfer
    assert "Please transfer €297.50 by" in _body(invoice)


def test_a_paid_invoice_says_so_instead_of_payment_instructions(catalog):
    org = german_org(language="en")
    monthly_contract(org, catalog, payment="card")
    (invoice,) = invoice_due_charges(org=org, billing_date=JULY)
    invoice.amount_paid, invoice.status = Decimal("297.50"), "paid"

    body = _body(invoice)

    assert "Open amount: €0.00\n\nThis invoice has been paid in full. Thank you.\n" in body
    assert "charged" not in body


# ---------------------------------------------------------------- manual sharing still works


def test_manual_sharing_is_independent_of_the_automatic_delivery(
    catalog, mailoutbox, django_capture_on_commit_callbacks
):
    org = german_org()
    monthly_contract(org, catalog)
    _recipient(org, "buchhaltung@baeckerei.example")
    invoice = _issue(org, django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        email_invoice(invoice=invoice, actor=SYSTEM, addresses=["buchhaltung@baeckerei.example"], message="Again")

    assert [message.to for message in mailoutbox] == [["buchhaltung@baeckerei.example"]] * 2
    assert InvoiceDelivery.objects.count() == 1


def test_issuing_with_invoice_emails_suspended_queues_nothing(catalog, mailoutbox, django_capture_on_commit_callbacks):
    # As seed_demo does for the demo's past invoices
    org = german_org(billing_email="rechnung@baeckerei.example")
    monthly_contract(org, catalog)

    with delivery.invoice_emails_suspended():
        invoice = _issue(org, django_capture_on_commit_callbacks)

    assert (mailoutbox, InvoiceDelivery.objects.count()) == ([], 0)
    deliver_invoices_task.enqueue(invoice_ids=[invoice.pk])  # queued by hand later, it is sent
    assert [message.to for message in mailoutbox] == [["rechnung@baeckerei.example"]]


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (set DATABASE_URL=postgres://…)")
@pytest.mark.django_db(transaction=True)
def test_two_workers_delivering_the_same_invoices_at_once_send_each_email_once():
    # Given three issued invoices whose emails were not sent yet (two recipients each)
    catalog = build_catalog()
    orgs = [german_org(f"Firma {index} GmbH") for index in range(3)]
    for index, org in enumerate(orgs):
        monthly_contract(org, catalog, quantity=1)
        _recipient(org, f"ap@firma{index}.example")
        _recipient(org, f"cfo@firma{index}.example", "xrechnung")
    with delivery.invoice_emails_suspended():
        run_billing(billing_date=JULY)
    invoice_ids = list(Invoice.objects.order_by("pk").values_list("pk", flat=True))
    barrier = threading.Barrier(2)
    results: list[Any] = [None, None]

    def work(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = delivery.deliver_invoices(invoice_ids=invoice_ids)
        except Exception as error:
            results[index] = error
        finally:
            connection.close()

    # When two workers run the same task at the same moment
    threads = [threading.Thread(target=work, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    # Then every address got its invoice once, and the two workers together sent six emails
    assert sum(results) == 6
    assert sorted(address for message in mail.outbox for address in message.to) == sorted(
        f"{who}@firma{index}.example" for index in range(3) for who in ("ap", "cfo")
    )
    assert InvoiceDelivery.objects.filter(status="sent").count() == 6
