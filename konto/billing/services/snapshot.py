"""The InvoiceDocument of an issued invoice or credit note, built from its stored snapshot and lines."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _

from konto.billing.documents.model import DocumentLine, InvoiceDocument, Party, PaymentInstructions, TaxSubtotal
from konto.billing.models import CreditNote, CreditNoteLine, CreditNoteTax, Invoice, InvoiceLine, InvoiceTax

INVOICE_TYPE = "380"
CREDIT_NOTE_TYPE = "381"

# catalog.Product.Unit → UN/ECE Recommendation 20 unit codes.
UNIT_CODES = {"user": "C62", "10gb": "C62", "inbox": "C62", "dialer_seat": "C62", "pack_10": "C62"}

# contracts.PaymentMethodKind → UNTDID 4461 payment means.
PAYMENT_MEANS = {"bank_transfer": "58", "sepa_debit": "59", "card": "54"}


def party(snapshot: dict[str, Any], *, contact_name: str = "") -> Party:
    """A Party from a seller/buyer snapshot; `contact_name` is the contact point (BT-41) if the snapshot has none."""
    return Party(
        name=snapshot.get("name", ""),
        street=snapshot.get("street", ""),
        postal_code=snapshot.get("postal_code", ""),
        city=snapshot.get("city", ""),
        country=snapshot.get("country", ""),
        address_line2=snapshot.get("address_line2", ""),
        vat_id=snapshot.get("vat_id", ""),
        tax_number=snapshot.get("tax_number", ""),
        email=snapshot.get("email", ""),
        phone=snapshot.get("phone", ""),
        register_entry=snapshot.get("register_entry", ""),
        managing_directors=snapshot.get("managing_directors", ""),
        website=snapshot.get("website", ""),
        contact_name=snapshot.get("contact_name", "") or contact_name,
    )


def seller_party(snapshot: dict[str, Any]) -> Party:
    """The seller, with its accounts receivable as contact point (BT-41, which XRechnung requires: BR-DE-5)."""
    return party(snapshot, contact_name=_("Accounts receivable"))


def _line(line: InvoiceLine | CreditNoteLine, position: int) -> DocumentLine:
    prorated = line.days_charged < line.days_in_period if isinstance(line, InvoiceLine) else False
    description = ""
    if prorated and isinstance(line, InvoiceLine):
        description = _("prorated (%(days)d of %(total)d days)") % {
            "days": line.days_charged,
            "total": line.days_in_period,
        }
    return DocumentLine(
        line_id=str(position),
        name=line.description,
        quantity=line.quantity,
        unit_code=UNIT_CODES.get(line.unit, "C62"),
        unit_price=line.unit_price,
        net_amount=line.net_amount,
        tax_category=line.tax_category,
        tax_rate=line.tax_rate,
        period_start=line.period_start,
        period_end=line.period_end,
        description=description,
    )


def _subtotal(tax: InvoiceTax | CreditNoteTax) -> TaxSubtotal:
    return TaxSubtotal(
        category=tax.tax_category,
        rate=tax.tax_rate,
        taxable_amount=tax.taxable_amount,
        tax_amount=tax.tax_amount,
        exemption_reason=tax.note,
        exemption_reason_code=tax.exemption_reason_code,
    )


def payment_kind(invoice: Invoice) -> str:
    """How the invoice is paid: its contract's kind, unless the card or mandate data is missing (then transfer).

    A card or direct debit invoice issued while the org had no card or mandate
    on file tells the customer to transfer the money instead (when the vendor
    has an account to name): nothing can be charged, and the e-invoice would
    lack BG-18 / BG-19 (XRechnung refuses it).
    """
    kind = invoice.payment_method_kind
    details = invoice.payment_details or {}
    seller = invoice.seller or {}
    # Transfer needs an account to transfer to; a vendor without one keeps the contract's kind.
    has_account = bool(seller.get("iban") or (invoice.currency == "CHF" and seller.get("qr_bill_iban")))
    if kind == "card" and not details.get("card_last4") and has_account:
        return "bank_transfer"
    if kind == "sepa_debit" and not details.get("mandate_reference") and has_account:
        return "bank_transfer"
    return kind


def _optional_date(value: Any) -> date | None:
    return date.fromisoformat(value) if value else None


def _payment(invoice: Invoice, *, number: str, due_amount_positive: bool) -> PaymentInstructions:
    seller = invoice.seller
    details = invoice.payment_details or {}
    kind = payment_kind(invoice)
    means = PAYMENT_MEANS.get(kind, "58")
    if not due_amount_positive:
        terms = _("Nothing to pay.")
    elif kind == "card":
        terms = _("Paid by card.")
    elif kind == "sepa_debit":
        terms = _("The amount will be collected by SEPA Direct Debit.")
    elif invoice.payment_terms_days == 0:
        terms = _("Payable immediately without deduction.")
    else:
        terms = _("Payable within %(days)d days without deduction.") % {"days": invoice.payment_terms_days}
    # CHF transfers go to the vendor's Swiss account, the one its QR-bill names.
    swiss_account = seller.get("qr_bill_iban", "") if invoice.currency == "CHF" else ""
    is_debit, is_card = means == "59", means == "54"
    return PaymentInstructions(
        means_code=means,
        terms=terms,
        due_date=invoice.due_date,
        iban=(swiss_account or seller.get("iban", "")) if means == "58" else "",
        bic=("" if swiss_account else seller.get("bic", "")) if means == "58" else "",
        qr_bill_iban=swiss_account if means == "58" else "",
        account_name=seller.get("name", ""),
        remittance=number,
        # The creditor ID of the mandate (the vendor's when it was signed), else the vendor's current one.
        creditor_id=(details.get("creditor_id") or seller.get("sepa_creditor_id", "")) if is_debit else "",
        mandate_reference=details.get("mandate_reference", "") if is_debit else "",
        debited_iban=details.get("debited_iban_masked", "") if is_debit else "",  # masked: never the full IBAN
        collection_date=_optional_date(details.get("collection_date")) if is_debit else None,
        card_brand=details.get("card_brand", "") if is_card else "",
        card_last4=details.get("card_last4", "") if is_card else "",
    )


def build_invoice_document(invoice: Invoice) -> InvoiceDocument:
    """The document of an issued invoice, texts in the invoice's language."""
    if invoice.number is None:
        raise ValueError("a draft has no document; issue it first")
    lines = list(invoice.lines.order_by("position"))
    taxes = list(invoice.taxes.order_by("tax_category", "-tax_rate"))
    due = invoice.gross_amount - invoice.amount_paid
    with translation.override(invoice.language):
        return InvoiceDocument(
            type_code=INVOICE_TYPE,
            number=invoice.number,
            issue_date=invoice.issue_date,
            currency=invoice.currency,
            language=invoice.language,
            seller=seller_party(invoice.seller),
            buyer=party(invoice.buyer),
            lines=tuple(_line(line, position) for position, line in enumerate(lines, start=1)),
            tax_subtotals=tuple(_subtotal(tax) for tax in taxes),
            line_total=invoice.net_amount,
            tax_total=invoice.tax_amount,
            grand_total=invoice.gross_amount,
            paid_amount=invoice.amount_paid,
            due_amount=due,
            payment=_payment(invoice, number=invoice.number, due_amount_positive=due > 0),
            period_start=invoice.period_start,
            period_end=invoice.period_end,
            buyer_reference=invoice.buyer_reference,
            po_number=invoice.po_number,
            contract_number=invoice.contract_number,
            notes=tuple(invoice.notes),
        )


def build_credit_note_document(credit_note: CreditNote) -> InvoiceDocument:
    """The document of a credit note (381): positive amounts, referencing the credited invoice (BT-25)."""
    invoice = credit_note.invoice
    lines = list(credit_note.lines.order_by("position"))
    taxes = list(credit_note.taxes.order_by("tax_category", "-tax_rate"))
    with translation.override(credit_note.language):
        notes = (
            _("Credit note for invoice %(number)s: %(reason)s")
            % {
                "number": invoice.number,
                "reason": credit_note.reason,
            },
            *credit_note.notes,
        )
        return InvoiceDocument(
            type_code=CREDIT_NOTE_TYPE,
            number=credit_note.number,
            issue_date=credit_note.issue_date,
            currency=credit_note.currency,
            language=credit_note.language,
            seller=seller_party(credit_note.seller),
            buyer=party(credit_note.buyer),
            lines=tuple(_line(line, position) for position, line in enumerate(lines, start=1)),
            tax_subtotals=tuple(_subtotal(tax) for tax in taxes),
            line_total=credit_note.net_amount,
            tax_total=credit_note.tax_amount,
            grand_total=credit_note.gross_amount,
            paid_amount=credit_note.gross_amount * 0,
            due_amount=credit_note.gross_amount,
            payment=_payment(invoice, number=credit_note.number, due_amount_positive=False),
            period_start=min((line.period_start for line in lines), default=None),
            period_end=max((line.period_end for line in lines), default=None),
            buyer_reference=invoice.buyer_reference,
            po_number=invoice.po_number,
            contract_number=invoice.contract_number,
            preceding_invoice_number=invoice.number or "",
            preceding_invoice_date=invoice.issue_date,
            notes=notes,
        )
