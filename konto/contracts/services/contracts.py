"""Creating contracts (onboarding, the back office, the demo)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils.translation import gettext as _

from konto.accounts.models import LicenseType, Org, Vendor
from konto.accounts.services import seats
from konto.catalog.models import PriceBookEntry, Product
from konto.catalog.selectors import price_book_for
from konto.contracts.exceptions import InvalidInput, PurchaseRefused
from konto.contracts.models import Contract, ContractLine, PaymentMethodKind
from konto.contracts.services.charges import schedule_charges
from konto.contracts.services.orders import _clean_po_number
from konto.contracts.services.pricing import ESSENTIALS_MAX_FULL_LICENSES, MAX_LINES, _clean_quantity
from konto.core.audit import Actor, record_event
from konto.core.editions import Edition
from konto.core.leitweg import normalize_leitweg_id
from konto.core.money import UNIT_PRICE_QUANTUM
from konto.core.periods import BillingFrequency, add_months

MAX_TERM_MONTHS = 60  # five years: longer agreements are renewed, not written as one term
MAX_PAYMENT_TERMS_DAYS = 120
MAX_NOTICE_PERIOD_DAYS = 365


@dataclass(frozen=True)
class InitialLine:
    product: Product
    quantity: int
    unit_price: Decimal | None = None  # None: the org's price book price; e.g. 0.00 for donated licenses


def _price_for(org: Org, product: Product, frequency: str) -> Decimal:
    book = price_book_for(org)
    entry = (
        PriceBookEntry.objects.filter(price_book=book, product=product, billing_frequency=frequency).first()
        if book is not None
        else None
    )
    if entry is None:
        raise InvalidInput(
            _("%(product)s has no price for this billing frequency.") % {"product": product.name}, code="no_price"
        )
    return entry.unit_price


@transaction.atomic(durable=True)
def create_contract(
    *,
    org: Org,
    actor: Actor,
    start_date: date,
    end_date: date,
    billing_frequency: str,
    payment_method_kind: str,
    lines: Sequence[InitialLine],
    payment_terms_days: int | None = None,
    auto_renew: bool = True,
    notice_period_days: int = 30,
    po_number: str = "",
    buyer_reference: str = "",
) -> Contract:
    """Create an active contract with its initial lines, their charges and the seats they grant.

    Lines start with the contract and end with it (co-termed); a line without
    a unit price takes the org's price-book price for the billing frequency,
    an explicit 0.00 is a donation (nonprofits' licenses). Everything is
    checked before anything is written; the contract, its lines, charges,
    seats and the audit event are one transaction.
    """
    _check_term(start_date, end_date)
    if billing_frequency not in BillingFrequency.values:
        raise _invalid(
            _("Choose monthly, quarterly or annual billing."), "invalid_billing_frequency", "billing_frequency"
        )
    if payment_method_kind not in PaymentMethodKind.values:
        raise _invalid(
            _("Choose card, SEPA Direct Debit or bank transfer."), "invalid_payment_method", "payment_method_kind"
        )
    if payment_terms_days is not None and not _is_int_within(payment_terms_days, 0, MAX_PAYMENT_TERMS_DAYS):
        message = _("Enter payment terms from 0 to %(max)d days.") % {"max": MAX_PAYMENT_TERMS_DAYS}
        raise _invalid(message, "invalid_payment_terms", "payment_terms_days")
    if not _is_int_within(notice_period_days, 0, min(MAX_NOTICE_PERIOD_DAYS, (end_date - start_date).days - 1)):
        message = _("Enter a notice period of 0 days or more that ends before the contract does.")
        raise _invalid(message, "invalid_notice_period", "notice_period_days")
    if not isinstance(auto_renew, bool):
        raise _invalid(_("Say whether the contract renews automatically."), "invalid_auto_renew", "auto_renew")
    po = _clean_po_number(po_number)
    reference = normalize_leitweg_id(buyer_reference)
    org = Org.objects.select_for_update().get(pk=org.pk)
    if org.edition == Edition.ESSENTIALS and payment_method_kind != PaymentMethodKind.CARD:
        message = _("Essentials is paid by card.")
        raise _invalid(message, "payment_method_not_allowed", "payment_method_kind")
    priced = _priced_lines(org, lines, billing_frequency)
    vendor = Vendor.objects.first()
    terms = (
        payment_terms_days if payment_terms_days is not None else (vendor.default_payment_terms_days if vendor else 14)
    )
    sequence = Contract.objects.filter(org=org).count() + 1
    contract = Contract.objects.create(
        org=org,
        number=f"V-{start_date.year}-{sequence:03d}",
        start_date=start_date,
        end_date=end_date,
        billing_frequency=billing_frequency,
        currency=org.currency,
        payment_terms_days=terms,
        payment_method_kind=payment_method_kind,
        auto_renew=auto_renew,
        notice_period_days=notice_period_days,
        po_number=po,
        buyer_reference=reference,
    )
    contract_lines = []
    for product, quantity, unit_price in priced:
        contract_lines.append(
            ContractLine.objects.create(
                org=org,
                contract=contract,
                product=product,
                quantity=quantity,
                unit_price=unit_price,
                start_date=start_date,
                end_date=end_date,
            )
        )
        if product.grants_license_type:
            seats.add_purchased_seats(
                org=org,
                license_type=product.grants_license_type,
                seats=quantity * max(product.seats_per_unit, 1),
            )
    schedule_charges(contract=contract, lines=contract_lines)
    record_event(
        actor=actor,
        org_id=org.pk,
        action="contract.created",
        object_type="contract",
        object_id=contract.public_id,
        after={
            "number": contract.number,
            "start_date": start_date.isoformat(),
            "end_date": end_date.isoformat(),
            "billing_frequency": billing_frequency,
            "currency": contract.currency,
            "payment_method_kind": payment_method_kind,
            "payment_terms_days": terms,
            "auto_renew": auto_renew,
            "notice_period_days": notice_period_days,
            "po_number": po,
            "buyer_reference": reference,
            "lines": [[cl.product.code, cl.quantity, str(cl.unit_price)] for cl in contract_lines],
        },
    )
    return contract


def _invalid(message: str, code: str, field: str) -> InvalidInput:
    return InvalidInput(message, code=code, fields={field: message})


def _is_int_within(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _is_calendar_date(value: object) -> bool:
    return isinstance(value, date) and not isinstance(value, datetime)


def _check_term(start_date: date, end_date: date) -> None:
    if not (_is_calendar_date(start_date) and _is_calendar_date(end_date)):
        raise _invalid(_("Enter the start and end as calendar dates."), "invalid_term", "start_date")
    if end_date <= start_date:
        raise _invalid(_("The contract must end after it starts."), "invalid_term", "end_date")
    if end_date > add_months(start_date, MAX_TERM_MONTHS):
        message = _("A contract term lasts at most %(years)d years.") % {"years": MAX_TERM_MONTHS // 12}
        raise _invalid(message, "invalid_term", "end_date")


def _priced_lines(org: Org, lines: Sequence[InitialLine], frequency: str) -> list[tuple[Product, int, Decimal]]:
    """The initial lines checked and priced: (product, quantity, net unit price per billing period)."""
    if not lines:
        raise _invalid(_("Add at least one product to the contract."), "empty_contract", "lines")
    if len(lines) > MAX_LINES:
        message = _("A contract starts with at most %(max)d products.") % {"max": MAX_LINES}
        raise _invalid(message, "too_many_lines", "lines")
    priced: list[tuple[Product, int, Decimal]] = []
    full_seats = 0
    for index, line in enumerate(lines):
        field = f"lines[{index}].product"
        product = line.product
        if not isinstance(product, Product) or not product.is_active:
            raise _invalid(_("Choose a product."), "unknown_product", field)
        if any(product.pk == earlier.pk for earlier, _quantity, _price in priced):
            raise _invalid(_("Each product can appear only once in a contract."), "duplicate_product", field)
        if not product.may_be_bought_by(org.edition) or (
            product.kind == Product.Kind.EDITION and product.edition != org.edition
        ):
            message = _("%(product)s cannot be bought with the %(edition)s edition.") % {
                "product": product.name,
                "edition": Edition(org.edition).label,
            }
            raise PurchaseRefused(message, code="product_not_allowed", fields={field: message})
        quantity = _clean_quantity(line.quantity, index)
        unit_price = _clean_unit_price(line.unit_price, index) if line.unit_price is not None else None
        if unit_price is None:
            unit_price = _price_for(org, product, frequency)
        if product.grants_license_type == LicenseType.FULL:
            full_seats += quantity * max(product.seats_per_unit, 1)
        priced.append((product, quantity, unit_price))
    if org.edition == Edition.ESSENTIALS and full_seats > ESSENTIALS_MAX_FULL_LICENSES:
        message = _("Essentials includes at most %(max)d Full licenses.") % {"max": ESSENTIALS_MAX_FULL_LICENSES}
        raise PurchaseRefused(
            message,
            code="essentials_license_limit",
            extra={"max": ESSENTIALS_MAX_FULL_LICENSES, "bought": 0, "upgrade_available": True},
        )
    return priced


def _clean_unit_price(value: object, index: int) -> Decimal:
    field = f"lines[{index}].unit_price"
    message = _("Enter a net unit price of 0 or more with at most 4 decimals.")
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, str)):
        raise _invalid(message, "invalid_unit_price", field)
    try:
        price = Decimal(str(value).strip())
    except InvalidOperation:
        raise _invalid(message, "invalid_unit_price", field) from None
    if not price.is_finite() or price < 0 or price != price.quantize(UNIT_PRICE_QUANTUM) or price >= 10**10:
        raise _invalid(message, "invalid_unit_price", field)
    return price.quantize(UNIT_PRICE_QUANTUM)
