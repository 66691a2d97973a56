"""GET /credit-notes, GET /credit-notes/{id}, its PDF and XML: read-only and scoped to the token's org."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

import pytest
from django.utils import translation

from konto.accounts.models import Org, PermissionSet, User
from konto.accounts.testing import make_user
from konto.api.tests.conftest import ApiClient, create_token, problem
from konto.billing.models import CreditNote, Invoice, StoredDocument
from konto.billing.services.credit_notes import issue_credit_note
from konto.billing.services.invoices import invoice_due_charges
from konto.billing.tests.helpers import build_catalog, monthly_contract
from konto.core.audit import Actor

SYSTEM = Actor.system("test")


@pytest.fixture(autouse=True)
def _memory_storage(settings: Any) -> None:
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}


@pytest.fixture
def invoice(org: Org) -> Invoice:
    """June to August 2026 (issued 2026-08-01): 3 × 10.05 = 30.15 net, 5.73 VAT, 35.88 gross."""
    org.vat_id = "DE295713867"
    org.save(update_fields=["vat_id"])
    with translation.override("en"):
        monthly_contract(org, build_catalog(), quantity=1, price="10.05")
        (invoice,) = invoice_due_charges(org=org, billing_date=date(2026, 8, 1))
    return invoice


@pytest.fixture
def partial(invoice: Invoice) -> CreditNote:
    """June credited: 10.05 net, 1.91 VAT (10.05 × 19 % = 1.9095), 11.96 gross."""
    first = invoice.lines.order_by("position").first()
    assert first is not None
    return issue_credit_note(
        invoice=invoice, actor=SYSTEM, reason="June unused", line_ids=[first.pk], issue_date=date(2026, 8, 2)
    )


@pytest.fixture
def viewer_api(org: Org) -> ApiClient:
    """A user with a billing permission, but not `view_invoices`."""
    cases = PermissionSet.objects.create(code="cases_only", name="Cases", permissions=["manage_cases"])
    user = make_user(org, "cases@test.example", profile="identity_user")
    user.permission_sets.add(cases, through_defaults={"org": org})
    return ApiClient(create_token(user))


def summary(note: CreditNote, invoice: Invoice) -> dict[str, Any]:
    return {
        "id": note.public_id,
        "number": "GS-2026-000001",
        "invoice": invoice.public_id,
        "invoice_number": "RE-2026-000001",
        "is_full": False,
        "reason": "June unused",
        "issue_date": "2026-08-02",
        "currency": "EUR",
        "net_amount": "10.05",
        "tax_amount": "1.91",
        "gross_amount": "11.96",
        "created_at": "2026-03-02T09:00:00Z",
    }


def test_list_answers_the_orgs_credit_notes(billing_api: ApiClient, invoice: Invoice, partial: CreditNote) -> None:
    response = billing_api.get("/credit-notes")

    assert response.status_code == 200
    assert response.json() == {"items": [summary(partial, invoice)], "next_cursor": None}


def test_list_is_newest_first_and_paginated(
    billing_api: ApiClient, invoice: Invoice, partial: CreditNote, clock: Any
) -> None:
    clock.shift(60)
    rest = issue_credit_note(invoice=invoice, actor=SYSTEM, reason="Cancelled", issue_date=date(2026, 8, 3))

    first = billing_api.get("/credit-notes?limit=1").json()
    second = billing_api.get(f"/credit-notes?limit=1&cursor={first['next_cursor']}").json()

    assert [(item["id"], item["number"], item["is_full"]) for item in first["items"]] == [
        (rest.public_id, "GS-2026-000002", True)
    ]
    assert first["items"][0]["gross_amount"] == "23.92"  # 20.10 + the remaining 3.82 VAT
    assert second == {"items": [summary(partial, invoice)], "next_cursor": None}


def test_detail_has_lines_tax_and_documents(billing_api: ApiClient, invoice: Invoice, partial: CreditNote) -> None:
    response = billing_api.get(f"/credit-notes/{partial.public_id}")

    assert response.status_code == 200
    pdf = StoredDocument.objects.get(credit_note=partial, kind="pdf")
    xml = StoredDocument.objects.get(credit_note=partial, kind="xml")
    assert response.json() == {
        **summary(partial, invoice),
        "lines": [
            {
                "position": 1,
                "description": "Essentials",
                "unit": "user",
                "quantity": "1.00",
                "unit_price": "10.05",
                "net_amount": "10.05",
                "tax_category": "S",
                "tax_rate": "19.00",
                "period": {"start": "2026-06-01", "end": "2026-07-01"},
            }
        ],
        "tax": [
            {
                "category": "S",
                "rate": "19.00",
                "net_amount": "10.05",
                "tax_amount": "1.91",
                "note": None,
                "exemption_reason_code": None,
            }
        ],
        "documents": [
            {
                "kind": "pdf",
                "profile": "factur-x",
                "filename": pdf.filename,
                "size": pdf.size,
                "sha256": pdf.sha256,
                "url": f"/api/v1/credit-notes/{partial.public_id}/pdf",
            },
            {
                "kind": "xml",
                "profile": "factur-x",
                "filename": xml.filename,
                "size": xml.size,
                "sha256": xml.sha256,
                "url": f"/api/v1/credit-notes/{partial.public_id}/xml",
            },
        ],
    }
    assert (pdf.filename, xml.filename) == ("GS-2026-000001.pdf", "GS-2026-000001.xml")


def test_downloads_serve_the_stored_files(billing_api: ApiClient, partial: CreditNote) -> None:
    stored = {document.kind: document for document in StoredDocument.objects.filter(credit_note=partial)}

    pdf = billing_api.get(f"/credit-notes/{partial.public_id}/pdf")
    xml = billing_api.get(f"/credit-notes/{partial.public_id}/xml")

    assert pdf.status_code == xml.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Disposition"] == 'attachment; filename="GS-2026-000001.pdf"'
    content = pdf.getvalue()  # a streaming answer: read once
    assert content.startswith(b"%PDF-")
    assert hashlib.sha256(content).hexdigest() == stored["pdf"].sha256
    assert xml["Content-Type"] == "application/xml"
    assert xml["Content-Disposition"] == 'attachment; filename="GS-2026-000001.xml"'
    assert xml["X-Document-Profile"] == "factur-x"
    assert xml["ETag"] == f'"{stored["xml"].sha256}"'
    body = xml.getvalue()
    assert hashlib.sha256(body).hexdigest() == stored["xml"].sha256
    assert b"<ram:TypeCode>381</ram:TypeCode>" in body  # a credit note, not an invoice


@pytest.mark.parametrize("kind", ["pdf", "xml"])
def test_document_not_stored_yet_is_404_document_not_ready(
    billing_api: ApiClient, partial: CreditNote, kind: str
) -> None:
    StoredDocument.objects.filter(credit_note=partial).delete()  # as while the documents are being rendered

    response = billing_api.get(f"/credit-notes/{partial.public_id}/{kind}")

    assert response.status_code == 404
    assert response.json() == {
        "type": "https://konto.dev/problems/document_not_ready",
        "title": "Not found",
        "status": 404,
        "detail": "The document is not ready yet. Try again in a few minutes.",
        "code": "document_not_ready",
    }
    assert billing_api.get(f"/credit-notes/{partial.public_id}").json()["documents"] == []


@pytest.mark.parametrize("suffix", ["", "/pdf", "/xml"])
def test_another_orgs_credit_note_is_404(other_admin: User, partial: CreditNote, suffix: str) -> None:
    other = ApiClient(create_token(other_admin))

    response = other.get(f"/credit-notes/{partial.public_id}{suffix}")

    assert response.status_code == 404
    assert response.json() == problem(404, "not_found", "Credit note not found.")
    assert other.get("/credit-notes").json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("credit_note_id", ["crn_doesnotexist", "not-an-id", "inv_x"])
def test_unknown_credit_note_is_404(billing_api: ApiClient, partial: CreditNote, credit_note_id: str) -> None:
    response = billing_api.get(f"/credit-notes/{credit_note_id}")

    assert response.status_code == 404
    assert response.json() == problem(404, "not_found", "Credit note not found.")


@pytest.mark.parametrize(
    "path", ["/credit-notes", "/credit-notes/{id}", "/credit-notes/{id}/pdf", "/credit-notes/{id}/xml"]
)
def test_credit_notes_need_view_invoices(viewer_api: ApiClient, partial: CreditNote, path: str) -> None:
    response = viewer_api.get(path.format(id=partial.public_id))

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert response.json()["missing_permission"] == "view_invoices"


def test_credit_notes_are_read_only(billing_api: ApiClient, partial: CreditNote) -> None:
    response = billing_api.request("DELETE", f"/credit-notes/{partial.public_id}")

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert CreditNote.objects.count() == 1
