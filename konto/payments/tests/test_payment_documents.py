"""How an invoice is paid, printed and in its e-invoice: card (BG-18) and SEPA Direct Debit (BG-19), validated.

The issued invoice's stored XML passes Konto's in-process validation (it is
never stored otherwise) and, where ../shared/einvoice is present, the official
CEN EN 16931 rules (`validate.py`) and the KoSIT XRechnung Schematron.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from io import BytesIO
from typing import Any

import pypdf
import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.utils import translation
from lxml import etree

from konto.accounts.models import Org
from konto.billing.documents.cii import NSMAP
from konto.billing.documents.validation import check_schematron, check_xrechnung, run_schematron, saxon
from konto.billing.models import Invoice, StoredDocument
from konto.billing.ports import invoice_payment_details
from konto.billing.tests.helpers import add_contract
from konto.billing.tests.test_einvoice_rules import (
    SHARED_EINVOICE,
    XRECHNUNG_SCH,
    compile_schematron,
    needs_kosit,
    needs_official,
)
from konto.payments.models import PaymentMethod

from .core_helpers import VISA, add_mandate, add_test_card, build_catalog, german_org, issue

pytestmark = pytest.mark.django_db
JUNE = date(2026, 6, 1)
LEITWEG_ID = "04011000-1234512345-06"


@pytest.fixture(autouse=True)
def _clock(time_machine: Any) -> None:
    time_machine.move_to(datetime(2026, 6, 1, 8, 0, tzinfo=UTC), tick=False)


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture
def catalog() -> Any:
    return build_catalog()


def customer(catalog: Any, *, payment: str, buyer_reference: str = "", name: str = "Stadtwerke Teststadt") -> Org:
    org = german_org(name, edition="professional", language="en")
    add_contract(
        org,
        catalog,
        start=JUNE,
        end=date(2027, 6, 1),
        frequency="monthly",
        lines=[("professional", 5, Decimal("25.00"))],
        payment=payment,
        buyer_reference=buyer_reference,
    )
    return org


def stored(invoice: Invoice) -> tuple[bytes, str]:
    """The stored XML and the PDF's text."""
    documents = {document.kind: document for document in StoredDocument.objects.filter(invoice=invoice)}
    with documents["xml"].file.open("rb") as handle:
        xml = handle.read()
    with documents["pdf"].file.open("rb") as handle:
        text = " ".join(" ".join(page.extract_text() for page in pypdf.PdfReader(BytesIO(handle.read())).pages).split())
    return xml, text


def xpath(xml: bytes, path: str) -> list[str]:
    return [str(value) for value in etree.fromstring(xml).xpath(path, namespaces=NSMAP)]


MEANS = "//ram:ApplicableHeaderTradeSettlement/ram:SpecifiedTradeSettlementPaymentMeans"


def official_failures(xml: bytes) -> list[str]:
    sys.path.insert(0, str(SHARED_EINVOICE))
    try:
        import validate as official  # type: ignore[import-not-found]  # ../shared/einvoice/validate.py
    finally:
        sys.path.remove(str(SHARED_EINVOICE))
    return list(official.validate(xml, saxon()._processor))


@pytest.fixture(scope="module")
def kosit_xslt(tmp_path_factory: Any) -> str:
    target = tmp_path_factory.mktemp("kosit-payments") / "XRechnung-CII-validation.xslt"
    target.write_bytes(compile_schematron(XRECHNUNG_SCH))
    return str(target)


# ---------------------------------------------------------------- card


def test_a_card_paying_public_buyer_gets_an_xrechnung_with_the_card_data(catalog):
    org = customer(catalog, payment="card", buyer_reference=LEITWEG_ID)
    add_test_card(org, VISA)

    invoice = issue(org, JUNE)

    assert invoice.payment_details == {"card_brand": "visa", "card_last4": "4242"}
    xml, text = stored(invoice)
    assert xpath(xml, f"{MEANS}/ram:TypeCode/text()") == ["54"]
    assert xpath(xml, f"{MEANS}/ram:ApplicableTradeSettlementFinancialCard/ram:ID/text()") == ["4242"]
    assert xpath(xml, f"{MEANS}/ram:PayeePartyCreditorFinancialAccount") == []
    assert check_schematron(xml) == []
    assert check_xrechnung(xml) == []
    assert "Paid by card." in text
    assert "€148.75 will be charged to Visa •••• 4242." in text
    assert "4242424242424242" not in text
    assert "4242424242424242" not in xml.decode()


@needs_official
def test_the_card_invoice_passes_the_official_en16931_rules(catalog):
    org = customer(catalog, payment="card", buyer_reference=LEITWEG_ID)
    add_test_card(org, VISA)
    xml, _text = stored(issue(org, JUNE))

    assert official_failures(xml) == []


@needs_kosit
def test_the_card_invoice_passes_the_kosit_xrechnung_rules(catalog, kosit_xslt):
    org = customer(catalog, payment="card", buyer_reference=LEITWEG_ID)
    add_test_card(org, VISA)
    xml, _text = stored(issue(org, JUNE))

    report = run_schematron(kosit_xslt, xml)

    assert report.errors == ()
    assert report.warnings == ()


def test_a_card_contract_without_a_card_on_file_is_invoiced_for_transfer(catalog):
    org = customer(catalog, payment="card", buyer_reference=LEITWEG_ID)

    invoice = issue(org, JUNE)

    assert invoice.payment_details == {}
    xml, text = stored(invoice)
    assert xpath(xml, f"{MEANS}/ram:TypeCode/text()") == ["58"]
    assert xpath(xml, f"{MEANS}/ram:PayeePartyCreditorFinancialAccount/ram:IBANID/text()") == ["DE89370400440532013000"]
    assert check_xrechnung(xml) == []
    assert "Please transfer €148.75 by Jun 15, 2026" in text


def test_an_expired_card_gives_no_card_details(catalog):
    org = customer(catalog, payment="card", name="Alte Karte GmbH")
    card = add_test_card(org, VISA)
    PaymentMethod.objects.filter(pk=card.pk).update(card_exp_month=5, card_exp_year=2026)

    assert issue(org, JUNE).payment_details == {}


# ---------------------------------------------------------------- SEPA Direct Debit


def test_a_sepa_invoice_carries_the_mandate_and_announces_the_debit(catalog):
    org = customer(catalog, payment="card", name="Lastschrift GmbH")
    mandate = add_mandate(org)

    invoice = issue(org, JUNE)

    assert invoice.payment_method_kind == "sepa_debit"
    assert invoice.payment_details == {
        "mandate_reference": mandate.mandate_reference,
        "creditor_id": "DE98ZZZ09999999999",
        "debited_iban_masked": "DE02XXXXXXXXXXXXXX2051",
        "collection_date": "2026-06-15",
    }
    xml, text = stored(invoice)
    settlement = "//ram:ApplicableHeaderTradeSettlement"
    assert xpath(xml, f"{MEANS}/ram:TypeCode/text()") == ["59"]
    assert xpath(xml, f"{settlement}/ram:SpecifiedTradePaymentTerms/ram:DirectDebitMandateID/text()") == [
        mandate.mandate_reference
    ]
    assert xpath(xml, f"{settlement}/ram:CreditorReferenceID/text()") == ["DE98ZZZ09999999999"]
    assert xpath(xml, f"{MEANS}/ram:PayerPartyDebtorFinancialAccount/ram:IBANID/text()") == ["DE02XXXXXXXXXXXXXX2051"]
    assert check_schematron(xml) == []
    assert (
        "We will collect €148.75 by SEPA Direct Debit on Jun 15, 2026 from the account DE02 XXXX XXXX XXXX XX20 51 "
        f"under mandate {mandate.mandate_reference} (creditor identifier DE98ZZZ09999999999)."
    ) in text
    assert "DE02120300000000202051" not in xml.decode()
    assert "DE02120300000000202051" not in text


@needs_official
def test_the_sepa_invoice_passes_the_official_en16931_rules(catalog):
    org = customer(catalog, payment="card", name="Lastschrift GmbH")
    add_mandate(org)
    xml, _text = stored(issue(org, JUNE))

    assert official_failures(xml) == []


@needs_kosit
def test_a_sepa_paying_public_buyer_passes_the_kosit_rules_with_the_masked_iban(catalog, kosit_xslt):
    org = customer(catalog, payment="card", buyer_reference=LEITWEG_ID)
    add_mandate(org)
    xml, _text = stored(issue(org, JUNE))

    report = run_schematron(kosit_xslt, xml)

    assert check_xrechnung(xml) == []
    assert report.errors == ()
    # BR-DE-20 ("should" be a valid IBAN) is a warning: the debited account is printed masked, on purpose.
    assert [warning.split("]")[0] + "]" for warning in report.warnings] == ["[BR-DE-20]"]


def test_a_direct_debit_is_announced_after_the_pre_notification_period(catalog, settings):
    org = customer(catalog, payment="card", name="Lastschrift GmbH")
    add_mandate(org)
    settings.KONTO_SEPA_PRE_NOTIFICATION_DAYS = 14

    # Issued 1 June, due 15 June; 14 days' notice ends on Monday 15 June too.
    assert issue(org, JUNE).payment_details["collection_date"] == "2026-06-15"
    # Issued 1 July, due 15 July; 18 days' notice ends on Sunday 19 July: the next business day.
    settings.KONTO_SEPA_PRE_NOTIFICATION_DAYS = 18
    assert issue(org, date(2026, 7, 1)).payment_details["collection_date"] == "2026-07-20"


def test_an_announced_debit_falls_on_a_weekday_and_never_before_the_due_date():
    mandate = {"mandate_reference": "KONTO-000001-001", "collection_date": "2026-08-03"}

    # Due Saturday 15 August: announced for Monday 17 August.
    assert invoice_payment_details(mandate, kind="sepa_debit", due_date=date(2026, 8, 15))["collection_date"] == (
        "2026-08-17"
    )
    # Due before the pre-notification period ends: the earliest collection date.
    assert invoice_payment_details(mandate, kind="sepa_debit", due_date=date(2026, 8, 1))["collection_date"] == (
        "2026-08-03"
    )
    # A mandate's details on a card invoice, or a card's on a direct debit invoice: none (transfer).
    assert invoice_payment_details(mandate, kind="card", due_date=date(2026, 8, 1)) == {}
    assert invoice_payment_details({"card_last4": "4242"}, kind="sepa_debit", due_date=date(2026, 8, 1)) == {}


# ---------------------------------------------------------------- immutable


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger exists on PostgreSQL only")
def test_the_payment_details_of_an_issued_invoice_never_change(catalog):
    org = customer(catalog, payment="card")
    add_test_card(org, VISA)
    invoice = issue(org, JUNE)

    with pytest.raises(DatabaseError, match="cannot be changed"), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(payment_details={"card_brand": "visa", "card_last4": "0000"})

    invoice.refresh_from_db()
    assert invoice.payment_details == {"card_brand": "visa", "card_last4": "4242"}
