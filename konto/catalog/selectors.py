"""Catalog reads: what an org may buy and at which prices."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Prefetch

from konto.accounts.models import Org
from konto.catalog.models import PriceBook, PriceBookEntry, Product
from konto.core.periods import BillingFrequency


@dataclass(frozen=True)
class OrgProduct:
    product: Product
    prices: dict[str, Decimal]  # billing frequency -> net unit price per period, org's currency
    currency: str
    may_buy: bool  # the org's edition may buy it


def price_book_for(org: Org) -> PriceBook | None:
    return PriceBook.objects.filter(segment=org.segment, currency=org.currency, is_active=True).first()


def products_for_org(*, org: Org) -> list[OrgProduct]:
    """Active products with this org's prices (its segment's price book in its currency); two queries."""
    book = price_book_for(org)
    entries = PriceBookEntry.objects.filter(price_book=book) if book else PriceBookEntry.objects.none()
    products = Product.objects.filter(is_active=True).prefetch_related(
        Prefetch("price_entries", queryset=entries, to_attr="org_entries")
    )
    frequency_order = {f.value: i for i, f in enumerate(BillingFrequency)}
    result = []
    for product in products:
        org_entries: list[PriceBookEntry] = getattr(product, "org_entries", [])
        prices = {
            e.billing_frequency: e.unit_price
            for e in sorted(org_entries, key=lambda e: frequency_order[e.billing_frequency])
        }
        result.append(
            OrgProduct(
                product=product, prices=prices, currency=org.currency, may_buy=product.may_be_bought_by(org.edition)
            )
        )
    return result
