"""GET /contracts and GET /contracts/{id}: terms, lines and billing periods, scoped to the token's org."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from konto.accounts.models import Org, User, Vendor
from konto.accounts.testing import make_user
from konto.api.tests.conftest import ApiClient, create_token, german, problem
from konto.catalog.models import PriceBook, PriceBookEntry, Product
from konto.contracts.models import Contract
from konto.contracts.services.contracts import InitialLine, create_contract
from konto.contracts.services.orders import place_order
from konto.contracts.services.pricing import OrderItem
from konto.core.audit import Actor

SYSTEM = Actor.system("test")
TERM_START = date(2026, 1, 15)
TERM_END = date(2027, 1, 15)


@pytest.fixture
def vendor(db: None) -> Vendor:
    return Vendor.objects.create(
        legal_name="Konto Software GmbH",
        street="Softwareweg 1",
        postal_code="10115",
        city="Berlin",
        country="DE",
        vat_id="DE123456788",
    )


@pytest.fixture
def catalog(db: None) -> dict[str, Product]:
    """Editions and add-ons with commercial EUR prices per month (and one product without a price)."""
    products = {
        "essentials": Product.objects.create(
            code="essentials",
            name_de="Essentials",
            name_en="Essentials",
            kind=Product.Kind.EDITION,
            edition="essentials",
            unit=Product.Unit.USER,
            allowed_editions=["essentials"],
            grants_license_type="full",
            seats_per_unit=1,
            sort_order=1,
        ),
        "professional": Product.objects.create(
            code="professional",
            name_de="Professional",
            name_en="Professional",
            kind=Product.Kind.EDITION,
            edition="professional",
            unit=Product.Unit.USER,
            allowed_editions=["professional"],
            grants_license_type="full",
            seats_per_unit=1,
            sort_order=2,
        ),
        "file_storage": Product.objects.create(
            code="file_storage",
            name_de="Dateispeicher",
            name_en="File Storage",
            kind=Product.Kind.ADD_ON,
            unit=Product.Unit.STORAGE_10GB,
            allowed_editions=["essentials", "professional", "enterprise", "unlimited"],
            sort_order=3,
        ),
        "data_storage": Product.objects.create(
            code="data_storage",
            name_de="Datenspeicher",
            name_en="Data Storage",
            kind=Product.Kind.ADD_ON,
            unit=Product.Unit.STORAGE_10GB,
            allowed_editions=["professional", "enterprise", "unlimited"],
            sort_order=4,
        ),
        "inbox": Product.objects.create(
            code="inbox",
            name_de="Posteingang",
            name_en="Inbox",
            kind=Product.Kind.ADD_ON,
            unit=Product.Unit.INBOX,
            allowed_editions=["essentials", "professional", "enterprise", "unlimited"],
            sort_order=5,
        ),
    }
    book = PriceBook.objects.create(name="Commercial EUR", segment="commercial", currency="EUR")
    prices = {"essentials": "25.0000", "professional": "75.0000", "file_storage": "12.3450", "data_storage": "30.0000"}
    for code, price in prices.items():
        PriceBookEntry.objects.create(
            price_book=book, product=products[code], billing_frequency="monthly", unit_price=Decimal(price)
        )
    PriceBookEntry.objects.create(
        price_book=book, product=products["essentials"], billing_frequency="annual", unit_price=Decimal("270.0000")
    )
    return products


def make_contract(org: Org, catalog: dict[str, Product], *, seats: int = 3, **options: Any) -> Contract:
    """An Essentials contract, monthly by card, from 2026-01-15 to 2027-01-15 (exclusive)."""
    options.setdefault("start_date", TERM_START)
    options.setdefault("end_date", TERM_END)
    options.setdefault("billing_frequency", "monthly")
    options.setdefault("payment_method_kind", "card")
    return create_contract(
        org=org, actor=SYSTEM, lines=[InitialLine(product=catalog["essentials"], quantity=seats)], **options
    )


@pytest.fixture
def contract(org: Org, vendor: Vendor, catalog: dict[str, Product]) -> Contract:
    return make_contract(org, catalog, po_number="PO-4711", buyer_reference="04011000-1234512345-06")


def summary_json(contract: Contract, **changes: Any) -> dict[str, Any]:
    body = {
        "id": contract.public_id,
        "number": "V-2026-001",
        "start_date": "2026-01-15",
        "end_date": "2027-01-15",
        "billing_frequency": "monthly",
        "currency": "EUR",
        "payment_terms_days": 14,
        "payment_method_kind": "card",
        "auto_renew": True,
        "notice_period_days": 30,
        "notice_deadline": "2026-12-16",
        "po_number": "PO-4711",
        "buyer_reference": "04011000-1234512345-06",
        "status": "active",
        "current_billing_period": {"start": "2026-02-15", "end": "2026-03-15"},
        "next_billing_date": "2026-03-15",
    }
    body.update(changes)
    return body


def line_json(contract: Contract, index: int = 0, **changes: Any) -> dict[str, Any]:
    line = list(contract.lines.order_by("id"))[index]
    body = {
        "id": line.public_id,
        "product": "essentials",
        "name": "Essentials",
        "quantity": 3,
        "unit_price": "25.00",
        "period_amount": "75.00",
        "start_date": "2026-01-15",
        "end_date": "2027-01-15",
        "order": None,
    }
    body.update(changes)
    return body


# ---------------------------------------------------------------- GET /contracts/{id}


def test_contract_shows_its_term_current_period_and_lines(
    org: Org, admin: User, contract: Contract, billing_api: ApiClient, catalog: dict[str, Product]
) -> None:
    # given: 2 File Storage units bought today (2026-03-02) on top of the 3 initial Essentials seats
    placed = place_order(
        org=org,
        actor=Actor(user_id=admin.pk, email=admin.email),
        contract=contract,
        items=[OrderItem(product="file_storage", quantity=2)],
        idempotency_key="order-1",
    )
    # when
    response = billing_api.get(f"/contracts/{contract.public_id}")
    # then
    assert response.status_code == 200
    assert response.json() == {
        **summary_json(contract),
        "lines": [
            line_json(contract, 0),
            line_json(
                contract,
                1,
                product="file_storage",
                name="File Storage",
                quantity=2,
                unit_price="12.345",
                period_amount="24.69",
                start_date="2026-03-02",
                order=placed.order.public_id,
            ),
        ],
    }


def test_contract_line_names_follow_the_request_language(contract: Contract, billing_api: ApiClient) -> None:
    # given: a product whose German name differs
    Product.objects.filter(code="essentials").update(name_de="Essentials-Lizenz")
    # when
    body = billing_api.get(f"/contracts/{contract.public_id}", language="de").json()
    # then
    assert [line["name"] for line in body["lines"]] == ["Essentials-Lizenz"]


def test_contract_before_its_start_bills_first_on_its_start(
    org: Org, vendor: Vendor, catalog: dict[str, Product], billing_api: ApiClient
) -> None:
    # given: a contract that starts next month
    contract = make_contract(org, catalog, start_date=date(2026, 4, 1), end_date=date(2027, 4, 1))
    # when
    body = billing_api.get(f"/contracts/{contract.public_id}").json()
    # then
    assert body["current_billing_period"] is None
    assert body["next_billing_date"] == "2026-04-01"


def test_contract_in_its_last_period_has_no_next_billing_date(
    contract: Contract, billing_api: ApiClient, clock: Any
) -> None:
    # given: the last monthly period of the term, 2026-12-15 to 2027-01-15
    clock.move_to("2026-12-20T09:00:00Z", tick=False)
    # when
    body = billing_api.get(f"/contracts/{contract.public_id}").json()
    # then
    assert body["current_billing_period"] == {"start": "2026-12-15", "end": "2027-01-15"}
    assert body["next_billing_date"] is None


def test_contract_after_its_end_has_no_current_period(contract: Contract, billing_api: ApiClient, clock: Any) -> None:
    # given: the day the term ends (end is exclusive)
    clock.move_to("2027-01-15T09:00:00Z", tick=False)
    # when
    body = billing_api.get(f"/contracts/{contract.public_id}").json()
    # then
    assert body["current_billing_period"] is None
    assert body["next_billing_date"] is None


def test_another_orgs_contract_is_not_found_exactly_like_a_missing_one(
    contract: Contract, other_admin: User, catalog: dict[str, Product]
) -> None:
    # given: the other org's admin asks for this org's contract
    other_api = ApiClient(create_token(other_admin))
    # when
    foreign = other_api.get(f"/contracts/{contract.public_id}")
    missing = other_api.get("/contracts/ctr_doesnotexist00000")
    # then
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json() == problem(404, "not_found", "Contract not found.")
    assert foreign["Content-Type"] == "application/problem+json; charset=utf-8"


@pytest.mark.parametrize("contract_id", ["ctr_%00abc", "CTR_ABC", "' OR 1=1 --", "ctr_" + "a" * 300, "%E2%9C%93"])
def test_malformed_contract_id_is_not_found(billing_api: ApiClient, contract: Contract, contract_id: str) -> None:
    # when
    response = billing_api.get(f"/contracts/{contract_id}")
    # then
    assert response.status_code == 404
    assert response.json() == problem(404, "not_found", "Contract not found.")


def test_not_found_is_translated(billing_api: ApiClient) -> None:
    # when
    response = billing_api.get("/contracts/ctr_doesnotexist00000", language="de")
    # then
    assert response.json()["detail"] == german("Contract not found.")


# ---------------------------------------------------------------- GET /contracts


def test_list_contracts_is_newest_first_without_lines(
    org: Org, vendor: Vendor, catalog: dict[str, Product], billing_api: ApiClient, clock: Any
) -> None:
    # given: an expired contract, then (a day later) the current one
    old = make_contract(org, catalog, start_date=date(2025, 1, 15), end_date=date(2026, 1, 15))
    Contract.objects.filter(pk=old.pk).update(status=Contract.Status.EXPIRED)
    clock.shift(timedelta(days=1))
    current = make_contract(org, catalog)
    # when
    response = billing_api.get("/contracts")
    # then
    assert response.status_code == 200
    assert response.json() == {
        "items": [
            summary_json(
                current,
                number="V-2026-002",
                po_number=None,
                buyer_reference=None,
                current_billing_period={"start": "2026-02-15", "end": "2026-03-15"},
                next_billing_date="2026-03-15",
            ),
            summary_json(
                old,
                number="V-2025-001",
                start_date="2025-01-15",
                end_date="2026-01-15",
                notice_deadline="2025-12-16",
                po_number=None,
                buyer_reference=None,
                status="expired",
                current_billing_period=None,
                next_billing_date=None,
            ),
        ],
        "next_cursor": None,
    }


def test_contract_pages_walk_every_contract_once(
    org: Org, vendor: Vendor, catalog: dict[str, Product], billing_api: ApiClient, clock: Any
) -> None:
    # given: three contracts created a minute apart
    created = []
    for year in (2024, 2025, 2026):
        clock.shift(timedelta(minutes=1))
        created.append(make_contract(org, catalog, start_date=date(year, 1, 15), end_date=date(year + 1, 1, 15)))
    # when
    first = billing_api.get("/contracts?limit=2").json()
    second = billing_api.get(f"/contracts?limit=2&cursor={first['next_cursor']}").json()
    # then
    assert [item["id"] for item in first["items"]] == [created[2].public_id, created[1].public_id]
    assert [item["id"] for item in second["items"]] == [created[0].public_id]
    assert second["next_cursor"] is None


def test_list_contracts_shows_only_the_tokens_org(
    contract: Contract, other_admin: User, other_org: Org, catalog: dict[str, Product], billing_api: ApiClient
) -> None:
    # given: the other org has a contract of its own
    other = make_contract(other_org, catalog)
    # when
    mine = billing_api.get("/contracts").json()
    theirs = ApiClient(create_token(other_admin)).get("/contracts").json()
    # then
    assert [item["id"] for item in mine["items"]] == [contract.public_id]
    assert [item["id"] for item in theirs["items"]] == [other.public_id]


def test_an_org_without_contracts_lists_none(billing_api: ApiClient) -> None:
    # when
    response = billing_api.get("/contracts")
    # then
    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("limit=0", "limit", "Enter a number of at least 1."),
        ("limit=abc", "limit", "Enter a whole number."),
        ("cursor=abc", "cursor", "This cursor is not valid. Pass the next_cursor of the previous page unchanged."),
    ],
)
def test_bad_paging_is_a_422(billing_api: ApiClient, query: str, field: str, message: str) -> None:
    # when
    response = billing_api.get(f"/contracts?{query}")
    # then
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_input"
    assert body["errors"] == [{"field": field, "message": message}]


# ---------------------------------------------------------------- access


@pytest.mark.parametrize("path", ["/contracts", "/contracts/ctr_doesnotexist00000"])
def test_contracts_need_a_billing_permission(standard_api: ApiClient, path: str) -> None:
    # when
    response = standard_api.get(path)
    # then
    assert response.status_code == 403
    assert response.json() == problem(
        403,
        "permission_denied",
        "This needs the permission “Manage Billing” (manage_billing), which your user does not have. "
        "Ask a user who manages your org's users to grant it.",
        missing_permission="manage_billing",
    )


def test_any_billing_permission_may_read_contracts(org: Org, contract: Contract) -> None:
    # given: a user who may only view invoices
    viewer = make_user(
        org,
        "viewer@test.example",
        profile="identity_user",
        license_type="identity",
        permission_sets=("invoice_viewer",),
    )
    api = ApiClient(create_token(viewer))
    # when
    listed = api.get("/contracts")
    detail = api.get(f"/contracts/{contract.public_id}")
    # then
    assert listed.status_code == detail.status_code == 200
    assert [item["id"] for item in listed.json()["items"]] == [contract.public_id]


def test_contracts_need_a_token(anonymous_api: ApiClient) -> None:
    # when
    response = anonymous_api.get("/contracts")
    # then
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
