"""camt.053 bank statements: transfers matched to invoices, SEPA returns, duplicates, bad files, manual work."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone, translation

from konto.billing.models import Invoice
from konto.billing.tests.helpers import build_catalog
from konto.catalog.models import Product
from konto.core.audit import Actor
from konto.core.models import AuditEvent
from konto.payments.exceptions import AmountMismatch
from konto.payments.models import BankStatement, BankStatementLine, Payment, PaymentStatus
from konto.payments.services.camt import (
    BankStatementError,
    DuplicateStatement,
    LineNotOpen,
    MalformedStatement,
    assign_statement_line,
    ignore_statement_line,
    import_bank_statement,
    invoice_numbers_in,
    parse_camt053,
)
from konto.payments.services.sepa_export import export_sepa_collections
from konto.payments.tests.bank_helpers import B_IBAN, BAECKEREI_IBAN, collect, issue, sepa_org, state, transfer_org

pytestmark = pytest.mark.django_db

FILES = Path(__file__).parent / "camt"
EUR_STATEMENT = FILES / "statement_eur_2026-08-04.xml"
CHF_STATEMENT = FILES / "statement_chf_2026-08-04.xml"
RETURN_STATEMENT = FILES / "statement_sepa_return_2026-08-10.xml"
V08_STATEMENT = FILES / "statement_v08_2026-08-05.xml"
STAFF = Actor(user_id=None, email="ops@vendor.example")
Status = BankStatementLine.Status


@pytest.fixture(autouse=True)
def _clock(time_machine: Any) -> None:
    time_machine.move_to("2026-08-04T06:00:00Z", tick=False)


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture
def catalog(db: None) -> dict[str, Product]:
    return build_catalog()


@pytest.fixture
def invoices(catalog: dict[str, Product]) -> list[Invoice]:
    """RE-2026-000001 35.88, -000002 142.80, -000003 44.63, -000004 353.43 EUR, paid by transfer, all open."""
    prices = [("Bäckerei Test GmbH", "10.05"), ("B GmbH", "40.00"), ("C GmbH", "12.50"), ("D GmbH", "99.00")]
    issued = [issue(transfer_org(catalog, name, price=price)) for name, price in prices]
    assert [(i.number, i.gross_amount, i.status) for i in issued] == [
        ("RE-2026-000001", Decimal("35.88"), "open"),
        ("RE-2026-000002", Decimal("142.80"), "open"),
        ("RE-2026-000003", Decimal("44.63"), "open"),
        ("RE-2026-000004", Decimal("353.43"), "open"),
    ]
    return issued


def _import(path: Path) -> BankStatement:
    return import_bank_statement(content=path.read_bytes(), actor=STAFF)


def _lines(statement: BankStatement) -> dict[str, BankStatementLine]:
    return {line.entry_reference: line for line in statement.lines.select_related("invoice", "payment")}


def _snapshot() -> tuple[Any, ...]:
    """Everything an import may change, to assert that a refused one changed nothing."""
    return (
        list(BankStatement.objects.values_list("statement_id", "lines_count", "matched_count")),
        list(BankStatementLine.objects.order_by("pk").values_list("pk", "status", "invoice_id", "payment_id")),
        list(Payment.objects.order_by("pk").values_list("pk", "status", "amount")),
        list(Invoice.objects.order_by("pk").values_list("pk", "status", "amount_paid")),
        AuditEvent.objects.count(),
    )


# ---------------------------------------------------------------- matching transfers


def test_statement_lines_are_stored_with_the_payer_iban_masked(invoices):
    statement = _import(EUR_STATEMENT)

    assert (statement.statement_id, statement.account_iban, statement.created_on) == (
        "0532013000-2026-153",
        "DE89370400440532013000",
        date(2026, 8, 4),
    )
    assert statement.imported_at == timezone.now()
    assert (statement.lines_count, statement.matched_count) == (4, 2)
    lines = _lines(statement)
    # The fee debit and the entry not yet booked are no lines.
    assert sorted(lines) == ["2026080300104711", "2026080300104712", "2026080300104713", "2026080300104714"]
    exact = lines["2026080300104711"]
    assert (exact.booking_date, exact.amount, exact.currency, exact.is_credit) == (
        date(2026, 8, 3),
        Decimal("35.88"),
        "EUR",
        True,
    )
    assert (exact.payer_name, exact.payer_iban_masked) == ("Baeckerei Test GmbH", "DE02 •••• 2051")
    assert exact.remittance == "RE-2026-000001 Kd-Nr 10042"
    stored = list(BankStatementLine.objects.values_list("payer_iban_masked", flat=True))
    assert not any(BAECKEREI_IBAN in value or "DE0212030000" in value for value in stored)


def test_exact_amount_pays_the_invoice(invoices):
    statement = _import(EUR_STATEMENT)

    line = _lines(statement)["2026080300104711"]
    assert (line.status, line.invoice) == (Status.MATCHED, invoices[0])
    payment = line.payment
    assert payment is not None
    assert (payment.kind, payment.origin, payment.status, payment.amount, payment.currency) == (
        "bank_transfer",
        "bank_transfer",
        PaymentStatus.SUCCEEDED,
        Decimal("35.88"),
        "EUR",
    )
    assert payment.idempotency_key == "camt:0532013000-2026-153:2026080300104711"
    assert state(invoices[0]) == ("paid", Decimal("35.88"))


def test_less_than_open_is_a_partial_payment(invoices):
    statement = _import(EUR_STATEMENT)

    line = _lines(statement)["2026080300104712"]
    assert line.payment is not None
    assert (line.status, line.invoice, line.payment.amount) == (Status.PARTIAL, invoices[1], Decimal("100.00"))
    assert state(invoices[1]) == ("open", Decimal("100.00"))
    invoices[1].refresh_from_db()
    assert invoices[1].open_amount == Decimal("42.80")


def test_unknown_reference_and_overpayment_are_left_unmatched(invoices):
    statement = _import(EUR_STATEMENT)

    lines = _lines(statement)
    unknown, overpaid = lines["2026080300104713"], lines["2026080300104714"]
    assert (unknown.status, unknown.invoice, unknown.payment) == (Status.UNMATCHED, None, None)
    assert (overpaid.status, overpaid.invoice, overpaid.payment, overpaid.amount) == (
        Status.UNMATCHED,
        None,
        None,
        Decimal("50.00"),
    )
    assert state(invoices[2]) == ("open", Decimal("0.00"))
    assert Payment.objects.count() == 2  # the exact and the partial transfer only


def test_a_transfer_in_another_currency_is_left_unmatched(invoices):
    statement = _import(CHF_STATEMENT)

    (line,) = statement.lines.all()
    assert (line.amount, line.currency, line.status, line.invoice) == (Decimal("353.43"), "CHF", Status.UNMATCHED, None)
    assert line.payer_iban_masked == "CH93 •••• 2957"
    assert state(invoices[3]) == ("open", Decimal("0.00"))
    assert Payment.objects.count() == 0


def test_camt_053_001_08_is_read_too(invoices):
    statement = _import(V08_STATEMENT)

    (line,) = statement.lines.all()
    assert (line.entry_reference, line.payer_name, line.payer_iban_masked) == (
        "2026080500104801",
        "Baeckerei Test GmbH",
        "DE02 •••• 2051",
    )
    assert (line.status, line.invoice, line.booking_date) == (Status.MATCHED, invoices[0], date(2026, 8, 5))
    assert state(invoices[0]) == ("paid", Decimal("35.88"))


def test_a_transfer_for_an_invoice_being_collected_is_left_for_a_person(catalog):
    org, _mandate = sepa_org(catalog, "Bäckerei Test GmbH", iban=BAECKEREI_IBAN)
    invoice = issue(org)
    pending = collect(invoice, today=date(2026, 8, 3))  # the direct debit is on its way

    statement = _import(EUR_STATEMENT)

    line = _lines(statement)["2026080300104711"]
    assert (line.status, line.payment) == (Status.UNMATCHED, None)
    assert state(invoice) == ("open", Decimal("0.00"))
    assert Payment.objects.get().pk == pending.pk


# ---------------------------------------------------------------- duplicates and bad files


def test_the_same_file_is_refused_the_second_time_with_nothing_changed(invoices):
    _import(EUR_STATEMENT)
    before = _snapshot()

    with pytest.raises(DuplicateStatement) as refused:
        _import(EUR_STATEMENT)

    assert refused.value.code == "duplicate_statement"
    assert (
        str(refused.value)
        == "This bank statement (0532013000-2026-153) has already been imported; nothing was changed."
    )
    assert _snapshot() == before


def test_the_same_statement_id_in_another_file_is_refused(invoices):
    _import(EUR_STATEMENT)
    before = _snapshot()
    reissued = EUR_STATEMENT.read_bytes().replace(b"<MsgId>053D2026", b"<MsgId>053E2026")  # same Stmt/Id

    with pytest.raises(DuplicateStatement):
        import_bank_statement(content=reissued, actor=STAFF)

    assert _snapshot() == before


CAMT052 = b"""<?xml version="1.0"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.052.001.02"><BkToCstmrAcctRpt><GrpHdr><MsgId>1</MsgId>
</GrpHdr></BkToCstmrAcctRpt></Document>"""


def _statement(entries: str, *, statements: int = 1) -> bytes:
    body = "".join(
        f"<Stmt><Id>T-{number}</Id><CreDtTm>2026-08-04T06:00:00</CreDtTm>"
        "<Acct><Id><IBAN>DE89370400440532013000</IBAN></Id></Acct>"
        f"{entries}</Stmt>"
        for number in range(statements)
    )
    return (
        '<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">'
        f"<BkToCstmrStmt><GrpHdr><MsgId>T</MsgId><CreDtTm>2026-08-04T06:00:00</CreDtTm></GrpHdr>{body}"
        "</BkToCstmrStmt></Document>"
    ).encode()


def _entry(amount: str = "10.00", *, currency: str = "EUR", indicator: str = "CRDT", booked: str = "2026-08-03") -> str:
    booking = f"<BookgDt><Dt>{booked}</Dt></BookgDt>" if booked else ""
    return (
        f'<Ntry><Amt Ccy="{currency}">{amount}</Amt><CdtDbtInd>{indicator}</CdtDbtInd><Sts>BOOK</Sts>{booking}'
        "<AcctSvcrRef>R1</AcctSvcrRef></Ntry>"
    )


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b"", "the file is empty"),
        (b"%PDF-1.7 not a statement", "the file is not well-formed XML"),
        (b"<Document><BkToCstmrStmt>", "the file is not well-formed XML"),
        (CAMT052, "the file is not a camt.053 document"),
        (_statement("", statements=0), "the file must hold exactly one statement, it holds 0"),
        (_statement("", statements=2), "the file must hold exactly one statement, it holds 2"),
        (_statement(_entry("zehn")), "the amount of entry 1 is not a number"),
        (_statement(_entry("-10.00")), "the amount of entry 1 is not a positive amount in cents"),
        (_statement(_entry("10.001")), "the amount of entry 1 is not a positive amount in cents"),
        (_statement(_entry(currency="")), "the amount of entry 1 has no currency"),
        (_statement(_entry(indicator="BOTH")), "entry 1 is neither credit nor debit"),
        (_statement(_entry(booked="")), "entry 1 has no booking date"),
    ],
)
def test_malformed_files_are_refused_with_a_clear_error(invoices, content, detail):
    before = _snapshot()

    with pytest.raises(MalformedStatement) as refused:
        import_bank_statement(content=content, actor=STAFF)

    assert refused.value.code == "malformed_statement"
    assert str(refused.value) == f"This is not a readable camt.053 bank statement: {detail}"
    assert refused.value.fields == {"file": str(refused.value)}
    assert _snapshot() == before


def test_external_entities_are_never_read(invoices, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    content = _statement(
        '<Ntry><Amt Ccy="EUR">10.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>'
        "<BookgDt><Dt>2026-08-03</Dt></BookgDt><AcctSvcrRef>X1</AcctSvcrRef>"
        "<NtryDtls><TxDtls><RmtInf><Ustrd>&xxe;</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"
    ).replace(b"<Document", f'<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file://{secret}">]><Document'.encode(), 1)

    statement = import_bank_statement(content=content, actor=STAFF)

    (line,) = statement.lines.all()
    assert "TOP-SECRET" not in line.remittance
    assert line.status == Status.UNMATCHED


# ---------------------------------------------------------------- SEPA returns


@pytest.fixture
def collected(catalog: dict[str, Product], time_machine: Any) -> tuple[Payment, Payment]:
    """Two SEPA collections exported on 2026-08-03 (the ids the bank statement quotes): both invoices paid."""
    time_machine.move_to("2026-08-03T07:00:00Z", tick=False)
    baeckerei, _mandate = sepa_org(catalog, "Bäckerei Test GmbH", iban=BAECKEREI_IBAN)
    b_org, _mandate = sepa_org(catalog, "B GmbH", iban=B_IBAN, price="40.00")
    first = collect(issue(baeckerei), today=date(2026, 8, 3), public_id="pay_r3tvrn0000000001")
    second = collect(issue(b_org), today=date(2026, 8, 3), public_id="pay_c0llect000000002")
    export_sepa_collections(collection_date_until=date(2026, 8, 31), actor=STAFF, now=timezone.now())
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (PaymentStatus.SUCCEEDED, PaymentStatus.SUCCEEDED)
    time_machine.move_to("2026-08-11T06:00:00Z", tick=False)
    return first, second


def test_a_sepa_return_fails_the_payment_and_reopens_the_invoice(collected):
    first, second = collected
    invoice = first.allocations.get().invoice
    assert state(invoice) == ("paid", Decimal("35.88"))

    statement = _import(RETURN_STATEMENT)

    returned = _lines(statement)["2026081000200002"]
    assert (returned.status, returned.is_credit, returned.amount, returned.return_reason) == (
        Status.SEPA_RETURN,
        False,
        Decimal("35.88"),
        "AM04",
    )
    assert returned.payment == first
    first.refresh_from_db()
    assert (first.status, first.failure_code) == (PaymentStatus.FAILED, "AM04")
    assert state(invoice) == ("open", Decimal("0.00"))
    assert state(second.allocations.get().invoice) == ("paid", Decimal("142.80"))


def test_the_booked_collection_is_matched_to_its_payments_without_booking_again(collected):
    first, second = collected

    statement = _import(RETURN_STATEMENT)

    lines = _lines(statement)
    booked = [lines["2026081000200001/1"], lines["2026081000200001/2"]]
    assert [(line.status, line.amount, line.payment) for line in booked] == [
        (Status.MATCHED, Decimal("35.88"), first),
        (Status.MATCHED, Decimal("142.80"), second),
    ]
    assert [line.invoice for line in booked] == [first.allocations.get().invoice, second.allocations.get().invoice]
    assert Payment.objects.count() == 2  # no transfer was booked for the collection
    assert (statement.lines_count, statement.matched_count) == (4, 3)


def test_a_return_of_no_konto_collection_is_left_for_a_person(collected):
    statement = _import(RETURN_STATEMENT)

    foreign = _lines(statement)["2026081000200003"]
    assert (foreign.status, foreign.is_credit, foreign.amount, foreign.return_reason, foreign.payment) == (
        Status.UNMATCHED,
        False,
        Decimal("4.00"),
        "MD06",
        None,
    )


# ---------------------------------------------------------------- manual work


@pytest.fixture
def statement(invoices: list[Invoice]) -> BankStatement:
    return _import(EUR_STATEMENT)


def test_an_unmatched_line_is_assigned_to_an_invoice(statement, invoices):
    line = _lines(statement)["2026080300104713"]  # 250.00, "Rechnung vom 28.07."

    assigned = assign_statement_line(line=line, invoice=invoices[3], actor=STAFF)

    assert assigned.payment is not None
    assert (assigned.status, assigned.invoice, assigned.payment.amount) == (
        Status.ASSIGNED,
        invoices[3],
        Decimal("250.00"),
    )
    assert state(invoices[3]) == ("open", Decimal("250.00"))
    statement.refresh_from_db()
    assert statement.matched_count == 3
    event = AuditEvent.objects.get(action="bank_statement_line.assigned")
    assert event.after == {
        "status": "assigned",
        "amount": "250.00",
        "currency": "EUR",
        "invoice": "RE-2026-000004",
        "payment": assigned.payment.public_id,
    }


def test_assigning_twice_books_once(statement, invoices):
    line = _lines(statement)["2026080300104713"]
    assign_statement_line(line=line, invoice=invoices[3], actor=STAFF)
    before = _snapshot()

    with pytest.raises(LineNotOpen) as refused:
        assign_statement_line(line=line, invoice=invoices[3], actor=STAFF)

    assert refused.value.code == "line_not_open"
    assert str(refused.value) == "This statement line is already assigned by hand."
    assert _snapshot() == before


def test_assigning_more_than_is_open_is_refused_with_nothing_changed(statement, invoices):
    line = _lines(statement)["2026080300104714"]  # 50.00 for RE-2026-000003, 44.63 open
    before = _snapshot()

    with pytest.raises(AmountMismatch) as refused:
        assign_statement_line(line=line, invoice=invoices[2], actor=STAFF)

    assert refused.value.code == "amount_mismatch"
    assert _snapshot() == before


def test_assigning_a_chf_transfer_to_a_eur_invoice_is_refused(invoices):
    (line,) = _import(CHF_STATEMENT).lines.all()
    before = _snapshot()

    with pytest.raises(BankStatementError) as refused:
        assign_statement_line(line=line, invoice=invoices[3], actor=STAFF)

    assert refused.value.code == "currency_mismatch"
    assert str(refused.value) == "The transfer is in CHF, the invoice in EUR."
    assert _snapshot() == before


def test_a_return_line_cannot_be_assigned(collected):
    foreign = _lines(_import(RETURN_STATEMENT))["2026081000200003"]
    invoice = collected[0].allocations.get().invoice
    before = _snapshot()

    with pytest.raises(BankStatementError) as refused:
        assign_statement_line(line=foreign, invoice=invoice, actor=STAFF)

    assert refused.value.code == "line_not_assignable"
    assert _snapshot() == before


def test_an_ignored_line_keeps_its_reason_in_the_audit_trail(statement):
    line = _lines(statement)["2026080300104713"]

    ignored = ignore_statement_line(line=line, actor=STAFF, reason="  Refund from our  insurer ")

    assert ignored.status == Status.IGNORED
    event = AuditEvent.objects.get(action="bank_statement_line.ignored")
    assert event.after == {
        "status": "ignored",
        "amount": "250.00",
        "currency": "EUR",
        "reason": "Refund from our insurer",
    }
    with pytest.raises(LineNotOpen):
        ignore_statement_line(line=line, actor=STAFF, reason="again")


@pytest.mark.parametrize(
    ("reason", "code"), [("", "reason_required"), ("   ", "reason_required"), ("x" * 301, "reason_too_long")]
)
def test_ignoring_needs_a_reason(statement, reason, code):
    line = _lines(statement)["2026080300104713"]
    before = _snapshot()

    with pytest.raises(BankStatementError) as refused:
        ignore_statement_line(line=line, actor=STAFF, reason=reason)

    assert refused.value.code == code
    assert set(refused.value.fields) == {"reason"}
    assert _snapshot() == before


def test_a_matched_line_cannot_be_ignored(statement):
    line = _lines(statement)["2026080300104711"]

    with pytest.raises(LineNotOpen):
        ignore_statement_line(line=line, actor=STAFF, reason="mistake")

    line.refresh_from_db()
    assert line.status == Status.MATCHED


# ---------------------------------------------------------------- finding invoice numbers


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("RE-2026-000123", ["RE-2026-000123"]),
        ("Rechnung re 2026 000123 danke", ["RE-2026-000123"]),
        ("RE2026/000123", ["RE-2026-000123"]),
        ("RE - 2026 - 000123", ["RE-2026-000123"]),
        ("RE-2026-123", ["RE-2026-000123"]),  # written without the leading zeros
        ("RE-2026-0000123", []),  # leading zeros, but not the printed width
        ("RE-2026-000123, RE-2026-000124 und RE-2026-000123", ["RE-2026-000123", "RE-2026-000124"]),
        ("PRE-2026-000123", []),  # part of another word
        ("Kundennummer 2026000123", []),
        ("", []),
    ],
)
def test_invoice_numbers_are_found_whatever_the_spacing_and_case(text, numbers):
    assert invoice_numbers_in(text, "RE-{year}-{seq:06}") == numbers


def test_invoice_numbers_of_another_format():
    assert invoice_numbers_in("Beleg inv 2026/42 bezahlt", "INV{year}/{seq:05}") == ["INV2026/00042"]


def test_parsing_reads_every_booked_entry_of_the_fixture():
    parsed = parse_camt053(EUR_STATEMENT.read_bytes())

    assert [(e.entry_reference, e.amount, e.is_credit, e.end_to_end_id) for e in parsed.entries] == [
        ("2026080300104711", Decimal("35.88"), True, ""),
        ("2026080300104712", Decimal("100.00"), True, "B-2026-0803-77"),
        ("2026080300104713", Decimal("250.00"), True, ""),
        ("2026080300104714", Decimal("50.00"), True, ""),
        ("2026080300104715", Decimal("12.50"), False, ""),
    ]
    assert parsed.entries[4].is_return is False
    assert parsed.entries[4].remittance == "ENTGELTABSCHLUSS 07/2026"
