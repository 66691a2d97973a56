"""The content of an issued invoice or credit note, independent of storage and format.

Built once from the database at issue time (a snapshot), then rendered to
EN 16931 XML (Factur-X / XRechnung) and to PDF/A-3 from this one structure,
so the XML and the PDF can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class Party:
    """Seller or buyer as printed on the document."""

    name: str
    street: str
    postal_code: str
    city: str
    country: str  # ISO 3166-1 alpha-2
    address_line2: str = ""
    vat_id: str = ""  # compact, with country prefix (DE…, ATU…, CHE…)
    tax_number: str = ""  # seller's national tax number (Steuernummer), where printed
    email: str = ""
    phone: str = ""
    register_entry: str = ""  # e.g. "HRB 123456 B, Amtsgericht Charlottenburg"
    managing_directors: str = ""
    website: str = ""
    contact_name: str = ""  # contact point (BT-41), e.g. "Accounts receivable"; XRechnung needs it for the seller


@dataclass(frozen=True)
class DocumentLine:
    """One invoiced charge: net, before VAT; amounts already rounded half-up."""

    line_id: str  # 1, 2, … as printed
    name: str
    quantity: Decimal
    unit_code: str  # UN/ECE Rec 20, e.g. "C62" (one), "H87" (piece)
    unit_price: Decimal  # net, up to 4 decimals
    net_amount: Decimal  # quantity × unit price, prorated where it applies, 2 decimals
    tax_category: str  # EN 16931 code: S, AE, O, E, Z
    tax_rate: Decimal  # percent, 2 decimals
    period_start: date | None = None  # service period [start, end); end exclusive
    period_end: date | None = None
    description: str = ""  # e.g. "prorated (94 of 365 days)"


@dataclass(frozen=True)
class TaxSubtotal:
    """VAT per category and rate, on the sum of the line nets (BR-CO-17)."""

    category: str
    rate: Decimal
    taxable_amount: Decimal
    tax_amount: Decimal
    exemption_reason: str = ""  # printed note, e.g. reverse charge
    exemption_reason_code: str = ""  # VATEX code


CARD_BRAND_NAMES = {"visa": "Visa", "mastercard": "Mastercard", "amex": "American Express"}


def card_label(brand: str, last4: str) -> str:
    """A card as people see it: brand and last 4 digits ("Visa •••• 4242"); never more of the number."""
    name = CARD_BRAND_NAMES.get(brand.lower(), brand.title()) if brand else ""
    return f"{name} •••• {last4}".strip()


@dataclass(frozen=True)
class PaymentInstructions:
    means_code: str  # UNTDID 4461: "58" SEPA credit transfer, "59" SEPA direct debit, "54" card, "30" transfer
    terms: str  # printed payment terms, e.g. "Payable within 14 days without deduction."
    due_date: date | None = None
    iban: str = ""  # payee account for transfers
    bic: str = ""
    account_name: str = ""
    remittance: str = ""  # reference the payer should quote (the invoice number)
    creditor_id: str = ""  # SEPA creditor identifier, for direct debit
    mandate_reference: str = ""
    debited_iban: str = ""  # the payer's IBAN for direct debit (printed masked)
    qr_bill_iban: str = ""  # CH/LI IBAN or QR-IBAN for the Swiss QR-bill of CHF invoices (else iban if CH/LI)
    collection_date: date | None = None  # direct debit: the announced debit date (pre-notification)
    card_brand: str = ""  # card payments: "visa", "mastercard", … as printed
    card_last4: str = ""  # card payments: the last 4 digits of the card number (BT-87); never the full number
    card_holder: str = ""  # card payments: the card holder's name (BT-88), where known


@dataclass(frozen=True)
class InvoiceDocument:
    """Everything an invoice (380) or credit note (381) shows."""

    type_code: str  # "380" invoice, "381" credit note
    number: str
    issue_date: date
    currency: str  # EUR or CHF
    language: str  # de or en: the language of the printed document
    seller: Party
    buyer: Party
    lines: tuple[DocumentLine, ...]
    tax_subtotals: tuple[TaxSubtotal, ...]
    line_total: Decimal  # sum of line nets (BT-106)
    tax_total: Decimal  # BT-110
    grand_total: Decimal  # BT-112
    paid_amount: Decimal  # BT-113
    due_amount: Decimal  # BT-115
    payment: PaymentInstructions
    period_start: date | None = None  # invoice service period (BT-73/74); end exclusive here
    period_end: date | None = None
    buyer_reference: str = ""  # Leitweg-ID (BT-10); XRechnung when present
    po_number: str = ""  # BT-13
    contract_number: str = ""  # BT-12
    preceding_invoice_number: str = ""  # for credit notes (BT-25)
    preceding_invoice_date: date | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)  # free text (BT-22), e.g. the reverse-charge note
