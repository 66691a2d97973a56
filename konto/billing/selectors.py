"""Tenant-scoped reads of invoices, credit notes and billing runs."""

from __future__ import annotations

from datetime import date

from django.db.models import Prefetch, QuerySet

from konto.accounts.models import Org
from konto.billing.exceptions import NotFound
from konto.billing.models import BillingRun, CreditNote, Invoice, InvoiceLine, InvoiceStatus


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
