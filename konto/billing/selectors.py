"""Tenant-scoped reads of invoices, credit notes and billing runs."""

from __future__ import annotations

from datetime import date

from django.db.models import Prefetch, QuerySet

from konto.accounts.models import Org
from konto.billing.exceptions import NotFound
from konto.billing.models import (
    BillingRun,
    CreditNote,
    Invoice,
    InvoiceLine,
    InvoiceRecipient,
    InvoiceStatus,
    ShareLink,
    StoredDocument,
)


def list_invoices(
    *, org: Org, status: str | None = None, issued_from: date | None = None, issued_until: date | None = None
) -> QuerySet[Invoice]:
    """Issued invoices of `org`, newest first (drafts are the vendor's business, not the customer's)."""
    invoices = Invoice.objects.filter(org=org).exclude(status=InvoiceStatus.DRAFT)
    if status is not None:
        invoices = invoices.filter(status=status)
    if issued_from is not None:
        invoices = invoices.filter(issue_date__gte=issued_from)
    if issued_until is not None:
        invoices = invoices.filter(issue_date__lte=issued_until)
    return invoices.order_by("-issue_date", "-id")


def get_invoice(*, org: Org, public_id: str) -> Invoice:
    """An issued invoice of `org` with its lines, VAT rows and credit notes; another org's id is NotFound."""
    invoice = (
        list_invoices(org=org)
        .filter(public_id=public_id)
        .prefetch_related(Prefetch("lines", queryset=InvoiceLine.objects.order_by("position")), "taxes", "credit_notes")
        .first()
    )
    if invoice is None:
        raise NotFound("No such invoice.")
    return invoice


def list_credit_notes(*, org: Org) -> QuerySet[CreditNote]:
    return CreditNote.objects.filter(org=org).select_related("invoice").order_by("-issue_date", "-id")


def get_credit_note(*, org: Org, public_id: str) -> CreditNote:
    credit_note = list_credit_notes(org=org).filter(public_id=public_id).prefetch_related("lines", "taxes").first()
    if credit_note is None:
        raise NotFound("No such credit note.")
    return credit_note


def list_billing_runs() -> QuerySet[BillingRun]:
    """Vendor-wide: for the back office only."""
    return BillingRun.objects.order_by("-started_at", "-id")


# ---------------------------------------------------------------- My Account: invoice list, documents, sharing

# What the customer sees as an invoice's status: the stored status, with "overdue" for open past due.
OVERDUE = "overdue"


def display_status(invoice: Invoice, *, today: date) -> str:
    """open, overdue (open and past its due date), paid, void or uncollectible."""
    if invoice.status == InvoiceStatus.OPEN and invoice.due_date < today:
        return OVERDUE
    return str(invoice.status)


def filter_invoices(
    *,
    org: Org,
    today: date,
    status: str | None = None,
    issued_from: date | None = None,
    issued_until: date | None = None,
    number: str | None = None,
) -> QuerySet[Invoice]:
    """Issued invoices of `org` for the list: by shown status ("overdue" is open past due), issue dates, number."""
    invoices = list_invoices(org=org, issued_from=issued_from, issued_until=issued_until)
    if status == OVERDUE:
        invoices = invoices.filter(status=InvoiceStatus.OPEN, due_date__lt=today)
    elif status:
        invoices = invoices.filter(status=status)
    if number:
        invoices = invoices.filter(number__icontains=number)
    return invoices


def stored_document(
    *, org: Org, kind: str, invoice: Invoice | None = None, credit_note: CreditNote | None = None
) -> StoredDocument | None:
    """The stored PDF or XML of one of `org`'s invoices or credit notes; None while not rendered yet."""
    documents = StoredDocument.objects.filter(org=org, kind=kind)
    if invoice is not None:
        return documents.filter(invoice=invoice).first()
    if credit_note is not None:
        return documents.filter(credit_note=credit_note).first()
    return None


def stored_document_kinds(*, org: Org, invoice: Invoice) -> dict[str, StoredDocument]:
    """kind → StoredDocument for an invoice's rendered documents (one query)."""
    return {document.kind: document for document in StoredDocument.objects.filter(org=org, invoice=invoice)}


def list_share_links(*, org: Org, invoice: Invoice) -> QuerySet[ShareLink]:
    return (
        ShareLink.objects.filter(org=org, invoice=invoice).select_related("created_by").order_by("-created_at", "-id")
    )


def recipients_for(org: Org) -> QuerySet[InvoiceRecipient]:
    """The contacts that receive `org`'s issued invoices by email, each with its format (pdf or xrechnung)."""
    return InvoiceRecipient.objects.filter(org=org).order_by("email", "id")


def get_invoice_recipient(*, org: Org, public_id: str) -> InvoiceRecipient:
    recipient = recipients_for(org).filter(public_id=public_id).first()
    if recipient is None:
        raise NotFound("No such invoice recipient.")
    return recipient
