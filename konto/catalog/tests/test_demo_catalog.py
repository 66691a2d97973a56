"""The demo catalog as orgs see it: their segment's price book in their currency, their edition's rules."""

from __future__ import annotations

from decimal import Decimal

import pytest

from konto.accounts.models import Org
from konto.catalog.models import PriceBook, PriceBookEntry, Product
from konto.catalog.selectors import products_for_org

pytestmark = pytest.mark.usefixtures("demo")


def _catalog(legal_name: str):
    org = Org.objects.get(legal_name=legal_name)
    return {item.product.code: item for item in products_for_org(org=org)}


def test_bakery_sees_commercial_euro_prices():
    catalog = _catalog("Bäckerei Müller GmbH")

    assert catalog["essentials"].currency == "EUR"
    assert catalog["essentials"].prices == {
        "monthly": Decimal("25.0000"),
        "quarterly": Decimal("75.0000"),
        "annual": Decimal("300.0000"),
    }
    assert catalog["data-storage"].prices["monthly"] == Decimal("125.0000")
    assert catalog["identity-pack"].prices["annual"] == Decimal("120.0000")


def test_tierhilfe_sees_nonprofit_franc_prices():
    catalog = _catalog("Tierhilfe Zürich")

    assert catalog["enterprise"].currency == "CHF"
    assert catalog["enterprise"].prices == {
        "monthly": Decimal("44.5000"),
        "quarterly": Decimal("133.5000"),
        "annual": Decimal("534.0000"),
    }
    assert catalog["inbox"].prices["monthly"] == Decimal("20.2500")


def test_alpenblick_in_austria_pays_euro_list_prices():
    catalog = _catalog("Alpenblick Software GmbH")

    assert catalog["enterprise"].currency == "EUR"
    assert catalog["enterprise"].prices["monthly"] == Decimal("165.0000")


def test_essentials_may_buy_the_storage_add_ons_but_not_analytics():
    catalog = _catalog("Bäckerei Müller GmbH")

    may_buy = {code for code, item in catalog.items() if item.may_buy}

    assert may_buy == {"essentials", "data-storage", "file-storage", "inbox", "dialer", "identity-pack"}
    assert not catalog["analytics"].may_buy  # Professional and higher
    assert not catalog["professional"].may_buy  # an upgrade is a request to the account executive


def test_enterprise_may_buy_every_add_on_and_its_own_edition():
    catalog = _catalog("Alpenblick Software GmbH")

    may_buy = {code for code, item in catalog.items() if item.may_buy}

    assert may_buy == {"enterprise", "data-storage", "file-storage", "inbox", "dialer", "analytics", "identity-pack"}


def test_every_product_has_a_price_for_every_frequency_in_every_book():
    assert PriceBook.objects.count() == 4
    for book in PriceBook.objects.all():
        for product in Product.objects.all():
            frequencies = set(
                PriceBookEntry.objects.filter(price_book=book, product=product).values_list(
                    "billing_frequency", flat=True
                )
            )
            assert frequencies == {"monthly", "quarterly", "annual"}, (book.name, product.code)


def test_quarterly_is_three_and_annual_twelve_months():
    for entry in PriceBookEntry.objects.filter(billing_frequency="monthly"):
        others = dict(
            PriceBookEntry.objects.filter(price_book=entry.price_book, product=entry.product).values_list(
                "billing_frequency", "unit_price"
            )
        )
        assert others["quarterly"] == entry.unit_price * 3
        assert others["annual"] == entry.unit_price * 12


def test_nonprofit_prices_are_25_to_75_percent_below_commercial():
    for currency in ("EUR", "CHF"):
        commercial = dict(
            PriceBookEntry.objects.filter(
                price_book__segment="commercial", price_book__currency=currency, billing_frequency="monthly"
            ).values_list("product__code", "unit_price")
        )
        nonprofit = dict(
            PriceBookEntry.objects.filter(
                price_book__segment="nonprofit", price_book__currency=currency, billing_frequency="monthly"
            ).values_list("product__code", "unit_price")
        )
        for code, price in commercial.items():
            discount = 1 - nonprofit[code] / price
            assert Decimal("0.25") <= discount <= Decimal("0.75"), (currency, code, discount)


def test_swiss_francs_are_a_little_above_euros():
    eur = dict(
        PriceBookEntry.objects.filter(
            price_book__segment="commercial", price_book__currency="EUR", billing_frequency="monthly"
        ).values_list("product__code", "unit_price")
    )
    chf = dict(
        PriceBookEntry.objects.filter(
            price_book__segment="commercial", price_book__currency="CHF", billing_frequency="monthly"
        ).values_list("product__code", "unit_price")
    )
    assert all(eur[code] < chf[code] <= eur[code] * Decimal("1.15") for code in eur)


def test_products_carry_names_units_and_license_grants():
    identity_pack = Product.objects.get(code="identity-pack")
    unlimited = Product.objects.get(code="unlimited")
    data_storage = Product.objects.get(code="data-storage")

    assert (
        identity_pack.kind,
        identity_pack.unit,
        identity_pack.grants_license_type,
        identity_pack.seats_per_unit,
    ) == (
        "license",
        "pack_10",
        "identity",
        10,
    )
    assert (unlimited.kind, unlimited.edition, unlimited.grants_license_type, unlimited.seats_per_unit) == (
        "edition",
        "unlimited",
        "full",
        1,
    )
    assert (data_storage.name_de, data_storage.name_en, data_storage.unit) == (
        "Datenspeicher (10 GB)",
        "Data Storage (10 GB)",
        "10gb",
    )
    assert all(p.description_de and p.description_en for p in Product.objects.all())
