"""Emailing issued invoices to the org's invoice recipients (or its billing email), exactly once per address.

Every transaction that stores an issued invoice's documents calls
`deliver_on_commit`, which queues `tasks.deliver_invoices_task` once the
transaction commits (a rolled-back issue queues nothing). The task calls
`deliver_invoices`, which for each invoice

1. plans one InvoiceDelivery row per address (pending), in one transaction:
   the org's invoice recipients, each in its format, or — when the org has
   none — its billing email, in the format manual sharing uses;
2. sends each pending delivery under the row's lock and marks it sent in the
   same transaction, with an audit event.

The rows are unique per (org, invoice, email), so running the task twice, or
two workers at once, never sends an address the same invoice twice. An email
that fails to send leaves its row pending for the next run; only a crash
between the mail server's acceptance and the commit of that one row could
send it again. Invoices whose documents are not stored yet are skipped: the
transaction that stores them queues the task again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Any

from babel.dates import format_date
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from konto.accounts.models import Org
from konto.billing.models import (
    DocumentKind,
    Invoice,
    InvoiceDelivery,
    InvoiceRecipient,
    InvoiceStatus,
    StoredDocument,
)
from konto.billing.selectors import recipients_for
from konto.billing.services.sharing import is_xrechnung
from konto.billing.services.snapshot import payment_kind
from konto.core.audit import Actor, record_event
from konto.core.countries import babel_locale
from konto.core.money import format_money

logger = logging.getLogger(__name__)

SYSTEM = Actor.system("invoice_delivery")
TASK_CHUNK = 200  # invoice ids per queued task: a billing run batch stores up to 200 orgs' invoices at once

_suspended: ContextVar[bool] = ContextVar("invoice_delivery_suspended", default=False)

CARD_BRANDS = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "american_express": "American Express",
    "discover": "Discover",
    "diners": "Diners Club",
    "jcb": "JCB",
    "unionpay": "UnionPay",
}


class DeliveryFailed(Exception):
    """Some emails of a task could not be sent; their deliveries stay pending for the next run."""


# ---------------------------------------------------------------- queuing, inside the issuing transaction


@contextmanager
def invoice_emails_suspended() -> Iterator[None]:
    """Issue without queuing invoice emails, e.g. while seeding a demo's invoice history (never in a product flow)."""
    token = _suspended.set(True)
    try:
        yield
    finally:
        _suspended.reset(token)


def deliver_on_commit(invoices: Sequence[Invoice]) -> None:
    """Queue the emails of these issued invoices for when the current transaction commits.

    Called by the services once an invoice's documents are stored. Invoices of
    orgs with nobody to email (no recipient, no billing email) are left out:
    one query, so a billing run of orgs without recipients queues nothing.
    """
    if _suspended.get() or not invoices:
        return
    org_ids = {invoice.org_id for invoice in invoices}
    has_recipient = InvoiceRecipient.objects.filter(org_id=OuterRef("pk"))
    reachable = set(
        Org.objects.filter(pk__in=org_ids)
        .filter(Q(Exists(has_recipient)) | ~Q(billing_email=""))
        .values_list("pk", flat=True)
    )
    invoice_ids = [invoice.pk for invoice in invoices if invoice.org_id in reachable]
    for start in range(0, len(invoice_ids), TASK_CHUNK):
        chunk = invoice_ids[start : start + TASK_CHUNK]
        transaction.on_commit(partial(_enqueue, chunk))


def _enqueue(invoice_ids: list[int]) -> None:
    # Imported here: tasks.py imports the billing run, which imports the services that call this module.
    from konto.billing.tasks import deliver_invoices_task

    deliver_invoices_task.enqueue(invoice_ids=invoice_ids)


# ---------------------------------------------------------------- who gets what


@dataclass(frozen=True)
class _Address:
    email: str
    name: str
    format: str  # InvoiceRecipient.Format
    recipient_id: int | None  # None: the org's billing email


def delivery_addresses(invoice: Invoice) -> list[_Address]:
    """The org's invoice recipients in their formats; without any, its billing email (XRechnung invoices as XML)."""
    recipients = [
        _Address(email=recipient.email, name=recipient.name, format=recipient.format, recipient_id=recipient.pk)
        for recipient in recipients_for(invoice.org)
    ]
    if recipients:
        return recipients
    billing_email = invoice.org.billing_email.strip()
    if not billing_email:
        return []
    fallback = InvoiceRecipient.Format.XRECHNUNG if is_xrechnung(invoice) else InvoiceRecipient.Format.PDF
    return [_Address(email=billing_email, name="", format=fallback, recipient_id=None)]


def attachment_kind(format: str) -> str:
    """The stored document a format gets: the PDF/A-3 (with its embedded XML), or the XML alone."""
    return DocumentKind.XML if format == InvoiceRecipient.Format.XRECHNUNG else DocumentKind.PDF


# ---------------------------------------------------------------- the task's work


def deliver_invoices(*, invoice_ids: Sequence[int]) -> int:
    """Email each issued invoice to its addresses, once per address; returns how many emails were sent now.

    Raises DeliveryFailed after trying every invoice when any email could not be
    sent (those deliveries stay pending; running it again sends only them).
    """
    sent = 0
    failures: list[str] = []
    for invoice_id in invoice_ids:
        for delivery_id in plan_deliveries(invoice_id=invoice_id):
            try:
                if send_delivery(delivery_id=delivery_id):
                    sent += 1
            except Exception as error:  # the mail server refused or is away: the next run retries this one
                logger.exception("invoice delivery %s failed", delivery_id)
                failures.append(f"{delivery_id}: {type(error).__name__}")
    if failures:
        raise DeliveryFailed(f"{len(failures)} invoice email(s) not sent: {', '.join(failures)}")
    return sent


@transaction.atomic(durable=True)
def plan_deliveries(*, invoice_id: int) -> list[int]:
    """Create the pending deliveries of an issued invoice whose documents are stored; ids of those still pending.

    Addresses already planned keep their row (and, once sent, are never sent again).
    Returns [] for a draft, an unknown id or an invoice without its documents yet.
    """
    invoice = Invoice.objects.select_related("org").filter(pk=invoice_id).first()
    if invoice is None or invoice.status == InvoiceStatus.DRAFT:
        return []
    stored = set(StoredDocument.objects.filter(invoice=invoice).values_list("kind", flat=True))
    if not {DocumentKind.PDF, DocumentKind.XML} <= stored:
        return []
    addresses = delivery_addresses(invoice)
    InvoiceDelivery.objects.bulk_create(
        [
            InvoiceDelivery(
                org_id=invoice.org_id,
                invoice=invoice,
                recipient_id=address.recipient_id,
                is_billing_email=address.recipient_id is None,
                email=address.email,
                format=address.format,
            )
            for address in addresses
        ],
        ignore_conflicts=True,  # planned by an earlier run: the unique (org, invoice, email) keeps the first row
    )
    return list(
        InvoiceDelivery.objects.filter(
            org_id=invoice.org_id, invoice=invoice, status=InvoiceDelivery.Status.PENDING
        ).values_list("pk", flat=True)
    )


@transaction.atomic(durable=True)
def send_delivery(*, delivery_id: int) -> bool:
    """Send one pending delivery and mark it sent, under its row lock; False when it is sent already.

    A second worker waits for the lock and then finds the row sent. If sending
    raises, the transaction rolls back and the row stays pending.
    """
    delivery = (
        InvoiceDelivery.objects.select_for_update(of=("self",))  # the delivery row only, not its invoice or recipient
        .select_related("invoice", "recipient")
        .filter(pk=delivery_id, status=InvoiceDelivery.Status.PENDING)
        .first()
    )
    if delivery is None:
        return False
    if delivery.recipient is None and not delivery.is_billing_email:
        delivery.delete()  # its recipient was removed before it was sent: that address no longer wants invoices
        return False
    invoice = delivery.invoice
    document = StoredDocument.objects.get(invoice=invoice, kind=attachment_kind(delivery.format))
    message = build_invoice_email(
        invoice=invoice,
        document=document,
        to=delivery.email,
        name=delivery.recipient.name if delivery.recipient else "",
    )
    now = timezone.now()
    delivery.status = InvoiceDelivery.Status.SENT
    delivery.sent_at = now
    delivery.attachment = document.filename
    delivery.save(update_fields=["status", "sent_at", "attachment"])
    record_event(
        actor=SYSTEM,
        org_id=invoice.org_id,
        action="invoice.delivered",
        object_type="invoice",
        object_id=invoice.public_id,
        after={
            "to": delivery.email,
            "format": delivery.format,
            "attachment": document.filename,
            "billing_email": delivery.is_billing_email,
        },
    )
    message.send()  # last: a refusal raises and rolls the row back to pending
    return True


# ---------------------------------------------------------------- the email


@dataclass(frozen=True)
class PaymentInstructions:
    """What the email says about paying: a sentence and label/value rows (IBAN, reference, mandate …)."""

    text: str
    rows: list[tuple[str, str]]


def _group_iban(iban: str) -> str:
    compact = iban.replace(" ", "")
    return " ".join(compact[index : index + 4] for index in range(0, len(compact), 4))


def _masked_iban(value: str) -> str:
    """The debited IBAN as the payment details carry it (masked); masked here should a full one ever slip through."""
    compact = value.replace(" ", "")
    middle = compact[4:-4]
    if len(compact) > 8 and middle.isalnum() and set(middle.upper()) != {"X"}:
        return f"{compact[:4]} •••• {compact[-4:]}"
    return value


def _card_label(brand: str, last4: str) -> str:
    label = CARD_BRANDS.get(brand.strip().lower(), brand.strip().title())
    return f"{label} •••• {last4}"


def payment_instructions(invoice: Invoice, *, locale: str) -> PaymentInstructions:
    """How the open amount gets paid, per the invoice's payment method, in the active language.

    Transfer: the vendor's account and the invoice number as reference. Card:
    the card it will be charged to. SEPA Direct Debit: the pre-notification
    (amount, collection date, debited account, mandate, creditor ID) when the
    payment details carry it, else a general sentence. Works with empty details.
    """
    details: dict[str, Any] = invoice.payment_details if isinstance(invoice.payment_details, dict) else {}
    open_amount = invoice.open_amount
    amount = format_money(open_amount, invoice.currency, locale)
    due_date = format_date(invoice.due_date, "medium", locale=locale)
    if invoice.status == InvoiceStatus.PAID:
        return PaymentInstructions(_("This invoice has been paid in full. Thank you."), [])
    if open_amount <= 0:
        return PaymentInstructions(_("Nothing to pay."), [])
    kind = payment_kind(invoice)  # as the PDF says: a card or mandate missing at issue means transfer
    if kind == "card":
        brand, last4 = str(details.get("card_brand") or ""), str(details.get("card_last4") or "")
        if brand and last4:
            text = _("The amount of %(amount)s will be charged to %(card)s.") % {
                "amount": amount,
                "card": _card_label(brand, last4),
            }
        else:
            text = _("%(amount)s will be charged to your card on file.") % {"amount": amount}
        return PaymentInstructions(text, [])
    if kind == "sepa_debit":
        mandate = str(details.get("mandate_reference") or "")
        creditor_id = str(details.get("creditor_id") or invoice.seller.get("sepa_creditor_id") or "")
        debited = _masked_iban(str(details.get("debited_iban_masked") or ""))
        collection_on = _parse_date(details.get("collection_date"))
        if mandate and creditor_id and debited and collection_on is not None:
            text = _(
                "The amount of %(amount)s will be collected on %(date)s from %(iban)s under mandate %(mandate)s, "
                "creditor ID %(creditor_id)s."
            ) % {
                "amount": amount,
                "date": format_date(collection_on, "medium", locale=locale),
                "iban": debited,
                "mandate": mandate,
                "creditor_id": creditor_id,
            }
            return PaymentInstructions(text, [])
        rows = [(_("Mandate reference"), mandate)] if mandate else []
        if creditor_id:
            rows.append((_("Creditor ID"), creditor_id))
        return PaymentInstructions(_("The amount will be collected by SEPA Direct Debit."), rows)
    # Bank transfer (and anything unknown): the vendor's account; CHF goes to its Swiss (QR-bill) account.
    seller = invoice.seller
    swiss_account = str(seller.get("qr_bill_iban") or "") if invoice.currency == "CHF" else ""
    iban = swiss_account or str(seller.get("iban") or "")
    bic = "" if swiss_account else str(seller.get("bic") or "")
    text = _("Please transfer %(amount)s by %(date)s to %(name)s, quoting %(reference)s:") % {
        "amount": amount,
        "date": due_date,
        "name": seller.get("name", ""),
        "reference": invoice.number,
    }
    rows = [(_("IBAN"), _group_iban(iban))] if iban else []
    if bic:
        rows.append((_("BIC"), bic))
    rows.append((_("Reference"), str(invoice.number)))
    return PaymentInstructions(text, rows)


def _parse_date(value: object) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def build_invoice_email(
    *, invoice: Invoice, document: StoredDocument, to: str, name: str = ""
) -> EmailMultiAlternatives:
    """The email of an issued invoice in the invoice's language: text and HTML, the document attached."""
    with document.file.open("rb") as file:
        content = file.read()
    language = invoice.language or "de"
    locale = babel_locale(language, invoice.buyer.get("country") or "DE")
    with translation.override(language):
        context = {
            "invoice": invoice,
            "name": name,
            "seller_name": invoice.seller.get("name", ""),
            "buyer_name": invoice.buyer.get("name", ""),
            "amount": format_money(invoice.gross_amount, invoice.currency, locale),
            "open_amount": format_money(invoice.open_amount, invoice.currency, locale),
            "issue_date": format_date(invoice.issue_date, "medium", locale=locale),
            "due_date": format_date(invoice.due_date, "medium", locale=locale),
            "payment": payment_instructions(invoice, locale=locale),
            "filename": document.filename,
            "is_xml": document.kind == DocumentKind.XML,
            "is_xrechnung": document.profile == StoredDocument.Profile.XRECHNUNG,
        }
        subject = " ".join(render_to_string("billing/email/invoice_issued_subject.txt", context).splitlines()).strip()
        body = render_to_string("billing/email/invoice_issued.txt", context)
        html = render_to_string("billing/email/invoice_issued.html", context)
    seller_email = str(invoice.seller.get("email") or "")
    message = EmailMultiAlternatives(
        subject,
        body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        reply_to=[seller_email] if seller_email else None,
    )
    message.attach_alternative(html, "text/html")
    message.attach(
        document.filename, content, "application/xml" if document.kind == DocumentKind.XML else "application/pdf"
    )
    return message
