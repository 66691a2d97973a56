"""Catalog editing in the back office: who may change prices and products, and what is refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from konto.backoffice.tests.forms import admin_form_data
from konto.catalog.models import PriceBook, PriceBookEntry, Product

pytestmark = pytest.mark.django_db


@pytest.fixture
def product(db: None) -> Product:
    return Product.objects.create(
        code="data-storage",
        name_de="Datenspeicher (10 GB)",
        name_en="Data Storage (10 GB)",
        kind=Product.Kind.ADD_ON,
        unit=Product.Unit.STORAGE_10GB,
        allowed_editions=["essentials"],
    )


@pytest.fixture
def entry(product: Product) -> PriceBookEntry:
    book = PriceBook.objects.create(name="Commercial EUR", segment="commercial", currency="EUR")
    return PriceBookEntry.objects.create(
        price_book=book, product=product, billing_frequency="monthly", unit_price=Decimal("125.0000")
    )


def _entry_url(entry: PriceBookEntry) -> str:
    return f"/backoffice/catalog/pricebookentry/{entry.pk}/change/"


def test_billing_ops_changes_a_price(client, billing_ops, entry):
    client.force_login(billing_ops)
    data = admin_form_data(client, _entry_url(entry))
    data["unit_price"] = "129.9900"

    response = client.post(_entry_url(entry), data)

    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.unit_price == Decimal("129.9900")


def test_support_agent_sees_but_cannot_change_a_price(client, billing_ops, support_agent, entry):
    client.force_login(billing_ops)
    data = admin_form_data(client, _entry_url(entry))
    data["unit_price"] = "1.0000"
    client.force_login(support_agent)

    assert client.get(_entry_url(entry)).status_code == 200
    response = client.post(_entry_url(entry), data)

    assert response.status_code == 403
    entry.refresh_from_db()
    assert entry.unit_price == Decimal("125.0000")


@pytest.mark.parametrize(
    ("price", "message"),
    [
        ("-1.00", "A price cannot be negative."),
        ("1.23456", "Use at most 4 decimal places."),
        ("zwölf", "Enter a number."),
    ],
)
def test_bad_price_is_refused_and_nothing_changes(client, billing_ops, entry, price, message):
    client.force_login(billing_ops)
    data = admin_form_data(client, _entry_url(entry))
    data["unit_price"] = price

    response = client.post(_entry_url(entry), data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["unit_price"] == [message]
    entry.refresh_from_db()
    assert entry.unit_price == Decimal("125.0000")


def test_price_list_edits_go_through_the_same_rules(client, billing_ops, entry):
    client.force_login(billing_ops)
    base = {
        "form-TOTAL_FORMS": "1",
        "form-INITIAL_FORMS": "1",
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "1000",
        "form-0-id": str(entry.pk),
        "_save": "Save",
    }

    refused = client.post("/backoffice/catalog/pricebookentry/", {**base, "form-0-unit_price": "-5"})
    entry.refresh_from_db()
    assert refused.status_code == 200
    assert entry.unit_price == Decimal("125.0000")

    accepted = client.post("/backoffice/catalog/pricebookentry/", {**base, "form-0-unit_price": "99.5"})
    entry.refresh_from_db()
    assert accepted.status_code == 302
    assert entry.unit_price == Decimal("99.5000")


def test_price_book_page_lists_its_prices(client, billing_ops, entry):
    client.force_login(billing_ops)

    response = client.get(f"/backoffice/catalog/pricebook/{entry.price_book.pk}/change/")

    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    assert [form.instance.pk for form in formset.forms] == [entry.pk]


def test_billing_ops_adds_a_product_with_allowed_editions_as_checkboxes(client, billing_ops):
    client.force_login(billing_ops)
    data = admin_form_data(client, "/backoffice/catalog/product/add/")
    data.update(
        code="dialer",
        name_de="Dialer",
        name_en="Dialer",
        kind="add_on",
        unit="user",
        tax_category="standard",
        allowed_editions=["unlimited", "essentials"],
        grants_license_type="",
        seats_per_unit="0",
        sort_order="140",
        is_active="on",
    )

    response = client.post("/backoffice/catalog/product/add/", data)

    assert response.status_code == 302
    product = Product.objects.get(code="dialer")
    assert product.allowed_editions == ["essentials", "unlimited"]


def test_edition_product_without_edition_is_refused(client, billing_ops):
    client.force_login(billing_ops)
    data = admin_form_data(client, "/backoffice/catalog/product/add/")
    data.update(
        code="platinum",
        name_de="Platin",
        name_en="Platinum",
        kind="edition",
        edition="",
        unit="user",
        tax_category="standard",
        allowed_editions=["essentials", "gold"],
        grants_license_type="full",
        seats_per_unit="1",
        sort_order="50",
    )

    response = client.post("/backoffice/catalog/product/add/", data)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["allowed_editions"] == ["Select a valid choice. gold is not one of the available choices."]
    data["allowed_editions"] = ["essentials"]
    response = client.post("/backoffice/catalog/product/add/", data)
    assert response.context["adminform"].form.errors["edition"] == ["An edition product needs its edition."]
    assert not Product.objects.filter(code="platinum").exists()


def test_product_code_cannot_change_once_it_exists(client, billing_ops, product):
    client.force_login(billing_ops)
    url = f"/backoffice/catalog/product/{product.pk}/change/"
    data = admin_form_data(client, url)
    data["code"] = "renamed"
    data["name_en"] = "Data Storage Plus"

    response = client.post(url, data)

    assert response.status_code == 302
    product.refresh_from_db()
    assert (product.code, product.name_en) == ("data-storage", "Data Storage Plus")


def test_support_agent_cannot_add_products(client, support_agent):
    client.force_login(support_agent)

    assert client.get("/backoffice/catalog/product/add/").status_code == 403
