"""The OpenAPI document and the interactive docs, which load nothing from outside the server."""

from __future__ import annotations

import re
import urllib.request
from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

OPERATIONS = {
    "/api/v1/me": {"get"},
    "/api/v1/org": {"get", "patch"},
    "/api/v1/users": {"get"},
    "/api/v1/users/{user_id}": {"get"},
    "/api/v1/licenses": {"get"},
    "/api/v1/products": {"get"},
    "/api/v1/contracts": {"get"},
    "/api/v1/contracts/{contract_id}": {"get"},
    "/api/v1/orders/preview": {"post"},
    "/api/v1/orders": {"get", "post"},
    "/api/v1/orders/{order_id}": {"get"},
    "/api/v1/invoices": {"get"},
    "/api/v1/invoices/{invoice_id}": {"get"},
    "/api/v1/invoices/{invoice_id}/pdf": {"get"},
    "/api/v1/invoices/{invoice_id}/xml": {"get"},
    "/api/v1/invoices/{invoice_id}/share-links": {"get", "post"},
    "/api/v1/invoices/{invoice_id}/share-links/{link_id}": {"delete"},
    "/api/v1/credit-notes": {"get"},
    "/api/v1/credit-notes/{credit_note_id}": {"get"},
    "/api/v1/credit-notes/{credit_note_id}/pdf": {"get"},
    "/api/v1/credit-notes/{credit_note_id}/xml": {"get"},
    "/api/v1/payment-methods": {"get", "post"},
    "/api/v1/payment-methods/mandate-text": {"get"},
    "/api/v1/payment-methods/card-setups": {"post"},
    "/api/v1/payment-methods/{method_id}": {"get", "delete"},
    "/api/v1/payment-methods/{method_id}/default": {"post"},
    "/api/v1/payments": {"get", "post"},
    "/api/v1/payments/{payment_id}": {"get"},
}


@pytest.fixture
def document(db: None) -> dict[str, Any]:
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_document_is_openapi_3_with_the_core_paths(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "Konto API"
    assert document["info"]["version"] == "1"
    assert {path: set(methods) for path, methods in document["paths"].items()} == OPERATIONS


def test_every_operation_needs_the_bearer_token(document: dict[str, Any]) -> None:
    assert document["components"]["securitySchemes"] == {"BearerToken": {"type": "http", "scheme": "bearer"}}
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            assert operation["security"] == [{"BearerToken": []}], (path, method)
            assert operation["operationId"]
            assert operation["responses"]["401"]["content"]["application/problem+json"]["schema"] == {
                "$ref": "#/components/schemas/Problem"
            }


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    refs = _refs(document)
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


def test_operation_ids_are_unique(document: dict[str, Any]) -> None:
    ids = [op["operationId"] for methods in document["paths"].values() for op in methods.values()]
    assert sorted(ids) == sorted(set(ids))
    assert sorted(ids) == [
        "add_payment_method",
        "create_share_link",
        "get_contract",
        "get_credit_note",
        "get_credit_note_pdf",
        "get_credit_note_xml",
        "get_invoice",
        "get_invoice_pdf",
        "get_invoice_xml",
        "get_mandate_text",
        "get_me",
        "get_order",
        "get_org",
        "get_payment",
        "get_payment_method",
        "get_user",
        "list_contracts",
        "list_credit_notes",
        "list_invoices",
        "list_licenses",
        "list_orders",
        "list_payment_methods",
        "list_payments",
        "list_products",
        "list_share_links",
        "list_users",
        "make_default_payment_method",
        "patch_org",
        "pay_invoices",
        "place_order",
        "preview_order",
        "remove_payment_method",
        "revoke_share_link",
        "start_card_setup",
    ]


def test_document_describes_errors_pagination_and_permissions(document: dict[str, Any]) -> None:
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "code"}
    users = document["paths"]["/api/v1/users"]["get"]
    assert {parameter["name"] for parameter in users["parameters"]} == {"limit", "cursor"}
    assert "`manage_users`" in users["description"]
    assert "`manage_users`" in document["paths"]["/api/v1/users/{user_id}"]["get"]["description"]
    assert "`manage_billing_contacts`" in document["paths"]["/api/v1/org"]["patch"]["description"]
    assert set(users["responses"]) == {"200", "401", "403", "422"}
    assert set(document["paths"]["/api/v1/users/{user_id}"]["get"]["responses"]) == {"200", "401", "403", "404"}


def test_invoice_endpoints_document_filters_permission_and_downloads(document: dict[str, Any]) -> None:
    paths = document["paths"]
    invoices = paths["/api/v1/invoices"]["get"]
    assert {parameter["name"] for parameter in invoices["parameters"]} == {
        "status",
        "issued_from",
        "issued_to",
        "number",
        "limit",
        "cursor",
    }
    credit_notes = paths["/api/v1/credit-notes"]["get"]
    assert {parameter["name"] for parameter in credit_notes["parameters"]} == {"limit", "cursor"}
    for path, methods in paths.items():
        if path.startswith(("/api/v1/invoices", "/api/v1/credit-notes")):
            for method, operation in methods.items():
                if path.endswith(("/pdf", "/xml")) and path.startswith("/api/v1/credit-notes"):
                    continue  # the credit-note downloads name the permission once, on their list and detail
                assert "`view_invoices`" in operation["description"], (path, method)
    for path, media_type in [
        ("/api/v1/invoices/{invoice_id}/pdf", "application/pdf"),
        ("/api/v1/invoices/{invoice_id}/xml", "application/xml"),
        ("/api/v1/credit-notes/{credit_note_id}/pdf", "application/pdf"),
        ("/api/v1/credit-notes/{credit_note_id}/xml", "application/xml"),
    ]:
        responses = paths[path]["get"]["responses"]
        assert set(responses) == {"200", "401", "403", "404"}, path
        assert responses["200"]["content"] == {media_type: {"schema": {"type": "string", "format": "binary"}}}
        assert "`document_not_ready`" in responses["404"]["description"]
    assert set(paths["/api/v1/invoices/{invoice_id}/share-links"]["post"]["responses"]) == {
        "201",
        "401",
        "403",
        "404",
        "422",
    }


def test_patch_schema_lists_only_writable_members(document: dict[str, Any]) -> None:
    patch = document["components"]["schemas"]["OrgPatch"]
    assert set(patch["properties"]) == {"legal_name", "address", "vat_id", "billing_email", "currency", "language"}
    assert patch["additionalProperties"] is False
    assert "required" not in patch
    assert patch["properties"]["currency"]["enum"] == ["EUR", "CHF"]


def test_money_is_documented_as_a_string(document: dict[str, Any]) -> None:
    price = document["components"]["schemas"]["PriceOut"]["properties"]["unit_price"]
    assert price["type"] == "string"
    assert price["pattern"] == r"^-?\d+\.\d{2,4}$"


# ---------------------------------------------------------------- interactive docs

ASSET = re.compile(r"""<(?:script|link)\b[^>]*?\b(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


def _docs_html() -> str:
    response = Client().get("/api/v1/docs")
    assert response.status_code == 200
    return response.content.decode()


def test_docs_load_scripts_and_styles_from_our_own_static_files_only(db: None) -> None:
    # when
    html = _docs_html()
    # then
    assets = ASSET.findall(html)
    assert "/static/ninja/swagger-ui-bundle.js" in assets
    assert "/static/ninja/swagger-ui.css" in assets
    for url in assets:
        assert url.startswith("/static/"), url
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, re.IGNORECASE)


def test_docs_turn_off_the_validator_badge_that_would_call_an_outside_server(db: None) -> None:
    assert '"validatorUrl": null' in _docs_html()


def test_docs_assets_ship_with_the_app(db: None) -> None:
    for url in ASSET.findall(_docs_html()):
        assert finders.find(url.removeprefix("/static/")), url


@pytest.mark.django_db(transaction=True)
def test_docs_assets_are_served_by_the_development_server(live_server) -> None:
    # given: the live server serves static files the way runserver does with DEBUG on
    with urllib.request.urlopen(live_server.url + "/api/v1/docs") as response:  # noqa: S310 - local test server
        html = response.read().decode()
    # then
    for url in ASSET.findall(html):
        with urllib.request.urlopen(live_server.url + url) as asset:  # noqa: S310 - local test server
            assert asset.status == 200, url
            assert len(asset.read()) > 100, url


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_docs_render_in_a_browser_without_requests_to_other_hosts(live_server, page) -> None:
    # given
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    # when
    page.goto(live_server.url + "/api/v1/docs")
    page.locator('[data-path="/api/v1/me"]').first.wait_for()
    # then
    assert page.locator(".swagger-ui .info .title").inner_text().startswith("Konto API")
    assert requested
    assert [url for url in requested if not url.startswith(live_server.url)] == []
