"""GET /invoices, GET /invoices/{id}, its PDF and XML, and share links: scoped to the token's org."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

import pytest
from django.utils import translation

from konto.accounts.models import Org, PermissionSet, User
from konto.accounts.testing import make_user
from konto.api.tests.conftest import ApiClient, create_token, problem
from konto.billing.models import Invoice, ShareLink, StoredDocument
from konto.billing.services.credit_notes import issue_credit_note
from konto.billing.services.documents import issue_documents
from konto.billing.services.invoices import invoice_due_charges
from konto.billing.tests.helpers import add_contract, build_catalog, monthly_contract
from konto.core.audit import Actor
from konto.core.models import AuditEvent

SYSTEM = Actor.system("test")


@pytest.fixture(autouse=True)
def _memory_storage(settings: Any) -> None:
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}


def _invoice(org: Org, billing_date: date, **contract: Any) -> Invoice:
    with translation.override("en"):
        monthly_contract(org, build_catalog(), quantity=1, price="10.05", **contract)
        (invoice,) = invoice_due_charges(org=org, billing_date=billing_date)
    return invoice


@pytest.fixture
def invoice(org: Org) -> Invoice:
    """June to August 2026 (issued 2026-08-01, due 2026-08-15): 3 × 10.05 = 30.15 net, 5.73 VAT, 35.88 gross."""
    org.vat_id = "DE295713867"
    org.save(update_fields=["vat_id"])
    return _invoice(org, date(2026, 8, 1))


@pytest.fixture
def viewer_api(org: Org) -> ApiClient:
    """A user with a billing permission, but not `view_invoices`."""
    cases = PermissionSet.objects.create(code="cases_only", name="Cases", permissions=["manage_cases"])
    user = make_user(org, "cases@test.example", profile="identity_user")
    user.permission_sets.add(cases, through_defaults={"org": org})
    return ApiClient(create_token(user))


def summary(invoice: Invoice) -> dict[str, Any]:
    return {
        "id": invoice.public_id,
        "number": "RE-2026-000001",
        "status": "open",
        "is_overdue": False,
        "issue_date": "2026-08-01",
        "due_date": "2026-08-15",
        "period": {"start": "2026-06-01", "end": "2026-09-01"},
        "currency": "EUR",
        "net_amount": "30.15",
        "tax_amount": "5.73",
        "gross_amount": "35.88",
        "paid_amount": "0.00",
        "credited_amount": "0.00",
        "open_amount": "35.88",
        "contract": invoice.contract.public_id,
        "contract_number": invoice.contract_number,
        "po_number": None,
        "buyer_reference": None,
        "issued_at": "2026-03-02T09:00:00Z",
    }


def test_list_answers_the_orgs_invoices(billing_api: ApiClient, invoice: Invoice) -> None:
    response = billing_api.get("/invoices")

    assert response.status_code == 200
    assert response.json() == {"items": [summary(invoice)], "next_cursor": None}


def test_detail_has_lines_tax_credit_notes_and_documents(billing_api: ApiClient, invoice: Invoice) -> None:
    first = invoice.lines.order_by("position").first()
    assert first is not None
    note = issue_credit_note(invoice=invoice, actor=SYSTEM, reason="June unused", line_ids=[first.pk])
    issue_documents(invoice)

    body = billing_api.get(f"/invoices/{invoice.public_id}").json()

    assert body["credited_amount"] == "11.96"
    assert body["open_amount"] == "23.92"
    assert body["lines"][0] == {
        "position": 1,
        "description": "Essentials",
        "unit": "user",
        "quantity": "1.00",
        "unit_price": "10.05",
        "net_amount": "10.05",
        "tax_category": "S",
        "tax_rate": "19.00",
        "period": {"start": "2026-06-01", "end": "2026-07-01"},
        "days_charged": 30,
        "days_in_period": 30,
    }
    assert len(body["lines"]) == 3
    assert body["tax"] == [
        {
            "category": "S",
            "rate": "19.00",
            "net_amount": "30.15",
            "tax_amount": "5.73",
            "note": None,
            "exemption_reason_code": None,
        }
    ]
    assert body["credit_notes"] == [note.public_id]
    pdf, xml = (
        StoredDocument.objects.get(invoice=invoice, kind="pdf"),
        StoredDocument.objects.get(invoice=invoice, kind="xml"),
    )
    assert body["documents"] == [
        {
            "kind": "pdf",
            "profile": "factur-x",
            "filename": "RE-2026-000001.pdf",
            "size": pdf.size,
            "sha256": pdf.sha256,
            "url": f"/api/v1/invoices/{invoice.public_id}/pdf",
        },
        {
            "kind": "xml",
            "profile": "factur-x",
            "filename": "RE-2026-000001.xml",
            "size": xml.size,
            "sha256": xml.sha256,
            "url": f"/api/v1/invoices/{invoice.public_id}/xml",
        },
    ]


def test_downloads_serve_the_stored_files(billing_api: ApiClient, invoice: Invoice) -> None:
    issued = issue_documents(invoice)

    pdf = billing_api.get(f"/invoices/{invoice.public_id}/pdf")
    xml = billing_api.get(f"/invoices/{invoice.public_id}/xml")

    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Disposition"] == 'attachment; filename="RE-2026-000001.pdf"'
    assert pdf.getvalue().startswith(b"%PDF-")
    assert xml["Content-Type"] == "application/xml"
    assert xml["X-Document-Profile"] == "factur-x"
    assert hashlib.sha256(xml.getvalue()).hexdigest() == issued.xml.sha256


def test_xrechnung_invoice_serves_the_xrechnung_xml(billing_api: ApiClient, org: Org) -> None:
    org.edition = "professional"  # pays by bank transfer (XRechnung needs the payment data of BR-DE-24)
    org.save(update_fields=["edition"])
    with translation.override("en"):
        add_contract(
            org,
            build_catalog(),
            start=date(2026, 6, 1),
            end=date(2027, 6, 1),
            frequency="monthly",
            lines=[("professional", 1)],
            payment="bank_transfer",
            buyer_reference="04011000-1234512345-06",
        )
        (invoice,) = invoice_due_charges(org=org, billing_date=date(2026, 6, 1))
    issue_documents(invoice)

    xml = billing_api.get(f"/invoices/{invoice.public_id}/xml")

    assert xml.status_code == 200
    assert xml["X-Document-Profile"] == "xrechnung"
    assert xml["Content-Disposition"] == 'attachment; filename="RE-2026-000001-xrechnung.xml"'
    assert b"urn:xeinkauf.de:kosit:xrechnung" in xml.getvalue()


@pytest.mark.parametrize("kind", ["pdf", "xml"])
def test_document_not_stored_yet_is_404_document_not_ready(billing_api: ApiClient, invoice: Invoice, kind: str) -> None:
    StoredDocument.objects.filter(invoice=invoice).delete()  # as while the documents are being rendered
    response = billing_api.get(f"/invoices/{invoice.public_id}/{kind}")

    assert response.status_code == 404
    assert response.json() == {
        "type": "https://konto.dev/problems/document_not_ready",
        "title": "Not found",
        "status": 404,
        "detail": "The document is not ready yet. Try again in a few minutes.",
        "code": "document_not_ready",
    }


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("?status=open", True),
        ("?status=paid", False),
        ("?status=overdue", False),
        ("?issued_from=2026-08-01&issued_to=2026-08-01", True),
        ("?issued_from=2026-08-02", False),
        ("?issued_to=2026-07-31", False),
        ("?number=000001", True),
        ("?number=000002", False),
    ],
)
def test_filters(billing_api: ApiClient, invoice: Invoice, query: str, found: bool) -> None:
    items = billing_api.get("/invoices" + query).json()["items"]

    assert [item["id"] for item in items] == ([invoice.public_id] if found else [])


def test_overdue_is_open_past_the_due_date(billing_api: ApiClient, invoice: Invoice, clock: Any) -> None:
    clock.move_to("2026-08-16T10:00:00Z", tick=False)

    items = billing_api.get("/invoices?status=overdue").json()["items"]

    assert [(item["id"], item["status"], item["is_overdue"]) for item in items] == [(invoice.public_id, "open", True)]


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        (
            "?issued_from=2026-13-01",
            [{"field": "issued_from", "message": "Enter a date as YYYY-MM-DD, e.g. 2026-03-01."}],
        ),
        ("?issued_to=yesterday", [{"field": "issued_to", "message": "Enter a date as YYYY-MM-DD, e.g. 2026-03-01."}]),
        (
            "?issued_from=2026-08-02&issued_to=2026-08-01",
            [{"field": "issued_to", "message": "Enter a date on or after issued_from."}],
        ),
        ("?limit=0", [{"field": "limit", "message": "Enter a number of at least 1."}]),
    ],
)
def test_bad_parameters_are_422(
    billing_api: ApiClient, invoice: Invoice, query: str, errors: list[dict[str, str]]
) -> None:
    response = billing_api.get("/invoices" + query)

    assert response.status_code == 422
    assert response.json() == problem(422, "invalid_input", "Please correct the marked fields.", errors)


def test_bad_status_is_422(billing_api: ApiClient, invoice: Invoice) -> None:
    response = billing_api.get("/invoices?status=draft")

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "status"


def test_pages_are_newest_first(billing_api: ApiClient, org: Org, clock: Any) -> None:
    older = _invoice(org, date(2026, 6, 1))
    clock.shift(60)
    newer = _invoice(org, date(2026, 6, 1))

    first = billing_api.get("/invoices?limit=1").json()
    second = billing_api.get(f"/invoices?limit=1&cursor={first['next_cursor']}").json()

    assert [item["id"] for item in first["items"]] == [newer.public_id]
    assert [item["id"] for item in second["items"]] == [older.public_id]
    assert second["next_cursor"] is None


@pytest.mark.parametrize("suffix", ["", "/pdf", "/xml", "/share-links"])
def test_another_orgs_invoice_is_404(other_admin: User, invoice: Invoice, suffix: str) -> None:
    other = ApiClient(create_token(other_admin))

    response = other.get(f"/invoices/{invoice.public_id}{suffix}")

    assert response.status_code == 404
    assert response.json() == problem(404, "not_found", "Invoice not found.")
    assert other.get("/invoices").json()["items"] == []


@pytest.mark.parametrize("path", ["/invoices", "/invoices/{id}", "/invoices/{id}/pdf", "/invoices/{id}/share-links"])
def test_invoices_need_view_invoices(viewer_api: ApiClient, invoice: Invoice, path: str) -> None:
    response = viewer_api.get(path.format(id=invoice.public_id))

    assert response.status_code == 403
    assert response.json()["missing_permission"] == "view_invoices"


def test_share_link_created_listed_and_revoked(billing_api: ApiClient, invoice: Invoice, billing_user: User) -> None:
    created = billing_api.client.post(
        f"/api/v1/invoices/{invoice.public_id}/share-links",
        data='{"expires_in_days": 7}',
        content_type="application/json",
        headers=billing_api.headers(None, None),
    )

    assert created.status_code == 201
    body = created.json()
    link = ShareLink.objects.get()
    assert body["url"].startswith("http://testserver/share/")
    assert body == {
        "id": link.public_id,
        "invoice": invoice.public_id,
        "url": body["url"],
        "created_at": "2026-03-02T09:00:00Z",
        "created_by": "billing@test.example",
        "expires_at": "2026-03-09T09:00:00Z",
        "revoked_at": None,
        "is_active": True,
        "open_count": 0,
        "last_opened_at": None,
    }
    listed = billing_api.get(f"/invoices/{invoice.public_id}/share-links").json()
    assert listed == {"items": [{**body, "url": None}]}

    revoked = billing_api.request("DELETE", f"/invoices/{invoice.public_id}/share-links/{link.public_id}")

    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] == "2026-03-02T09:00:00Z"
    assert revoked.json()["is_active"] is False
    assert AuditEvent.objects.filter(action="invoice.share_link_revoked").count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"expires_in_days": 91}', "expires_in_days"),
        ('{"expires_in_days": 0}', "expires_in_days"),
        ('{"expires_in_days": "7"}', "expires_in_days"),
        ('{"days": 7}', "days"),
    ],
)
def test_share_link_refusals_create_nothing(billing_api: ApiClient, invoice: Invoice, body: str, field: str) -> None:
    response = billing_api.client.post(
        f"/api/v1/invoices/{invoice.public_id}/share-links",
        data=body,
        content_type="application/json",
        headers=billing_api.headers(None, None),
    )

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]
    assert ShareLink.objects.count() == 0


def test_revoking_another_invoices_link_is_404(billing_api: ApiClient, invoice: Invoice, org: Org) -> None:
    other_invoice = _invoice(org, date(2026, 6, 1))
    created = billing_api.client.post(
        f"/api/v1/invoices/{other_invoice.public_id}/share-links",
        data="{}",
        content_type="application/json",
        headers=billing_api.headers(None, None),
    )
    assert created.status_code == 201, created.json()
    link_id = created.json()["id"]

    response = billing_api.request("DELETE", f"/invoices/{invoice.public_id}/share-links/{link_id}")

    assert response.status_code == 404
    assert ShareLink.objects.get().revoked_at is None
