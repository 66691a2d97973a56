"""EN 16931 e-invoice XML in UN/CEFACT CII D16B syntax (Factur-X / ZUGFeRD profile EN 16931, XRechnung CII).

`build_cii` turns one InvoiceDocument into the CrossIndustryInvoice that is
embedded in the PDF/A-3 (Factur-X) or sent alone (XRechnung). It writes what the
document says and computes nothing: amounts, VAT breakdown and totals come
already rounded from the document, and the validators (validation.py) check
that they add up the way EN 16931 requires (BR-CO-10 … BR-CO-17).

Mapping notes:
- Service periods are [start, end) in Konto; EN 16931 dates are inclusive, so
  BT-74 and BT-135 are the day before the exclusive end.
- "Not subject to VAT" (O) forbids VAT identifiers (BR-O-02): the seller is then
  identified by its tax number (BT-32, FC) and register entry (BT-30).
- XRechnung (CIUS of the KoSIT) additionally requires the buyer reference
  (BT-10), a seller contact (BG-6), electronic addresses (BT-34, BT-49) and a
  VAT rate in every VAT breakdown (BR-DE-14).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from lxml import etree

from konto.billing.documents.model import DocumentLine, InvoiceDocument, Party, TaxSubtotal

Profile = Literal["factur-x", "xrechnung"]

FACTURX_GUIDELINE = "urn:cen.eu:en16931:2017"  # BT-24, Factur-X / ZUGFeRD profile EN 16931
XRECHNUNG_GUIDELINE = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
GUIDELINES: dict[str, str] = {"factur-x": FACTURX_GUIDELINE, "xrechnung": XRECHNUNG_GUIDELINE}
# BT-23: the business process XRechnung documents name (Peppol BIS Billing 3.0).
XRECHNUNG_BUSINESS_PROCESS = "urn:fdc:peppol.eu:2017:poacc:billing:01.0"

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
NSMAP = {"rsm": RSM, "ram": RAM, "udt": UDT, "qdt": QDT}

NOT_SUBJECT_TO_VAT = "O"
# Categories whose VAT breakdown must give the exemption reason (BT-120 / BT-121).
CATEGORIES_WITH_EXEMPTION_REASON = frozenset({"AE", "O", "E", "K", "G"})
DIRECT_DEBIT_CODES = frozenset({"59"})
CREDIT_TRANSFER_CODES = frozenset({"30", "58"})
CARD_CODES = frozenset({"48", "54", "55"})

_CENT = Decimal("0.01")
_UNIT_PRICE_QUANTUM = Decimal("0.0001")
_ONE_DAY = timedelta(days=1)


def build_cii(document: InvoiceDocument, *, profile: Profile) -> bytes:
    """The CrossIndustryInvoice for `document` as UTF-8 bytes with an XML declaration.

    Deterministic: the same document gives the same bytes, so a stored XML can
    be rebuilt and compared. Raises ValueError for an unknown profile.
    """
    if profile not in GUIDELINES:
        raise ValueError(f"unknown e-invoice profile {profile!r}; expected 'factur-x' or 'xrechnung'")
    is_xrechnung = profile == "xrechnung"
    is_not_subject = any(line.tax_category == NOT_SUBJECT_TO_VAT for line in document.lines)

    root = etree.Element(_rsm("CrossIndustryInvoice"), nsmap=NSMAP)

    context = _sub(root, _rsm("ExchangedDocumentContext"))
    if is_xrechnung:
        _text(
            _sub(context, _ram("BusinessProcessSpecifiedDocumentContextParameter")),
            _ram("ID"),
            XRECHNUNG_BUSINESS_PROCESS,
        )
    _text(_sub(context, _ram("GuidelineSpecifiedDocumentContextParameter")), _ram("ID"), GUIDELINES[profile])

    header = _sub(root, _rsm("ExchangedDocument"))
    _text(header, _ram("ID"), document.number)  # BT-1
    _text(header, _ram("TypeCode"), document.type_code)  # BT-3
    _date_time(header, _ram("IssueDateTime"), document.issue_date)  # BT-2
    for note in document.notes:  # BT-22
        _text(_sub(header, _ram("IncludedNote")), _ram("Content"), note)

    transaction = _sub(root, _rsm("SupplyChainTradeTransaction"))
    for line in document.lines:
        _line_item(transaction, line, document.currency, is_xrechnung=is_xrechnung)

    agreement = _sub(transaction, _ram("ApplicableHeaderTradeAgreement"))
    if document.buyer_reference:
        _text(agreement, _ram("BuyerReference"), document.buyer_reference)  # BT-10
    _party(
        agreement,
        _ram("SellerTradeParty"),
        document.seller,
        is_seller=True,
        omit_vat_id=is_not_subject,
        profile=profile,
    )
    _party(
        agreement, _ram("BuyerTradeParty"), document.buyer, is_seller=False, omit_vat_id=is_not_subject, profile=profile
    )
    if document.po_number:  # BT-13
        _text(_sub(agreement, _ram("BuyerOrderReferencedDocument")), _ram("IssuerAssignedID"), document.po_number)
    if document.contract_number:  # BT-12
        _text(_sub(agreement, _ram("ContractReferencedDocument")), _ram("IssuerAssignedID"), document.contract_number)

    # Delivery: the service period is given as the billing period (BG-14) below, which is what
    # EN 16931 asks for services; the element itself is mandatory in CII.
    _sub(transaction, _ram("ApplicableHeaderTradeDelivery"))

    _settlement(transaction, document, is_xrechnung=is_xrechnung)

    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _line_item(parent: etree._Element, line: DocumentLine, currency: str, *, is_xrechnung: bool) -> None:
    item = _sub(parent, _ram("IncludedSupplyChainTradeLineItem"))
    line_document = _sub(item, _ram("AssociatedDocumentLineDocument"))
    _text(line_document, _ram("LineID"), line.line_id)  # BT-126
    if line.description:  # BT-127, e.g. the proration
        _text(_sub(line_document, _ram("IncludedNote")), _ram("Content"), line.description)

    product = _sub(item, _ram("SpecifiedTradeProduct"))
    _text(product, _ram("Name"), line.name)  # BT-153

    agreement = _sub(item, _ram("SpecifiedLineTradeAgreement"))
    price = _sub(agreement, _ram("NetPriceProductTradePrice"))
    _text(price, _ram("ChargeAmount"), format_unit_price(line.unit_price))  # BT-146

    delivery = _sub(item, _ram("SpecifiedLineTradeDelivery"))
    _text(delivery, _ram("BilledQuantity"), format_quantity(line.quantity), unitCode=line.unit_code)  # BT-129/130

    settlement = _sub(item, _ram("SpecifiedLineTradeSettlement"))
    tax = _sub(settlement, _ram("ApplicableTradeTax"))
    _text(tax, _ram("TypeCode"), "VAT")
    _text(tax, _ram("CategoryCode"), line.tax_category)  # BT-151
    if line.tax_category != NOT_SUBJECT_TO_VAT:  # BR-O-05: no rate on "not subject to VAT" lines
        _text(tax, _ram("RateApplicablePercent"), format_amount(line.tax_rate))  # BT-152
    if line.period_start is not None or line.period_end is not None:  # BG-26
        _period(settlement, line.period_start, line.period_end)
    summation = _sub(settlement, _ram("SpecifiedTradeSettlementLineMonetarySummation"))
    _text(summation, _ram("LineTotalAmount"), format_amount(line.net_amount))  # BT-131


def _party(
    parent: etree._Element, tag: str, party: Party, *, is_seller: bool, omit_vat_id: bool, profile: Profile
) -> None:
    element = _sub(parent, tag)
    _text(element, _ram("Name"), party.name)  # BT-27 / BT-44
    if is_seller and party.register_entry:  # BT-30
        _text(_sub(element, _ram("SpecifiedLegalOrganization")), _ram("ID"), party.register_entry)
    if is_seller and (party.contact_name or party.phone or party.email):  # BG-6, required by XRechnung
        contact = _sub(element, _ram("DefinedTradeContact"))
        if party.contact_name:
            _text(contact, _ram("PersonName"), party.contact_name)  # BT-41
        if party.phone:
            _text(_sub(contact, _ram("TelephoneUniversalCommunication")), _ram("CompleteNumber"), party.phone)
        if party.email:
            _text(_sub(contact, _ram("EmailURIUniversalCommunication")), _ram("URIID"), party.email)

    address = _sub(element, _ram("PostalTradeAddress"))  # BG-5 / BG-8
    if party.postal_code:
        _text(address, _ram("PostcodeCode"), party.postal_code)
    if party.street:
        _text(address, _ram("LineOne"), party.street)
    if party.address_line2:
        _text(address, _ram("LineTwo"), party.address_line2)
    if party.city:
        _text(address, _ram("CityName"), party.city)
    _text(address, _ram("CountryID"), party.country)

    if party.email:  # BT-34 / BT-49: electronic address, here the email address (EAS "EM")
        _text(_sub(element, _ram("URIUniversalCommunication")), _ram("URIID"), party.email, schemeID="EM")

    if party.vat_id and not omit_vat_id:  # BT-31 / BT-48
        _text(_sub(element, _ram("SpecifiedTaxRegistration")), _ram("ID"), party.vat_id, schemeID="VA")
    if is_seller and party.tax_number and (omit_vat_id or not party.vat_id or profile == "xrechnung"):
        # BT-32: printed where no VAT ID may be given; XRechnung receivers like to have both.
        _text(_sub(element, _ram("SpecifiedTaxRegistration")), _ram("ID"), party.tax_number, schemeID="FC")


def _settlement(parent: etree._Element, document: InvoiceDocument, *, is_xrechnung: bool) -> None:
    settlement = _sub(parent, _ram("ApplicableHeaderTradeSettlement"))
    payment = document.payment
    is_direct_debit = payment.means_code in DIRECT_DEBIT_CODES
    if is_direct_debit and payment.creditor_id:
        _text(settlement, _ram("CreditorReferenceID"), payment.creditor_id)  # BT-90
    if payment.remittance:
        _text(settlement, _ram("PaymentReference"), payment.remittance)  # BT-83
    _text(settlement, _ram("InvoiceCurrencyCode"), document.currency)  # BT-5

    if payment.means_code:  # BG-16
        means = _sub(settlement, _ram("SpecifiedTradeSettlementPaymentMeans"))
        _text(means, _ram("TypeCode"), payment.means_code)  # BT-81
        if payment.means_code in CARD_CODES and payment.card_last4:  # BG-18 (XRechnung BR-DE-24-a needs it)
            card = _sub(means, _ram("ApplicableTradeSettlementFinancialCard"))
            _text(card, _ram("ID"), payment.card_last4)  # BT-87: the last 4 digits only (BR-51)
            if payment.card_holder:
                _text(card, _ram("CardholderName"), payment.card_holder)  # BT-88
        if is_direct_debit:
            if payment.debited_iban:  # BT-91
                _text(_sub(means, _ram("PayerPartyDebtorFinancialAccount")), _ram("IBANID"), payment.debited_iban)
        elif payment.iban:  # BG-17
            account = _sub(means, _ram("PayeePartyCreditorFinancialAccount"))
            _text(account, _ram("IBANID"), payment.iban)  # BT-84
            if payment.account_name:
                _text(account, _ram("AccountName"), payment.account_name)  # BT-85
            if payment.bic:
                _text(_sub(means, _ram("PayeeSpecifiedCreditorFinancialInstitution")), _ram("BICID"), payment.bic)

    for subtotal in document.tax_subtotals:  # BG-23
        _tax_subtotal(settlement, subtotal, document.currency, is_xrechnung=is_xrechnung)

    if document.period_start is not None or document.period_end is not None:  # BG-14
        _period(settlement, document.period_start, document.period_end)

    if payment.terms or payment.due_date is not None or (is_direct_debit and payment.mandate_reference):
        terms = _sub(settlement, _ram("SpecifiedTradePaymentTerms"))
        if payment.terms:
            _text(terms, _ram("Description"), payment.terms)  # BT-20
        if payment.due_date is not None:
            _date_time(terms, _ram("DueDateDateTime"), payment.due_date)  # BT-9
        if is_direct_debit and payment.mandate_reference:
            _text(terms, _ram("DirectDebitMandateID"), payment.mandate_reference)  # BT-89

    summation = _sub(settlement, _ram("SpecifiedTradeSettlementHeaderMonetarySummation"))  # BG-22
    _text(summation, _ram("LineTotalAmount"), format_amount(document.line_total))  # BT-106
    _text(summation, _ram("TaxBasisTotalAmount"), format_amount(document.line_total))  # BT-109: no allowances
    _text(summation, _ram("TaxTotalAmount"), format_amount(document.tax_total), currencyID=document.currency)
    _text(summation, _ram("GrandTotalAmount"), format_amount(document.grand_total))  # BT-112
    if document.paid_amount:
        _text(summation, _ram("TotalPrepaidAmount"), format_amount(document.paid_amount))  # BT-113
    _text(summation, _ram("DuePayableAmount"), format_amount(document.due_amount))  # BT-115

    if document.preceding_invoice_number:  # BG-3
        reference = _sub(settlement, _ram("InvoiceReferencedDocument"))
        _text(reference, _ram("IssuerAssignedID"), document.preceding_invoice_number)  # BT-25
        if document.preceding_invoice_date is not None:  # BT-26
            issued = _sub(reference, _ram("FormattedIssueDateTime"))
            _text(issued, _qdt("DateTimeString"), format_date(document.preceding_invoice_date), format="102")


def _tax_subtotal(parent: etree._Element, subtotal: TaxSubtotal, currency: str, *, is_xrechnung: bool) -> None:
    tax = _sub(parent, _ram("ApplicableTradeTax"))
    _text(tax, _ram("CalculatedAmount"), format_amount(subtotal.tax_amount))  # BT-117
    _text(tax, _ram("TypeCode"), "VAT")
    if subtotal.category in CATEGORIES_WITH_EXEMPTION_REASON and subtotal.exemption_reason:
        _text(tax, _ram("ExemptionReason"), subtotal.exemption_reason)  # BT-120
    _text(tax, _ram("BasisAmount"), format_amount(subtotal.taxable_amount))  # BT-116
    _text(tax, _ram("CategoryCode"), subtotal.category)  # BT-118
    if subtotal.category in CATEGORIES_WITH_EXEMPTION_REASON and subtotal.exemption_reason_code:
        _text(tax, _ram("ExemptionReasonCode"), subtotal.exemption_reason_code)  # BT-121
    # BT-119: EN 16931 has no rate for "not subject to VAT"; XRechnung wants one in every breakdown (BR-DE-14).
    if subtotal.category != NOT_SUBJECT_TO_VAT or is_xrechnung:
        _text(tax, _ram("RateApplicablePercent"), format_amount(subtotal.rate))


def _period(parent: etree._Element, start: date | None, end_exclusive: date | None) -> None:
    """A billing period (BG-14 / BG-26): Konto's end is exclusive, EN 16931's end date is inclusive."""
    period = _sub(parent, _ram("BillingSpecifiedPeriod"))
    if start is not None:
        _date_time(period, _ram("StartDateTime"), start)
    if end_exclusive is not None:
        _date_time(period, _ram("EndDateTime"), inclusive_end(end_exclusive))


def inclusive_end(end_exclusive: date) -> date:
    """The last day of a period whose end is exclusive: EN 16931 BT-74 / BT-135."""
    return end_exclusive - _ONE_DAY


def format_date(value: date) -> str:
    """Date format 102 (CCYYMMDD)."""
    return value.strftime("%Y%m%d")


def format_amount(value: Decimal) -> str:
    """An amount with exactly two decimals (half-up if a caller passes more)."""
    return str(value.quantize(_CENT, rounding=ROUND_HALF_UP))


def format_unit_price(value: Decimal) -> str:
    """A unit price with at least two and at most four decimals: 360.00, 0.1234, 12.50."""
    exact = value.quantize(_UNIT_PRICE_QUANTUM, rounding=ROUND_HALF_UP)
    if exact == exact.quantize(_CENT):
        return str(exact.quantize(_CENT))
    return format(exact.normalize(), "f")  # 3 or 4 decimals here


def format_quantity(value: Decimal) -> str:
    """A quantity without trailing zeros or exponent: 5, 2.5, 100."""
    return format(value.normalize(), "f")


def _sub(parent: etree._Element, tag: str) -> etree._Element:
    return etree.SubElement(parent, tag)


def _text(parent: etree._Element, tag: str, value: str, **attributes: str) -> etree._Element:
    element = etree.SubElement(parent, tag, attributes)
    element.text = value
    return element


def _date_time(parent: etree._Element, tag: str, value: date) -> None:
    _text(_sub(parent, tag), _udt("DateTimeString"), format_date(value), format="102")


def _rsm(name: str) -> str:
    return f"{{{RSM}}}{name}"


def _ram(name: str) -> str:
    return f"{{{RAM}}}{name}"


def _udt(name: str) -> str:
    return f"{{{UDT}}}{name}"


def _qdt(name: str) -> str:
    return f"{{{QDT}}}{name}"
