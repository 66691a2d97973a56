"""GET /credit-notes, GET /credit-notes/{id} and its PDF and XML: the org's credit notes, read-only.

Credit notes are issued by the vendor (back office) and never change; like
invoices they need the permission `view_invoices`.
"""

from __future__ import annotations

from django.http import FileResponse, HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Query, Router

from konto.accounts.permissions import VIEW_INVOICES
from konto.api.auth import org_of, require_permission
from konto.api.invoices import document_response, download_answers
from konto.api.pagination import PageParams, paginate_newest_first
from konto.api.schemas import CreditNoteOut, CreditNotePage, CreditNoteSummaryOut, is_public_id
from konto.billing import selectors
from konto.billing.models import CreditNote, DocumentKind
from konto.core.exceptions import NotFound

router = Router(tags=["credit notes"])


@router.get("/credit-notes", response=CreditNotePage, summary="List the org's credit notes")
def list_credit_notes(request: HttpRequest, page: Query[PageParams]) -> CreditNotePage:
    """The org's credit notes, newest first (by when they were issued), with the invoice each one credits.

    Needs the permission `view_invoices`. Paginated: `?limit=` (1 to 200,
    default 50) and `?cursor=`.
    """
    require_permission(request, VIEW_INVOICES)
    result = paginate_newest_first(
        selectors.list_credit_notes(org=org_of(request)),
        limit=page.limit,
        cursor=page.cursor,
        timestamp_field="created_at",
    )
    return CreditNotePage(
        items=[CreditNoteSummaryOut.of(note) for note in result.items], next_cursor=result.next_cursor
    )


def credit_note_of(request: HttpRequest, credit_note_id: str) -> CreditNote:
    require_permission(request, VIEW_INVOICES)
    if not is_public_id(credit_note_id):
        raise NotFound(_("Credit note not found."))
    try:
        return selectors.get_credit_note(org=org_of(request), public_id=credit_note_id)
    except NotFound:
        raise NotFound(_("Credit note not found.")) from None


@router.get("/credit-notes/{credit_note_id}", response=CreditNoteOut, summary="One credit note with its lines")
def get_credit_note(request: HttpRequest, credit_note_id: str) -> CreditNoteOut:
    """One credit note by public id (`crn_…`): the credited lines, VAT per rate, the reason and documents.

    Needs the permission `view_invoices`. Another org's credit note answers
    404 exactly like an id that does not exist.
    """
    return CreditNoteOut.with_lines(credit_note_of(request, credit_note_id))


@router.get(
    "/credit-notes/{credit_note_id}/pdf",
    summary="The credit note as PDF/A-3 with the XML embedded",
    openapi_extra=download_answers(DocumentKind.PDF),
)
def get_credit_note_pdf(request: HttpRequest, credit_note_id: str) -> FileResponse:
    """The credit note's PDF/A-3 with its EN 16931 XML embedded, as stored when it was issued.

    404 `document_not_ready` while it has not been stored yet.
    """
    return document_response(credit_note_of(request, credit_note_id).documents.all(), DocumentKind.PDF)


@router.get(
    "/credit-notes/{credit_note_id}/xml",
    summary="The credit note as EN 16931 XML",
    openapi_extra=download_answers(DocumentKind.XML),
)
def get_credit_note_xml(request: HttpRequest, credit_note_id: str) -> FileResponse:
    """The credit note's UN/CEFACT CII XML (type 381); `X-Document-Profile` says which profile.

    404 `document_not_ready` while it has not been stored yet.
    """
    return document_response(credit_note_of(request, credit_note_id).documents.all(), DocumentKind.XML)
