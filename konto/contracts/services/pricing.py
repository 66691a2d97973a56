"""Pricing an order before it is confirmed: prorated charge today, next invoice, renewal, VAT.

Pure reads: nothing is written. The preview's fingerprint covers every
number the customer sees plus the contract's state, so a confirmation can
tell whether prices or the contract changed since the preview.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import F, Max, Sum
from django.db.models.functions import Greatest
from django.utils.translation import gettext as _

from konto.accounts.models import LicenseType, Org, Vendor
from konto.catalog.models import PriceBook, PriceBookEntry, Product
from konto.contracts.exceptions import InvalidInput, NotFound, PurchaseRefused
from konto.contracts.models import Contract, ContractLine
from konto.contracts.services.charges import charge_for_period
from konto.core.editions import Edition
from konto.core.money import round_money
from konto.core.periods import Period, period_containing
from konto.core.tax import TaxTreatment, determine_tax

ZERO = Decimal("0.00")
MAX_QUANTITY = 1000  # per line; larger orders go through the account executive
ESSENTIALS_MAX_FULL_LICENSES = 10
MAX_LINES = 20  # products per order
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]{1,12}")  # ASCII only: isdigit() takes "²", int() does not


@dataclass(frozen=True)
class OrderItem:
    """What the customer asks for: a product code and a quantity (both unchecked)."""

    product: Any
    quantity: Any


@dataclass(frozen=True)
class TaxLine:
    category: str
    rate: Decimal  # percent
    net_amount: Decimal
    tax_amount: Decimal
    note: str


@dataclass(frozen=True)
class Totals:
    net_amount: Decimal
    tax_lines: tuple[TaxLine, ...]

    @property
    def tax_amount(self) -> Decimal:
        return sum((line.tax_amount for line in self.tax_lines), ZERO)

    @property
    def gross_amount(self) -> Decimal:
        return self.net_amount + self.tax_amount


@dataclass(frozen=True)
class PricedLine:
    product: Product
    quantity: int
    unit_price: Decimal  # net per billing period, frozen into the contract line
    period: Period  # the current billing period [start, end), as its charge records it
    service_start: date  # the order date
    days_charged: int  # days from the order date to the period end (or the contract end, if earlier)
    days_in_period: int  # days of the whole billing period
    prorated_net_amount: Decimal  # charged for the current period
    next_period_net_amount: Decimal  # on the next regular invoice (0 when the term ends first)
    renewal_unit_price: Decimal  # today's price-book price for the renewal
    renewal_net_amount: Decimal
    tax: TaxTreatment
    service_end: date | None = None  # end of the charged days: period end, or the contract end if earlier


@dataclass(frozen=True)
class OrderPreview:
    contract: Contract
    ordered_on: date
    currency: str
    lines: tuple[PricedLine, ...]
    today: Totals
    next_invoice_on: date | None
    next_invoice: Totals
    renewal_on: date
    renewal: Totals
    fingerprint: str

    def as_json(self) -> dict[str, Any]:
        """The preview as stored with the order and answered by the API (money as strings)."""
        return {
            "contract": self.contract.public_id,
            "ordered_on": self.ordered_on.isoformat(),
            "currency": self.currency,
            "lines": [
                {
                    "product": line.product.code,
                    "quantity": line.quantity,
                    "unit_price": str(line.unit_price),
                    "period_start": line.period.start.isoformat(),
                    "period_end": line.period.end.isoformat(),
                    "service_start": line.service_start.isoformat(),
                    "service_end": (line.service_end or line.period.end).isoformat(),
                    "days_charged": line.days_charged,
                    "days_in_period": line.days_in_period,
                    "prorated_net_amount": str(line.prorated_net_amount),
                    "next_period_net_amount": str(line.next_period_net_amount),
                    "renewal_unit_price": str(line.renewal_unit_price),
                    "renewal_net_amount": str(line.renewal_net_amount),
                    "tax_category": line.tax.category,
                    "tax_rate": str(line.tax.rate),
                }
                for line in self.lines
            ],
            "today": _totals_json(self.today),
            "next_invoice_on": self.next_invoice_on.isoformat() if self.next_invoice_on else None,
            "next_invoice": _totals_json(self.next_invoice),
            "renewal_on": self.renewal_on.isoformat(),
            "renewal": _totals_json(self.renewal),
            "fingerprint": self.fingerprint,
        }


def _totals_json(totals: Totals) -> dict[str, Any]:
    return {
        "net_amount": str(totals.net_amount),
        "tax_amount": str(totals.tax_amount),
        "gross_amount": str(totals.gross_amount),
        "tax": [
            {
                "category": line.category,
                "rate": str(line.rate),
                "net_amount": str(line.net_amount),
                "tax_amount": str(line.tax_amount),
            }
            for line in totals.tax_lines
        ],
    }


def _totals(amounts: list[tuple[Decimal, TaxTreatment]]) -> Totals:
    """VAT per rate on the sum of the line nets of that rate (EN 16931 BR-CO-17)."""
    bases: dict[tuple[str, Decimal], Decimal] = defaultdict(lambda: ZERO)
    notes: dict[tuple[str, Decimal], str] = {}
    for net, tax in amounts:
        bases[(tax.category, tax.rate)] += net
        notes[(tax.category, tax.rate)] = str(tax.note)
    tax_lines = tuple(
        TaxLine(category, rate, base, round_money(base * rate / 100), notes[(category, rate)])
        for (category, rate), base in sorted(bases.items())
    )
    return Totals(net_amount=sum((net for net, _ in amounts), ZERO), tax_lines=tax_lines)


def _field_error(message: str, *, code: str, field: str) -> InvalidInput:
    return InvalidInput(message, code=code, fields={field: message})


def _clean_quantity(raw: Any, index: int) -> int:
    field = f"lines[{index}].quantity"
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise _field_error(_("Enter the quantity as a whole number."), code="invalid_quantity", field=field)
    if isinstance(raw, int):
        quantity = raw
    else:
        text = raw.strip()
        if len(text) > 20 or not _WHOLE_NUMBER.fullmatch(text):
            raise _field_error(_("Enter the quantity as a whole number."), code="invalid_quantity", field=field)
        quantity = int(text)
    if quantity < 1 or quantity > MAX_QUANTITY:
        message = _("Enter a quantity from 1 to %(max)d.") % {"max": MAX_QUANTITY}
        raise _field_error(message, code="invalid_quantity", field=field)
    return quantity


def contract_state(contract: Contract) -> str:
    """A short fingerprint of the contract's lines: changes when anybody buys on it."""
    state = ContractLine.objects.filter(contract=contract).aggregate(last=Max("id"), seats=Sum("quantity"))
    return f"{state['last'] or 0}:{state['seats'] or 0}:{contract.end_date.isoformat()}:{contract.status}"


def full_license_seats(contract: Contract, org: Org) -> int:
    """Full seats the org has bought on its active contracts (quantity × seats per unit)."""
    total = (
        ContractLine.objects.filter(
            org=org,
            contract__status=Contract.Status.ACTIVE,
            product__grants_license_type=LicenseType.FULL,
        ).aggregate(seats=Sum(F("quantity") * Greatest(F("product__seats_per_unit"), 1)))["seats"]
        or 0
    )
    return int(total)


def price_book_entries(*, org: Org, contract: Contract, products: Sequence[Product]) -> dict[int, Decimal]:
    """Net unit prices per billing period by product id: the org's segment, the contract's currency and frequency.

    The contract's currency, not the org's: an org may switch currency before
    its first invoice, and a line must be priced in the currency of the
    contract it is added to.
    """
    book = PriceBook.objects.filter(segment=org.segment, currency=contract.currency, is_active=True).first()
    if book is None:
        return {}
    return {
        entry.product_id: entry.unit_price
        for entry in PriceBookEntry.objects.filter(
            price_book=book, product__in=products, billing_frequency=contract.billing_frequency
        )
    }


def check_may_buy(org: Org) -> None:
    """Only active orgs buy: an overdue or suspended one pays first (`org_overdue`), a closed one never does."""
    if org.status == Org.Status.ACTIVE:
        return
    if org.status == Org.Status.CLOSED:
        message = _("This account is closed, so nothing can be bought. Please contact us.")
    elif org.status == Org.Status.SUSPENDED:
        message = _(
            "Purchases are paused because your account is suspended for unpaid invoices. "
            "Please pay the overdue invoices first; buying is possible again at once."
        )
    else:
        message = _(
            "Purchases are paused because your account is overdue. "
            "Please pay the open invoices first; buying is possible again at once."
        )
    raise PurchaseRefused(message, code="org_overdue")


def price_order(*, org: Org, contract: Contract, items: Sequence[OrderItem], today: date) -> OrderPreview:
    """Validate and price an order on `contract` for the org-local date `today`.

    Raises InvalidInput for malformed lines, PurchaseRefused when the org may
    not buy (overdue, edition rules, the Essentials limit of 10 Full licenses).
    """
    check_may_buy(org)
    if contract.org_id != org.pk:
        raise NotFound(_("Contract not found."))
    in_term = contract.start_date <= today < contract.end_date
    if contract.status != Contract.Status.ACTIVE or not in_term:
        raise PurchaseRefused(
            _("This contract is not active, so nothing can be added to it."), code="contract_inactive"
        )
    if not items:
        raise _field_error(_("Add at least one product."), code="empty_order", field="lines")
    if len(items) > MAX_LINES:
        message = _("Order at most %(max)d products at once.") % {"max": MAX_LINES}
        raise _field_error(message, code="too_many_lines", field="lines")
    codes: list[str] = []
    quantities: list[int] = []
    for index, item in enumerate(items):
        if not isinstance(item.product, str) or not item.product.strip() or len(item.product) > 50:
            raise _field_error(_("Choose a product."), code="unknown_product", field=f"lines[{index}].product")
        code = item.product.strip()
        if code in codes:
            raise _field_error(
                _("Each product can appear only once in an order."),
                code="duplicate_product",
                field=f"lines[{index}].product",
            )
        codes.append(code)
        quantities.append(_clean_quantity(item.quantity, index))
    products = {p.code: p for p in Product.objects.filter(code__in=codes, is_active=True)}
    entries = price_book_entries(org=org, contract=contract, products=list(products.values()))
    vendor = Vendor.objects.first()
    if vendor is None:
        raise PurchaseRefused(_("Buying is not set up yet. Please contact us."), code="vendor_missing")
    period = period_containing(contract.start_date, contract.billing_frequency, today)
    next_period = (
        period_containing(contract.start_date, contract.billing_frequency, period.end)
        if period.end < contract.end_date
        else None
    )
    next_on = next_period.start if next_period else None
    lines: list[PricedLine] = []
    added_full_seats = 0
    for index, (code, quantity) in enumerate(zip(codes, quantities, strict=True)):
        field = f"lines[{index}].product"
        product = products.get(code)
        if product is None:
            message = _("There is no product %(code)s.") % {"code": code[:50]}
            raise _field_error(message, code="unknown_product", field=field)
        allowed = product.may_be_bought_by(org.edition)
        if product.kind == Product.Kind.EDITION and product.edition != org.edition:
            allowed = False
        if not allowed:
            message = _("%(product)s cannot be bought with the %(edition)s edition.") % {
                "product": product.name,
                "edition": Edition(org.edition).label,
            }
            raise PurchaseRefused(message, code="product_not_allowed", fields={field: message})
        unit_price = entries.get(product.pk)
        if unit_price is None:
            message = _("%(product)s has no price for your billing frequency. Please contact us.") % {
                "product": product.name
            }
            raise PurchaseRefused(message, code="no_price", fields={field: message})
        if product.grants_license_type == LicenseType.FULL:
            added_full_seats += quantity * max(product.seats_per_unit, 1)
        tax = determine_tax(
            seller_country=vendor.country,
            buyer_country=org.country,
            buyer_vat_id=org.vat_id,
            tax_category=product.tax_category,
            service_date=today,
        )
        # The same function builds the charges, so the preview is what gets charged.
        first = charge_for_period(
            period=period, line_start=today, line_end=contract.end_date, unit_price=unit_price, quantity=quantity
        )
        following = (
            charge_for_period(
                period=next_period,
                line_start=today,
                line_end=contract.end_date,
                unit_price=unit_price,
                quantity=quantity,
            ).net_amount
            if next_period
            else ZERO
        )
        renewal = round_money(unit_price * quantity)  # a full period at today's price-book price
        lines.append(
            PricedLine(
                product=product,
                quantity=quantity,
                unit_price=unit_price,
                period=period,
                service_start=today,
                days_charged=first.days_charged,
                days_in_period=first.days_in_period,
                prorated_net_amount=first.net_amount,
                next_period_net_amount=following,
                renewal_unit_price=unit_price,
                renewal_net_amount=renewal,
                tax=tax,
                service_end=first.service_end,
            )
        )
    if org.edition == Edition.ESSENTIALS and added_full_seats:
        bought = full_license_seats(contract, org)
        if bought + added_full_seats > ESSENTIALS_MAX_FULL_LICENSES:
            message = _(
                "Essentials includes at most %(max)d Full licenses. You have %(bought)d, so you can add "
                "%(free)d more. For more users, request an upgrade to Professional or Enterprise."
            ) % {
                "max": ESSENTIALS_MAX_FULL_LICENSES,
                "bought": bought,
                "free": max(ESSENTIALS_MAX_FULL_LICENSES - bought, 0),
            }
            raise PurchaseRefused(
                message,
                code="essentials_license_limit",
                extra={"max": ESSENTIALS_MAX_FULL_LICENSES, "bought": bought, "upgrade_available": True},
            )
    preview_lines = tuple(lines)
    today_totals = _totals([(line.prorated_net_amount, line.tax) for line in preview_lines])
    next_totals = _totals([(line.next_period_net_amount, line.tax) for line in preview_lines])
    renewal_totals = _totals([(line.renewal_net_amount, line.tax) for line in preview_lines])
    fingerprint_source = json.dumps(
        {
            "state": contract_state(contract),
            "today": today.isoformat(),
            "lines": [
                [
                    line.product.code,
                    line.quantity,
                    str(line.unit_price),
                    str(line.prorated_net_amount),
                    line.tax.category,
                    str(line.tax.rate),
                ]
                for line in preview_lines
            ],
        },
        sort_keys=True,
    )
    return OrderPreview(
        contract=contract,
        ordered_on=today,
        currency=contract.currency,
        lines=preview_lines,
        today=today_totals,
        next_invoice_on=next_on,
        next_invoice=next_totals,
        renewal_on=contract.end_date,
        renewal=renewal_totals,
        fingerprint=hashlib.sha256(fingerprint_source.encode()).hexdigest()[:32],
    )
