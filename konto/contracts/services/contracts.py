"""Creating contracts (onboarding, the back office, the demo)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from konto.accounts.models import Org, Vendor
from konto.accounts.services import seats
from konto.catalog.models import PriceBookEntry, Product
from konto.catalog.selectors import price_book_for
from konto.contracts.exceptions import InvalidInput
from konto.contracts.models import Contract, ContractLine, PaymentMethodKind
from konto.contracts.services.charges import schedule_charges
from konto.core.audit import Actor, record_event
from konto.core.leitweg import normalize_leitweg_id
from konto.core.periods import BillingFrequency


@dataclass(frozen=True)
class InitialLine:
    product: Product
    quantity: int
    unit_price: Decimal | None = None  # None: the org's price book price; e.g. 0.00 for donated licenses


def _price_for(org: Org, product: Product, frequency: str) -> Decimal:
    book = price_book_for(org)
    entry = PriceBookEntry.objects.filter(price_book=book, product=product, billing_frequency=frequency).first()
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
    """Create an active contract with its initial lines, their charges and the seats they grant."""
    if end_date <= start_date:
        raise InvalidInput(_("The contract must end after it starts."), code="invalid_term")
    if billing_frequency not in BillingFrequency.values:
        raise InvalidInput(_("Choose monthly, quarterly or annual billing."), code="invalid_billing_frequency")
    if payment_method_kind not in PaymentMethodKind.values:
        raise InvalidInput(_("Choose card, SEPA Direct Debit or bank transfer."), code="invalid_payment_method")
    reference = normalize_leitweg_id(buyer_reference)
    org = Org.objects.select_for_update().get(pk=org.pk)
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
        po_number=po_number,
        buyer_reference=reference,
    )
    contract_lines = []
    for line in lines:
        if line.quantity < 1:
            raise InvalidInput(_("Enter a quantity of at least 1."), code="invalid_quantity")
        unit_price = (
            line.unit_price if line.unit_price is not None else _price_for(org, line.product, billing_frequency)
        )
        contract_lines.append(
            ContractLine.objects.create(
                org=org,
                contract=contract,
                product=line.product,
                quantity=line.quantity,
                unit_price=unit_price,
                start_date=start_date,
                end_date=end_date,
            )
        )
        if line.product.grants_license_type:
            seats.add_purchased_seats(
                org=org,
                license_type=line.product.grants_license_type,
                seats=line.quantity * max(line.product.seats_per_unit, 1),
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
            "lines": [[cl.product.code, cl.quantity, str(cl.unit_price)] for cl in contract_lines],
        },
    )
    return contract
