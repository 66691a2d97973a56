"""Realistic InvoiceDocument instances for tests, previews and benchmarks of the document renderers.

One function per case Konto must get right (DESIGN.md §4, §5): domestic 19 %,
EU reverse charge, not taxable outside the EU in CHF, a public-sector buyer with
a Leitweg-ID (XRechnung), a credit note, SEPA direct debit and a prorated line.
The parties are the demo vendor and demo orgs of `seed_demo`. Totals and the VAT
breakdown are computed the way invoices are: VAT per category and rate on the
sum of the line nets, rounded half-up (BR-CO-17), so every sample passes the
EN 16931 rules as it stands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, timedelta
from decimal import Decimal

from django.utils import translation

from konto.billing.documents.model import DocumentLine, InvoiceDocument, Party, PaymentInstructions, TaxSubtotal
from konto.core.money import round_money
from konto.core.tax import NOT_TAXABLE_NOTE, REVERSE_CHARGE_NOTE, VATEX_NOT_SUBJECT, VATEX_REVERSE_CHARGE

ZERO = Decimal("0.00")
ONE = "C62"  # UN/ECE Rec 20 "one": users, storage packs, licences

SELLER = Party(
    name="Nimbus CRM GmbH",
    street="Friedrichstraße 123",
    postal_code="10117",
    city="Berlin",
    country="DE",
    vat_id="DE123456788",
    tax_number="37/123/45678",
    email="billing@nimbus.example",
    phone="+49 30 1234567-0",
    register_entry="HRB 123456 B, Amtsgericht Charlottenburg",
    managing_directors="Nina Neumann, Paul Berger",
    website="https://nimbus.example",
    contact_name="Accounts receivable",
)
SELLER_IBAN = "DE89370400440532013000"
SELLER_BIC = "COBADEFFXXX"
SELLER_CHF_IBAN = "CH9300762011623852957"  # the vendor's CHF account, for Swiss QR-bills
SELLER_CHF_BIC = "POFICHBEXXX"
SEPA_CREDITOR_ID = "DE98ZZZ09999999999"

BAECKEREI = Party(
    name="Bäckerei Müller GmbH",
    street="Hauptstraße 12",
    postal_code="80331",
    city="München",
    country="DE",
    vat_id="DE295713867",
    email="rechnung@baeckerei-mueller.example",
)
BAECKEREI_IBAN = "DE02120300000000202051"
ALPENBLICK = Party(
    name="Alpenblick Software GmbH",
    street="Mariahilfer Straße 1",
    postal_code="1060",
    city="Wien",
    country="AT",
    vat_id="ATU13585627",
    email="buchhaltung@alpenblick.example",
)
TIERHILFE = Party(
    name="Tierhilfe Zürich",
    street="Bahnhofstrasse 10",
    postal_code="8001",
    city="Zürich",
    country="CH",
    vat_id="CHE-116.281.710 MWST",
    email="finanzen@tierhilfe-zuerich.example",
)
MUSTERSTADT = Party(
    name="Stadt Musterstadt",
    address_line2="Amt für Digitalisierung",
    street="Rathausplatz 1",
    postal_code="12345",
    city="Musterstadt",
    country="DE",
    email="e-rechnung@musterstadt.example",
)
MUSTERSTADT_LEITWEG_ID = "04011000-1234512345-06"

TERMS_14_DAYS = "Payable within 14 days without deduction."
TERMS_DIRECT_DEBIT = "The amount will be collected by SEPA direct debit on or after the due date."


def line(
    line_id: str,
    name: str,
    quantity: str,
    unit_price: str,
    *,
    tax_category: str = "S",
    tax_rate: str = "19.00",
    period: tuple[date, date] | None = None,
    net_amount: str | None = None,
    description: str = "",
) -> DocumentLine:
    """A document line; the net is quantity × unit price rounded half-up unless given (proration)."""
    net = Decimal(net_amount) if net_amount is not None else round_money(Decimal(quantity) * Decimal(unit_price))
    return DocumentLine(
        line_id=line_id,
        name=name,
        quantity=Decimal(quantity),
        unit_code=ONE,
        unit_price=Decimal(unit_price),
        net_amount=net,
        tax_category=tax_category,
        tax_rate=Decimal(tax_rate),
        period_start=period[0] if period else None,
        period_end=period[1] if period else None,
        description=description,
    )


def tax_subtotals(
    lines: Iterable[DocumentLine], *, exemption_reasons: dict[str, tuple[str, str]] | None = None
) -> tuple[TaxSubtotal, ...]:
    """VAT per (category, rate) on the sum of the line nets, half-up (BR-CO-17), in first-seen order.

    `exemption_reasons` maps a category to (printed reason, VATEX code).
    """
    sums: dict[tuple[str, Decimal], Decimal] = {}
    for item in lines:
        key = (item.tax_category, item.tax_rate)
        sums[key] = sums.get(key, ZERO) + item.net_amount
    reasons = exemption_reasons or {}
    return tuple(
        TaxSubtotal(
            category=category,
            rate=rate,
            taxable_amount=taxable,
            tax_amount=round_money(taxable * rate / 100),
            exemption_reason=reasons.get(category, ("", ""))[0],
            exemption_reason_code=reasons.get(category, ("", ""))[1],
        )
        for (category, rate), taxable in sums.items()
    )


def document(
    *,
    number: str,
    issue_date: date,
    buyer: Party,
    lines: tuple[DocumentLine, ...],
    payment: PaymentInstructions,
    currency: str = "EUR",
    language: str = "de",
    type_code: str = "380",
    paid_amount: Decimal = ZERO,
    exemption_reasons: dict[str, tuple[str, str]] | None = None,
    **fields: object,
) -> InvoiceDocument:
    """An InvoiceDocument from the vendor with totals computed from `lines`; `fields` sets the rest."""
    subtotals = tax_subtotals(lines, exemption_reasons=exemption_reasons)
    line_total = sum((item.net_amount for item in lines), ZERO)
    tax_total = sum((subtotal.tax_amount for subtotal in subtotals), ZERO)
    grand_total = line_total + tax_total
    return InvoiceDocument(
        type_code=type_code,
        number=number,
        issue_date=issue_date,
        currency=currency,
        language=language,
        seller=SELLER,
        buyer=buyer,
        lines=lines,
        tax_subtotals=subtotals,
        line_total=line_total,
        tax_total=tax_total,
        grand_total=grand_total,
        paid_amount=paid_amount,
        due_amount=grand_total - paid_amount,
        payment=payment,
        **fields,  # type: ignore[arg-type]  # optional InvoiceDocument fields by name
    )


def transfer(number: str, due_date: date, *, iban: str = SELLER_IBAN, bic: str = SELLER_BIC) -> PaymentInstructions:
    """SEPA credit transfer (58) to the vendor's account, quoting the invoice number."""
    return PaymentInstructions(
        means_code="58",
        terms=TERMS_14_DAYS,
        due_date=due_date,
        iban=iban,
        bic=bic,
        account_name=SELLER.name,
        remittance=number,
    )


MARCH_2026 = (date(2026, 3, 1), date(2026, 4, 1))


def de_domestic_invoice() -> InvoiceDocument:
    """DE → DE, 19 %, bank transfer: Bäckerei Müller's monthly invoice for March 2026."""
    issued = date(2026, 3, 1)
    number = "RE-2026-000041"
    return document(
        number=number,
        issue_date=issued,
        buyer=BAECKEREI,
        language="de",
        lines=(
            line("1", "Essentials (user / month)", "5", "25.00", period=MARCH_2026),
            line("2", "Data Storage (10 GB)", "2", "12.50", period=MARCH_2026),
            line("3", "Inbox", "1", "7.99", period=MARCH_2026),
        ),
        payment=transfer(number, issued + timedelta(days=14)),
        period_start=MARCH_2026[0],
        period_end=MARCH_2026[1],
        contract_number="CTR-2025-0007",
    )


def at_reverse_charge_invoice() -> InvoiceDocument:
    """DE → AT business with a VAT ID: reverse charge (AE, 0 %), both VAT IDs, the § 13b note."""
    issued = date(2026, 1, 1)
    number = "RE-2026-000002"
    period = (date(2026, 1, 1), date(2027, 1, 1))
    with translation.override("de"):
        note = str(REVERSE_CHARGE_NOTE)  # in the document's language
    return document(
        number=number,
        issue_date=issued,
        buyer=ALPENBLICK,
        language="de",
        lines=(
            line("1", "Enterprise (user / year)", "25", "1500.00", tax_category="AE", tax_rate="0", period=period),
            line("2", "Dialer", "3", "240.00", tax_category="AE", tax_rate="0", period=period),
        ),
        payment=transfer(number, issued + timedelta(days=30)),
        exemption_reasons={"AE": (note, VATEX_REVERSE_CHARGE)},
        notes=(note,),
        period_start=period[0],
        period_end=period[1],
        po_number="PO-4711",
        contract_number="CTR-2024-0003",
    )


def ch_not_taxable_invoice() -> InvoiceDocument:
    """DE → CH: not taxable in Germany (O), in CHF to the vendor's Swiss account; no VAT IDs (BR-O-02)."""
    issued = date(2026, 4, 1)
    number = "RE-2026-000057"
    period = (date(2026, 4, 1), date(2026, 7, 1))
    with translation.override("de"):
        note = str(NOT_TAXABLE_NOTE)  # in the document's language
    return document(
        number=number,
        issue_date=issued,
        buyer=TIERHILFE,
        currency="CHF",
        language="de",
        lines=(
            line("1", "Enterprise (user / quarter)", "10", "97.50", tax_category="O", tax_rate="0", period=period),
            line("2", "File Storage (10 GB)", "1", "45.00", tax_category="O", tax_rate="0", period=period),
        ),
        payment=transfer(number, issued + timedelta(days=14), iban=SELLER_CHF_IBAN, bic=SELLER_CHF_BIC),
        exemption_reasons={"O": (note, VATEX_NOT_SUBJECT)},
        notes=(note,),
        period_start=period[0],
        period_end=period[1],
    )


def public_sector_invoice() -> InvoiceDocument:
    """DE public-sector buyer with a Leitweg-ID: issued as XRechnung (BT-10 = Leitweg-ID), 19 %, transfer."""
    issued = date(2026, 2, 1)
    number = "RE-2026-000023"
    period = (date(2026, 2, 1), date(2026, 3, 1))
    return document(
        number=number,
        issue_date=issued,
        buyer=MUSTERSTADT,
        language="de",
        lines=(
            line("1", "Professional (user / month)", "40", "49.00", period=period),
            line("2", "Data Storage (10 GB)", "3", "12.50", period=period),
        ),
        payment=transfer(number, issued + timedelta(days=30)),
        period_start=period[0],
        period_end=period[1],
        buyer_reference=MUSTERSTADT_LEITWEG_ID,
        po_number="BEST-2026-0815",
        contract_number="CTR-2025-0019",
    )


def credit_note() -> InvoiceDocument:
    """A full credit note (381) cancelling `de_domestic_invoice`; the refund goes to the buyer's account."""
    invoice = de_domestic_invoice()
    issued = date(2026, 3, 10)
    number = "GS-2026-000003"
    return document(
        number=number,
        issue_date=issued,
        type_code="381",
        buyer=invoice.buyer,
        language=invoice.language,
        lines=invoice.lines,
        payment=PaymentInstructions(
            means_code="58",
            terms="The amount will be refunded to your account within 7 days.",
            due_date=issued + timedelta(days=7),
            iban=BAECKEREI_IBAN,
            account_name=BAECKEREI.name,
            remittance=number,
        ),
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        contract_number=invoice.contract_number,
        preceding_invoice_number=invoice.number,
        preceding_invoice_date=invoice.issue_date,
        notes=(f"Cancels invoice {invoice.number} of {invoice.issue_date:%Y-%m-%d} in full.",),
    )


def sepa_direct_debit_invoice() -> InvoiceDocument:
    """DE → DE, 19 %, SEPA direct debit (59): mandate reference, creditor ID, the debited IBAN."""
    issued = date(2026, 5, 1)
    number = "RE-2026-000088"
    period = (date(2026, 5, 1), date(2026, 6, 1))
    return document(
        number=number,
        issue_date=issued,
        buyer=BAECKEREI,
        language="en",
        lines=(line("1", "Essentials (user / month)", "8", "25.00", period=period),),
        payment=PaymentInstructions(
            means_code="59",
            terms=TERMS_DIRECT_DEBIT,
            due_date=issued + timedelta(days=5),
            remittance=number,
            creditor_id=SEPA_CREDITOR_ID,
            mandate_reference="KONTO-MANDATE-000123",
            debited_iban=BAECKEREI_IBAN,
        ),
        period_start=period[0],
        period_end=period[1],
    )


def prorated_invoice() -> InvoiceDocument:
    """DESIGN.md §3's example: 5 users at 360.00 per year bought on 2026-07-01 → 907.40 for 184 of 365 days."""
    issued = date(2026, 7, 1)
    number = "RE-2026-000120"
    service = (date(2026, 7, 1), date(2027, 1, 1))
    return document(
        number=number,
        issue_date=issued,
        buyer=BAECKEREI,
        language="en",
        lines=(
            line(
                "1",
                "Essentials (user / year)",
                "5",
                "360.00",
                period=service,
                net_amount="907.40",
                description="prorated (184 of 365 days)",
            ),
        ),
        payment=transfer(number, issued + timedelta(days=14)),
        period_start=service[0],
        period_end=service[1],
    )


# name → (factory, e-invoice profile the document is issued in)
SAMPLES: dict[str, tuple[Callable[[], InvoiceDocument], str]] = {
    "de_domestic": (de_domestic_invoice, "factur-x"),
    "at_reverse_charge": (at_reverse_charge_invoice, "factur-x"),
    "ch_not_taxable": (ch_not_taxable_invoice, "factur-x"),
    "public_sector": (public_sector_invoice, "xrechnung"),
    "credit_note": (credit_note, "factur-x"),
    "sepa_direct_debit": (sepa_direct_debit_invoice, "factur-x"),
    "prorated": (prorated_invoice, "factur-x"),
}
