"""The pain.008 file of due SEPA collections: content, schema, FRST/RCUR, dates, exported once."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sepaxml  # type: ignore[import-untyped]  # no type hints published
import xmlschema
from django.utils import timezone, translation
from lxml import etree

from konto.accounts.models import Vendor
from konto.billing.tests.helpers import build_catalog
from konto.catalog.models import Product
from konto.core.audit import Actor
from konto.core.models import AuditEvent
from konto.payments.exceptions import NoCreditorId
from konto.payments.models import Payment, PaymentMethod, PaymentStatus, SepaExport
from konto.payments.services.sepa_export import (
    export_sepa_collections,
    is_target_business_day,
    requested_collection_date,
)
from konto.payments.tests.bank_helpers import B_IBAN, BAECKEREI_IBAN, collect, issue, reload, sepa_org, state

pytestmark = pytest.mark.django_db

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.008.001.08"}
XSD = xmlschema.XMLSchema(str(Path(sepaxml.__file__).parent / "schemas" / "pain.008.001.08.xsd"))
SEPA_ID = re.compile(r"[A-Za-z0-9+?/\-:().,']{1,35}")  # the restricted SEPA identifier set (no "_")
STAFF = Actor(user_id=None, email="ops@vendor.example")
MONDAY = date(2026, 8, 3)
COLLECTION_DAY = date(2026, 8, 17)  # due on Saturday 2026-08-15: the bank is asked for the Monday after


@pytest.fixture(autouse=True)
def _clock(time_machine: Any) -> None:
    time_machine.move_to("2026-08-03T07:00:00Z", tick=False)


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture
def catalog(db: None) -> dict[str, Product]:
    return build_catalog()  # with the demo vendor Nimbus CRM GmbH, creditor ID DE98ZZZ09999999999


@pytest.fixture
def two_collections(catalog: dict[str, Product]) -> tuple[Payment, Payment]:
    """Bäckerei (35.88, with BIC) and B GmbH (142.80, IBAN only), both due on 2026-08-15."""
    baeckerei, _mandate = sepa_org(catalog, "Bäckerei Test GmbH", iban=BAECKEREI_IBAN, bic="BYLADEM1001")
    b_org, _mandate = sepa_org(catalog, "B GmbH", iban=B_IBAN, price="40.00")
    first = collect(issue(baeckerei), today=MONDAY)
    second = collect(issue(b_org), today=MONDAY)
    return first, second


def _now() -> datetime:
    return timezone.now()


def _export(until: date) -> SepaExport:
    export = export_sepa_collections(collection_date_until=until, actor=STAFF, now=_now())
    assert export is not None
    return export


def _xml(export: SepaExport) -> Any:
    return etree.fromstring(bytes(export.content))


def _transaction(root: Any, payment: Payment) -> Any:
    end_to_end = payment.public_id.replace("_", "-")
    (found,) = root.xpath("//p:DrctDbtTxInf[p:PmtId/p:EndToEndId=$id]", namespaces=NS, id=end_to_end)
    return found


def _text(element: Any, path: str) -> str:
    return str(element.findtext(path, namespaces=NS))


def test_file_carries_creditor_mandates_amounts_and_validates(two_collections):
    first, second = two_collections
    assert (first.status, first.exported_at) == ("pending", None)

    export = _export(COLLECTION_DAY)

    assert (export.payments_count, export.total_amount, export.currency) == (2, Decimal("178.68"), "EUR")
    assert export.collection_date == COLLECTION_DAY
    content = bytes(export.content)
    assert XSD.is_valid(content.decode())
    root = _xml(export)
    header = root.find("p:CstmrDrctDbtInitn/p:GrpHdr", NS)
    assert _text(header, "p:MsgId") == export.message_id
    assert _text(header, "p:CreDtTm") == "2026-08-03T09:00:00"  # Berlin time of the export
    assert (_text(header, "p:NbOfTxs"), _text(header, "p:CtrlSum")) == ("2", "178.68")
    assert _text(header, "p:InitgPty/p:Nm") == "Nimbus CRM GmbH"
    (block,) = root.findall("p:CstmrDrctDbtInitn/p:PmtInf", NS)
    assert _text(block, "p:PmtTpInf/p:LclInstrm/p:Cd") == "CORE"
    assert _text(block, "p:PmtTpInf/p:SeqTp") == "FRST"
    assert _text(block, "p:ReqdColltnDt") == "2026-08-17"
    assert _text(block, "p:CdtrAcct/p:Id/p:IBAN") == "DE89370400440532013000"
    assert _text(block, "p:CdtrAgt/p:FinInstnId/p:BICFI") == "COBADEFFXXX"
    assert _text(block, "p:CdtrSchmeId/p:Id/p:PrvtId/p:Othr/p:Id") == "DE98ZZZ09999999999"

    baeckerei = _transaction(root, first)
    mandate = first.method
    assert mandate is not None
    assert baeckerei.find("p:InstdAmt", NS).attrib == {"Ccy": "EUR"}
    assert _text(baeckerei, "p:InstdAmt") == "35.88"
    assert _text(baeckerei, "p:DrctDbtTx/p:MndtRltdInf/p:MndtId") == mandate.mandate_reference
    assert _text(baeckerei, "p:DrctDbtTx/p:MndtRltdInf/p:DtOfSgntr") == "2026-08-03"
    assert _text(baeckerei, "p:DbtrAgt/p:FinInstnId/p:BICFI") == "BYLADEM1001"
    assert _text(baeckerei, "p:Dbtr/p:Nm") == "Backerei Test GmbH"  # the SEPA character set has no umlauts
    assert _text(baeckerei, "p:DbtrAcct/p:Id/p:IBAN") == BAECKEREI_IBAN  # the bank needs it in full
    assert _text(baeckerei, "p:RmtInf/p:Ustrd") == "RE-2026-000001"

    b_gmbh = _transaction(root, second)
    assert _text(b_gmbh, "p:InstdAmt") == "142.80"
    assert _text(b_gmbh, "p:DbtrAgt/p:FinInstnId/p:Othr/p:Id") == "NOTPROVIDED"  # IBAN only
    assert _text(b_gmbh, "p:RmtInf/p:Ustrd") == "RE-2026-000002"


def test_identifiers_use_the_sepa_character_set(two_collections):
    export = _export(COLLECTION_DAY)

    root = _xml(export)
    identifiers = [
        element.text
        for name in ("MsgId", "PmtInfId", "EndToEndId", "MndtId")
        for element in root.iter(f"{{{NS['p']}}}{name}")
    ]
    assert len(identifiers) == 1 + 1 + 2 + 2
    assert all(SEPA_ID.fullmatch(identifier) for identifier in identifiers), identifiers


def test_exported_collections_count_as_paid(two_collections):
    first, second = two_collections

    export = _export(COLLECTION_DAY)

    for payment in (reload(first), reload(second)):
        assert payment.status == PaymentStatus.SUCCEEDED
        assert payment.exported_at == _now()
        assert payment.gateway_ref == f"{export.message_id}:{payment.public_id.replace('_', '-')}"
        allocation = payment.allocations.get()
        assert (allocation.is_in_flight, allocation.is_applied) == (False, True)
        assert state(allocation.invoice) == ("paid", payment.amount)


def test_a_rerun_exports_nothing_twice_and_later_collections_are_recurring(catalog):
    org, mandate = sepa_org(catalog, "Bäckerei Test GmbH", iban=BAECKEREI_IBAN)
    august = collect(issue(org), today=MONDAY)
    first_file = _export(COLLECTION_DAY)

    assert export_sepa_collections(collection_date_until=date(2026, 12, 31), actor=STAFF, now=_now()) is None
    assert SepaExport.objects.count() == 1

    september = collect(issue(org, date(2026, 9, 1)), today=date(2026, 9, 1))
    second_file = _export(date(2026, 9, 30))

    assert [e.text for e in _xml(first_file).iter(f"{{{NS['p']}}}EndToEndId")] == [august.public_id.replace("_", "-")]
    assert [e.text for e in _xml(second_file).iter(f"{{{NS['p']}}}EndToEndId")] == [
        september.public_id.replace("_", "-")
    ]
    assert [e.text for e in _xml(first_file).iter(f"{{{NS['p']}}}SeqTp")] == ["FRST"]
    assert [e.text for e in _xml(second_file).iter(f"{{{NS['p']}}}SeqTp")] == ["RCUR"]
    assert _text(_xml(second_file), ".//p:MndtId") == mandate.mandate_reference
    assert (second_file.payments_count, second_file.total_amount) == (1, Decimal("11.96"))


def test_two_collections_of_a_new_mandate_in_one_file_are_first_then_recurring(catalog):
    org, _mandate = sepa_org(catalog, "Bäckerei Test GmbH", iban=BAECKEREI_IBAN)
    august = collect(issue(org), today=MONDAY)
    september = collect(issue(org, date(2026, 9, 1)), today=MONDAY)

    export = _export(date(2026, 9, 30))

    root = _xml(export)
    types = {
        block.findtext("p:PmtTpInf/p:SeqTp", namespaces=NS): block.findtext(
            "p:DrctDbtTxInf/p:PmtId/p:EndToEndId", namespaces=NS
        )
        for block in root.iter(f"{{{NS['p']}}}PmtInf")
    }
    assert types == {"FRST": august.public_id.replace("_", "-"), "RCUR": september.public_id.replace("_", "-")}
    assert XSD.is_valid(bytes(export.content).decode())


def test_collections_announced_later_are_not_exported_yet(two_collections):
    first, _second = two_collections

    assert export_sepa_collections(collection_date_until=date(2026, 8, 14), actor=STAFF, now=_now()) is None

    first.refresh_from_db()
    assert (first.status, first.exported_at) == (PaymentStatus.PENDING, None)
    assert SepaExport.objects.count() == 0


def test_an_overdue_collection_is_asked_for_the_next_business_day(two_collections, time_machine):
    time_machine.move_to("2026-08-20T07:00:00Z", tick=False)  # Thursday, three days after the announced date

    export = _export(date(2026, 8, 20))

    assert export.collection_date == date(2026, 8, 21)
    assert {e.text for e in _xml(export).iter(f"{{{NS['p']}}}ReqdColltnDt")} == {"2026-08-21"}


def test_without_a_creditor_id_nothing_is_exported(two_collections):
    first, _second = two_collections
    Vendor.objects.update(sepa_creditor_id="")

    with pytest.raises(NoCreditorId) as refused:
        export_sepa_collections(collection_date_until=COLLECTION_DAY, actor=STAFF, now=_now())

    assert refused.value.code == "no_creditor_id"
    first.refresh_from_db()
    assert (first.status, first.exported_at) == (PaymentStatus.PENDING, None)
    assert state(first.allocations.get().invoice) == ("open", Decimal("0.00"))
    assert SepaExport.objects.count() == 0


def test_a_revoked_mandate_is_never_collected(two_collections):
    first, second = two_collections
    PaymentMethod.objects.filter(pk=first.method_id).update(status=PaymentMethod.Status.REMOVED, is_default=False)

    export = _export(COLLECTION_DAY)

    assert export.payments_count == 1
    assert [e.text for e in _xml(export).iter(f"{{{NS['p']}}}EndToEndId")] == [second.public_id.replace("_", "-")]
    first.refresh_from_db()
    assert (first.status, first.exported_at) == (PaymentStatus.PENDING, None)
    event = AuditEvent.objects.get(action="sepa_export.created")
    assert event.after is not None
    assert event.after["skipped"] == [{"payment": first.public_id, "reason": "mandate_removed"}]


def test_no_full_iban_in_the_audit_trail_or_the_log(two_collections, caplog):
    first, _second = two_collections
    PaymentMethod.objects.filter(pk=first.method_id).update(status=PaymentMethod.Status.REMOVED, is_default=False)

    with caplog.at_level(logging.DEBUG):
        export_sepa_collections(collection_date_until=COLLECTION_DAY, actor=STAFF, now=_now())

    trail = str(list(AuditEvent.objects.values_list("before", "after")))
    for iban in (BAECKEREI_IBAN, B_IBAN):
        assert iban not in trail
        assert iban not in caplog.text
    assert "skipped 1 collections" in caplog.text


@pytest.mark.parametrize(
    ("announced", "today", "expected"),
    [
        (date(2026, 8, 17), date(2026, 8, 3), date(2026, 8, 17)),  # announced, a Monday
        (date(2026, 8, 15), date(2026, 8, 3), date(2026, 8, 17)),  # Saturday → Monday
        (date(2026, 8, 3), date(2026, 8, 3), date(2026, 8, 4)),  # not before tomorrow
        (date(2026, 12, 24), date(2026, 12, 20), date(2026, 12, 24)),
        (date(2026, 12, 25), date(2026, 12, 20), date(2026, 12, 28)),  # Christmas, the 26th, Sunday
        (date(2027, 3, 26), date(2027, 3, 20), date(2027, 3, 30)),  # Good Friday, weekend, Easter Monday
        (date(2026, 12, 31), date(2026, 12, 30), date(2026, 12, 31)),
        (date(2027, 1, 1), date(2026, 12, 30), date(2027, 1, 4)),  # New Year, weekend
        (date(2027, 4, 30), date(2027, 4, 29), date(2027, 4, 30)),
        (date(2027, 5, 1), date(2027, 4, 29), date(2027, 5, 3)),  # 1 May is a Saturday in 2027
    ],
)
def test_requested_collection_date_is_a_target2_day(announced, today, expected):
    assert requested_collection_date(announced=announced, today=today) == expected
    assert is_target_business_day(expected)
