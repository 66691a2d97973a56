"""Contracts, orders and charges in the back office: visible to the roles that need them, never editable."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from konto.accounts.testing import make_admin, make_org
from konto.catalog.models import Product
from konto.contracts.models import Contract
from konto.contracts.services.orders import place_order
from konto.contracts.services.pricing import OrderItem
from konto.contracts.tests.conftest import TODAY, actor_of, add_contract, build_catalog

pytestmark = pytest.mark.django_db


@pytest.fixture
def contract(catalog) -> Contract:
    org = make_org(legal_name="Bäckerei Test GmbH", full_seats=0)
    contract = add_contract(
        org, catalog, start=date(2026, 6, 1), end=date(2027, 6, 1), frequency="monthly", lines=[("essentials", 5)]
    )
    buyer = make_admin(org, "admin@baeckerei-test.example")
    place_order(
        org=org,
        actor=actor_of(buyer),
        contract=contract,
        items=[OrderItem("data-storage", 1)],
        idempotency_key="k-1",
        po_number="PO-77",
        today=TODAY,
    )
    return contract


@pytest.fixture
def catalog(db: None) -> dict[str, Product]:
    return build_catalog()


def test_billing_ops_sees_contracts_with_lines_orders_and_charges(client, billing_ops, contract):
    client.force_login(billing_ops)

    listing = client.get("/backoffice/contracts/contract/")
    detail = client.get(f"/backoffice/contracts/contract/{contract.pk}/change/")

    assert listing.status_code == 200
    assert contract.number in listing.content.decode()
    assert detail.status_code == 200
    page = detail.content.decode()
    assert "Bäckerei Test GmbH" in page
    assert page.count("125.00") >= 7  # data-storage charges of full months
    assert "3.33" not in page
    assert "16.67" in page  # the prorated first charge of the data storage line
    order = contract.orders.get()
    assert client.get(f"/backoffice/contracts/order/{order.pk}/change/").status_code == 200
    assert client.get("/backoffice/contracts/charge/").status_code == 200


@pytest.mark.parametrize(
    "query", ["?q=B%C3%A4ckerei", "?status__exact=active", "?billing_frequency__exact=monthly", "?q=V-2026-001"]
)
def test_contract_list_searches_and_filters(client, billing_ops, contract, query):
    client.force_login(billing_ops)

    response = client.get(f"/backoffice/contracts/contract/{query}")

    assert response.status_code == 200
    assert contract.number in response.content.decode()


def test_contract_list_filters_out_what_does_not_match(client, billing_ops, contract):
    client.force_login(billing_ops)

    response = client.get("/backoffice/contracts/contract/?status__exact=cancelled")

    assert response.status_code == 200
    assert contract.number not in response.content.decode()


@pytest.mark.parametrize("model", ["contract", "order", "charge"])
def test_nobody_adds_changes_or_deletes_contracts_in_the_back_office(client, billing_ops, contract, model):
    client.force_login(billing_ops)
    obj = {"contract": contract, "order": contract.orders.get(), "charge": contract.charges.first()}[model]
    before = type(obj).objects.count()

    assert client.get(f"/backoffice/contracts/{model}/add/").status_code == 403
    assert client.post(f"/backoffice/contracts/{model}/{obj.pk}/change/", {"status": "cancelled"}).status_code == 403
    assert client.post(f"/backoffice/contracts/{model}/{obj.pk}/delete/", {"post": "yes"}).status_code == 403
    assert type(obj).objects.count() == before
    contract.refresh_from_db()
    assert contract.status == "active"


def test_account_executives_see_contracts_and_orders_but_not_charges(client, account_executive, contract):
    client.force_login(account_executive)

    assert client.get("/backoffice/contracts/contract/").status_code == 200
    assert client.get("/backoffice/contracts/order/").status_code == 200
    assert client.get("/backoffice/contracts/charge/").status_code == 403


def test_support_agents_see_contracts(client, support_agent, contract):
    client.force_login(support_agent)

    assert client.get(f"/backoffice/contracts/contract/{contract.pk}/change/").status_code == 200


def test_contract_detail_costs_the_same_queries_for_one_charge_or_many(client, billing_ops, catalog):
    client.force_login(billing_ops)
    org = make_org(legal_name="Kunde GmbH", full_seats=0)
    annual = add_contract(
        org, catalog, start=date(2026, 6, 1), end=date(2027, 6, 1), frequency="annual", lines=[("essentials", 1)]
    )
    monthly = add_contract(
        org,
        catalog,
        start=date(2027, 6, 1),
        end=date(2028, 6, 1),
        frequency="monthly",
        lines=[("essentials", 1), ("inbox", 2), ("dialer", 3)],
    )

    client.get(f"/backoffice/contracts/contract/{annual.pk}/change/")  # warm the per-process caches
    counts = []
    for contract in (annual, monthly):
        with CaptureQueriesContext(connection) as context:
            assert client.get(f"/backoffice/contracts/contract/{contract.pk}/change/").status_code == 200
        counts.append(len(context.captured_queries))

    assert counts[0] == counts[1], counts
