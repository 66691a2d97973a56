"""The stored documents of issued invoices and credit notes: EN 16931 XML and PDF/A-3, validated, stored once.

Every issued invoice and credit note has exactly two StoredDocument rows: the
CII XML (Factur-X EN 16931, or XRechnung when the invoice carries a buyer
reference / Leitweg-ID) and the PDF/A-3 that embeds that same XML. The XML is
validated (Factur-X XSD, EN 16931 Schematron, the XRechnung additions) before
anything is stored; an invalid one raises EInvoiceInvalid, which rolls the
issuing transaction back, numbers included.

Rendering is split from storing so that the issuing services can render and
validate before they take the number counter's lock (with the number they
expect to get) and store after it (see `invoices._issue_numbered`).
The unique constraints per (record, kind) make storing exactly-once; calling
`issue_documents` again returns the stored rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.db import transaction

from konto.billing.documents.cii import build_cii
from konto.billing.documents.pdf import render_invoice_pdf
from konto.billing.documents.validation import Profile, validate_for_issue
from konto.billing.models import CreditNote, DocumentKind, Invoice, StoredDocument
from konto.billing.services import delivery
from konto.billing.services.snapshot import build_credit_note_document, build_invoice_document

DOCUMENTS_DIR = "documents"  # in the default storage; every file below it belongs to a StoredDocument row

Record = Invoice | CreditNote


@dataclass(frozen=True)
class RenderedDocuments:
    """The validated XML and the PDF/A-3 embedding it, for one record, not stored yet."""

    record: Record
    number: str  # the number the documents carry; stored only if the record still has it
    profile: Profile
    xml: bytes
    pdf: bytes


@dataclass(frozen=True)
class IssuedDocuments:
    pdf: StoredDocument
    xml: StoredDocument


def profile_for(buyer_reference: str) -> Profile:
    """XRechnung for buyers with a Leitweg-ID (BT-10), Factur-X EN 16931 for everyone else."""
    return "xrechnung" if buyer_reference else "factur-x"


def document_filenames(number: str, profile: Profile) -> dict[str, str]:
    """Download names: "<number>.pdf" and "<number>.xml" ("<number>-xrechnung.xml" for XRechnung)."""
    xml_name = f"{number}-xrechnung.xml" if profile == "xrechnung" else f"{number}.xml"
    return {DocumentKind.PDF: f"{number}.pdf", DocumentKind.XML: xml_name}


def _issued_at(record: Record) -> datetime | None:
    # Stamps the PDF metadata, so rendering the same record again gives the same bytes.
    return record.issued_at if isinstance(record, Invoice) else record.created_at


def render_documents(record: Record) -> RenderedDocuments:
    """Build the document of `record` (which carries its number), its XML, validate it, render the PDF/A-3.

    Raises EInvoiceInvalid naming every failed rule; writes nothing.
    """
    if isinstance(record, Invoice):
        document = build_invoice_document(record)
        buyer_reference = record.buyer_reference
    else:
        document = build_credit_note_document(record)
        buyer_reference = record.invoice.buyer_reference
    profile = profile_for(buyer_reference)
    xml = build_cii(document, profile=profile)
    validate_for_issue(xml, profile)
    pdf = render_invoice_pdf(document, xml=xml, profile=profile, created_at=_issued_at(record))
    return RenderedDocuments(record=record, number=document.number, profile=profile, xml=xml, pdf=pdf)


def _owner(record: Record) -> dict[str, Record]:
    return {"invoice": record} if isinstance(record, Invoice) else {"credit_note": record}


def _stored(record: Record) -> dict[str, StoredDocument]:
    return {document.kind: document for document in StoredDocument.objects.filter(**_owner(record))}


def store_documents(rendered: Iterable[RenderedDocuments]) -> list[IssuedDocuments]:
    """Store rendered documents through the default storage, inside the caller's transaction.

    A record that already has its documents keeps them (they are returned); the
    unique (record, kind) constraints refuse a second row should two callers race.
    """
    issued = []
    delivered: list[Invoice] = []
    for item in rendered:
        record = item.record
        if record.number != item.number:
            raise RuntimeError(f"documents rendered for {item.number} but the record is numbered {record.number}")
        stored = _stored(record)
        names = document_filenames(item.number, item.profile)
        for kind, data in ((DocumentKind.XML, item.xml), (DocumentKind.PDF, item.pdf)):
            if kind in stored:
                continue
            document = StoredDocument(
                org_id=record.org_id,
                kind=kind,
                profile=item.profile,
                filename=names[kind],
                sha256=hashlib.sha256(data).hexdigest(),
                size=len(data),
                **_owner(record),
            )
            document.file = _write_file(document.file.storage, document.sha256, kind, data)
            document.save()
            stored[kind] = document
            if isinstance(record, Invoice) and (not delivered or delivered[-1] is not record):
                delivered.append(record)
        issued.append(IssuedDocuments(pdf=stored[DocumentKind.PDF], xml=stored[DocumentKind.XML]))
    delivery.deliver_on_commit(delivered)  # the invoices' emails, once this transaction commits
    return issued


def _write_file(storage: Storage, sha256: str, kind: str, data: bytes) -> str:
    """Write a document under its content-addressed name, documents/<ab>/<sha256>.<kind>; returns the stored name.

    Files are written inside the issuing transaction, so one that rolls back
    leaves its file behind, unreferenced: `manage.py clean_orphan_documents`
    removes those. A name never holds other bytes than its hash says. Should
    the name exist already without a row (such an orphan, rendered again with
    the same bytes), it is written afresh so that its age starts now and the
    cleaner, which spares files younger than an hour, leaves it alone.
    """
    name = f"{DOCUMENTS_DIR}/{sha256[:2]}/{sha256}.{kind}"
    if storage.exists(name):
        if StoredDocument.objects.filter(file=name).exists():
            return name  # the same bytes, already stored for a committed row
        storage.delete(name)
    return storage.save(name, ContentFile(data))


def render_missing(records: Sequence[Record]) -> list[RenderedDocuments]:
    """Render and validate the documents of those records that have none yet (all first, nothing written)."""
    owner = "invoice_id" if records and isinstance(records[0], Invoice) else "credit_note_id"
    done = set(
        StoredDocument.objects.filter(**{f"{owner}__in": [record.pk for record in records]})
        .values_list(owner, flat=True)
        .distinct()
    )
    return [render_documents(record) for record in records if record.pk not in done]


@transaction.atomic
def issue_documents(record: Record) -> IssuedDocuments:
    """The stored PDF/A-3 and XML of an issued invoice or credit note, rendered, validated and stored once.

    Calling it again returns the stored documents. Inside an issuing
    transaction an EInvoiceInvalid rolls the issue back; on its own (documents
    of a record issued without them) it stores nothing.
    """
    if record.number is None:
        raise ValueError("a draft has no documents; issue it first")
    stored = _stored(record)
    if DocumentKind.PDF in stored and DocumentKind.XML in stored:
        return IssuedDocuments(pdf=stored[DocumentKind.PDF], xml=stored[DocumentKind.XML])
    (issued,) = store_documents([render_documents(record)])
    return issued


def issue_invoice_documents(invoices: Sequence[Invoice]) -> None:
    """The documents hook of the issuing services: every invoice's documents, validated first, then stored."""
    store_documents(render_missing(invoices))
