"""Back-office lists cost the same number of queries for 1 row as for 20."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from konto.accounts.models import Org
from konto.accounts.services.tokens import create_api_token
from konto.accounts.testing import make_admin, make_billing_user, make_org, make_user
from konto.catalog.models import PriceBook, PriceBookEntry, Product
from konto.core.audit import Actor

pytestmark = pytest.mark.django_db


def _add_orgs(count: int, account_executive) -> None:
    start = Org.objects.count()
    for number in range(start, start + count):
        org = make_org(legal_name=f"Kunde {number} GmbH", account_executive=account_executive)
        admin = make_admin(org, f"admin{number}@kunde.example")
        make_user(org, f"user{number}@kunde.example")
        make_billing_user(org, f"ap{number}@kunde.example")
        create_api_token(org=org, user=admin, actor=Actor(user_id=admin.pk, email=admin.email), name="ERP")


def _add_products(count: int) -> None:
    book, _created = PriceBook.objects.get_or_create(segment="commercial", currency="EUR", defaults={"name": "EUR"})
    offset = Product.objects.count()
    for number in range(offset, offset + count):
        product = Product.objects.create(
            code=f"addon-{number}", name_de=f"Zusatz {number}", name_en=f"Add-on {number}", kind="add_on", unit="user"
        )
        for frequency in ("monthly", "quarterly", "annual"):
            PriceBookEntry.objects.create(
                price_book=book, product=product, billing_frequency=frequency, unit_price=Decimal("9.5")
            )


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as context:
        response = client.get(url)
    assert response.status_code == 200
    return len(context.captured_queries)


@pytest.mark.parametrize(
    "url",
    [
        "/backoffice/accounts/org/",
        "/backoffice/accounts/user/",
        "/backoffice/accounts/apitoken/",
        "/backoffice/accounts/invitation/",
        "/backoffice/core/auditevent/",
        "/backoffice/accounts/profile/",
        "/backoffice/accounts/permissionset/",
    ],
)
def test_account_lists_have_constant_queries(client, superuser, account_executive, url):
    client.force_login(superuser)
    _add_orgs(1, account_executive)
    client.get(url)  # warm caches such as content types
    with_one = _queries(client, url)

    _add_orgs(19, account_executive)
    with_twenty = _queries(client, url)

    assert with_twenty == with_one


@pytest.mark.parametrize(
    "url",
    ["/backoffice/catalog/product/", "/backoffice/catalog/pricebookentry/", "/backoffice/catalog/pricebook/"],
)
def test_catalog_lists_have_constant_queries(client, billing_ops, url):
    client.force_login(billing_ops)
    _add_products(1)
    client.get(url)
    with_one = _queries(client, url)

    _add_products(19)
    with_twenty = _queries(client, url)

    assert with_twenty == with_one


def test_price_book_page_has_constant_queries(client, billing_ops):
    client.force_login(billing_ops)
    _add_products(1)
    url = f"/backoffice/catalog/pricebook/{PriceBook.objects.get().pk}/change/"
    client.get(url)
    with_one = _queries(client, url)

    _add_products(19)
    with_twenty = _queries(client, url)

    assert with_twenty == with_one
