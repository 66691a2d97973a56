"""VAT per rate on the sum of the line nets, half-up, with its rounding edge cases, and the EN 16931 totals.

Konto rounds twice and only twice: each charge's net once (to the cent, half-up,
when the charge is scheduled), and each VAT row once, on the sum of its line nets
(BR-CO-17). The tests show the exact cents that follows, where rounding per line
or half-to-even would give others, and check the totals relations EN 16931 makes
(BR-CO-10 … BR-CO-17) on the XML stored for invoices issued through the services.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from django.utils import translation
from lxml import etree

from konto.accounts.models import Org
from konto.billing.documents.cii import NSMAP, build_cii
from konto.billing.documents.validation import validate_for_issue
from konto.billing.models import Invoice, StoredDocument
from konto.billing.services.invoices import invoice_due_charges, record_invoice_payment, tax_rows
from konto.billing.services.snapshot import build_invoice_document
from konto.catalog.models import Product
from konto.core.audit import Actor
from konto.core.tax import REVERSE_CHARGE_NOTE, VATEX_REVERSE_CHARGE, TaxTreatment

from .helpers import add_contract, build_catalog, german_org

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("test")
S19 = TaxTreatment("S", Decimal("19.00"), "")
S7 = TaxTreatment("S", Decimal("7.00"), "")
AE = TaxTreatment("AE", Decimal("0.00"), REVERSE_CHARGE_NOTE, VATEX_REVERSE_CHARGE)
HUNDRED = Decimal(100)
CENT = Decimal("0.01")

SETTLEMENT = "/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement"
SUMMATION = f"{SETTLEMENT}/ram:SpecifiedTradeSettlementHeaderMonetarySummation"
LINES = "/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction/ram:IncludedSupplyChainTradeLineItem"


@pytest.fixture(autouse=True)
def _media_and_language(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    with translation.override("en"):
        yield


@pytest.fixture
def catalog(db):
    return build_catalog()


def _rows(lines: list[tuple[Decimal, TaxTreatment]]) -> list[tuple[str, Decimal, Decimal, Decimal]]:
    return [(row.category, row.rate, row.taxable_amount, row.tax_amount) for row in tax_rows(lines)]


# --- the pure rule: VAT per (category, rate) on the sum, half-up -------------------------------------


def test_a_hundred_and_one_lines_of_five_cents_are_taxed_on_their_sum():
    # 101 × 0.05 = 5.05; 5.05 × 19 % = 0.9595 → 0.96. Per line it would be 0.0095 → 0.01, i.e. 101 × 0.01 = 1.01.
    assert _rows([(Decimal("0.05"), S19)] * 101) == [("S", Decimal("19.00"), Decimal("5.05"), Decimal("0.96"))]


def test_a_half_cent_of_vat_rounds_up_not_to_even():
    # 30 × 0.05 = 1.50; 1.50 × 19 % = 0.285 → 0.29 half-up (half-to-even: 0.28; per line: 30 × 0.01 = 0.30)
    assert _rows([(Decimal("0.05"), S19)] * 30) == [("S", Decimal("19.00"), Decimal("1.50"), Decimal("0.29"))]
    # 0.50 × 7 % = 0.035 → 0.04 and 1.50 × 7 % = 0.105 → 0.11 (half-to-even would give 0.04 and 0.10)
    assert _rows([(Decimal("0.50"), S7)]) == [("S", Decimal("7.00"), Decimal("0.50"), Decimal("0.04"))]
    assert _rows([(Decimal("0.50"), S7)] * 3) == [("S", Decimal("7.00"), Decimal("1.50"), Decimal("0.11"))]


def test_each_category_and_rate_is_summed_and_rounded_separately():
    lines = [
        (Decimal("10.05"), S19),
        (Decimal("0.50"), S7),
        (Decimal("99.99"), AE),
        (Decimal("10.05"), S19),
        (Decimal("0.50"), S7),
        (Decimal("0.01"), AE),
        (Decimal("10.05"), S19),
        (Decimal("0.50"), S7),
    ]
    # S 19 %: 30.15 × 19 % = 5.7285 → 5.73; S 7 %: 1.50 × 7 % = 0.105 → 0.11; AE: 100.00, no VAT.
    # One rate over all the lines could not give this: 5.84 is the sum of two separately rounded rows.
    assert _rows(lines) == [
        ("AE", Decimal("0.00"), Decimal("100.00"), Decimal("0.00")),
        ("S", Decimal("19.00"), Decimal("30.15"), Decimal("5.73")),
        ("S", Decimal("7.00"), Decimal("1.50"), Decimal("0.11")),
    ]
    (reverse_charge,) = [row for row in tax_rows(lines) if row.category == "AE"]
    assert (str(reverse_charge.note), reverse_charge.exemption_reason_code) == (
        "Reverse charge: VAT is owed by the recipient of the service.",
        "VATEX-EU-AE",
    )


# --- the EN 16931 totals relations, on the XML stored for an issued invoice ---------------------------


def _decimal(root: etree._Element, path: str) -> Decimal:
    values = root.xpath(f"{path}/text()", namespaces=NSMAP)
    assert len(values) == 1, f"{path}: {values}"
    return Decimal(str(values[0]))


def _optional(root: etree._Element, path: str) -> Decimal:
    values = root.xpath(f"{path}/text()", namespaces=NSMAP)
    assert len(values) <= 1, f"{path}: {values}"
    return Decimal(str(values[0])) if values else Decimal("0.00")


def _stored_xml(invoice: Invoice) -> bytes:
    document = StoredDocument.objects.get(invoice=invoice, kind="xml")
    with document.file.open("rb") as handle:
        data: bytes = handle.read()
    return data


def check_en16931_totals(xml: bytes) -> dict[str, object]:
    """Assert BR-CO-10, -13, -14, -15, -16 and -17 (and BR-S/AE-08: basis = sum of that rate's lines) on a CII
    invoice with Decimal arithmetic; return the figures for exact comparisons."""
    root = etree.fromstring(xml)
    line_nets = [
        (
            str(
                line.xpath(
                    "ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/ram:CategoryCode/text()", namespaces=NSMAP
                )[0]
            ),
            Decimal(
                str(
                    line.xpath(
                        "ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/ram:RateApplicablePercent/text()",
                        namespaces=NSMAP,
                    )[0]
                )
            ),
            _decimal(
                line,
                "ram:SpecifiedLineTradeSettlement/ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount",
            ),
        )
        for line in root.xpath(LINES, namespaces=NSMAP)
    ]
    breakdown = [
        (
            str(tax.xpath("ram:CategoryCode/text()", namespaces=NSMAP)[0]),
            _decimal(tax, "ram:RateApplicablePercent"),
            _decimal(tax, "ram:BasisAmount"),
            _decimal(tax, "ram:CalculatedAmount"),
        )
        for tax in root.xpath(f"{SETTLEMENT}/ram:ApplicableTradeTax", namespaces=NSMAP)
    ]
    currency = str(root.xpath(f"{SETTLEMENT}/ram:InvoiceCurrencyCode/text()", namespaces=NSMAP)[0])
    line_total = _decimal(root, f"{SUMMATION}/ram:LineTotalAmount")  # BT-106
    allowances = _optional(root, f"{SUMMATION}/ram:AllowanceTotalAmount")  # BT-107
    charges = _optional(root, f"{SUMMATION}/ram:ChargeTotalAmount")  # BT-108
    tax_basis = _decimal(root, f"{SUMMATION}/ram:TaxBasisTotalAmount")  # BT-109
    tax_total = _decimal(root, f"{SUMMATION}/ram:TaxTotalAmount[@currencyID='{currency}']")  # BT-110
    grand_total = _decimal(root, f"{SUMMATION}/ram:GrandTotalAmount")  # BT-112
    prepaid = _optional(root, f"{SUMMATION}/ram:TotalPrepaidAmount")  # BT-113
    rounding = _optional(root, f"{SUMMATION}/ram:RoundingAmount")  # BT-114
    due = _decimal(root, f"{SUMMATION}/ram:DuePayableAmount")  # BT-115

    assert line_nets
    assert breakdown
    assert line_total == sum((net for _category, _rate, net in line_nets), Decimal(0))  # BR-CO-10
    assert tax_basis == line_total - allowances + charges  # BR-CO-13
    assert tax_total == sum((vat for *_key, vat in breakdown), Decimal(0))  # BR-CO-14
    assert grand_total == tax_basis + tax_total  # BR-CO-15
    assert due == grand_total - prepaid + rounding  # BR-CO-16
    for category, rate, basis, vat in breakdown:
        assert vat == (basis * rate / HUNDRED).quantize(CENT, rounding=ROUND_HALF_UP), (category, rate)  # BR-CO-17
        # BR-S-08 / BR-AE-08: the basis of a rate is the sum of the line nets of that category and rate
        assert basis == sum((net for c, r, net in line_nets if (c, r) == (category, rate)), Decimal(0))
    assert len({(category, rate) for category, rate, *_amounts in breakdown}) == len(breakdown)
    return {
        "lines": len(line_nets),
        "line_nets": sorted({net for *_key, net in line_nets}),
        "breakdown": breakdown,
        "totals": (line_total, tax_basis, tax_total, grand_total, prepaid, due),
    }


def _issue(
    org: Org,
    catalog: dict[str, Product],
    *,
    lines: list[tuple[str, int, Decimal]],
    start: date,
    end: date,
    billing_date: date,
    **fields: Any,
) -> Invoice:
    """A monthly contract made by the contracts service, its due charges invoiced and issued (with documents)."""
    add_contract(org, catalog, start=start, end=end, frequency="monthly", lines=lines, **fields)
    (invoice,) = invoice_due_charges(org=org, billing_date=billing_date)
    return invoice


def test_thirty_lines_of_five_cents_through_the_services(catalog):
    # Given an org billed for 30 months at once (2024-01 … 2026-06) of one unit at 0.05 a month
    org = german_org(edition="enterprise")
    invoice = _issue(
        org,
        catalog,
        lines=[("enterprise", 1, Decimal("0.05"))],
        start=date(2024, 1, 1),
        end=date(2028, 1, 1),
        billing_date=date(2026, 6, 1),
    )

    # Then VAT is 19 % of the sum, 1.50 → 0.285 → 0.29 (not 30 × 0.01 = 0.30, and not half-to-even 0.28)
    assert (invoice.net_amount, invoice.tax_amount, invoice.gross_amount) == (
        Decimal("1.50"),
        Decimal("0.29"),
        Decimal("1.79"),
    )
    assert list(invoice.taxes.values_list("tax_category", "tax_rate", "taxable_amount", "tax_amount")) == [
        ("S", Decimal("19.00"), Decimal("1.50"), Decimal("0.29"))
    ]
    figures = check_en16931_totals(_stored_xml(invoice))
    assert figures["lines"] == 30
    assert figures["line_nets"] == [Decimal("0.05")]
    assert figures["breakdown"] == [("S", Decimal("19.00"), Decimal("1.50"), Decimal("0.29"))]
    zero = Decimal("0.00")
    assert figures["totals"] == (
        Decimal("1.50"),
        Decimal("1.50"),
        Decimal("0.29"),
        Decimal("1.79"),
        zero,
        Decimal("1.79"),
    )


def test_lines_of_half_a_cent_are_rounded_once_per_line_then_taxed_on_the_sum(catalog):
    # Given 30 monthly charges of one unit at 0.005 (unit prices carry 4 decimals)
    org = german_org(edition="enterprise")
    invoice = _issue(
        org,
        catalog,
        lines=[("enterprise", 1, Decimal("0.005"))],
        start=date(2024, 1, 1),
        end=date(2028, 1, 1),
        billing_date=date(2026, 6, 1),
    )

    # Then each line's net is rounded half-up once, 0.005 → 0.01 (that is what the customer is charged per month),
    # the invoice net is the sum of those, 0.30 (not 30 × 0.005 = 0.15), and VAT is on that sum: 0.057 → 0.06
    lines = list(invoice.lines.order_by("position").values_list("unit_price", "quantity", "net_amount"))
    assert lines == [(Decimal("0.0050"), Decimal(1), Decimal("0.01"))] * 30
    assert (invoice.net_amount, invoice.tax_amount, invoice.gross_amount) == (
        Decimal("0.30"),
        Decimal("0.06"),
        Decimal("0.36"),
    )
    xml = _stored_xml(invoice)
    figures = check_en16931_totals(xml)
    assert figures["lines"] == 30
    assert figures["line_nets"] == [Decimal("0.01")]
    assert figures["breakdown"] == [("S", Decimal("19.00"), Decimal("0.30"), Decimal("0.06"))]
    # The XML carries the unrounded net price (BT-146) next to the rounded line net (BT-131)
    prices = etree.fromstring(xml).xpath(
        f"{LINES}/ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice/ram:ChargeAmount/text()",
        namespaces=NSMAP,
    )
    assert {Decimal(str(price)) for price in prices} == {Decimal("0.005")}


def test_standard_and_reduced_rates_on_one_invoice_are_summed_separately(catalog):
    # Given a German org with an Enterprise line at 10.05 (19 %) and a reduced-rate product at 0.50 (7 %)
    Product.objects.filter(pk=catalog["file-storage"].pk).update(tax_category="reduced")
    org = german_org(edition="enterprise")

    # When June, July and August are billed together
    invoice = _issue(
        org,
        catalog,
        lines=[("enterprise", 1, Decimal("10.05")), ("file-storage", 1, Decimal("0.50"))],
        start=date(2026, 6, 1),
        end=date(2027, 6, 1),
        billing_date=date(2026, 8, 1),
    )

    # Then 19 % of 30.15 = 5.7285 → 5.73 and 7 % of 1.50 = 0.105 → 0.11 (per line: 3 × 0.04 = 0.12)
    rows = [
        ("S", Decimal("19.00"), Decimal("30.15"), Decimal("5.73")),
        ("S", Decimal("7.00"), Decimal("1.50"), Decimal("0.11")),
    ]
    assert list(invoice.taxes.values_list("tax_category", "tax_rate", "taxable_amount", "tax_amount")) == rows
    assert (invoice.net_amount, invoice.tax_amount, invoice.gross_amount) == (
        Decimal("31.65"),
        Decimal("5.84"),
        Decimal("37.49"),
    )
    figures = check_en16931_totals(_stored_xml(invoice))
    assert figures["lines"] == 6
    assert figures["breakdown"] == rows
    zero = Decimal("0.00")
    assert figures["totals"] == (
        Decimal("31.65"),
        Decimal("31.65"),
        Decimal("5.84"),
        Decimal("37.49"),
        zero,
        Decimal("37.49"),
    )


def test_a_reverse_charge_invoice_has_one_ae_row_for_every_product(catalog):
    # Given an Austrian business with a VAT ID buying a standard- and a reduced-rate product
    Product.objects.filter(pk=catalog["file-storage"].pk).update(tax_category="reduced")
    org = german_org("Alpen Test GmbH", country="AT", vat_id="ATU13585627", city="Wien", edition="enterprise")

    invoice = _issue(
        org,
        catalog,
        lines=[("enterprise", 1, Decimal("10.05")), ("file-storage", 1, Decimal("0.50"))],
        start=date(2026, 6, 1),
        end=date(2027, 6, 1),
        billing_date=date(2026, 8, 1),
        payment="bank_transfer",
    )

    # Then both are reverse charge (AE, 0 %), one row on the sum, no VAT
    rows = [("AE", Decimal("0.00"), Decimal("31.65"), Decimal("0.00"))]
    assert list(invoice.taxes.values_list("tax_category", "tax_rate", "taxable_amount", "tax_amount")) == rows
    assert (invoice.net_amount, invoice.tax_amount, invoice.gross_amount) == (
        Decimal("31.65"),
        Decimal("0.00"),
        Decimal("31.65"),
    )
    figures = check_en16931_totals(_stored_xml(invoice))
    assert figures["breakdown"] == rows


def test_the_due_amount_is_the_grand_total_less_what_was_paid(catalog):
    # Given the mixed-rate invoice of 37.49, of which 10.00 has been paid
    Product.objects.filter(pk=catalog["file-storage"].pk).update(tax_category="reduced")
    org = german_org(edition="enterprise")
    invoice = _issue(
        org,
        catalog,
        lines=[("enterprise", 1, Decimal("10.05")), ("file-storage", 1, Decimal("0.50"))],
        start=date(2026, 6, 1),
        end=date(2027, 6, 1),
        billing_date=date(2026, 8, 1),
    )
    invoice = record_invoice_payment(invoice=invoice, amount=Decimal("10.00"), actor=SYSTEM)

    # When its XML is generated now
    xml = build_cii(build_invoice_document(invoice), profile="factur-x")

    # Then BR-CO-16: 37.49 − 10.00 = 27.49 is due, and the document still passes the rules
    figures = check_en16931_totals(xml)
    assert figures["totals"] == (
        Decimal("31.65"),
        Decimal("31.65"),
        Decimal("5.84"),
        Decimal("37.49"),
        Decimal("10.00"),
        Decimal("27.49"),
    )
    validate_for_issue(xml, "factur-x")
