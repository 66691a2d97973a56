"""GET /invoices, GET /invoices/{id} and its PDF and XML, and the invoice's share links.

Everything here needs the permission `view_invoices`. Invoices are read
through the billing selectors (scoped to the token's org, issued invoices
only); documents are served as stored when the invoice was issued, never
rendered on request.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, Literal

from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema, Status

from konto.accounts.actors import actor_from_request
from konto.accounts.models import Org
from konto.accounts.permissions import VIEW_INVOICES
from konto.api.auth import org_of, require_permission
from konto.api.errors import FIELDS_INVALID, PROBLEM_CONTENT_TYPE
from konto.api.pagination import DEFAULT_LIMIT, MAX_CURSOR_LENGTH, MAX_LIMIT, paginate_newest_first
from konto.api.schemas import (
    InvoiceOut,
    InvoicePage,
    InvoiceSummaryOut,
    ShareLinkIn,
    ShareLinkList,
    ShareLinkOut,
    is_public_id,
)
from konto.billing import selectors
from konto.billing.models import DocumentKind, Invoice, ShareLink, StoredDocument
from konto.billing.services import sharing
from konto.core.exceptions import InvalidInput, NotFound

router = Router(tags=["invoices"])

DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")
CONTENT_TYPES: dict[str, str] = {DocumentKind.PDF: "application/pdf", DocumentKind.XML: "application/xml"}

_PROBLEM = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def download_answers(kind: str) -> dict[str, Any]:
    """The OpenAPI answers of a document download."""
    return {
        "responses": {
            200: {
                "description": "The stored file, with `Content-Disposition: attachment; filename=…`.",
                "content": {CONTENT_TYPES[kind]: {"schema": {"type": "string", "format": "binary"}}},
            },
            404: {
                "description": "No such record in the token's org (`not_found`), or its document is not stored "
                "yet (`document_not_ready`; try again shortly).",
                "content": _PROBLEM,
            },
        }
    }


class InvoiceFilters(Schema):
    """Query parameters of GET /invoices."""

    status: Literal["open", "paid", "void", "uncollectible", "overdue"] | None = Field(
        None, description="`overdue` means open and past the due date."
    )
    issued_from: str | None = Field(
        None, description="Issued on or after this date (YYYY-MM-DD).", json_schema_extra={"format": "date"}
    )
    issued_to: str | None = Field(
        None, description="Issued on or before this date (YYYY-MM-DD).", json_schema_extra={"format": "date"}
    )
    number: str | None = Field(None, max_length=40, description="Part of the invoice number, e.g. `2026-0001`.")
    limit: int = Field(
        DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=f"Items per page, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})."
    )
    cursor: str | None = Field(
        None,
        max_length=MAX_CURSOR_LENGTH,
        description="The `next_cursor` of the previous page; omit it for the first page.",
    )


def _parse_date(value: str | None, field: str, errors: dict[str, Any]) -> date | None:
    if value is None:
        return None
    try:
        if DATE_PATTERN.fullmatch(value) is None:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        errors[field] = gettext("Enter a date as YYYY-MM-DD, e.g. 2026-03-01.")
        return None


def filtered_invoices(org: Org, filters: InvoiceFilters, *, today: date) -> QuerySet[Invoice]:
    """The org's issued invoices matching the filters; refuses bad dates with 422 naming every bad field."""
    errors: dict[str, Any] = {}
    issued_from = _parse_date(filters.issued_from, "issued_from", errors)
    issued_to = _parse_date(filters.issued_to, "issued_to", errors)
    if issued_from and issued_to and issued_from > issued_to:
        errors["issued_to"] = gettext("Enter a date on or after issued_from.")
    if filters.number is not None and "\x00" in filters.number:
        errors["number"] = gettext("Null characters are not allowed.")
    if errors:
        raise InvalidInput(FIELDS_INVALID, fields=errors)
    return selectors.filter_invoices(
        org=org,
        today=today,
        status=filters.status,
        issued_from=issued_from,
        issued_until=issued_to,
        number=(filters.number or "").strip() or None,
    )


@router.get("/invoices", response=InvoicePage, summary="List the org's invoices")
def list_invoices(request: HttpRequest, filters: Query[InvoiceFilters]) -> InvoicePage:
    """The org's issued invoices, newest first (by when they were issued), with amounts and open balance.

    Needs the permission `view_invoices`. Filters: `status` (`open`, `paid`,
    `void`, `uncollectible`, or `overdue`: open and past the due date),
    `issued_from` / `issued_to` (issue dates, both inclusive, YYYY-MM-DD) and
    `number` (part of the invoice number). Lines, VAT and documents are in
    `GET /invoices/{id}`. Paginated: `?limit=` (1 to 200, default 50) and
    `?cursor=`.
    """
    require_permission(request, VIEW_INVOICES)
    today = timezone.localdate()
    invoices = filtered_invoices(org_of(request), filters, today=today).select_related("contract")
    page = paginate_newest_first(invoices, limit=filters.limit, cursor=filters.cursor, timestamp_field="issued_at")
    return InvoicePage(
        items=[InvoiceSummaryOut.of(invoice, today=today) for invoice in page.items], next_cursor=page.next_cursor
    )


def invoice_of(request: HttpRequest, invoice_id: str) -> Invoice:
    """The token org's issued invoice `invoice_id`, after checking `view_invoices`; else 404 like a missing one."""
    require_permission(request, VIEW_INVOICES)
    if not is_public_id(invoice_id):
        raise NotFound(_("Invoice not found."))
    try:
        return selectors.get_invoice(org=org_of(request), public_id=invoice_id)
    except NotFound:
        raise NotFound(_("Invoice not found.")) from None


@router.get("/invoices/{invoice_id}", response=InvoiceOut, summary="One invoice with lines, VAT and documents")
def get_invoice(request: HttpRequest, invoice_id: str) -> InvoiceOut:
    """One invoice by public id (`inv_…`): number, status, dates, service period (`end` exclusive),
    amounts (net, VAT, gross, paid, credited, open), lines, VAT per rate, credit notes, PO number,
    Leitweg-ID and the stored documents with their download URLs.

    Needs the permission `view_invoices`. Another org's invoice answers 404
    exactly like an id that does not exist.
    """
    invoice = invoice_of(request, invoice_id)
    return InvoiceOut.with_lines(invoice, today=timezone.localdate())


def document_response(documents: QuerySet[StoredDocument], kind: str) -> FileResponse:
    """The stored document of `kind` as a download; 404 `document_not_ready` while it is not stored yet."""
    document = documents.filter(kind=kind).first()
    if document is None:
        raise NotFound(
            _("The document is not ready yet. Try again in a few minutes."),
            code="document_not_ready",
        )
    response = FileResponse(
        document.file.open("rb"),
        as_attachment=True,
        filename=document.filename,
        content_type=CONTENT_TYPES[kind],
    )
    response["ETag"] = f'"{document.sha256}"'
    response["X-Document-Profile"] = document.profile
    return response


@router.get(
    "/invoices/{invoice_id}/pdf",
    summary="The invoice as PDF/A-3 with the XML embedded",
    openapi_extra=download_answers(DocumentKind.PDF),
)
def get_invoice_pdf(request: HttpRequest, invoice_id: str) -> FileResponse:
    """The invoice's PDF/A-3 (ZUGFeRD / Factur-X: the EN 16931 XML embedded), as stored when it was issued.

    Needs the permission `view_invoices`. 404 `document_not_ready` while the
    document has not been stored yet.
    """
    invoice = invoice_of(request, invoice_id)
    return document_response(invoice.documents.all(), DocumentKind.PDF)


@router.get(
    "/invoices/{invoice_id}/xml",
    summary="The invoice as EN 16931 XML (XRechnung for buyers with a Leitweg-ID)",
    openapi_extra=download_answers(DocumentKind.XML),
)
def get_invoice_xml(request: HttpRequest, invoice_id: str) -> FileResponse:
    """The invoice's UN/CEFACT CII XML: XRechnung when the invoice has a Leitweg-ID, else Factur-X EN 16931.

    The header `X-Document-Profile` says which (`xrechnung` or `factur-x`).
    Needs the permission `view_invoices`. 404 `document_not_ready` while the
    document has not been stored yet.
    """
    invoice = invoice_of(request, invoice_id)
    return document_response(invoice.documents.all(), DocumentKind.XML)


# ---------------------------------------------------------------- share links


def share_link_out(link: ShareLink, *, url: str | None = None, now: datetime) -> ShareLinkOut:
    return ShareLinkOut(
        id=link.public_id,
        invoice=link.invoice.public_id,
        url=url,
        created_at=link.created_at,
        created_by=link.created_by.email if link.created_by else None,
        expires_at=link.expires_at,
        revoked_at=link.revoked_at,
        is_active=link.revoked_at is None and link.expires_at > now,
        open_count=link.open_count,
        last_opened_at=link.last_opened_at,
    )


@router.get(
    "/invoices/{invoice_id}/share-links", response=ShareLinkList, summary="The invoice's share links, newest first"
)
def list_share_links(request: HttpRequest, invoice_id: str) -> ShareLinkList:
    """Every share link of the invoice, active, expired and revoked, newest first, with how often it was opened.

    The links' URLs are not stored (only a hash of their secret), so `url` is
    null here. Needs the permission `view_invoices`.
    """
    invoice = invoice_of(request, invoice_id)
    now = timezone.now()
    links = selectors.list_share_links(org=org_of(request), invoice=invoice)
    return ShareLinkList(items=[share_link_out(link, now=now) for link in links])


@router.post(
    "/invoices/{invoice_id}/share-links",
    response={201: ShareLinkOut},
    summary="Create a share link",
)
def create_share_link(
    request: HttpRequest, invoice_id: str, response: HttpResponse, payload: ShareLinkIn
) -> Status[ShareLinkOut]:
    """A signed, read-only link to the invoice that works without login until it expires or is revoked.

    Body: a JSON object, `{}` for the defaults; `expires_in_days`: 1 to 90 (default 30). The answer's `url` is the only
    time the link is shown: only a hash of its secret is stored. Every open is
    counted and recorded in the org's audit trail. Needs the permission
    `view_invoices`.
    """
    invoice = invoice_of(request, invoice_id)
    link, token = sharing.create_share_link(
        invoice=invoice, actor=actor_from_request(request), expires_in_days=payload.expires_in_days
    )
    link = selectors.list_share_links(org=org_of(request), invoice=invoice).get(pk=link.pk)
    url = request.build_absolute_uri(reverse("portal:shared_invoice", kwargs={"token": token}))
    response["Location"] = f"/api/v1/invoices/{invoice.public_id}/share-links"
    return Status(201, share_link_out(link, url=url, now=timezone.now()))


@router.delete(
    "/invoices/{invoice_id}/share-links/{link_id}",
    response=ShareLinkOut,
    summary="Revoke a share link",
)
def revoke_share_link(request: HttpRequest, invoice_id: str, link_id: str) -> ShareLinkOut:
    """Revoke the link at once: it opens nothing from now on. Revoking a revoked link changes nothing.

    Answers the revoked link. A link of another invoice or org answers 404.
    Needs the permission `view_invoices`.
    """
    invoice = invoice_of(request, invoice_id)
    org = org_of(request)
    message = _("Share link not found.")
    if (
        not is_public_id(link_id)
        or not selectors.list_share_links(org=org, invoice=invoice).filter(public_id=link_id).exists()
    ):
        raise NotFound(message)
    sharing.revoke_share_link(org=org, actor=actor_from_request(request), public_id=link_id)
    link = selectors.list_share_links(org=org, invoice=invoice).get(public_id=link_id)
    return share_link_out(link, now=timezone.now())
