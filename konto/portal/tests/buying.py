"""Builders for the contract and buying tests of My Account: a small catalog, price book and contracts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from konto.accounts.models import LicensePool, LicenseType, Org, Segment, Vendor
from konto.catalog.models import PriceBook, PriceBookEntry, Product
from konto.contracts.models import Contract, PaymentMethodKind
from konto.contracts.services.contracts import InitialLine, create_contract
from konto.core.audit import Actor
from konto.core.periods import MONTHS_PER_PERIOD, BillingFrequency

ALL = ["essentials", "professional", "enterprise", "unlimited"]
# code -> (kind, edition, allowed editions, grants, seats per unit, monthly net EUR)
CATALOG: dict[str, tuple[str, str, list[str], str, int, str]] = {
    "essentials": ("edition", "essentials", ["essentials"], "full", 1, "25.00"),
    "enterprise": ("edition", "enterprise", ["enterprise"], "full", 1, "165.00"),
    "data-storage": ("add_on", "", ALL, "", 0, "125.00"),
    "inbox": ("add_on", "", ALL, "", 0, "25.00"),
    "analytics": ("add_on", "", ALL[1:], "", 0, "50.00"),
}
NAMES = {
    "essentials": ("Essentials", "Essentials"),
    "enterprise": ("Enterprise", "Enterprise"),
    "data-storage": ("Datenspeicher (10 GB)", "Data Storage (10 GB)"),
    "inbox": ("Inbox", "Inbox"),
    "analytics": ("Analytics Plus", "Analytics Plus"),
}


def seed_catalog() -> dict[str, Product]:
    """The vendor, five products and the commercial EUR price book (quarterly 3×, annual 12× monthly)."""
    Vendor.objects.get_or_create(
        singleton=True,
        defaults={
            "legal_name": "Nimbus CRM GmbH",
            "street": "Friedrichstraße 123",
            "postal_code": "10117",
            "city": "Berlin",
            "country": "DE",
            "vat_id": "DE123456788",
            "register_entry": "HRB 123456 B",
            "email": "billing@nimbus.example",
        },
    )
    book = PriceBook.objects.create(name="Commercial EUR", segment=Segment.COMMERCIAL, currency="EUR")
    products = {}
    for index, (code, (kind, edition, allowed, grants, seats, monthly)) in enumerate(CATALOG.items()):
        product = Product.objects.create(
            code=code,
            name_de=NAMES[code][0],
            name_en=NAMES[code][1],
            description_de=f"Beschreibung {code}",
            description_en=f"Description of {code}",
            kind=kind,
            edition=edition,
            unit="user" if kind == "edition" or code in {"inbox", "analytics"} else "10gb",
            allowed_editions=allowed,
            grants_license_type=grants,
            seats_per_unit=seats,
            sort_order=index,
        )
        for frequency in BillingFrequency:
            PriceBookEntry.objects.create(
                price_book=book,
                product=product,
                billing_frequency=frequency.value,
                unit_price=Decimal(monthly) * MONTHS_PER_PERIOD[frequency],
            )
        products[code] = product
    return products


def make_contract(
    org: Org,
    *,
    start: date = date(2026, 1, 1),
    end: date = date(2027, 1, 1),
    frequency: str = BillingFrequency.ANNUAL,
    payment: str = PaymentMethodKind.CARD,
    lines: tuple[tuple[str, int], ...] = (("essentials", 5),),
    **fields: object,
) -> Contract:
    """A contract created by the service; the org's Full pool then holds exactly the bought seats."""
    LicensePool.objects.filter(org=org, license_type=LicenseType.FULL).update(purchased_seats=0)
    return create_contract(
        org=org,
        actor=Actor.system("test"),
        start_date=start,
        end_date=end,
        billing_frequency=frequency,
        payment_method_kind=payment,
        lines=[InitialLine(Product.objects.get(code=code), quantity) for code, quantity in lines],
        **fields,  # type: ignore[arg-type]  # keyword arguments of create_contract
    )
