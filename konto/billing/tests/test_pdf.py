"""The invoice PDF: PDF/A-3 structure, the embedded e-invoice, printed content, payment codes and layout."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from io import BytesIO
from pathlib import Path

import pikepdf
import pypdf
import pytest
import segno
from facturx import get_xml_from_pdf
from lxml import etree
from segno import helpers as segno_helpers

from konto.billing.documents import payment_codes, pdf, pdfa, samples
from konto.billing.documents.cii import build_cii
from konto.billing.documents.model import DocumentLine, InvoiceDocument, PaymentInstructions, TaxSubtotal
from konto.billing.documents.validation import validation_errors

CREATED_AT = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
SHARED_VALIDATOR = Path(__file__).resolve().parents[3].parent / "shared" / "einvoice" / "validate.py"
XMP_NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "pdfaid": "http://www.aiim.org/pdfa/ns/id/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "pdf": "http://ns.adobe.com/pdf/1.3/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "pdfaExtension": "http://www.aiim.org/pdfa/ns/extension/",
    "pdfaSchema": "http://www.aiim.org/pdfa/ns/schema#",
    "fx": "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#",
}
CORE_FONTS = {"Courier", "Helvetica", "Times-Roman", "Symbol", "ZapfDingbats"}


def render(document: InvoiceDocument, profile: str = "factur-x") -> tuple[bytes, bytes]:
    xml = build_cii(document, profile=profile)  # type: ignore[arg-type]
    return pdf.render_invoice_pdf(document, xml=xml, profile=profile, created_at=CREATED_AT), xml


def page_texts(data: bytes) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(BytesIO(data)).pages]


def flat(text: str) -> str:
    return " ".join(text.split())


def xmp_value(root: etree._Element, path: str) -> str:
    values = root.xpath(path, namespaces=XMP_NS)
    assert len(values) == 1, path
    return str(values[0])


# -- PDF/A-3 container ---------------------------------------------------------------------


def test_pdf_has_srgb_output_intent_for_pdfa():
    data, _xml = render(samples.de_domestic_invoice())

    with pikepdf.open(BytesIO(data)) as document:
        intents = document.Root.OutputIntents
        assert len(intents) == 1
        intent = intents[0]
        assert intent.S == pikepdf.Name.GTS_PDFA1
        assert str(intent.OutputConditionIdentifier) == "sRGB"
        profile = intent.DestOutputProfile
        assert int(profile.N) == 3
        assert profile.read_bytes() == pdfa.srgb_icc_profile()
        assert profile.read_bytes()[36:40] == b"acsp"  # the ICC signature
        assert profile.read_bytes()[16:20] == b"RGB "
        assert profile.read_bytes()[8:10] == bytes((4, 0x20))  # ICC 4.2, the version PDF 1.7 names


def test_xmp_declares_pdfa3b_and_the_facturx_extension_schema():
    data, _xml = render(samples.de_domestic_invoice())

    with pikepdf.open(BytesIO(data)) as document:
        metadata = document.Root.Metadata
        assert "/Filter" not in metadata  # readable without a PDF parser
        assert metadata.Subtype == pikepdf.Name.XML
        root = etree.fromstring(metadata.read_bytes())
    assert xmp_value(root, "//pdfaid:part/text()") == "3"
    assert xmp_value(root, "//pdfaid:conformance/text()") == "B"
    assert xmp_value(root, "//fx:DocumentType/text()") == "INVOICE"
    assert xmp_value(root, "//fx:DocumentFileName/text()") == "factur-x.xml"
    assert xmp_value(root, "//fx:Version/text()") == "1.0"
    assert xmp_value(root, "//fx:ConformanceLevel/text()") == "EN 16931"
    assert xmp_value(root, "//pdfaSchema:namespaceURI/text()") == XMP_NS["fx"]
    assert xmp_value(root, "//pdfaSchema:prefix/text()") == "fx"
    declared = root.xpath("//pdfaSchema:property//*[local-name()='name']/text()", namespaces=XMP_NS)
    assert sorted(declared) == ["ConformanceLevel", "DocumentFileName", "DocumentType", "Version"]


def test_info_dictionary_matches_xmp():
    data, _xml = render(samples.de_domestic_invoice())

    with pikepdf.open(BytesIO(data)) as document:
        info = document.trailer.Info
        root = etree.fromstring(document.Root.Metadata.read_bytes())
        # A German document is titled in German (document language "de").
        assert str(info.Title) == "Rechnung RE-2026-000041"
        assert xmp_value(root, "//dc:title//rdf:li/text()") == "Rechnung RE-2026-000041"
        assert str(info.Author) == xmp_value(root, "//dc:creator//rdf:li/text()") == "Nimbus CRM GmbH"
        assert str(info.Subject) == xmp_value(root, "//dc:description//rdf:li/text()")
        assert str(info.Subject) == "Rechnung RE-2026-000041 von Nimbus CRM GmbH an Bäckerei Müller GmbH"
        assert str(info.Producer) == xmp_value(root, "//pdf:Producer/text()")
        assert str(info.Creator) == xmp_value(root, "//xmp:CreatorTool/text()") == "Konto"
        assert str(info.CreationDate) == "D:20260301083000+00'00'"
        assert xmp_value(root, "//xmp:CreateDate/text()") == "2026-03-01T08:30:00+00:00"
        assert document.pdf_version == "1.7"
        assert len(document.trailer.ID) == 2


def test_embedded_xml_reads_back_identical_as_associated_file():
    data, xml = render(samples.de_domestic_invoice())

    with pikepdf.open(BytesIO(data)) as document:
        root = document.Root
        assert len(root.AF) == 1
        filespec = root.AF[0]
        assert filespec.AFRelationship == pikepdf.Name.Data
        assert str(filespec.F) == str(filespec.UF) == "factur-x.xml"
        stream = filespec.EF.F
        assert stream.Subtype == pikepdf.Name("/text/xml")
        assert stream.read_bytes() == xml
        assert int(stream.Params.Size) == len(xml)
        assert bytes(stream.Params.CheckSum) == hashlib.md5(xml, usedforsecurity=False).digest()
        names = root.Names.EmbeddedFiles.Names
        assert str(names[0]) == "factur-x.xml"
        assert names[1].objgen == filespec.objgen  # the name tree and /AF point to the same file specification
    # A second, independent reader (the factur-x library, pypdf-based) finds the same XML.
    name, found = get_xml_from_pdf(data, check_xsd=False)
    assert (name, found) == ("factur-x.xml", xml)


def test_xrechnung_attachment_is_named_xrechnung_xml():
    data, xml = render(samples.public_sector_invoice(), profile="xrechnung")

    with pikepdf.open(BytesIO(data)) as document:
        assert str(document.Root.AF[0].UF) == "xrechnung.xml"
        assert document.Root.AF[0].EF.F.read_bytes() == xml
        root = etree.fromstring(document.Root.Metadata.read_bytes())
    assert xmp_value(root, "//fx:DocumentFileName/text()") == "xrechnung.xml"
    assert xmp_value(root, "//fx:ConformanceLevel/text()") == "XRECHNUNG"


def test_every_font_is_an_embedded_truetype_subset():
    data, _xml = render(samples.ch_not_taxable_invoice())  # with the QR-bill's fonts too

    with pikepdf.open(BytesIO(data)) as document:
        fonts = {}
        for page in document.pages:
            resources = [page.Resources]
            resources += [xobject.Resources for xobject in page.Resources.get("/XObject", {}).values()]
            for resource in resources:
                fonts.update({font.objgen: font for font in resource.get("/Font", {}).values()})
        assert len(fonts) >= 2  # regular and bold
        for font in fonts.values():
            assert font.Subtype == pikepdf.Name.TrueType
            assert "/FontFile2" in font.FontDescriptor
            assert len(font.FontDescriptor.FontFile2.read_bytes()) > 1000
            assert not any(core in str(font.BaseFont) for core in CORE_FONTS)
            assert "/ToUnicode" in font  # text can be searched and copied


def test_pdf_is_structurally_clean(tmp_path):
    data, _xml = render(samples.at_reverse_charge_invoice())

    with pikepdf.open(BytesIO(data)) as document:
        assert document.check_pdf_syntax() == []
        assert document.get_warnings() == []
        assert not document.is_encrypted
        assert "/Encrypt" not in document.trailer
    if shutil.which("qpdf"):
        path = tmp_path / "invoice.pdf"
        path.write_bytes(data)
        result = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, check=False)  # noqa: S603, S607
        assert result.returncode == 0, result.stdout + result.stderr
        assert b"No syntax or stream encoding errors" in result.stdout


def test_poppler_renders_every_sample_without_complaint(tmp_path):
    if not shutil.which("pdftoppm"):
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    for name, (factory, profile) in samples.SAMPLES.items():
        data, _xml = render(factory(), profile)
        path = tmp_path / f"{name}.pdf"
        path.write_bytes(data)
        result = subprocess.run(  # noqa: S603
            ["pdftoppm", "-r", "30", "-png", str(path), str(tmp_path / name)],  # noqa: S607
            capture_output=True,
            check=False,
        )
        assert (result.returncode, result.stderr) == (0, b""), name
        assert (tmp_path / f"{name}-1.png").exists()


def test_rendering_is_reproducible_for_the_same_timestamp():
    document = samples.de_domestic_invoice()

    first, _xml = render(document)
    second, _xml = render(document)

    assert first == second


def test_every_sample_fits_on_one_page():
    for name, (factory, profile) in samples.SAMPLES.items():
        data, _xml = render(factory(), profile)
        assert len(pypdf.PdfReader(BytesIO(data)).pages) == 1, name


# -- printed content (§ 14 (4) UStG) -----------------------------------------------------------


def test_domestic_invoice_prints_the_mandatory_content():
    data, _xml = render(samples.de_domestic_invoice())

    text = flat(page_texts(data)[0])

    for expected in [
        "Nimbus CRM GmbH",
        "Friedrichstraße 123",
        "USt-IdNr.: DE123456788",
        "Steuernummer: 37/123/45678",
        "Bäckerei Müller GmbH Hauptstraße 12 80331 München",
        "Rechnung RE-2026-000041",
        "Rechnungsnummer RE-2026-000041",
        "Datum 01.03.2026",
        "Leistungszeitraum 01.03.2026 – 31.03.2026",  # end exclusive in the data, printed inclusively
        "Vertrag CTR-2025-0007",
        "Essentials (user / month)",
        "1 5 25,00 19 % 125,00",
        "2 2 12,50 19 % 25,00",
        "3 1 7,99 19 % 7,99",
        "Nettobetrag 157,99 €",
        "USt. 19 % auf 157,99 € 30,02 €",
        "Gesamt 188,01 €",
        "Fällig am 15.03.2026",
        "Bitte überweisen Sie 188,01 € bis zum 15.03.2026 an Nimbus CRM GmbH unter Angabe von RE-2026-000041:",
        "IBAN DE89 3704 0044 0532 0130 00",
        "HRB 123456 B, Amtsgericht Charlottenburg",
        "Geschäftsführung: Nina Neumann, Paul Berger",
        "Seite 1 von 1",
    ]:
        assert expected in text, expected
    assert "Hinweise" not in text  # nothing to note on a domestic invoice
    # No English label leaks into a German document.
    for english in ["Invoice", "Service period", "Net total", "VAT ID", "Tax number", "Due date", "Page 1"]:
        assert english not in text, english


def test_domestic_invoice_in_english_prints_english_labels():
    data, _xml = render(replace(samples.de_domestic_invoice(), language="en"))

    text = flat(page_texts(data)[0])

    for expected in [
        "VAT ID: DE123456788",
        "Tax number: 37/123/45678",
        "Invoice RE-2026-000041",
        "Invoice number RE-2026-000041",
        "Date Mar 1, 2026",
        "Service period Mar 1, 2026 – Mar 31, 2026",
        "Contract CTR-2025-0007",
        "Your VAT ID DE295713867",
        "1 5 25.00 19% 125.00",
        "Net total €157.99",
        "VAT 19% on €157.99 €30.02",
        "Total €188.01",
        "Due date Mar 15, 2026",
        "Please transfer €188.01 by Mar 15, 2026 to Nimbus CRM GmbH, quoting RE-2026-000041:",
        "Managing directors: Nina Neumann, Paul Berger",
        "Page 1 of 1",
    ]:
        assert expected in text, expected
    assert "Notes" not in text
    for german in ["Rechnung", "Leistungszeitraum", "USt", "Seite"]:
        assert german not in text, german


def test_reverse_charge_invoice_prints_both_vat_ids_and_the_note():
    document = samples.at_reverse_charge_invoice()

    data, _xml = render(document)

    text = flat(page_texts(data)[0])
    assert "Ihre USt-IdNr. ATU13585627" in text
    assert "USt-IdNr.: DE123456788" in text
    assert f"Hinweise {document.tax_subtotals[0].exemption_reason}" in text
    assert "Hinweise Steuerschuldnerschaft des Leistungsempfängers." in text  # the § 14a (5) UStG wording
    assert "USt. 0 % auf € 38.220,00 € 0,00" in text  # de_AT puts the euro sign first
    assert "Bestellnummer PO-4711" in text
    assert "ÖSTERREICH" in text  # a foreign buyer's address names the country


def test_credit_note_is_titled_credit_note_and_names_the_corrected_invoice():
    data, _xml = render(samples.credit_note())

    text = flat(page_texts(data)[0])
    # German: a credit note (381) is a "Rechnungskorrektur"; a "Gutschrift" is self-billing (§ 14 (2) UStG).
    assert "Rechnungskorrektur GS-2026-000003" in text
    assert "Korrekturnummer GS-2026-000003" in text
    assert "Diese Rechnungskorrektur bezieht sich auf die Rechnung RE-2026-000041 vom 01.03.2026." in text
    assert "Korrigierte Rechnung RE-2026-000041" in text
    assert "Gutschrift" not in text
    assert "Erstattung von 188,01 € auf das Konto DE02 XXXX XXXX XXXX XX20 51." in text
    assert "Fällig am" not in text
    assert "Due date" not in text
    # The buyer's refund account is not printed as the seller's bank in the footer.
    assert "Bank: Bäckerei" not in text


def test_direct_debit_invoice_prints_the_pre_notification():
    data, _xml = render(samples.sepa_direct_debit_invoice())

    text = flat(page_texts(data)[0])
    assert (
        "We will collect €238.00 by SEPA direct debit on or after May 6, 2026 from the account "
        "DE02 XXXX XXXX XXXX XX20 51 (mandate reference KONTO-MANDATE-000123, creditor identifier "
        "DE98ZZZ09999999999)." in text
    )
    assert "DE02120300000000202051" not in text  # the payer's IBAN only masked
    assert "Creditor ID: DE98ZZZ09999999999" in text
    assert "Scan with your banking app" not in text  # nothing to transfer


def test_public_sector_invoice_prints_leitweg_id_and_po_number():
    data, _xml = render(samples.public_sector_invoice(), profile="xrechnung")

    text = flat(page_texts(data)[0])
    assert "Leitweg-ID 04011000-1234512345-06" in text
    assert "Bestellnummer BEST-2026-0815" in text


def test_prorated_line_prints_its_description_and_four_decimal_unit_prices():
    base = samples.prorated_invoice()
    line = replace(base.lines[0], unit_price=Decimal("181.4795"))
    document = replace(base, lines=(line,))

    data = pdf.render_visual_pdf(document)

    text = flat(page_texts(data)[0])
    assert "prorated (184 of 365 days)" in text
    assert "Service period Jul 1, 2026 – Dec 31, 2026" in text
    assert "1 5 181.4795 19% 907.40" in text


def test_long_invoice_flows_onto_further_pages_with_totals_on_the_last():
    base = samples.de_domestic_invoice()
    lines = tuple(
        replace(base.lines[0], line_id=str(index), name=f"Add-on {index}", net_amount=Decimal("125.00"))
        for index in range(1, 46)
    )
    document = replace(base, lines=lines)

    texts = [flat(text) for text in page_texts(pdf.render_visual_pdf(document))]

    assert len(texts) == 3
    for number, text in enumerate(texts, start=1):
        assert f"Seite {number} von 3" in text
        assert "Pos. Beschreibung Menge Einzelpreis EUR USt. Betrag EUR" in text  # the table header repeats
        assert "Geschäftsführung: Nina Neumann, Paul Berger" in text  # footer on every page
    assert "Add-on 45" in texts[-1] or "Add-on 45" in texts[-2]
    assert all("Nettobetrag" not in text for text in texts[:-1])
    assert "Nettobetrag" in texts[-1]
    assert all(f"Add-on {index} " in " ".join(texts) for index in range(1, 46))


# -- payment codes --------------------------------------------------------------------------


def drawn_qr_matrices(data: bytes, page: int = 0) -> list[list[list[int]]]:
    """Rebuild every QR matrix drawn by `payment_codes.draw_qr` from the page's content stream."""
    with pikepdf.open(BytesIO(data)) as document:
        content = document.pages[page].Contents.read_bytes().decode("latin-1")
    matrices = []
    for block in re.findall(r"((?:\d+ \d+ \d+ 1 re\n)+)0\.04 w B", content):
        runs = [tuple(map(int, run.split()[:3])) for run in block.strip().splitlines()]
        size = max(bottom for _x, bottom, _w in runs) + 1
        matrix = [[0] * size for _ in range(size)]
        for x, bottom, width in runs:
            for column in range(x, x + width):
                matrix[size - 1 - bottom][column] = 1
        matrices.append(matrix)
    return matrices


def test_epc_qr_code_carries_payee_iban_amount_and_invoice_number():
    data, _xml = render(samples.de_domestic_invoice())

    expected = segno_helpers.make_epc_qr(
        name="Nimbus CRM GmbH",
        iban="DE89370400440532013000",
        bic="COBADEFFXXX",
        amount=Decimal("188.01"),
        text="RE-2026-000041",
    )
    assert drawn_qr_matrices(data) == [[list(row) for row in expected.matrix]]


def test_epc_qr_code_only_for_eur_transfers_with_an_amount_due():
    invoice = samples.de_domestic_invoice()

    assert payment_codes.epc_qr_code(invoice) is not None
    assert payment_codes.epc_qr_code(samples.sepa_direct_debit_invoice()) is None
    assert payment_codes.epc_qr_code(samples.credit_note()) is None
    assert (
        payment_codes.epc_qr_code(replace(invoice, paid_amount=invoice.grand_total, due_amount=Decimal("0.00"))) is None
    )
    assert payment_codes.epc_qr_code(samples.ch_not_taxable_invoice()) is None


def test_swiss_qr_bill_data_and_drawn_code():
    document = samples.ch_not_taxable_invoice()

    bill = payment_codes.swiss_qr_bill(document)
    data, _xml = render(document)

    assert bill is not None
    expected = "\r\n".join(
        [
            "SPC", "0200", "1", "CH9300762011623852957",
            "S", "Nimbus CRM GmbH", "Friedrichstraße 123", "", "10117", "Berlin", "DE",
            "", "", "", "", "", "", "",
            "1020.00", "CHF",
            "S", "Tierhilfe Zürich", "Bahnhofstrasse 10", "", "8001", "Zürich", "CH",
            "SCOR", "RF12RE2026000057", "RE-2026-000057", "EPD",
        ]
    )  # fmt: skip
    assert bill.qr_data() == expected
    code = segno.make(expected, error="m", boost_error=False, micro=False, encoding="utf-8")
    assert drawn_qr_matrices(data) == [[list(row) for row in code.matrix]]
    text = flat(page_texts(data)[0])
    assert "Zahlteil" in text
    assert "Empfangsschein" in text
    assert "Referenz RF12 RE20 2600 0057" in text
    assert "Bitte zahlen Sie CHF 1’020.00 bis zum 15.04.2026 mit der untenstehenden QR-Rechnung." in text
    assert "Hinweise Nicht im Inland steuerbare Leistung." in text  # category O: not taxable in Germany


def test_qr_iban_gets_a_qr_reference_from_the_invoice_number():
    base = samples.ch_not_taxable_invoice()
    document = replace(base, payment=replace(base.payment, qr_bill_iban="CH44 3199 9123 0008 8901 2"))

    bill = payment_codes.swiss_qr_bill(document)

    assert bill is not None
    assert bill.account == "CH4431999123000889012"
    assert bill.ref_type == "QRR"
    # Check digit by the mod-10 recursive table (Swiss implementation guidelines, annex B): 7.
    assert bill.reference_number == "000000000000000020260000577"


def test_qr_bill_needs_a_swiss_account():
    base = samples.ch_not_taxable_invoice()
    document = replace(base, payment=replace(base.payment, iban=samples.SELLER_IBAN))

    with pytest.raises(ValueError, match="Swiss or Liechtenstein IBAN"):
        payment_codes.swiss_qr_bill(document)


def test_qr_bill_prefers_the_dedicated_swiss_account_over_a_german_iban():
    base = samples.ch_not_taxable_invoice()
    payment = replace(base.payment, iban=samples.SELLER_IBAN, qr_bill_iban=samples.SELLER_CHF_IBAN)

    assert payment_codes.qr_bill_account(replace(base, payment=payment)) == "CH9300762011623852957"


def test_references_from_invoice_numbers():
    assert payment_codes.creditor_reference("RE-2026-000123") == "RF73RE2026000123"
    assert payment_codes.qr_reference("RE-2026-000123") == "000000000000000020260001237"
    assert payment_codes.format_qr_amount(Decimal("1234567.5")) == "1 234 567.50"


# -- a document built field by field, without the samples ------------------------------------


def test_minimal_english_invoice_renders_with_card_payment():
    seller = samples.SELLER
    document = InvoiceDocument(
        type_code="380",
        number="RE-2026-000999",
        issue_date=date(2026, 6, 1),
        currency="EUR",
        language="en",
        seller=seller,
        buyer=replace(samples.BAECKEREI, address_line2="Accounts payable"),
        lines=(
            DocumentLine(
                line_id="1",
                name="Dialer",
                quantity=Decimal("3"),
                unit_code="C62",
                unit_price=Decimal("20.00"),
                net_amount=Decimal("60.00"),
                tax_category="S",
                tax_rate=Decimal("19.00"),
            ),
        ),
        tax_subtotals=(TaxSubtotal("S", Decimal("19.00"), Decimal("60.00"), Decimal("11.40")),),
        line_total=Decimal("60.00"),
        tax_total=Decimal("11.40"),
        grand_total=Decimal("71.40"),
        paid_amount=Decimal("0.00"),
        due_amount=Decimal("71.40"),
        payment=PaymentInstructions(means_code="54", terms="Charged at once.", due_date=date(2026, 6, 1)),
    )

    text = flat(page_texts(pdf.render_visual_pdf(document))[0])

    assert "Invoice RE-2026-000999" in text
    assert "Bäckerei Müller GmbH Accounts payable Hauptstraße 12" in text  # DIN 5008: addition before the street
    assert "€71.40 will be charged to your card on file." in text
    assert "Date Jun 1, 2026" in text


# -- integration: the XML that travels inside the PDF is valid --------------------------------


@pytest.mark.parametrize("name", sorted(samples.SAMPLES))
def test_embedded_xml_of_every_sample_passes_en16931(name):
    factory, profile = samples.SAMPLES[name]

    data, xml = render(factory(), profile)

    _filename, embedded = get_xml_from_pdf(data, check_xsd=False)
    assert embedded == xml
    assert validation_errors(embedded, profile) == []  # type: ignore[arg-type]


def test_shared_validator_accepts_the_pdfs(tmp_path):
    if not SHARED_VALIDATOR.exists():
        pytest.skip(f"../shared/einvoice/validate.py not found at {SHARED_VALIDATOR}: official second opinion not run")
    paths = []
    for name, (factory, profile) in samples.SAMPLES.items():
        data, _xml = render(factory(), profile)
        path = tmp_path / f"{name}.pdf"
        path.write_bytes(data)
        paths.append(str(path))

    result = subprocess.run(  # noqa: S603
        [sys.executable, str(SHARED_VALIDATOR), "--pdf", *paths], capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": OK (0 fatal") == len(paths)
