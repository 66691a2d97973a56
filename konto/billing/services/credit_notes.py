"""Credit notes: full (cancels the invoice, Stornorechnung) or partial (single lines), from their own series."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from konto.billing.exceptions import InvalidInput, InvalidTransition
from konto.billing.models import (
    CreditNote,
    CreditNoteLine,
    CreditNoteTax,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    InvoiceTax,
    NumberSeries,
)
from konto.billing.services import documents as stored_documents
from konto.billing.services import numbering
from konto.billing.services.invoices import TaxRow, get_vendor, lock_invoice, set_invoice_status, tax_rows
from konto.core.audit import Actor, record_event
from konto.core.money import ZERO

CREDITABLE = (InvoiceStatus.OPEN, InvoiceStatus.PAID, InvoiceStatus.UNCOLLECTIBLE)


def _remaining_taxes(invoice: Invoice, lines: Sequence[InvoiceLine]) -> list[TaxRow]:
    """VAT of a full credit note: the invoice's VAT per rate minus what earlier credit notes credited.

    So the credit notes of an invoice always add up to the invoice to the cent,
    even where VAT on a partial sum rounded differently.
    """
    credited: dict[tuple[str, Decimal], tuple[Decimal, Decimal]] = {}
    for tax in CreditNoteTax.objects.filter(credit_note__invoice=invoice):
        base, amount = credited.get((tax.tax_category, tax.tax_rate), (ZERO, ZERO))
        credited[(tax.tax_category, tax.tax_rate)] = (base + tax.taxable_amount, amount + tax.tax_amount)
    open_categories = {(line.tax_category, line.tax_rate) for line in lines}
    rows = []
    for invoice_tax in InvoiceTax.objects.filter(invoice=invoice).order_by("tax_category", "-tax_rate"):
        key = (invoice_tax.tax_category, invoice_tax.tax_rate)
        if key not in open_categories:
            continue
        base, amount = credited.get(key, (ZERO, ZERO))
        rows.append(
            TaxRow(
                invoice_tax.tax_category,
                invoice_tax.tax_rate,
                invoice_tax.taxable_amount - base,
                invoice_tax.tax_amount - amount,
                invoice_tax.note,
                invoice_tax.exemption_reason_code,
            )
        )
    return rows


@transaction.atomic(durable=True)
def issue_credit_note(
    *,
    invoice: Invoice,
    actor: Actor,
    reason: str,
    line_ids: Sequence[int] | None = None,
    issue_date: date | None = None,
    documents: bool = True,
) -> CreditNote:
    """Credit the given invoice lines (None: every line not yet credited, which cancels the invoice).

    A line is credited at most once (unique link). A full credit note voids an
    open or uncollectible invoice; a paid one stays paid (the refund is a
    payment matter). The number comes from the credit-note series. Its XML is
    validated and its documents stored in this transaction: an invalid
    e-invoice issues nothing and gives the number back. (The credit note row
    needs its number when it is inserted and is never updated, so here the
    counter stays locked while the documents render, ~25 ms.)
    """
    invoice = lock_invoice(invoice)
    if invoice.status not in CREDITABLE:
        raise InvalidTransition(
            _("Only issued invoices that are not void can be credited."), extra={"from": invoice.status}
        )
    if not reason.strip():
        raise InvalidInput(
            _("Give a reason for the credit note."), code="reason_missing", fields={"reason": _("Required.")}
        )
    uncredited = list(invoice.lines.filter(credit_note_line__isnull=True).order_by("position"))
    if line_ids is None:
        lines = uncredited
    else:
        wanted = set(line_ids)
        lines = [line for line in uncredited if line.pk in wanted]
        if len(lines) != len(wanted) or not wanted:
            raise InvalidInput(
                _("Choose lines of this invoice that have not been credited yet."), code="invalid_credit_lines"
            )
    if not lines:
        raise InvalidInput(_("Every line of this invoice has already been credited."), code="nothing_to_credit")
    is_full = len(lines) == len(uncredited)
    taxes = (
        _remaining_taxes(invoice, lines)
        if is_full
        else tax_rows(
            (line.net_amount, (line.tax_category, line.tax_rate, _note(invoice, line), _code(invoice, line)))
            for line in lines
        )
    )
    net = sum((line.net_amount for line in lines), ZERO)
    tax = sum((row.tax_amount for row in taxes), ZERO)
    vendor = get_vendor()
    today = issue_date or timezone.localdate()
    credit_note = CreditNote.objects.create(
        org_id=invoice.org_id,
        invoice=invoice,
        number=numbering.next_number(
            series=NumberSeries.CREDIT_NOTE, year=today.year, number_format=vendor.credit_note_number_format
        ),
        is_full=is_full,
        reason=reason.strip(),
        issue_date=today,
        currency=invoice.currency,
        language=invoice.language,
        net_amount=net,
        tax_amount=tax,
        gross_amount=net + tax,
        seller=invoice.seller,
        buyer=invoice.buyer,
        notes=invoice.notes,
    )
    CreditNoteLine.objects.bulk_create(
        CreditNoteLine(
            org_id=invoice.org_id,
            credit_note=credit_note,
            invoice_line=line,
            position=position,
            description=line.description,
            unit=line.unit,
            quantity=line.quantity,
            unit_price=line.unit_price,
            net_amount=line.net_amount,
            tax_category=line.tax_category,
            tax_rate=line.tax_rate,
            period_start=line.period_start,
            period_end=line.period_end,
        )
        for position, line in enumerate(lines, start=1)
    )
    CreditNoteTax.objects.bulk_create(
        CreditNoteTax(
            org_id=invoice.org_id,
            credit_note=credit_note,
            tax_category=row.category,
            tax_rate=row.rate,
            taxable_amount=row.taxable_amount,
            tax_amount=row.tax_amount,
            note=row.note,
            exemption_reason_code=row.exemption_reason_code,
        )
        for row in taxes
    )
    if documents:
        stored_documents.issue_documents(credit_note)
    invoice.amount_credited += credit_note.gross_amount
    if is_full and invoice.status in (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE):
        set_invoice_status(invoice, InvoiceStatus.VOID, actor=actor, now=timezone.now())
    else:
        invoice.save(update_fields=["amount_credited"])
    record_event(
        actor=actor,
        org_id=invoice.org_id,
        action="credit_note.issued",
        object_type="credit_note",
        object_id=credit_note.public_id,
        after={
            "number": credit_note.number,
            "invoice": invoice.number,
            "is_full": is_full,
            "gross_amount": str(credit_note.gross_amount),
            "reason": credit_note.reason,
        },
    )
    return credit_note


def _note(invoice: Invoice, line: InvoiceLine) -> str:
    tax = invoice.taxes.filter(tax_category=line.tax_category, tax_rate=line.tax_rate).first()
    return tax.note if tax else ""


def _code(invoice: Invoice, line: InvoiceLine) -> str:
    tax = invoice.taxes.filter(tax_category=line.tax_category, tax_rate=line.tax_rate).first()
    return tax.exemption_reason_code if tax else ""
