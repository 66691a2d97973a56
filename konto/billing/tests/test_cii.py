"""The CII builder writes the document's values into the right EN 16931 elements, exactly."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from lxml import etree

from konto.billing.documents import samples
from konto.billing.documents.cii import (
    FACTURX_GUIDELINE,
    NSMAP,
    XRECHNUNG_GUIDELINE,
    Profile,
    build_cii,
    format_amount,
    format_quantity,
    format_unit_price,
    inclusive_end,
)
from konto.billing.documents.model import InvoiceDocument

SETTLEMENT = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement"
AGREEMENT = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement"
TOTALS = f"{SETTLEMENT}/ram:SpecifiedTradeSettlementHeaderMonetarySummation"
LINES = "rsm:SupplyChainTradeTransaction/ram:IncludedSupplyChainTradeLineItem"


def parse(document: InvoiceDocument, profile: Profile = "factur-x") -> etree._Element:
    return etree.fromstring(build_cii(document, profile=profile))


def text(root: etree._Element, path: str) -> str:
    values = root.xpath(f"{path}/text()", namespaces=NSMAP)
    assert len(values) == 1, f"{path}: {values}"
    return str(values[0])


def texts(root: etree._Element, path: str) -> list[str]:
    return [str(value) for value in root.xpath(f"{path}/text()", namespaces=NSMAP)]


def test_domestic_invoice_header_and_totals():
    root = parse(samples.de_domestic_invoice())

    assert root.tag == "{urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100}CrossIndustryInvoice"
    assert text(root, "rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID") == (
        "urn:cen.eu:en16931:2017"
    )
    assert text(root, "rsm:ExchangedDocument/ram:ID") == "RE-2026-000041"
    assert text(root, "rsm:ExchangedDocument/ram:TypeCode") == "380"
    assert text(root, "rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString") == "20260301"
    assert root.xpath("rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString/@format", namespaces=NSMAP) == ["102"]
    # 5 × 25.00 + 2 × 12.50 + 1 × 7.99 = 157.99; 19 % of the sum = 30.0181 → 30.02
    assert text(root, f"{TOTALS}/ram:LineTotalAmount") == "157.99"
    assert text(root, f"{TOTALS}/ram:TaxBasisTotalAmount") == "157.99"
    assert text(root, f"{TOTALS}/ram:TaxTotalAmount") == "30.02"
    assert root.xpath(f"{TOTALS}/ram:TaxTotalAmount/@currencyID", namespaces=NSMAP) == ["EUR"]
    assert text(root, f"{TOTALS}/ram:GrandTotalAmount") == "188.01"
    assert text(root, f"{TOTALS}/ram:DuePayableAmount") == "188.01"
    assert texts(root, f"{TOTALS}/ram:TotalPrepaidAmount") == []
    assert text(root, f"{SETTLEMENT}/ram:InvoiceCurrencyCode") == "EUR"
    assert text(root, f"{AGREEMENT}/ram:ContractReferencedDocument/ram:IssuerAssignedID") == "CTR-2025-0007"


def test_vat_breakdown_is_one_group_per_rate_on_the_sum_of_line_nets():
    root = parse(samples.public_sector_invoice(), "xrechnung")

    groups = root.xpath(f"{SETTLEMENT}/ram:ApplicableTradeTax", namespaces=NSMAP)
    assert len(groups) == 1
    # 40 × 49.00 + 3 × 12.50 = 1997.50; × 19 % = 379.525 → 379.53 (half-up)
    assert [child.text for child in groups[0]] == ["379.53", "VAT", "1997.50", "S", "19.00"]
    assert text(root, f"{TOTALS}/ram:GrandTotalAmount") == "2377.03"


def test_billing_period_end_is_inclusive_the_day_before_the_exclusive_end():
    root = parse(samples.de_domestic_invoice())  # period [2026-03-01, 2026-04-01)

    assert text(root, f"{SETTLEMENT}/ram:BillingSpecifiedPeriod/ram:StartDateTime/udt:DateTimeString") == "20260301"
    assert text(root, f"{SETTLEMENT}/ram:BillingSpecifiedPeriod/ram:EndDateTime/udt:DateTimeString") == "20260331"
    line_ends = texts(root, f"{LINES}/ram:SpecifiedLineTradeSettlement/ram:BillingSpecifiedPeriod/ram:EndDateTime/*")
    assert line_ends == ["20260331", "20260331", "20260331"]


def test_inclusive_end_crosses_month_and_leap_day():
    assert inclusive_end(date(2027, 1, 1)) == date(2026, 12, 31)
    assert inclusive_end(date(2028, 3, 1)) == date(2028, 2, 29)


def test_line_items_carry_id_name_price_quantity_unit_vat_and_net():
    root = parse(samples.de_domestic_invoice())

    items = root.xpath(LINES, namespaces=NSMAP)
    assert len(items) == 3
    second = items[1]
    assert text(second, "ram:AssociatedDocumentLineDocument/ram:LineID") == "2"
    assert text(second, "ram:SpecifiedTradeProduct/ram:Name") == "Data Storage (10 GB)"
    assert text(second, "ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice/ram:ChargeAmount") == "12.50"
    assert text(second, "ram:SpecifiedLineTradeDelivery/ram:BilledQuantity") == "2"
    assert second.xpath("ram:SpecifiedLineTradeDelivery/ram:BilledQuantity/@unitCode", namespaces=NSMAP) == ["C62"]
    assert texts(second, "ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/*") == ["VAT", "S", "19.00"]
    line_net = "ram:SpecifiedLineTradeSettlement/ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount"
    assert text(second, line_net) == "25.00"


def test_prorated_line_keeps_unit_price_and_gives_the_prorated_net_and_service_period():
    root = parse(samples.prorated_invoice())

    item = root.xpath(LINES, namespaces=NSMAP)[0]
    assert text(item, "ram:AssociatedDocumentLineDocument/ram:IncludedNote/ram:Content") == (
        "prorated (184 of 365 days)"
    )
    assert text(item, "ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice/ram:ChargeAmount") == "360.00"
    period = "ram:SpecifiedLineTradeSettlement/ram:BillingSpecifiedPeriod"
    assert text(item, f"{period}/ram:StartDateTime/udt:DateTimeString") == "20260701"
    assert text(item, f"{period}/ram:EndDateTime/udt:DateTimeString") == "20261231"
    summation = "ram:SpecifiedLineTradeSettlement/ram:SpecifiedTradeSettlementLineMonetarySummation"
    assert text(item, f"{summation}/ram:LineTotalAmount") == "907.40"
    # 907.40 × 19 % = 172.406 → 172.41
    assert text(root, f"{TOTALS}/ram:TaxTotalAmount") == "172.41"
    assert text(root, f"{TOTALS}/ram:GrandTotalAmount") == "1079.81"


def test_reverse_charge_gives_both_vat_ids_the_note_and_the_exemption_reason():
    root = parse(samples.at_reverse_charge_invoice())

    note = "Steuerschuldnerschaft des Leistungsempfängers."  # the document is in German
    assert texts(root, "rsm:ExchangedDocument/ram:IncludedNote/ram:Content") == [note]
    assert texts(root, f"{AGREEMENT}/ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']") == [
        "DE123456788"
    ]
    assert texts(root, f"{AGREEMENT}/ram:BuyerTradeParty/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']") == [
        "ATU13585627"
    ]
    group = root.xpath(f"{SETTLEMENT}/ram:ApplicableTradeTax", namespaces=NSMAP)
    assert len(group) == 1
    # 25 × 1500.00 + 3 × 240.00 = 38220.00, no VAT
    assert [child.text for child in group[0]] == ["0.00", "VAT", note, "38220.00", "AE", "VATEX-EU-AE", "0.00"]
    assert text(root, f"{TOTALS}/ram:GrandTotalAmount") == "38220.00"
    assert text(root, f"{AGREEMENT}/ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID") == "PO-4711"


def test_not_taxable_invoice_has_no_vat_ids_no_rates_and_identifies_the_seller_by_tax_number():
    root = parse(samples.ch_not_taxable_invoice())

    assert text(root, f"{SETTLEMENT}/ram:InvoiceCurrencyCode") == "CHF"
    assert root.xpath(f"{TOTALS}/ram:TaxTotalAmount/@currencyID", namespaces=NSMAP) == ["CHF"]
    # BR-O-02: neither VAT identifier; the tax number (FC) and register entry (BT-30) instead.
    assert root.xpath("//ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']", namespaces=NSMAP) == []
    assert texts(root, f"{AGREEMENT}/ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='FC']") == [
        "37/123/45678"
    ]
    assert text(root, f"{AGREEMENT}/ram:SellerTradeParty/ram:SpecifiedLegalOrganization/ram:ID") == (
        "HRB 123456 B, Amtsgericht Charlottenburg"
    )
    # BR-O-05: no rate on the lines; none in the Factur-X breakdown either.
    assert root.xpath("//ram:ApplicableTradeTax/ram:RateApplicablePercent", namespaces=NSMAP) == []
    group = root.xpath(f"{SETTLEMENT}/ram:ApplicableTradeTax", namespaces=NSMAP)[0]
    note = "Nicht im Inland steuerbare Leistung."  # the document is in German
    # 10 × 97.50 + 45.00 = 1020.00
    assert [child.text for child in group] == ["0.00", "VAT", note, "1020.00", "O", "VATEX-EU-O"]
    assert text(
        root, f"{SETTLEMENT}/ram:SpecifiedTradeSettlementPaymentMeans/ram:PayeePartyCreditorFinancialAccount/ram:IBANID"
    ) == ("CH9300762011623852957")


def test_xrechnung_has_its_guideline_buyer_reference_contact_and_electronic_addresses():
    root = parse(samples.public_sector_invoice(), "xrechnung")

    assert text(root, "rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID") == (
        "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
    )
    assert text(root, f"{AGREEMENT}/ram:BuyerReference") == "04011000-1234512345-06"
    seller = f"{AGREEMENT}/ram:SellerTradeParty"
    assert text(root, f"{seller}/ram:DefinedTradeContact/ram:PersonName") == "Accounts receivable"
    assert text(root, f"{seller}/ram:DefinedTradeContact/ram:TelephoneUniversalCommunication/ram:CompleteNumber") == (
        "+49 30 1234567-0"
    )
    assert text(root, f"{seller}/ram:DefinedTradeContact/ram:EmailURIUniversalCommunication/ram:URIID") == (
        "billing@nimbus.example"
    )
    assert text(root, f"{seller}/ram:URIUniversalCommunication/ram:URIID[@schemeID='EM']") == "billing@nimbus.example"
    assert text(root, f"{AGREEMENT}/ram:BuyerTradeParty/ram:URIUniversalCommunication/ram:URIID[@schemeID='EM']") == (
        "e-rechnung@musterstadt.example"
    )
    assert text(root, f"{AGREEMENT}/ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID") == "BEST-2026-0815"


def test_profiles_differ_only_in_the_context():
    document = samples.public_sector_invoice()
    parser = etree.XMLParser(remove_blank_text=True)
    facturx = etree.fromstring(build_cii(document, profile="factur-x"), parser)
    xrechnung = etree.fromstring(build_cii(document, profile="xrechnung"), parser)

    assert text(facturx, "rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID") == (
        FACTURX_GUIDELINE
    )
    assert XRECHNUNG_GUIDELINE.startswith(FACTURX_GUIDELINE + "#compliant#")
    for root in (facturx, xrechnung):
        root.remove(root.find("rsm:ExchangedDocumentContext", NSMAP))
    # The seller's tax number is added for XRechnung receivers; everything else is identical.
    for registration in xrechnung.xpath("//ram:SpecifiedTaxRegistration[ram:ID/@schemeID='FC']", namespaces=NSMAP):
        registration.getparent().remove(registration)
    assert etree.tostring(facturx) == etree.tostring(xrechnung)


def test_sepa_direct_debit_gives_mandate_creditor_id_and_debited_account_and_no_payee_account():
    root = parse(samples.sepa_direct_debit_invoice())

    assert text(root, f"{SETTLEMENT}/ram:CreditorReferenceID") == "DE98ZZZ09999999999"
    means = f"{SETTLEMENT}/ram:SpecifiedTradeSettlementPaymentMeans"
    assert text(root, f"{means}/ram:TypeCode") == "59"
    assert text(root, f"{means}/ram:PayerPartyDebtorFinancialAccount/ram:IBANID") == "DE02120300000000202051"
    assert root.xpath(f"{means}/ram:PayeePartyCreditorFinancialAccount", namespaces=NSMAP) == []
    terms = f"{SETTLEMENT}/ram:SpecifiedTradePaymentTerms"
    assert text(root, f"{terms}/ram:DirectDebitMandateID") == "KONTO-MANDATE-000123"
    assert text(root, f"{terms}/ram:DueDateDateTime/udt:DateTimeString") == "20260506"
    assert text(root, f"{terms}/ram:Description") == samples.TERMS_DIRECT_DEBIT


def test_transfer_gives_payee_iban_bic_account_name_remittance_and_due_date():
    root = parse(samples.de_domestic_invoice())

    means = f"{SETTLEMENT}/ram:SpecifiedTradeSettlementPaymentMeans"
    assert text(root, f"{means}/ram:TypeCode") == "58"
    assert text(root, f"{means}/ram:PayeePartyCreditorFinancialAccount/ram:IBANID") == "DE89370400440532013000"
    assert text(root, f"{means}/ram:PayeePartyCreditorFinancialAccount/ram:AccountName") == "Nimbus CRM GmbH"
    assert text(root, f"{means}/ram:PayeeSpecifiedCreditorFinancialInstitution/ram:BICID") == "COBADEFFXXX"
    assert text(root, f"{SETTLEMENT}/ram:PaymentReference") == "RE-2026-000041"
    assert texts(root, f"{SETTLEMENT}/ram:CreditorReferenceID") == []
    assert text(root, f"{SETTLEMENT}/ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString") == (
        "20260315"
    )


def test_credit_note_references_the_cancelled_invoice():
    root = parse(samples.credit_note())

    assert text(root, "rsm:ExchangedDocument/ram:TypeCode") == "381"
    assert text(root, "rsm:ExchangedDocument/ram:ID") == "GS-2026-000003"
    reference = f"{SETTLEMENT}/ram:InvoiceReferencedDocument"
    assert text(root, f"{reference}/ram:IssuerAssignedID") == "RE-2026-000041"
    assert text(root, f"{reference}/ram:FormattedIssueDateTime/qdt:DateTimeString") == "20260301"
    assert text(root, f"{TOTALS}/ram:GrandTotalAmount") == "188.01"


def test_paid_amount_is_given_and_reduces_the_amount_due():
    document = samples.de_domestic_invoice()
    document = replace(document, paid_amount=Decimal("100.00"), due_amount=document.grand_total - Decimal("100.00"))
    root = parse(document)

    assert text(root, f"{TOTALS}/ram:TotalPrepaidAmount") == "100.00"
    assert text(root, f"{TOTALS}/ram:DuePayableAmount") == "88.01"


def test_build_is_deterministic_and_rejects_an_unknown_profile():
    document = samples.at_reverse_charge_invoice()

    assert build_cii(document, profile="factur-x") == build_cii(document, profile="factur-x")
    assert build_cii(document, profile="factur-x").startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    with pytest.raises(ValueError, match="unknown e-invoice profile 'zugferd'"):
        build_cii(document, profile="zugferd")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("360", "360.00"), ("12.5", "12.50"), ("0.1234", "0.1234"), ("0.123", "0.123"), ("9.99995", "10.00")],
)
def test_unit_price_has_two_to_four_decimals(value, expected):
    assert format_unit_price(Decimal(value)) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [("5", "5"), ("5.000", "5"), ("2.50", "2.5"), ("100", "100"), ("-1", "-1")]
)
def test_quantity_has_no_trailing_zeros_or_exponent(value, expected):
    assert format_quantity(Decimal(value)) == expected


@pytest.mark.parametrize(("value", "expected"), [("1", "1.00"), ("0.125", "0.13"), ("-0.125", "-0.13")])
def test_amounts_have_two_decimals_half_up(value, expected):
    assert format_amount(Decimal(value)) == expected
