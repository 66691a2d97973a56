"""Stored documents: every issued invoice and credit note gets its validated XML and PDF/A-3, exactly once."""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal
from io import BytesIO
from typing import Any

import pikepdf
import pytest
from django.db import connection
from django.utils import translation
from lxml import etree

from konto.billing.documents.cii import NSMAP
from konto.billing.documents.validation import EInvoiceInvalid
from konto.billing.models import BillingRunError, CreditNote, Invoice, NumberCounter, StoredDocument
from konto.billing.services import invoices as invoice_services
from konto.billing.services.billing_run import run_billing
from konto.billing.services.credit_notes import issue_credit_note
from konto.billing.services.documents import issue_documents
from konto.billing.services.invoices import create_draft_invoices, invoice_due_charges, issue_invoice
from konto.contracts.models import Contract
from konto.core.audit import Actor

from .helpers import add_contract, build_catalog, german_org, monthly_contract

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("test")
JULY = date(2026, 7, 1)
LEITWEG_ID = "04011000-1234512345-06"


@pytest.fixture(autouse=True)
def _media_and_language(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    with translation.override("en"):
        yield


@pytest.fixture
def catalog(db):
    return build_catalog()


def _read(document: StoredDocument) -> bytes:
    with document.file.open("rb") as handle:
        data: bytes = handle.read()
    return data


def _embedded(pdf: bytes) -> dict[str, bytes]:
    with pikepdf.open(BytesIO(pdf)) as document:
        return {name: spec.get_file().read_bytes() for name, spec in document.attachments.items()}


def _xpath(xml: bytes, path: str) -> list[str]:
    return [str(value) for value in etree.fromstring(xml).xpath(path, namespaces=NSMAP)]


def _documents(record: Invoice | CreditNote) -> dict[str, StoredDocument]:
    owner: dict[str, Any] = {"invoice": record} if isinstance(record, Invoice) else {"credit_note": record}
    return {document.kind: document for document in StoredDocument.objects.filter(**owner)}


def test_an_issued_invoice_has_its_factur_x_pdf_and_xml_stored_once(catalog):
    org = german_org()
    monthly_contract(org, catalog)

    (invoice,) = invoice_due_charges(org=org, billing_date=JULY)

    documents = _documents(invoice)
    assert sorted(documents) == ["pdf", "xml"]
    pdf, xml = documents["pdf"], documents["xml"]
    assert (pdf.filename, pdf.profile, xml.filename, xml.profile) == (
        "RE-2026-000001.pdf",
        "factur-x",
        "RE-2026-000001.xml",
        "factur-x",
    )
    assert (pdf.org_id, xml.org_id) == (org.pk, org.pk)
    for document in (pdf, xml):
        data = _read(document)
        assert (document.sha256, document.size) == (hashlib.sha256(data).hexdigest(), len(data))
    xml_bytes = _read(xml)
    assert _xpath(xml_bytes, "/rsm:CrossIndustryInvoice/rsm:ExchangedDocument/ram:ID/text()") == ["RE-2026-000001"]
    assert _xpath(
        xml_bytes,
        "//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:GrandTotalAmount/text()",
    ) == ["297.50"]
    # The XML inside the PDF/A-3 is the stored XML, byte for byte
    assert _embedded(_read(pdf)) == {"factur-x.xml": xml_bytes}

    # Asking again returns the stored documents and renders nothing new
    again = issue_documents(invoice)
    assert (again.pdf.pk, again.xml.pk) == (pdf.pk, xml.pk)
    assert StoredDocument.objects.count() == 2


def test_a_buyer_with_a_leitweg_id_gets_xrechnung(catalog):
    org = german_org("Stadtwerke Teststadt", edition="professional")
    add_contract(
        org,
        catalog,
        start=date(2026, 3, 1),
        end=date(2027, 3, 1),
        frequency="annual",
        lines=[("professional", 3)],
        payment="bank_transfer",
        buyer_reference=LEITWEG_ID,
    )

    (invoice,) = invoice_due_charges(org=org, billing_date=date(2026, 3, 1))

    documents = _documents(invoice)
    assert (documents["pdf"].filename, documents["xml"].filename) == (
        "RE-2026-000001.pdf",
        "RE-2026-000001-xrechnung.xml",
    )
    assert {document.profile for document in documents.values()} == {"xrechnung"}
    xml = _read(documents["xml"])
    assert _xpath(xml, "//ram:ApplicableHeaderTradeAgreement/ram:BuyerReference/text()") == [LEITWEG_ID]
    assert _xpath(xml, "//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID/text()") == [
        "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
    ]
    assert _embedded(_read(documents["pdf"])) == {"xrechnung.xml": xml}


def test_an_invalid_e_invoice_is_not_issued_and_uses_no_number(catalog):
    # Given a draft whose buyer reference is blank but present: XRechnung, which requires BT-10 (BR-DE-15)
    org = german_org()
    monthly_contract(org, catalog)
    (draft,) = create_draft_invoices(org=org, billing_date=JULY)
    Invoice.objects.filter(pk=draft.pk).update(buyer_reference="   ")

    with pytest.raises(EInvoiceInvalid, match=r"BR-DE-15"):
        issue_invoice(invoice=draft, actor=SYSTEM)

    draft.refresh_from_db()
    assert (draft.status, draft.number, draft.issued_at) == ("draft", None, None)
    assert StoredDocument.objects.count() == 0
    assert list(NumberCounter.objects.values_list("last_number", flat=True)) == []
    # Corrected, it is issued with the first number of the series: no gap
    Invoice.objects.filter(pk=draft.pk).update(buyer_reference="")
    assert issue_invoice(invoice=draft, actor=SYSTEM).number == "RE-2026-000001"
    assert sorted(_documents(draft)) == ["pdf", "xml"]


def test_the_billing_run_records_an_org_with_an_invalid_e_invoice_and_bills_the_others_gaplessly(catalog):
    broken, good, also_good = (german_org(f"Firma {index} GmbH") for index in range(3))
    for org in (broken, good, also_good):
        monthly_contract(org, catalog, quantity=1)
    Contract.objects.filter(org=broken).update(buyer_reference=" ")

    run = run_billing(billing_date=JULY, batch_size=10)

    assert (run.status, run.orgs_billed, run.orgs_failed, run.invoices_created) == ("finished_with_errors", 2, 1, 2)
    (error,) = BillingRunError.objects.filter(run=run)
    assert error.org_id == broken.pk
    assert "EInvoiceInvalid" in error.message
    assert "BR-DE-15" in error.message
    issued = dict(Invoice.objects.values_list("org_id", "number"))
    assert issued == {good.pk: "RE-2026-000001", also_good.pk: "RE-2026-000002"}
    assert sorted(StoredDocument.objects.values_list("filename", flat=True)) == [
        "RE-2026-000001.pdf",
        "RE-2026-000001.xml",
        "RE-2026-000002.pdf",
        "RE-2026-000002.xml",
    ]


def test_documents_rendered_with_an_outdated_expected_number_are_rendered_again(catalog, monkeypatch):
    # Someone else issuing between the rendering and the numbering: the expected number is then taken
    org = german_org()
    monthly_contract(org, catalog)
    monkeypatch.setattr(invoice_services, "_expected_numbers", lambda invoices, **_: ["RE-2026-000007"])

    (invoice,) = invoice_due_charges(org=org, billing_date=JULY)

    assert invoice.number == "RE-2026-000001"
    documents = _documents(invoice)
    assert documents["pdf"].filename == "RE-2026-000001.pdf"
    xml = _read(documents["xml"])
    assert _xpath(xml, "/rsm:CrossIndustryInvoice/rsm:ExchangedDocument/ram:ID/text()") == ["RE-2026-000001"]
    assert _embedded(_read(documents["pdf"])) == {"factur-x.xml": xml}


def test_credit_notes_have_their_documents(catalog):
    org = german_org()
    monthly_contract(org, catalog)
    (invoice,) = invoice_due_charges(org=org, billing_date=JULY)
    first_line = invoice.lines.order_by("position").first()
    assert first_line is not None

    note = issue_credit_note(
        invoice=invoice, actor=SYSTEM, reason="June not used", line_ids=[first_line.pk], issue_date=date(2026, 7, 3)
    )

    documents = _documents(note)
    assert (documents["pdf"].filename, documents["xml"].filename, documents["xml"].profile) == (
        "GS-2026-000001.pdf",
        "GS-2026-000001.xml",
        "factur-x",
    )
    xml = _read(documents["xml"])
    assert _xpath(xml, "/rsm:CrossIndustryInvoice/rsm:ExchangedDocument/ram:TypeCode/text()") == ["381"]
    assert _xpath(xml, "//ram:InvoiceReferencedDocument/ram:IssuerAssignedID/text()") == ["RE-2026-000001"]
    assert _xpath(xml, "//ram:GrandTotalAmount/text()") == ["148.75"]  # 125.00 + 19 %
    assert _embedded(_read(documents["pdf"])) == {"factur-x.xml": xml}
    assert StoredDocument.objects.filter(invoice=invoice).count() == 2
    assert issue_documents(note).xml.pk == documents["xml"].pk


@pytest.mark.skipif(connection.vendor == "postgresql", reason="PostgreSQL refuses to break an issued invoice")
def test_a_credit_note_whose_e_invoice_is_invalid_is_not_issued(catalog):
    org = german_org()
    monthly_contract(org, catalog)
    (invoice,) = invoice_due_charges(org=org, billing_date=JULY)
    # A blank but present buyer reference, which the credit note takes from its invoice (BR-DE-15)
    Invoice.objects.filter(pk=invoice.pk).update(buyer_reference=" ")

    with pytest.raises(EInvoiceInvalid, match=r"BR-DE-15"):
        issue_credit_note(invoice=invoice, actor=SYSTEM, reason="Cancelled")

    assert CreditNote.objects.count() == 0
    assert StoredDocument.objects.filter(credit_note__isnull=False).count() == 0
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_credited) == ("open", Decimal("0.00"))
    Invoice.objects.filter(pk=invoice.pk).update(buyer_reference="")
    assert issue_credit_note(invoice=invoice, actor=SYSTEM, reason="Cancelled").number == "GS-2026-000001"
