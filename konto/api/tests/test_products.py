"""GET /products: the catalog with this org's prices, money as strings."""

from __future__ import annotations

from decimal import Decimal

import pytest

from konto.accounts.models import Org, User
from konto.accounts.testing import make_billing_user, make_org
from konto.api.schemas import decimal_string
from konto.api.tests.conftest import ApiClient, create_token
from konto.catalog.models import PriceBook, PriceBookEntry, Product


@pytest.fixture
def catalog(db: None) -> None:
    essentials = Product.objects.create(
        code="essentials",
        name_de="Essentials",
        name_en="Essentials",
        description_de="Das CRM für kleine Teams.",
        description_en="The CRM for small teams.",
        kind=Product.Kind.EDITION,
        edition="essentials",
        unit=Product.Unit.USER,
        allowed_editions=["essentials"],
        grants_license_type="full",
        seats_per_unit=1,
        sort_order=1,
    )
    storage = Product.objects.create(
        code="data_storage",
        name_de="Datenspeicher",
        name_en="Data Storage",
        kind=Product.Kind.ADD_ON,
        unit=Product.Unit.STORAGE_10GB,
        allowed_editions=["professional", "enterprise", "unlimited"],
        sort_order=2,
    )
    retired = Product.objects.create(
        code="fax", name_de="Fax", name_en="Fax", kind=Product.Kind.ADD_ON, unit=Product.Unit.INBOX, is_active=False
    )
    eur = PriceBook.objects.create(name="Commercial EUR", segment="commercial", currency="EUR")
    chf = PriceBook.objects.create(name="Commercial CHF", segment="commercial", currency="CHF")
    nonprofit = PriceBook.objects.create(name="Nonprofit EUR", segment="nonprofit", currency="EUR")
    PriceBookEntry.objects.create(
        price_book=eur, product=essentials, billing_frequency="annual", unit_price=Decimal("270.0000")
    )
    PriceBookEntry.objects.create(
        price_book=eur, product=essentials, billing_frequency="monthly", unit_price=Decimal("25.0000")
    )
    PriceBookEntry.objects.create(
        price_book=eur, product=storage, billing_frequency="monthly", unit_price=Decimal("12.3450")
    )
    PriceBookEntry.objects.create(
        price_book=eur, product=retired, billing_frequency="monthly", unit_price=Decimal("1.0000")
    )
    PriceBookEntry.objects.create(
        price_book=chf, product=essentials, billing_frequency="monthly", unit_price=Decimal("24.5000")
    )
    PriceBookEntry.objects.create(
        price_book=nonprofit, product=essentials, billing_frequency="monthly", unit_price=Decimal("0.0000")
    )


def test_products_list_the_catalog_with_the_orgs_prices(catalog: None, billing_api: ApiClient) -> None:
    # when
    response = billing_api.get("/products")
    # then
    assert response.status_code == 200
    assert response.json() == {
        "items": [
            {
                "code": "essentials",
                "name": "Essentials",
                "description": "The CRM for small teams.",
                "kind": "edition",
                "unit": "user",
                "edition": "essentials",
                "may_buy": True,
                "prices": [
                    {"billing_frequency": "monthly", "unit_price": "25.00", "currency": "EUR"},
                    {"billing_frequency": "annual", "unit_price": "270.00", "currency": "EUR"},
                ],
            },
            {
                "code": "data_storage",
                "name": "Data Storage",
                "description": None,
                "kind": "add_on",
                "unit": "10gb",
                "edition": None,
                "may_buy": False,
                "prices": [{"billing_frequency": "monthly", "unit_price": "12.345", "currency": "EUR"}],
            },
        ]
    }


def test_product_names_follow_accept_language(catalog: None, billing_api: ApiClient) -> None:
    # when
    response = billing_api.get("/products", language="de")
    # then
    items = response.json()["items"]
    assert [(item["name"], item["description"]) for item in items] == [
        ("Essentials", "Das CRM für kleine Teams."),
        ("Datenspeicher", None),
    ]


def test_a_swiss_org_sees_chf_prices(catalog: None) -> None:
    # given
    swiss = make_org(legal_name="Bergbahn AG", country="CH", city="Zürich", postal_code="8001")
    api = ApiClient(create_token(make_billing_user(swiss, "kasse@bergbahn.example")))
    # when
    items = api.get("/products").json()["items"]
    # then
    assert items[0]["prices"] == [{"billing_frequency": "monthly", "unit_price": "24.50", "currency": "CHF"}]
    assert items[1]["prices"] == []


def test_a_nonprofit_org_sees_the_nonprofit_price_book(catalog: None, org: Org, billing_user: User) -> None:
    # given
    Org.objects.filter(pk=org.pk).update(segment="nonprofit")
    api = ApiClient(create_token(billing_user))
    # when
    items = api.get("/products").json()["items"]
    # then
    assert items[0]["prices"] == [{"billing_frequency": "monthly", "unit_price": "0.00", "currency": "EUR"}]


def test_a_professional_org_may_buy_the_add_on(catalog: None, org: Org, billing_user: User) -> None:
    # given
    Org.objects.filter(pk=org.pk).update(edition="professional")
    api = ApiClient(create_token(billing_user))
    # when
    items = api.get("/products").json()["items"]
    # then
    assert [(item["code"], item["may_buy"]) for item in items] == [("essentials", False), ("data_storage", True)]


def test_empty_catalog_is_an_empty_list(billing_api: ApiClient) -> None:
    # when
    response = billing_api.get("/products")
    # then
    assert response.json() == {"items": []}


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        ("25.0000", "25.00"),
        ("25", "25.00"),
        ("0", "0.00"),
        ("0.0001", "0.0001"),
        ("12.3450", "12.345"),
        ("12.3400", "12.34"),
        ("12.3000", "12.30"),
        ("1234567.8912", "1234567.8912"),
        ("1E+3", "1000.00"),
        ("9.99995", "10.00"),
        ("0.00005", "0.0001"),
    ],
)
def test_unit_prices_are_strings_with_2_to_4_decimals(amount: str, text: str) -> None:
    assert decimal_string(Decimal(amount)) == text
