"""POST /orders/preview, POST /orders, GET /orders and GET /orders/{id}: buying more on a contract."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from konto.accounts.models import LicensePool, Org, User, Vendor
from konto.accounts.testing import make_user
from konto.api.tests.conftest import ApiClient, create_token, problem
from konto.api.tests.test_contracts import catalog, make_contract, vendor  # noqa: F401 - fixtures
from konto.catalog.models import PriceBookEntry, Product
from konto.contracts.models import Charge, Contract, ContractLine, Order, OrderLine
from konto.contracts.services.pricing import OrderItem, price_order
from konto.core.models import AuditEvent

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

ORDER = {"lines": [{"product": "essentials", "quantity": 2}, {"product": "file_storage", "quantity": 1}]}
STATUS_TITLES = {404: "Not found", 409: "Conflict", 422: "Invalid input"}


def post(api: ApiClient, path: str, body: Any, *, key: str | None = None, raw: str | None = None) -> Response:
    headers = api.headers(None, None)
    if key is not None:
        headers["Idempotency-Key"] = key
    data = raw if raw is not None else json.dumps(body)
    return api.client.post("/api/v1" + path, data=data, content_type="application/json", headers=headers)


def refusal(status: int, code: str, detail: str, errors: list[dict[str, str]] | None = None, **extra: Any) -> Any:
    """A problem whose code has no title of its own (its status's title)."""
    return problem(status, "invalid_input", detail, errors, **extra) | {
        "type": f"https://konto.dev/problems/{code}",
        "code": code,
        "title": STATUS_TITLES[status],
    }


def field_refusal(status: int, code: str, field: str, message: str, **extra: Any) -> Any:
    return refusal(status, code, message, [{"field": field, "message": message}], **extra)


def invalid(errors: dict[str, str]) -> Any:
    return problem(
        422,
        "invalid_input",
        "Please correct the marked fields.",
        [{"field": field, "message": message} for field, message in errors.items()],
    )


def counts() -> dict[str, int]:
    return {
        "orders": Order.objects.count(),
        "order_lines": OrderLine.objects.count(),
        "contract_lines": ContractLine.objects.count(),
        "charges": Charge.objects.count(),
        "audit_events": AuditEvent.objects.count(),
    }


@pytest.fixture
def contract(org: Org, vendor: Vendor, catalog: dict[str, Product]) -> Contract:  # noqa: F811 - fixtures
    """3 Essentials seats, monthly from 2026-01-15; today (2026-03-02) is in the period 02-15..03-15 (28 days)."""
    return make_contract(org, catalog)


@pytest.fixture
def unchanged(contract: Contract) -> Iterator[None]:
    """Asserts after the test that nothing was bought."""
    before = counts()
    yield
    assert counts() == before


@pytest.fixture
def viewer_api(org: Org) -> ApiClient:
    viewer = make_user(
        org,
        "viewer@test.example",
        profile="identity_user",
        license_type="identity",
        permission_sets=("invoice_viewer",),
    )
    return ApiClient(create_token(viewer))


def preview_json(contract: Contract, fingerprint: str) -> dict[str, Any]:
    """2 Essentials at 25.00 and 1 File Storage at 12.345, 13 of 28 days, 19 % VAT."""
    tax_19 = {"category": "S", "rate": "19.00"}
    return {
        "contract": contract.public_id,
        "ordered_on": "2026-03-02",
        "currency": "EUR",
        "lines": [
            {
                "product": "essentials",
                "quantity": 2,
                "unit_price": "25.00",
                "period_start": "2026-02-15",
                "period_end": "2026-03-15",
                "service_start": "2026-03-02",
                "service_end": "2026-03-15",
                "days_charged": 13,
                "days_in_period": 28,
                "prorated_net_amount": "23.21",  # 2 × 25.00 × 13 / 28 = 23.214…
                "next_period_net_amount": "50.00",
                "renewal_unit_price": "25.00",
                "renewal_net_amount": "50.00",
                "tax_category": "S",
                "tax_rate": "19.00",
            },
            {
                "product": "file_storage",
                "quantity": 1,
                "unit_price": "12.345",
                "period_start": "2026-02-15",
                "period_end": "2026-03-15",
                "service_start": "2026-03-02",
                "service_end": "2026-03-15",
                "days_charged": 13,
                "days_in_period": 28,
                "prorated_net_amount": "5.73",  # 12.345 × 13 / 28 = 5.731…
                "next_period_net_amount": "12.35",  # 12.345 half-up
                "renewal_unit_price": "12.345",
                "renewal_net_amount": "12.35",
                "tax_category": "S",
                "tax_rate": "19.00",
            },
        ],
        "today": {
            "net_amount": "28.94",
            "tax_amount": "5.50",  # 19 % of 28.94 = 5.4986
            "gross_amount": "34.44",
            "tax": [{**tax_19, "net_amount": "28.94", "tax_amount": "5.50"}],
        },
        "next_invoice_on": "2026-03-15",
        "next_invoice": {
            "net_amount": "62.35",
            "tax_amount": "11.85",  # 19 % of 62.35 = 11.8465
            "gross_amount": "74.20",
            "tax": [{**tax_19, "net_amount": "62.35", "tax_amount": "11.85"}],
        },
        "renewal_on": "2027-01-15",
        "renewal": {
            "net_amount": "62.35",
            "tax_amount": "11.85",
            "gross_amount": "74.20",
            "tax": [{**tax_19, "net_amount": "62.35", "tax_amount": "11.85"}],
        },
        "fingerprint": fingerprint,
    }


def order_json(order: Order, contract: Contract, **changes: Any) -> dict[str, Any]:
    line = {
        "period_start": "2026-02-15",
        "period_end": "2026-03-15",
        "days_charged": 13,
        "days_in_period": 28,
        "tax_category": "S",
        "tax_rate": "19.00",
    }
    body = {
        "id": order.public_id,
        "status": "fulfilled",
        "contract": contract.public_id,
        "po_number": "PO-2026-17",
        "currency": "EUR",
        "ordered_on": "2026-03-02",
        "totals": {
            "today_net_amount": "28.94",
            "today_tax_amount": "5.50",
            "today_gross_amount": "34.44",
            "next_invoice_net_amount": "62.35",
            "renewal_net_amount": "62.35",
        },
        "confirmed_at": "2026-03-02T09:00:00Z",
        "confirmed_by": "billing@test.example",
        "created_at": "2026-03-02T09:00:00Z",
        "lines": [
            {
                "product": "essentials",
                "name": "Essentials",
                "quantity": 2,
                "unit_price": "25.00",
                "prorated_net_amount": "23.21",
                **line,
            },
            {
                "product": "file_storage",
                "name": "File Storage",
                "quantity": 1,
                "unit_price": "12.345",
                "prorated_net_amount": "5.73",
                **line,
            },
        ],
        "preview": preview_json(contract, order.preview["fingerprint"]),
    }
    body.update(changes)
    return body


# ---------------------------------------------------------------- POST /orders/preview


def test_preview_prices_the_lines_for_today_the_next_invoice_and_the_renewal(
    org: Org, contract: Contract, billing_api: ApiClient, unchanged: None
) -> None:
    # when
    response = post(billing_api, "/orders/preview", {**ORDER, "contract": contract.public_id})
    # then
    assert response.status_code == 200
    expected = price_order(
        org=org,
        contract=contract,
        items=[OrderItem("essentials", 2), OrderItem("file_storage", 1)],
        today=contract.start_date + timedelta(days=46),  # 2026-03-02
    )
    assert len(expected.fingerprint) == 32
    assert response.json() == preview_json(contract, expected.fingerprint)


def test_preview_takes_the_only_active_contract_when_the_body_names_none(
    contract: Contract, billing_api: ApiClient
) -> None:
    # when
    named = post(billing_api, "/orders/preview", {**ORDER, "contract": contract.public_id})
    unnamed = post(billing_api, "/orders/preview", ORDER)
    # then
    assert unnamed.status_code == 200
    assert unnamed.json() == named.json()


def test_preview_accepts_a_po_number_so_the_same_body_serves_both_steps(
    contract: Contract, billing_api: ApiClient
) -> None:
    # when
    response = post(billing_api, "/orders/preview", {**ORDER, "po_number": "PO-2026-17", "preview_fingerprint": "x"})
    # then
    assert response.status_code == 200


def test_preview_is_on_the_day_the_request_is_made(contract: Contract, billing_api: ApiClient, clock: Any) -> None:
    # given: the first day of the next period
    clock.move_to("2026-03-15T09:00:00Z", tick=False)
    # when
    body = post(billing_api, "/orders/preview", {"lines": [{"product": "essentials", "quantity": 1}]}).json()
    # then: a full period, 31 days (03-15..04-15)
    line = body["lines"][0]
    assert (line["days_charged"], line["days_in_period"], line["prorated_net_amount"]) == (31, 31, "25.00")
    assert body["next_invoice_on"] == "2026-04-15"


# ---------------------------------------------------------------- POST /orders


def test_order_buys_the_lines_with_their_charges_and_seats(
    org: Org, contract: Contract, billing_api: ApiClient
) -> None:
    # given
    before = counts()
    # when
    response = post(billing_api, "/orders", {**ORDER, "po_number": "PO-2026-17"}, key="order-1")
    # then
    assert response.status_code == 201, response.json()
    order = Order.objects.get()
    assert response.json() == order_json(order, contract)
    assert response["Location"] == f"/api/v1/orders/{order.public_id}"
    # 2 lines from 2026-03-02 to 2027-01-15: 11 monthly periods each
    assert counts() == {
        "orders": before["orders"] + 1,
        "order_lines": before["order_lines"] + 2,
        "contract_lines": before["contract_lines"] + 2,
        "charges": before["charges"] + 22,
        "audit_events": before["audit_events"] + 1,
    }
    first_charges = Charge.objects.filter(line__order=order, period_start="2026-02-15").order_by("line__product__code")
    assert [(c.line.product.code, c.net_amount) for c in first_charges] == [
        ("essentials", Decimal("23.21")),
        ("file_storage", Decimal("5.73")),
    ]
    # 5 seats from make_org, 3 with the contract, 2 bought now
    assert LicensePool.objects.get(org=org, license_type="full").purchased_seats == 10


def test_order_with_the_previews_fingerprint_is_placed(contract: Contract, billing_api: ApiClient) -> None:
    # given
    fingerprint = post(billing_api, "/orders/preview", ORDER).json()["fingerprint"]
    # when
    response = post(billing_api, "/orders", {**ORDER, "preview_fingerprint": fingerprint}, key="order-1")
    # then
    assert response.status_code == 201
    assert response.json()["preview"]["fingerprint"] == fingerprint


def test_order_without_po_number_has_none(contract: Contract, billing_api: ApiClient) -> None:
    # when
    response = post(billing_api, "/orders", {**ORDER, "po_number": None}, key="order-1")
    # then
    assert response.status_code == 201
    assert response.json()["po_number"] is None


def test_order_up_to_the_essentials_limit_is_placed(contract: Contract, billing_api: ApiClient) -> None:
    # when: 3 bought + 7 = 10
    response = post(billing_api, "/orders", {"lines": [{"product": "essentials", "quantity": 7}]}, key="order-1")
    # then
    assert response.status_code == 201


# ---------------------------------------------------------------- idempotency


def test_the_same_key_and_body_answer_the_first_order_and_buy_nothing_more(
    contract: Contract, billing_api: ApiClient, clock: Any
) -> None:
    # given
    first = post(billing_api, "/orders", ORDER, key="order-1")
    before = counts()
    clock.shift(timedelta(minutes=5))
    # when
    again = post(billing_api, "/orders", ORDER, key="order-1")
    # then
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    assert counts() == before


def test_the_same_key_with_another_body_is_refused(contract: Contract, billing_api: ApiClient) -> None:
    # given
    post(billing_api, "/orders", ORDER, key="order-1")
    before = counts()
    # when
    response = post(billing_api, "/orders", {"lines": [{"product": "essentials", "quantity": 3}]}, key="order-1")
    # then
    assert response.status_code == 409
    assert response.json() == refusal(
        409, "idempotency_key_reused", "This Idempotency-Key was already used for a different order."
    )
    assert counts() == before


def test_a_key_belongs_to_one_org(
    org: Org,
    contract: Contract,
    billing_api: ApiClient,
    other_org: Org,
    other_admin: User,
    catalog: dict[str, Product],  # noqa: F811 - fixture
) -> None:
    # given: the other org (Austria, 20 % VAT) used the same key first
    make_contract(other_org, catalog)
    theirs = post(ApiClient(create_token(other_admin)), "/orders", ORDER, key="order-1")
    # when
    mine = post(billing_api, "/orders", ORDER, key="order-1")
    # then
    assert theirs.status_code == mine.status_code == 201
    assert theirs.json()["id"] != mine.json()["id"]
    assert Order.objects.filter(org=org).count() == 1


IDEMPOTENCY_KEY_MISSING = "Send an Idempotency-Key of 1 to 255 characters with every order."


@pytest.mark.parametrize("key", [None, "", "   ", "k" * 256, "order\x011"])
def test_order_without_a_usable_idempotency_key_is_refused(
    contract: Contract, billing_api: ApiClient, unchanged: None, key: str | None
) -> None:
    # when
    response = post(billing_api, "/orders", ORDER, key=key)
    # then
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json; charset=utf-8"
    assert response.json() == field_refusal(422, "idempotency_key_missing", "Idempotency-Key", IDEMPOTENCY_KEY_MISSING)


# ---------------------------------------------------------------- stale previews


def test_order_on_a_stale_preview_is_refused_with_the_new_preview(
    org: Org, contract: Contract, billing_api: ApiClient
) -> None:
    # given: the price of Essentials rises from 25.00 to 26.00 after the preview
    fingerprint = post(billing_api, "/orders/preview", ORDER).json()["fingerprint"]
    PriceBookEntry.objects.filter(product__code="essentials", billing_frequency="monthly").update(
        unit_price=Decimal("26.0000")
    )
    before = counts()
    # when
    response = post(billing_api, "/orders", {**ORDER, "preview_fingerprint": fingerprint}, key="order-1")
    # then
    assert response.status_code == 409
    body = response.json()
    new_preview = post(billing_api, "/orders/preview", ORDER).json()
    assert new_preview["fingerprint"] != fingerprint
    assert new_preview["lines"][0]["unit_price"] == "26.00"
    assert new_preview["lines"][0]["prorated_net_amount"] == "24.14"  # 2 × 26.00 × 13 / 28 = 24.142…
    assert body == refusal(
        409,
        "price_changed",
        "Prices or your contract changed since the preview. Please check the new amounts and confirm again.",
        preview=new_preview,
    )
    assert counts() == before


def test_order_after_another_purchase_on_the_contract_is_refused_as_stale(
    contract: Contract, billing_api: ApiClient
) -> None:
    # given: somebody else buys on the contract between preview and confirmation
    fingerprint = post(billing_api, "/orders/preview", ORDER).json()["fingerprint"]
    post(billing_api, "/orders", {"lines": [{"product": "file_storage", "quantity": 1}]}, key="someone-else")
    # when
    response = post(billing_api, "/orders", {**ORDER, "preview_fingerprint": fingerprint}, key="order-1")
    # then
    assert response.status_code == 409
    assert response.json()["code"] == "price_changed"
    assert Order.objects.count() == 1


# ---------------------------------------------------------------- bad input

WHOLE_NUMBER = "Enter the quantity as a whole number."
FROM_1_TO_1000 = "Enter a quantity from 1 to 1000."


@pytest.mark.parametrize("path", ["/orders/preview", "/orders"])
@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        (0, FROM_1_TO_1000),
        (-1, FROM_1_TO_1000),
        (1001, FROM_1_TO_1000),
        (10**30, FROM_1_TO_1000),
        (1.5, WHOLE_NUMBER),
        (2.0, WHOLE_NUMBER),
        ("2", WHOLE_NUMBER),
        ("abc", WHOLE_NUMBER),
        ("¹", WHOLE_NUMBER),
        (None, WHOLE_NUMBER),
        (True, WHOLE_NUMBER),
        ([2], WHOLE_NUMBER),
        ({"value": 2}, WHOLE_NUMBER),
    ],
)
def test_quantity_must_be_a_whole_number_from_1_to_1000(
    contract: Contract, billing_api: ApiClient, unchanged: None, path: str, quantity: Any, message: str
) -> None:
    # given: the second line is at fault
    body = {"lines": [{"product": "file_storage", "quantity": 1}, {"product": "essentials", "quantity": quantity}]}
    # when
    response = post(billing_api, path, body, key="order-1")
    # then
    assert response.status_code == 422
    assert response.json() == field_refusal(422, "invalid_quantity", "lines[1].quantity", message)


def test_a_missing_quantity_is_an_invalid_quantity(contract: Contract, billing_api: ApiClient, unchanged: None) -> None:
    # when
    response = post(billing_api, "/orders", {"lines": [{"product": "essentials"}]}, key="order-1")
    # then
    assert response.json() == field_refusal(422, "invalid_quantity", "lines[0].quantity", WHOLE_NUMBER)


@pytest.mark.parametrize("path", ["/orders/preview", "/orders"])
@pytest.mark.parametrize(
    ("product", "message"),
    [
        ("nope", "There is no product nope."),
        ("retired", "There is no product retired."),
        ("", "Choose a product."),
        (None, "Choose a product."),
        (42, "Choose a product."),
        ("x" * 51, "Choose a product."),
    ],
)
def test_unknown_products_are_refused(
    contract: Contract, billing_api: ApiClient, unchanged: None, path: str, product: Any, message: str
) -> None:
    # given: a product no longer on sale
    Product.objects.create(
        code="retired", name_de="Alt", name_en="Old", kind=Product.Kind.ADD_ON, unit="inbox", is_active=False
    )
    # when
    response = post(billing_api, path, {"lines": [{"product": product, "quantity": 1}]}, key="order-1")
    # then
    assert response.status_code == 422
    assert response.json() == field_refusal(422, "unknown_product", "lines[0].product", message)


@pytest.mark.parametrize(
    ("lines", "code", "field", "message"),
    [
        ([], "empty_order", "lines", "Add at least one product."),
        (
            [{"product": "essentials", "quantity": 1}, {"product": "essentials", "quantity": 2}],
            "duplicate_product",
            "lines[1].product",
            "Each product can appear only once in an order.",
        ),
        (
            [{"product": f"p{n}", "quantity": 1} for n in range(21)],
            "too_many_lines",
            "lines",
            "Order at most 20 products at once.",
        ),
    ],
)
def test_the_lines_as_a_whole_are_checked(
    contract: Contract,
    billing_api: ApiClient,
    unchanged: None,
    lines: list[Any],
    code: str,
    field: str,
    message: str,
) -> None:
    # when
    response = post(billing_api, "/orders", {"lines": lines}, key="order-1")
    # then
    assert response.status_code == 422
    assert response.json() == field_refusal(422, code, field, message)


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, {"lines": "This field is required."}),
        ({"lines": None}, {"lines": "Enter a list."}),
        ({"lines": "essentials"}, {"lines": "Enter a list."}),
        ({"lines": {"product": "essentials", "quantity": 1}}, {"lines": "Enter a list."}),
        ({"lines": ["essentials", 2]}, {"lines[0]": "Enter an object.", "lines[1]": "Enter an object."}),
        (
            {"lines": [{"product": "essentials", "quantity": 1, "unit_price": "0.01", "discount": 1}]},
            {"lines[0].discount": "Unknown field.", "lines[0].unit_price": "Unknown field."},
        ),
        (
            {"lines": [{"product": "ess\x00entials", "quantity": 1}]},
            {"lines[0].product": "Null characters are not allowed."},
        ),
        ({**ORDER, "total": "0.00"}, {"total": "Unknown field."}),
        ({**ORDER, "contract": 7}, {"contract": "Enter text."}),
        ({**ORDER, "po_number": 4711}, {"po_number": "Enter text."}),
        ({**ORDER, "preview_fingerprint": ["x"]}, {"preview_fingerprint": "Enter text."}),
    ],
)
def test_malformed_bodies_are_invalid_input(
    contract: Contract, billing_api: ApiClient, unchanged: None, body: Any, errors: dict[str, str]
) -> None:
    # when
    response = post(billing_api, "/orders", body, key="order-1")
    # then
    assert response.status_code == 422
    assert response.json() == invalid(errors)


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ("[]", "The request body must be a JSON object."),
        ('"lines"', "The request body must be a JSON object."),
        ("{not json", "The request body is not valid JSON."),
        (
            '{"lines": [{"product": "essentials", "quantity": 1' + "0" * 5000 + "}]}",
            "The request body is not valid JSON.",
        ),
    ],
)
def test_a_body_that_is_not_an_object_is_invalid_input(
    contract: Contract, billing_api: ApiClient, unchanged: None, raw: str, detail: str
) -> None:
    # when
    response = post(billing_api, "/orders", None, raw=raw, key="order-1")
    # then
    assert response.status_code == 422
    assert response.json() == problem(422, "invalid_input", detail)


@pytest.mark.parametrize("po_number", ["P" * 36, "PO\n17"])
def test_a_bad_po_number_is_refused(
    contract: Contract, billing_api: ApiClient, unchanged: None, po_number: str
) -> None:
    # when
    response = post(billing_api, "/orders", {**ORDER, "po_number": po_number}, key="order-1")
    # then
    assert response.status_code == 422
    assert response.json() == field_refusal(
        422, "invalid_po_number", "po_number", "Enter a PO number of at most 35 characters, on one line."
    )


# ---------------------------------------------------------------- the contract


@pytest.mark.parametrize("path", ["/orders/preview", "/orders"])
def test_a_body_without_contract_needs_one_when_the_org_has_several(
    org: Org,
    contract: Contract,
    catalog: dict[str, Product],  # noqa: F811 - fixture
    billing_api: ApiClient,
    path: str,
) -> None:
    # given: a second active contract
    make_contract(org, catalog)
    before = counts()
    # when
    response = post(billing_api, path, ORDER, key="order-1")
    # then
    assert response.status_code == 422
    assert response.json() == field_refusal(
        422,
        "contract_required",
        "contract",
        "Your org has several active contracts. Name the contract to add to.",
    )
    assert counts() == before


@pytest.mark.parametrize("path", ["/orders/preview", "/orders"])
def test_an_org_without_an_active_contract_cannot_order(
    org: Org, contract: Contract, billing_api: ApiClient, unchanged: None, path: str
) -> None:
    # given: the only contract was cancelled
    Contract.objects.filter(pk=contract.pk).update(status=Contract.Status.CANCELLED)
    # when
    response = post(billing_api, path, ORDER, key="order-1")
    named = post(billing_api, path, {**ORDER, "contract": contract.public_id}, key="order-1")
    # then
    assert response.status_code == 422
    assert response.json() == field_refusal(
        422, "contract_required", "contract", "Your org has no active contract to add to. Please contact us."
    )
    assert named.status_code == 409
    assert named.json() == refusal(
        409, "contract_inactive", "This contract is not active, so nothing can be added to it."
    )


@pytest.mark.parametrize("path", ["/orders/preview", "/orders"])
@pytest.mark.parametrize("contract_id", ["foreign", "ctr_doesnotexist00000", "CTR_1", "", "ctr_" + "a" * 300])
def test_another_orgs_contract_is_not_found_like_a_missing_one(
    contract: Contract,
    other_org: Org,
    catalog: dict[str, Product],  # noqa: F811 - fixture
    billing_api: ApiClient,
    path: str,
    contract_id: str,
) -> None:
    # given
    foreign = make_contract(other_org, catalog)
    before = counts()
    # when
    response = post(
        billing_api,
        path,
        {**ORDER, "contract": foreign.public_id if contract_id == "foreign" else contract_id},
        key="order-1",
    )
    # then
    assert response.status_code == 404
    assert response.json() == problem(
        404, "not_found", "Contract not found.", [{"field": "contract", "message": "Contract not found."}]
    )
    assert counts() == before


# ---------------------------------------------------------------- what the org may buy


@pytest.mark.parametrize("path", ["/orders/preview", "/orders"])
@pytest.mark.parametrize(
    ("product", "message"),
    [
        ("data_storage", "Data Storage cannot be bought with the Essentials edition."),
        ("professional", "Professional cannot be bought with the Essentials edition."),
    ],
)
def test_products_the_edition_may_not_buy_are_refused(
    contract: Contract, billing_api: ApiClient, unchanged: None, path: str, product: str, message: str
) -> None:
    # when
    response = post(billing_api, path, {"lines": [{"product": product, "quantity": 1}]}, key="order-1")
    # then
    assert response.status_code == 409
    assert response.json() == field_refusal(409, "product_not_allowed", "lines[0].product", message)


def test_a_product_without_a_price_is_refused(contract: Contract, billing_api: ApiClient, unchanged: None) -> None:
    # when
    response = post(billing_api, "/orders", {"lines": [{"product": "inbox", "quantity": 1}]}, key="order-1")
    # then
    assert response.status_code == 409
    assert response.json() == field_refusal(
        409, "no_price", "lines[0].product", "Inbox has no price for your billing frequency. Please contact us."
    )


@pytest.mark.parametrize("path", ["/orders/preview", "/orders"])
def test_an_overdue_org_cannot_buy(
    org: Org, contract: Contract, billing_api: ApiClient, unchanged: None, path: str
) -> None:
    # given
    Org.objects.filter(pk=org.pk).update(status=Org.Status.OVERDUE)
    # when
    response = post(billing_api, path, ORDER, key="order-1")
    # then
    assert response.status_code == 409
    assert response.json() == refusal(
        409,
        "org_overdue",
        "Purchases are paused because your account is overdue. "
        "Please pay the open invoices first; buying is possible again at once.",
    )


@pytest.mark.parametrize(
    ("status", "detail"),
    [
        (
            Org.Status.SUSPENDED,
            (
                "Purchases are paused because your account is suspended for unpaid invoices. "
                "Please pay the overdue invoices first; buying is possible again at once."
            ),
        ),
        (Org.Status.CLOSED, "This account is closed, so nothing can be bought. Please contact us."),
    ],
)
def test_a_suspended_or_closed_org_cannot_buy_and_is_told_why(
    org: Org, contract: Contract, billing_api: ApiClient, unchanged: None, status: str, detail: str
) -> None:
    # given
    Org.objects.filter(pk=org.pk).update(status=status)
    # when
    response = post(billing_api, "/orders", ORDER, key="order-1")
    # then
    assert response.status_code == 409
    assert response.json() == refusal(409, "org_overdue", detail)


@pytest.mark.parametrize("path", ["/orders/preview", "/orders"])
def test_essentials_stops_at_10_full_licenses_and_offers_the_upgrade(
    contract: Contract, billing_api: ApiClient, unchanged: None, path: str
) -> None:
    # when: 3 bought + 8 = 11
    response = post(billing_api, path, {"lines": [{"product": "essentials", "quantity": 8}]}, key="order-1")
    # then
    assert response.status_code == 409
    assert response.json() == refusal(
        409,
        "essentials_license_limit",
        "Essentials includes at most 10 Full licenses. You have 3, so you can add 7 more. "
        "For more users, request an upgrade to Professional or Enterprise.",
        max=10,
        bought=3,
        upgrade_available=True,
    )


# ---------------------------------------------------------------- access


@pytest.mark.parametrize("path", ["/orders/preview", "/orders"])
def test_buying_needs_the_purchase_permission(
    contract: Contract, viewer_api: ApiClient, unchanged: None, path: str
) -> None:
    # when
    response = post(viewer_api, path, ORDER, key="order-1")
    # then
    assert response.status_code == 403
    assert response.json() == problem(
        403,
        "permission_denied",
        "This needs the permission “Purchase” (purchase), which your user does not have. "
        "Ask a user who manages your org's users to grant it.",
        missing_permission="purchase",
    )


def test_the_permission_is_checked_before_the_idempotency_key(
    contract: Contract, viewer_api: ApiClient, unchanged: None
) -> None:
    # when
    response = post(viewer_api, "/orders", ORDER)
    # then
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "/orders/preview"), ("post", "/orders"), ("get", "/orders"), ("get", "/orders/ord_doesnotexist0000")],
)
def test_orders_need_a_billing_permission(
    contract: Contract, standard_api: ApiClient, unchanged: None, method: str, path: str
) -> None:
    # when
    response = post(standard_api, path, ORDER, key="order-1") if method == "post" else standard_api.get(path)
    # then
    assert response.status_code == 403
    assert response.json()["missing_permission"] == "manage_billing"


def test_orders_need_a_token(contract: Contract, anonymous_api: ApiClient, unchanged: None) -> None:
    # when
    response = post(anonymous_api, "/orders", ORDER, key="order-1")
    # then
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


def test_reading_orders_needs_any_billing_permission(
    contract: Contract, billing_api: ApiClient, viewer_api: ApiClient
) -> None:
    # given
    order_id = post(billing_api, "/orders", ORDER, key="order-1").json()["id"]
    # when
    listed = viewer_api.get("/orders")
    detail = viewer_api.get(f"/orders/{order_id}")
    # then
    assert listed.status_code == detail.status_code == 200
    assert [item["id"] for item in listed.json()["items"]] == [order_id]


# ---------------------------------------------------------------- GET /orders, GET /orders/{id}


def test_order_detail_is_what_the_order_answered(contract: Contract, billing_api: ApiClient) -> None:
    # given
    placed = post(billing_api, "/orders", {**ORDER, "po_number": "PO-2026-17"}, key="order-1").json()
    # when
    response = billing_api.get(f"/orders/{placed['id']}")
    # then
    assert response.status_code == 200
    assert response.json() == placed == order_json(Order.objects.get(), contract)


def test_order_line_names_follow_the_request_language(contract: Contract, billing_api: ApiClient) -> None:
    # given
    order_id = post(billing_api, "/orders", ORDER, key="order-1").json()["id"]
    # when
    body = billing_api.get(f"/orders/{order_id}", language="de").json()
    # then
    assert [line["name"] for line in body["lines"]] == ["Essentials", "Dateispeicher"]


def test_list_orders_is_newest_first_with_totals(contract: Contract, billing_api: ApiClient, clock: Any) -> None:
    # given: two orders a day apart
    first = post(billing_api, "/orders", {**ORDER, "po_number": "PO-2026-17"}, key="order-1").json()
    clock.shift(timedelta(days=1))
    second = post(billing_api, "/orders", {"lines": [{"product": "essentials", "quantity": 1}]}, key="order-2").json()
    # when
    response = billing_api.get("/orders")
    # then
    assert response.status_code == 200
    summary = order_json(Order.objects.get(public_id=first["id"]), contract)
    del summary["lines"], summary["preview"]
    assert response.json() == {
        "items": [
            {
                "id": second["id"],
                "status": "fulfilled",
                "contract": contract.public_id,
                "po_number": None,
                "currency": "EUR",
                "ordered_on": "2026-03-03",
                "totals": {
                    "today_net_amount": "10.71",  # 25.00 × 12 / 28 = 10.714…
                    "today_tax_amount": "2.03",  # 19 % of 10.71 = 2.0349
                    "today_gross_amount": "12.74",
                    "next_invoice_net_amount": "25.00",
                    "renewal_net_amount": "25.00",
                },
                "confirmed_at": "2026-03-03T09:00:00Z",
                "confirmed_by": "billing@test.example",
                "created_at": "2026-03-03T09:00:00Z",
            },
            summary,
        ],
        "next_cursor": None,
    }


def test_order_pages_walk_every_order_once(contract: Contract, billing_api: ApiClient, clock: Any) -> None:
    # given: three orders a minute apart
    ids = []
    for n in range(3):
        clock.shift(timedelta(minutes=1))
        body = {"lines": [{"product": "file_storage", "quantity": n + 1}]}
        ids.append(post(billing_api, "/orders", body, key=f"order-{n}").json()["id"])
    # when
    first = billing_api.get("/orders?limit=2").json()
    second = billing_api.get(f"/orders?limit=2&cursor={first['next_cursor']}").json()
    # then
    assert [item["id"] for item in first["items"]] == [ids[2], ids[1]]
    assert [item["id"] for item in second["items"]] == [ids[0]]
    assert second["next_cursor"] is None


def test_orders_are_scoped_to_the_tokens_org(
    contract: Contract,
    billing_api: ApiClient,
    other_org: Org,
    other_admin: User,
    catalog: dict[str, Product],  # noqa: F811 - fixture
) -> None:
    # given: each org placed one order
    make_contract(other_org, catalog)
    other_api = ApiClient(create_token(other_admin))
    theirs = post(other_api, "/orders", ORDER, key="order-1").json()["id"]
    mine = post(billing_api, "/orders", ORDER, key="order-1").json()["id"]
    # when
    listed = billing_api.get("/orders").json()
    foreign = billing_api.get(f"/orders/{theirs}")
    missing = billing_api.get("/orders/ord_doesnotexist00000")
    # then
    assert [item["id"] for item in listed["items"]] == [mine]
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json() == problem(404, "not_found", "Order not found.")


@pytest.mark.parametrize("order_id", ["ord_%00abc", "ORD_1", "' OR 1=1 --", "ord_" + "a" * 300])
def test_malformed_order_id_is_not_found(billing_api: ApiClient, order_id: str) -> None:
    # when
    response = billing_api.get(f"/orders/{order_id}")
    # then
    assert response.status_code == 404
    assert response.json() == problem(404, "not_found", "Order not found.")


@pytest.mark.parametrize("path", ["/orders/preview", "/orders"])
def test_buying_endpoints_take_only_post(billing_api: ApiClient, path: str) -> None:
    # when
    response = billing_api.request("PUT", path)
    # then
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
