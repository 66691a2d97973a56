"""PDF/A-3B post-processing: output intent, XMP metadata and the embedded e-invoice XML (Factur-X / ZUGFeRD).

ReportLab's open-source edition has no PDF/A mode, so the renderer draws a plain
PDF (fonts embedded as TrueType subsets, no core fonts) and this module adds what
PDF/A-3B and Factur-X 1.0 ask of the container, in one pikepdf pass:

- an output intent (GTS_PDFA1) with an sRGB ICC profile (made once by Pillow's
  ImageCms and cached), because the pages paint in DeviceRGB;
- XMP metadata with pdfaid:part 3 / conformance B, the Factur-X extension schema
  (fx:DocumentType INVOICE, fx:DocumentFileName, fx:Version 1.0,
  fx:ConformanceLevel) and dc/pdf/xmp properties that match the Info dictionary;
- the XML as an embedded file (MIME text/xml, size, MD5 checksum, date) whose file
  specification carries /AFRelationship /Data and is referenced from the catalog's
  /AF array and the /EmbeddedFiles name tree.

/AFRelationship: Factur-X 1.0.07 lists /Data, /Source and /Alternative for the
invoice XML (France prefers /Alternative for BASIC and above); ZUGFeRD 2.x and the
factur-x library's generate_from_binary default to /Data. Konto uses /Data, the
value both specifications accept for EN 16931.

XRechnung inside a PDF follows ZUGFeRD 2.x: the attachment is named xrechnung.xml
and fx:ConformanceLevel is XRECHNUNG.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from io import BytesIO
from xml.sax.saxutils import escape

import pikepdf
from PIL import ImageCms

FACTURX_NAMESPACE = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"
PRODUCER = "Konto (ReportLab, pikepdf)"


@dataclass(frozen=True)
class EInvoiceProfile:
    """How an embedded e-invoice is named and declared in XMP."""

    file_name: str
    conformance_level: str  # fx:ConformanceLevel
    description: str


FACTURX_EN16931 = EInvoiceProfile("factur-x.xml", "EN 16931", "Factur-X invoice (EN 16931)")
XRECHNUNG = EInvoiceProfile("xrechnung.xml", "XRECHNUNG", "XRechnung (EN 16931 CIUS, CII)")
PROFILES = {"factur-x": FACTURX_EN16931, "xrechnung": XRECHNUNG}


ICC_VERSION_4_2 = bytes((4, 0x20, 0, 0))  # header bytes 8–11


@cache
def srgb_icc_profile() -> bytes:
    """An sRGB ICC profile made by LittleCMS through Pillow, built once per process.

    LittleCMS stamps its profiles version 4.4; PDF 1.7 (ISO 32000-1), on which
    PDF/A-3 builds, names ICC.1:2004-10, i.e. version 4.2. The sRGB profile uses
    only tags and types that 4.2 defines and carries no profile ID (bytes 84–99
    are zero), so the header may state 4.2 without changing its meaning.
    """
    profile: bytes = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    if profile[84:100] != bytes(16):
        msg = "The sRGB profile carries a profile ID; its version cannot be restated."
        raise RuntimeError(msg)
    return profile[:8] + ICC_VERSION_4_2 + profile[12:]


@cache
def _compressed_icc_profile() -> bytes:
    return zlib.compress(srgb_icc_profile(), 6)


def pdf_date(moment: datetime) -> str:
    """PDF date string, D:YYYYMMDDHHmmSS+HH'mm' (UTC here, written as Z-offset 00'00)."""
    return moment.astimezone(UTC).strftime("D:%Y%m%d%H%M%S+00'00'")


def xmp_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def build_xmp(
    *, title: str, author: str, subject: str, language: str, moment: datetime, profile: EInvoiceProfile
) -> bytes:
    """XMP packet for PDF/A-3B with the Factur-X extension schema; values mirror the Info dictionary."""
    stamp = xmp_date(moment)
    lang = escape(language)
    text = f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">
<pdfaid:part>3</pdfaid:part>
<pdfaid:conformance>B</pdfaid:conformance>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:format>application/pdf</dc:format>
<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{escape(title)}</rdf:li></rdf:Alt></dc:title>
<dc:creator><rdf:Seq><rdf:li>{escape(author)}</rdf:li></rdf:Seq></dc:creator>
<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{escape(subject)}</rdf:li></rdf:Alt></dc:description>
<dc:language><rdf:Bag><rdf:li>{lang}</rdf:li></rdf:Bag></dc:language>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:pdf="http://ns.adobe.com/pdf/1.3/">
<pdf:Producer>{escape(PRODUCER)}</pdf:Producer>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">
<xmp:CreatorTool>Konto</xmp:CreatorTool>
<xmp:CreateDate>{stamp}</xmp:CreateDate>
<xmp:ModifyDate>{stamp}</xmp:ModifyDate>
<xmp:MetadataDate>{stamp}</xmp:MetadataDate>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:pdfaExtension="http://www.aiim.org/pdfa/ns/extension/"
 xmlns:pdfaSchema="http://www.aiim.org/pdfa/ns/schema#" xmlns:pdfaProperty="http://www.aiim.org/pdfa/ns/property#">
<pdfaExtension:schemas>
<rdf:Bag>
<rdf:li rdf:parseType="Resource">
<pdfaSchema:schema>Factur-X PDFA Extension Schema</pdfaSchema:schema>
<pdfaSchema:namespaceURI>{FACTURX_NAMESPACE}</pdfaSchema:namespaceURI>
<pdfaSchema:prefix>fx</pdfaSchema:prefix>
<pdfaSchema:property>
<rdf:Seq>
{_property("DocumentFileName", "The name of the embedded XML document")}
{_property("DocumentType", "The type of the hybrid document in capital letters, e.g. INVOICE or ORDER")}
{_property("Version", "The actual version of the standard applying to the embedded XML document")}
{_property("ConformanceLevel", "The conformance level of the embedded XML document")}
</rdf:Seq>
</pdfaSchema:property>
</rdf:li>
</rdf:Bag>
</pdfaExtension:schemas>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:fx="{FACTURX_NAMESPACE}">
<fx:DocumentType>INVOICE</fx:DocumentType>
<fx:DocumentFileName>{profile.file_name}</fx:DocumentFileName>
<fx:Version>1.0</fx:Version>
<fx:ConformanceLevel>{profile.conformance_level}</fx:ConformanceLevel>
</rdf:Description>
</rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""
    return text.encode("utf-8")


def _property(name: str, description: str) -> str:
    return (
        '<rdf:li rdf:parseType="Resource">'
        f"<pdfaProperty:name>{name}</pdfaProperty:name>"
        "<pdfaProperty:valueType>Text</pdfaProperty:valueType>"
        "<pdfaProperty:category>external</pdfaProperty:category>"
        f"<pdfaProperty:description>{description}</pdfaProperty:description>"
        "</rdf:li>"
    )


def make_pdfa3(
    pdf_bytes: bytes,
    *,
    xml: bytes,
    profile: str = "factur-x",
    title: str,
    author: str,
    subject: str,
    language: str,
    moment: datetime | None = None,
) -> bytes:
    """Turn a plain PDF with embedded fonts into PDF/A-3B with `xml` as its Factur-X / XRechnung attachment.

    Deterministic for a given input and `moment` (the creation timestamp; now when
    None): the trailer /ID is derived from the content.
    """
    declared = PROFILES[profile]
    moment = moment or datetime.now(UTC)
    stamp = pdf_date(moment)
    with pikepdf.open(BytesIO(pdf_bytes)) as pdf:
        root = pdf.Root

        icc = pdf.make_stream(_compressed_icc_profile())
        icc.stream_dict = pikepdf.Dictionary(N=3, Filter=pikepdf.Name.FlateDecode)
        root.OutputIntents = pikepdf.Array(
            [
                pikepdf.Dictionary(
                    Type=pikepdf.Name.OutputIntent,
                    S=pikepdf.Name.GTS_PDFA1,
                    OutputConditionIdentifier=pikepdf.String("sRGB"),
                    Info=pikepdf.String("sRGB IEC61966-2.1"),
                    RegistryName=pikepdf.String("http://www.color.org"),
                    DestOutputProfile=icc,
                )
            ]
        )

        embedded = pdf.make_stream(zlib.compress(xml, 6))
        embedded.stream_dict = pikepdf.Dictionary(
            Type=pikepdf.Name.EmbeddedFile,
            Subtype=pikepdf.Name("/text/xml"),
            Filter=pikepdf.Name.FlateDecode,
            Params=pikepdf.Dictionary(
                Size=len(xml),
                ModDate=pikepdf.String(stamp),
                CheckSum=pikepdf.String(hashlib.md5(xml, usedforsecurity=False).digest()),
            ),
        )
        filespec = pdf.make_indirect(
            pikepdf.Dictionary(
                Type=pikepdf.Name.Filespec,
                F=pikepdf.String(declared.file_name),
                UF=pikepdf.String(declared.file_name),
                Desc=pikepdf.String(declared.description),
                AFRelationship=pikepdf.Name.Data,
                EF=pikepdf.Dictionary(F=embedded, UF=embedded),
            )
        )
        root.Names = pikepdf.Dictionary(
            EmbeddedFiles=pikepdf.Dictionary(Names=pikepdf.Array([pikepdf.String(declared.file_name), filespec]))
        )
        root.AF = pdf.make_indirect(pikepdf.Array([filespec]))
        root.Lang = pikepdf.String(language)

        # The metadata stream stays unfiltered so that it can be read without a PDF parser.
        root.Metadata = pdf.make_stream(
            build_xmp(title=title, author=author, subject=subject, language=language, moment=moment, profile=declared),
            Type=pikepdf.Name.Metadata,
            Subtype=pikepdf.Name.XML,
        )
        # Info and XMP must agree (ISO 19005-3, 6.6.3): rebuild Info from the same values.
        pdf.trailer.Info = pdf.make_indirect(
            pikepdf.Dictionary(
                Title=pikepdf.String(title),
                Author=pikepdf.String(author),
                Subject=pikepdf.String(subject),
                Creator=pikepdf.String("Konto"),
                Producer=pikepdf.String(PRODUCER),
                CreationDate=pikepdf.String(stamp),
                ModDate=pikepdf.String(stamp),
            )
        )
        out = BytesIO()
        pdf.save(
            out,
            min_version="1.7",
            compress_streams=False,  # every stream that should be compressed already is; XMP must not be
            object_stream_mode=pikepdf.ObjectStreamMode.disable,
            deterministic_id=True,
            linearize=False,
        )
    return out.getvalue()
