"""Bank statements (camt.053): importing them, matching incoming transfers to invoices, SEPA returns, manual work.

A statement file is imported once: the same bytes (sha256) or the same
statement id is refused with `duplicate_statement` and nothing changes (both
are unique in the database, so two uploads at once cannot both pass).
Booked credit entries become lines matched to an invoice by the invoice
number in the remittance information and the amount; debit entries that
return one of Konto's SEPA collections reverse that payment. Everything
else is left for a person: assign it to an invoice or ignore it.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.translation import gettext as _
from lxml import etree

from konto.accounts.models import Vendor
from konto.billing.models import Invoice, InvoiceStatus
from konto.core.audit import Actor, record_event
from konto.core.exceptions import KontoError
from konto.core.money import CENT
from konto.payments.models import BankStatement, BankStatementLine, MethodKind, Payment
from konto.payments.services import pay
from konto.payments.services.sepa_export import payment_public_id

MAX_STATEMENT_BYTES = 20 * 1024 * 1024  # a day's statement of a busy account is far below this
CAMT053 = "urn:iso:std:iso:20022:tech:xsd:camt.053."  # + version, e.g. "001.02", "001.08"
BOOKED = "BOOK"
NOT_PROVIDED = "NOTPROVIDED"


class BankStatementError(KontoError):
    """A statement file or a statement line the service refuses; nothing was changed."""

    code = "bank_statement_error"
    status = 422


class MalformedStatement(BankStatementError):
    code = "malformed_statement"
    status = 422


class DuplicateStatement(BankStatementError):
    code = "duplicate_statement"
    status = 409


class LineNotOpen(BankStatementError):
    """The line was matched, assigned or ignored before."""

    code = "line_not_open"
    status = 409


class LineNotAssignable(BankStatementError):
    code = "line_not_assignable"
    status = 422


# Lines booked by Konto, automatically or by a person (counted as matched on the statement).
SETTLED = (
    BankStatementLine.Status.MATCHED,
    BankStatementLine.Status.PARTIAL,
    BankStatementLine.Status.ASSIGNED,
    BankStatementLine.Status.SEPA_RETURN,
)


# ---------------------------------------------------------------- parsing


@dataclass(frozen=True)
class StatementEntry:
    """One booked transaction of a statement (an entry, or one transaction of a batch entry)."""

    entry_reference: str  # the bank's reference, unique within the statement
    booking_date: date
    amount: Decimal  # positive, 2 decimals; `is_credit` says the direction
    currency: str
    is_credit: bool
    is_return: bool  # a debit that returns a direct debit (R-transaction)
    remittance: str  # unstructured remittance information (and a structured creditor reference)
    payer_name: str
    payer_iban: str  # compact; the caller stores it masked only
    end_to_end_id: str  # "" when the payer sent none
    return_reason: str  # ISO reason code of a return, e.g. "AM04", "MD06"


@dataclass(frozen=True)
class ParsedStatement:
    statement_id: str
    account_iban: str  # the vendor's account
    created_on: date | None
    entries: list[StatementEntry] = field(default_factory=list)


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _children(element: etree._Element, name: str) -> Iterator[etree._Element]:
    return (child for child in element if _local(child) == name)


def _find(element: etree._Element | None, path: str) -> etree._Element | None:
    """The first element along a path of local names ("A/B/C"), whatever the namespace."""
    current = element
    for name in path.split("/"):
        if current is None:
            return None
        current = next(_children(current, name), None)
    return current


def _find_all(element: etree._Element, path: str) -> list[etree._Element]:
    *parents, last = path.split("/")
    found = [element]
    for name in parents:
        found = [child for parent in found for child in _children(parent, name)]
    return [child for parent in found for child in _children(parent, last)]


def _text(element: etree._Element | None, path: str = "") -> str:
    target = _find(element, path) if path else element
    if target is None or target.text is None:
        return ""
    return " ".join(target.text.split())


def _malformed(detail: str) -> MalformedStatement:
    return MalformedStatement(
        _("This is not a readable camt.053 bank statement: %(detail)s") % {"detail": detail},
        fields={"file": _("This is not a readable camt.053 bank statement: %(detail)s") % {"detail": detail}},
    )


def _amount(element: etree._Element | None, where: str) -> tuple[Decimal, str]:
    text = _text(element)
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise _malformed(_("the amount of %(entry)s is not a number") % {"entry": where}) from None
    currency = (element.get("Ccy") if element is not None else "") or ""
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(CENT):
        raise _malformed(_("the amount of %(entry)s is not a positive amount in cents") % {"entry": where})
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise _malformed(_("the amount of %(entry)s has no currency") % {"entry": where})
    return amount.quantize(CENT), currency


def _date(element: etree._Element | None) -> date | None:
    """A `Dt` or `DtTm` child as a date."""
    text = _text(element, "Dt") or _text(element, "DtTm")
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def _entry_status(entry: etree._Element) -> str:
    # camt.053.001.02: <Sts>BOOK</Sts>; from .001.04 on: <Sts><Cd>BOOK</Cd></Sts>.
    return _text(entry, "Sts/Cd") or _text(entry, "Sts")


def _party(details: etree._Element | None, role: str) -> tuple[str, str]:
    """Name and compact IBAN of a related party ("Dbtr" or "Cdtr") of a transaction."""
    parties = _find(details, "RltdPties")
    name = _text(parties, f"{role}/Pty/Nm") or _text(parties, f"{role}/Nm")  # .001.08 nests a Pty
    iban = _text(parties, f"{role}Acct/Id/IBAN").replace(" ", "").upper()
    return name, iban


def _remittance(details: etree._Element | None) -> str:
    if details is None:
        return ""
    parts = [_text(line) for line in _find_all(details, "RmtInf/Ustrd")]
    parts += [_text(ref) for ref in _find_all(details, "RmtInf/Strd/CdtrRefInf/Ref")]
    return " ".join(part for part in parts if part)


def _is_return(entry: etree._Element, details: etree._Element | None) -> bool:
    """A returned/unpaid direct debit: return information, or bank transaction code …/UPDD, or a reversal."""
    if details is not None and _find(details, "RtrInf") is not None:
        return True
    if _text(entry, "BkTxCd/Domn/Fmly/SubFmlyCd") == "UPDD":
        return True
    return _text(entry, "RvslInd").lower() == "true"


def _transaction_amount(details: etree._Element) -> etree._Element | None:
    # .001.04+ carry <Amt> on the transaction; .001.02 only <AmtDtls><TxAmt><Amt>.
    amount = _find(details, "Amt")  # (an lxml element without children is falsy: no `or` here)
    return amount if amount is not None else _find(details, "AmtDtls/TxAmt/Amt")


def _entries(statement: etree._Element, statement_id: str) -> list[StatementEntry]:
    entries: list[StatementEntry] = []
    seen: set[str] = set()
    for index, entry in enumerate(_children(statement, "Ntry"), start=1):
        if _entry_status(entry) != BOOKED:
            continue  # pending or information-only entries are not money on the account yet
        where = _("entry %(number)d") % {"number": index}
        amount, currency = _amount(_find(entry, "Amt"), str(where))
        indicator = _text(entry, "CdtDbtInd")
        if indicator not in ("CRDT", "DBIT"):
            raise _malformed(_("%(entry)s is neither credit nor debit") % {"entry": where})
        booking_date = _date(_find(entry, "BookgDt")) or _date(_find(entry, "ValDt"))
        if booking_date is None:
            raise _malformed(_("%(entry)s has no booking date") % {"entry": where})
        reference = _text(entry, "AcctSvcrRef") or _text(entry, "NtryRef") or f"{statement_id}-{index}"
        transactions = _find_all(entry, "NtryDtls/TxDtls")
        split = len(transactions) > 1 and all(_transaction_amount(tx) is not None for tx in transactions)
        parts: Sequence[tuple[etree._Element | None, Decimal, str, str]]
        if split:  # a batch booking with the single transactions listed: one line each
            parts = [
                (tx, *_amount(_transaction_amount(tx), str(where)), f"{reference}/{number}")
                for number, tx in enumerate(transactions, start=1)
            ]
        else:
            parts = [(transactions[0] if transactions else None, amount, currency, reference)]
        for details, part_amount, part_currency, part_reference in parts:
            is_credit = indicator == "CRDT"
            payer_name, payer_iban = _party(details, "Dbtr")
            if not is_credit and not payer_name:
                payer_name, payer_iban = _party(details, "Cdtr")
            end_to_end = _text(details, "Refs/EndToEndId") if details is not None else ""
            unique_reference = part_reference[:64]
            if unique_reference in seen:
                unique_reference = f"{part_reference[:56]}#{index}"
            seen.add(unique_reference)
            entries.append(
                StatementEntry(
                    entry_reference=unique_reference,
                    booking_date=booking_date,
                    amount=part_amount,
                    currency=part_currency,
                    is_credit=is_credit,
                    is_return=not is_credit and _is_return(entry, details),
                    remittance=(_remittance(details) or _text(entry, "AddtlNtryInf"))[:300],
                    payer_name=payer_name[:140],
                    payer_iban=payer_iban,
                    end_to_end_id="" if end_to_end.upper() == NOT_PROVIDED else end_to_end,
                    return_reason=(_text(details, "RtrInf/Rsn/Cd") if details is not None else "")[:4],
                )
            )
    return entries


_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
)


def parse_camt053(content: bytes) -> ParsedStatement:
    """Read a camt.053 statement (any version from .001.02 on, namespace-agnostic) or raise MalformedStatement.

    Only booked entries count. The file must hold exactly one statement (one account and period).
    """
    if not content.strip():
        raise _malformed(_("the file is empty"))
    if len(content) > MAX_STATEMENT_BYTES:
        raise _malformed(_("the file is larger than 20 MB"))
    try:
        root = etree.fromstring(content, parser=_PARSER)
    except etree.XMLSyntaxError:
        raise _malformed(_("the file is not well-formed XML")) from None
    namespace = etree.QName(root).namespace or ""
    if _local(root) != "Document" or (namespace and not namespace.startswith(CAMT053)):
        raise _malformed(_("the file is not a camt.053 document"))
    report = _find(root, "BkToCstmrStmt")
    if report is None:
        raise _malformed(_("the file is not a camt.053 document"))
    statements = list(_children(report, "Stmt"))
    if len(statements) != 1:
        raise _malformed(_("the file must hold exactly one statement, it holds %(count)d") % {"count": len(statements)})
    statement = statements[0]
    statement_id = _text(statement, "Id")
    if not statement_id or len(statement_id) > 35:
        raise _malformed(_("the statement has no id"))
    created = _text(statement, "CreDtTm")
    try:
        created_on = datetime.fromisoformat(created[:19]).date() if created else None
    except ValueError:
        raise _malformed(_("the statement's creation time is not a date")) from None
    return ParsedStatement(
        statement_id=statement_id,
        account_iban=_text(statement, "Acct/Id/IBAN").replace(" ", "").upper()[:34],
        created_on=created_on,
        entries=_entries(statement, statement_id),
    )


def content_sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def mask_iban(iban: str) -> str:
    """Country, check digits and the last 4, like PaymentMethod.masked_iban."""
    compact = iban.replace(" ", "").upper()
    if len(compact) < 8:
        return ""
    return f"{compact[:4]} •••• {compact[-4:]}"


# ---------------------------------------------------------------- invoice numbers in remittance texts

_SEPARATORS = r"[\s\-_/.:#]*"


def invoice_number_pattern(number_format: str) -> re.Pattern[str]:
    """A tolerant pattern for numbers of this format: any case, separators and spaces optional or different.

    "RE-{year}-{seq:06}" finds "RE-2026-000123", "re 2026 000123", "RE2026/000123", "RE-2026-123".
    """
    parts: list[str] = [r"(?<![A-Za-z0-9])"]
    for literal, name, _spec, _conversion in string.Formatter().parse(number_format):
        for character in literal:
            if character.isalnum():
                parts.append(re.escape(character) + r"\s*")
            else:
                parts.append(_SEPARATORS)
        if name == "year":
            parts.append(r"(?P<year>\d{4})")
        elif name == "seq":
            parts.append(r"(?P<seq>\d{1,12})(?!\d)")
    return re.compile("".join(parts), re.IGNORECASE)


def invoice_numbers_in(text: str, number_format: str) -> list[str]:
    """The invoice numbers (as the series prints them) mentioned in a remittance text, in order, without repeats.

    Digits written with leading zeros must have the printed width ("000123", not "0000123"); written
    without leading zeros any width is accepted ("123" → "RE-2026-000123").
    """
    numbers: list[str] = []
    for match in invoice_number_pattern(number_format).finditer(text):
        groups = match.groupdict()
        seq_text = groups.get("seq") or ""
        if not seq_text:
            continue
        values = {"seq": int(seq_text)}
        if "year" in groups:
            values["year"] = int(groups["year"])
        try:
            number = number_format.format(**values)
        except (KeyError, IndexError, ValueError):
            continue
        printed_seq = format(int(seq_text), _seq_spec(number_format))
        if seq_text.startswith("0") and len(seq_text) != len(printed_seq):
            continue
        if number not in numbers:
            numbers.append(number)
    return numbers


def _seq_spec(number_format: str) -> str:
    for _literal, name, spec, _conversion in string.Formatter().parse(number_format):
        if name == "seq":
            return spec or ""
    return ""


# ---------------------------------------------------------------- importing and matching


def _candidate_invoice(remittance: str, number_format: str) -> Invoice | None:
    """The one invoice whose number the remittance text names; None when it names none or several."""
    numbers = invoice_numbers_in(remittance, number_format)
    if not numbers:
        return None
    invoices = list(Invoice.objects.filter(number__in=numbers)[:2])
    return invoices[0] if len(invoices) == 1 else None


def _line_idempotency_key(line: BankStatementLine) -> str:
    """One key per statement line: the line is booked as one payment, whoever books it and however often."""
    return f"camt:{line.statement.statement_id}:{line.entry_reference}"


def _count_matched(statement: BankStatement) -> None:
    statement.matched_count = statement.lines.filter(status__in=SETTLED).count()
    statement.save(update_fields=["matched_count"])


@transaction.atomic(durable=True)
def _store_statement(*, parsed: ParsedStatement, sha256: str, actor: Actor) -> BankStatement:
    """Write the statement and its lines, all unmatched; refused if the file or statement id is known."""
    if BankStatement.objects.filter(Q(content_sha256=sha256) | Q(statement_id=parsed.statement_id)).exists():
        raise _duplicate(parsed.statement_id)
    statement = BankStatement.objects.create(
        statement_id=parsed.statement_id,
        content_sha256=sha256,
        account_iban=parsed.account_iban,
        created_on=parsed.created_on,
        imported_by_id=actor.user_id,
    )
    lines = [
        BankStatementLine(
            statement=statement,
            entry_reference=entry.entry_reference,
            booking_date=entry.booking_date,
            amount=entry.amount,
            currency=entry.currency,
            is_credit=entry.is_credit,
            remittance=entry.remittance,
            payer_name=entry.payer_name,
            payer_iban_masked=mask_iban(entry.payer_iban),
            return_reason=entry.return_reason,
            status=BankStatementLine.Status.UNMATCHED,
        )
        for entry in parsed.entries
        # Debits are the vendor's own business (fees, outgoing transfers) unless they return a collection.
        if entry.is_credit or entry.is_return or _konto_payment(entry.end_to_end_id) is not None
    ]
    BankStatementLine.objects.bulk_create(lines)
    statement.lines_count = len(lines)
    statement.save(update_fields=["lines_count"])
    record_event(
        actor=actor,
        org_id=None,
        action="bank_statement.imported",
        object_type="bank_statement",
        object_id=statement.public_id,
        after={"statement_id": statement.statement_id, "lines": len(lines), "sha256": sha256},
    )
    return statement


def _duplicate(statement_id: str) -> DuplicateStatement:
    message = _("This bank statement (%(id)s) has already been imported; nothing was changed.") % {"id": statement_id}
    return DuplicateStatement(message, fields={"file": message})


def _konto_payment(end_to_end: str) -> Payment | None:
    """The SEPA collection of Konto a bank statement refers to by its end-to-end id, if any."""
    public_id = payment_public_id(end_to_end) if end_to_end else ""
    if not public_id.startswith("pay_"):
        return None
    return Payment.objects.filter(public_id=public_id, kind=MethodKind.SEPA_DEBIT).first()


def import_bank_statement(*, content: bytes, actor: Actor) -> BankStatement:
    """Import a camt.053 file: store its lines, book what matches, leave the rest for a person.

    Refused before anything is written: malformed files (`malformed_statement`) and a file or
    statement id imported before (`duplicate_statement`). Then each credit line naming exactly one
    invoice number is booked through payments-core's `record_bank_transfer` when the invoice is open,
    in the same currency and the amount is at most what is open (equal: matched; less: partial).
    Returns of Konto's SEPA collections go to `record_sepa_return`. Those calls are services of their
    own (one durable transaction each) and are keyed per line, so a line is never booked twice.
    """
    parsed = parse_camt053(content)
    sha256 = content_sha256(content)
    try:
        statement = _store_statement(parsed=parsed, sha256=sha256, actor=actor)
    except IntegrityError:  # the same file or statement imported at the same moment
        raise _duplicate(parsed.statement_id) from None
    vendor = Vendor.objects.order_by("pk").first()
    number_format = vendor.invoice_number_format if vendor is not None else "RE-{year}-{seq:06}"
    entries = {entry.entry_reference: entry for entry in parsed.entries}
    for line in statement.lines.select_related("statement").order_by("id"):
        entry = entries[line.entry_reference]
        if line.is_credit and _is_collection_credit(line, end_to_end=entry.end_to_end_id):
            _match_collection(line, end_to_end=entry.end_to_end_id, actor=actor)
        elif line.is_credit:
            _match_transfer(line, number_format=number_format, actor=actor)
        else:
            _match_return(line, end_to_end=entry.end_to_end_id, actor=actor)
    statement.refresh_from_db()
    return statement


def _match_transfer(line: BankStatementLine, *, number_format: str, actor: Actor) -> None:
    invoice = _candidate_invoice(line.remittance, number_format)
    if invoice is None or invoice.status != InvoiceStatus.OPEN or invoice.currency != line.currency:
        return
    open_amount = invoice.open_amount
    if line.amount > open_amount:
        return  # an overpayment is a person's decision (refund, credit, other invoices)
    try:
        payment = pay.record_bank_transfer(
            invoice=invoice,
            amount=line.amount,
            booking_date=line.booking_date,
            reference=line.remittance or line.entry_reference,
            actor=actor,
            idempotency_key=_line_idempotency_key(line),
        )
    except KontoError:
        return  # e.g. a collection of the invoice is on its way: left for a person
    invoice.refresh_from_db()  # as booked under the invoice's lock: paid in full, or still open
    is_paid = invoice.open_amount <= 0
    status = BankStatementLine.Status.MATCHED if is_paid else BankStatementLine.Status.PARTIAL
    _settle_line(line, status=status, invoice=invoice, payment=payment, actor=actor)


def _is_collection_credit(line: BankStatementLine, *, end_to_end: str) -> bool:
    payment = _konto_payment(end_to_end)
    return payment is not None and (payment.amount, payment.currency) == (line.amount, line.currency)


def _match_collection(line: BankStatementLine, *, end_to_end: str, actor: Actor) -> None:
    """The bank booked one of Konto's SEPA collections: it was counted as paid when exported; only noted here."""
    payment = _konto_payment(end_to_end)
    if payment is None:
        return
    invoices = list(Invoice.objects.filter(payment_allocations__payment=payment).order_by("pk")[:2])
    invoice = invoices[0] if len(invoices) == 1 else None
    _settle_line(line, status=BankStatementLine.Status.MATCHED, invoice=invoice, payment=payment, actor=actor)


def _match_return(line: BankStatementLine, *, end_to_end: str, actor: Actor) -> None:
    payment = _konto_payment(end_to_end)
    if payment is None or payment.currency != line.currency:
        return
    try:
        returned = pay.record_sepa_return(payment=payment, reason_code=line.return_reason, actor=actor)
    except KontoError:
        return  # not a collected payment (any more): a person looks at it
    _settle_line(line, status=BankStatementLine.Status.SEPA_RETURN, invoice=None, payment=returned, actor=actor)


def _lock_line(line_id: int) -> BankStatementLine:
    return BankStatementLine.objects.select_for_update(of=("self",)).select_related("statement").get(pk=line_id)


@transaction.atomic(durable=True)
def _settle_line(
    line: BankStatementLine, *, status: str, invoice: Invoice | None, payment: Payment, actor: Actor
) -> BankStatementLine:
    """Record on the line what booked it (the payment service has committed the money side)."""
    line = _lock_line(line.pk)
    if line.status != BankStatementLine.Status.UNMATCHED:
        return line  # booked meanwhile with the same key: the payment is the same
    line.status = status
    line.invoice = invoice
    line.payment = payment
    line.save(update_fields=["status", "invoice", "payment"])
    _count_matched(line.statement)
    record_event(
        actor=actor,
        org_id=payment.org_id,
        action=f"bank_statement_line.{status}",
        object_type="bank_statement_line",
        object_id=f"{line.statement.public_id}/{line.entry_reference}",
        after={
            "status": status,
            "amount": str(line.amount),
            "currency": line.currency,
            "invoice": invoice.number if invoice is not None else None,
            "payment": payment.public_id,
        },
    )
    return line


# ---------------------------------------------------------------- manual work on unmatched lines


def _refuse_unless_open(line: BankStatementLine) -> None:
    if line.status != BankStatementLine.Status.UNMATCHED:
        raise LineNotOpen(
            _("This statement line is already %(status)s.")
            % {"status": BankStatementLine.Status(line.status).label.lower()}
        )


def assign_statement_line(*, line: BankStatementLine, invoice: Invoice, actor: Actor) -> BankStatementLine:
    """Book an unmatched credit line on an invoice chosen by staff (through `record_bank_transfer`).

    The invoice must take the whole amount (same currency, at most its open amount); payments-core
    refuses anything else with its own code, and nothing changes. The payment is keyed on the line,
    so assigning twice (double click, two people) books it once.
    """
    line = BankStatementLine.objects.select_related("statement").get(pk=line.pk)
    _refuse_unless_open(line)
    if not line.is_credit:
        raise LineNotAssignable(_("Only incoming transfers can be assigned to an invoice; ignore this line instead."))
    if invoice.currency != line.currency:
        message = _("The transfer is in %(line)s, the invoice in %(invoice)s.") % {
            "line": line.currency,
            "invoice": invoice.currency,
        }
        raise LineNotAssignable(message, code="currency_mismatch", fields={"invoice_number": message})
    payment = pay.record_bank_transfer(
        invoice=invoice,
        amount=line.amount,
        booking_date=line.booking_date,
        reference=line.remittance or line.entry_reference,
        actor=actor,
        idempotency_key=_line_idempotency_key(line),
    )
    return _settle_line(line, status=BankStatementLine.Status.ASSIGNED, invoice=invoice, payment=payment, actor=actor)


@transaction.atomic(durable=True)
def ignore_statement_line(*, line: BankStatementLine, actor: Actor, reason: str) -> BankStatementLine:
    """Mark an unmatched line as none of Konto's business (e.g. a refund from a supplier), with the reason."""
    reason = " ".join((reason or "").split())
    if not reason:
        message = _("Say why this line is ignored.")
        raise BankStatementError(message, code="reason_required", fields={"reason": message})
    if len(reason) > 300:
        message = _("Keep the reason under 300 characters.")
        raise BankStatementError(message, code="reason_too_long", fields={"reason": message})
    line = _lock_line(line.pk)
    _refuse_unless_open(line)
    line.status = BankStatementLine.Status.IGNORED
    line.save(update_fields=["status"])
    record_event(
        actor=actor,
        org_id=None,
        action="bank_statement_line.ignored",
        object_type="bank_statement_line",
        object_id=f"{line.statement.public_id}/{line.entry_reference}",
        after={"status": line.status, "amount": str(line.amount), "currency": line.currency, "reason": reason},
    )
    return line
