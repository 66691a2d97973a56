"""Invoices from charges: drafts, issuing (number, snapshots), the status machine, immediate invoices.

Every due, uninvoiced charge of an org becomes a line of one invoice per
(contract, billing date). The line's `charge` link is unique, so a charge can
be on one invoice only: running anything here twice bills nothing twice.

Locks are taken in one order everywhere: the org rows, then invoice rows,
then the number counter last (held only from numbering to commit).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Protocol

from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from konto.accounts.models import Org, Vendor
from konto.billing import ports
from konto.billing.exceptions import InvalidTransition, InvoiceImmutable, NothingToInvoice, TaxUndetermined
from konto.billing.models import (
    INVOICE_TRANSITIONS,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    InvoiceTax,
    NumberCounter,
    NumberSeries,
)
from konto.billing.services import documents as stored_documents
from konto.billing.services import numbering
from konto.contracts.models import Charge, Order
from konto.core.audit import Actor, record_event
from konto.core.editions import Edition
from konto.core.exceptions import KontoError
from konto.core.money import ZERO, round_money
from konto.core.tax import TaxTreatment, determine_tax

# Called inside the issuing transaction once the invoices carry their numbers and stored documents (an
# extension point, e.g. for tests). If it raises, the transaction rolls back and the numbers are given back.
DocumentHook = Callable[[Sequence[Invoice]], None]


class NumberTurn(Protocol):
    """Issuers that take their numbers in an agreed order (the billing run's worker processes, workers.py).

    Documents are rendered before the number counter is locked, with the
    numbers expected; parallel batches would otherwise expect the same numbers
    and all but one render again under the lock. Only the expectation and the
    moment of locking change: the numbers are still taken from the counter and
    checked against the rendered ones.
    """

    def reserve(self, *, last_taken: int, count: int) -> int:
        """The number after which this batch's `count` numbers are expected (`last_taken`: the counter now)."""
        ...

    def wait(self) -> None:
        """Return when the batches reserved before this one have taken their numbers (or given up)."""
        ...


HUNDRED = Decimal(100)


class VendorMissing(KontoError):
    code = "vendor_missing"
    status = 409


# ---------------------------------------------------------------- snapshots and tax


def seller_snapshot(vendor: Vendor) -> dict[str, str]:
    """The seller as printed on documents issued now, with the bank data for payment instructions."""
    return {
        "name": vendor.legal_name,
        "street": vendor.street,
        "postal_code": vendor.postal_code,
        "city": vendor.city,
        "country": vendor.country,
        "vat_id": vendor.vat_id,
        "tax_number": vendor.tax_number,
        "email": vendor.email,
        "phone": vendor.phone,
        "website": vendor.website,
        "register_entry": vendor.register_entry,
        "managing_directors": vendor.managing_directors,
        "bank_name": vendor.bank_name,
        "iban": vendor.iban,
        "bic": vendor.bic,
        "sepa_creditor_id": vendor.sepa_creditor_id,
        "qr_bill_iban": vendor.qr_bill_iban,
    }


BUYER_FIELDS = ("legal_name", "street", "address_line2", "postal_code", "city", "country", "vat_id", "billing_email")


def buyer_snapshot(org: dict[str, Any]) -> dict[str, str]:
    """The buyer as printed; `org` holds the BUYER_FIELDS values of an Org."""
    return {
        "name": org["legal_name"],
        "street": org["street"],
        "address_line2": org["address_line2"],
        "postal_code": org["postal_code"],
        "city": org["city"],
        "country": org["country"],
        "vat_id": org["vat_id"],
        "email": org["billing_email"],
    }


def get_vendor() -> Vendor:
    vendor = Vendor.objects.first()
    if vendor is None:
        raise VendorMissing(_("The vendor's company data is missing; enter it in the back office first."))
    return vendor


@dataclass(frozen=True)
class TaxRow:
    """VAT of one category and rate on the sum of its line nets."""

    category: str
    rate: Decimal
    taxable_amount: Decimal
    tax_amount: Decimal
    note: str
    exemption_reason_code: str


def tax_rows(lines: Iterable[tuple[Decimal, TaxTreatment | tuple[str, Decimal, str, str]]]) -> list[TaxRow]:
    """VAT per (category, rate) on the sum of the line nets, half-up (EN 16931 BR-CO-17); not per line.

    A treatment is a TaxTreatment or (category, rate, note, exemption code).
    Rows are ordered by category, then by rate descending.
    """
    sums: dict[tuple[str, Decimal], Decimal] = {}
    notes: dict[tuple[str, Decimal], tuple[str, str]] = {}
    for net, treatment in lines:
        if isinstance(treatment, TaxTreatment):
            key = (treatment.category, treatment.rate)
            note = (str(treatment.note), treatment.exemption_reason_code)
        else:
            key = (treatment[0], treatment[1])
            note = (treatment[2], treatment[3])
        sums[key] = sums.get(key, ZERO) + net
        notes.setdefault(key, note)
    return [
        TaxRow(category, rate, round_money(base), round_money(base * rate / HUNDRED), *notes[(category, rate)])
        for (category, rate), base in sorted(sums.items(), key=lambda item: (item[0][0], -item[0][1]))
    ]


# ---------------------------------------------------------------- planning invoices from charges

_CHARGE_FIELDS = (
    "id",
    "org_id",
    "contract_id",
    "period_start",
    "period_end",
    "service_start",
    "quantity",
    "unit_price",
    "days_charged",
    "days_in_period",
    "net_amount",
    "line__product__name_de",
    "line__product__name_en",
    "line__product__unit",
    "line__product__tax_category",
    "contract__number",
    "contract__currency",
    "contract__payment_terms_days",
    "contract__payment_method_kind",
    "contract__po_number",
    "contract__buyer_reference",
)


@dataclass
class _Plan:
    """One invoice to write: its draft, its lines and its VAT rows."""

    invoice: Invoice
    lines: list[InvoiceLine]
    taxes: list[TaxRow]


@dataclass
class BatchResult:
    """What billing a set of orgs wrote, and which orgs it could not bill (org id → message)."""

    invoices: list[Invoice] = field(default_factory=list)
    lines_created: int = 0
    orgs_billed: set[int] = field(default_factory=set)
    failures: dict[int, str] = field(default_factory=dict)


def due_charges(*, org_ids: Sequence[int], billing_date: date, order: Order | None = None) -> list[dict[str, Any]]:
    """Uninvoiced charges of these orgs due on `billing_date` (period_start on or before it), in billing order."""
    charges = Charge.objects.filter(org_id__in=org_ids, invoice_line__isnull=True)
    if order is None:
        charges = charges.filter(period_start__lte=billing_date)
    else:
        charges = charges.filter(line__order=order, period_start__lte=billing_date, period_end__gt=billing_date)
    return list(
        charges.order_by("org_id", "contract_id", "period_start", "line_id", "id").values(*_CHARGE_FIELDS).iterator()
    )


def _plan_invoices(
    *,
    charges: list[dict[str, Any]],
    orgs: dict[int, dict[str, Any]],
    vendor: Vendor,
    billing_date: date,
    run_id: int | None,
    order: Order | None,
    result: BatchResult,
) -> list[_Plan]:
    seller = seller_snapshot(vendor)
    treatments: dict[tuple[str, bool, str, date], TaxTreatment] = {}
    plans: list[_Plan] = []
    by_contract: dict[int, list[dict[str, Any]]] = {}
    for charge in charges:
        by_contract.setdefault(charge["contract_id"], []).append(charge)
    for contract_charges in by_contract.values():
        first = contract_charges[0]
        org = orgs[first["org_id"]]
        if first["org_id"] in result.failures:
            continue
        language = org["language"] or "de"
        try:
            lines: list[InvoiceLine] = []
            taxed: list[tuple[Decimal, TaxTreatment]] = []
            for position, charge in enumerate(contract_charges, start=1):
                key = (
                    org["country"],
                    bool(org["vat_id"].strip()),
                    charge["line__product__tax_category"],
                    charge["service_start"],
                )
                treatment = treatments.get(key)
                if treatment is None:
                    treatment = determine_tax(
                        seller_country=vendor.country,
                        buyer_country=org["country"],
                        buyer_vat_id=org["vat_id"],
                        tax_category=charge["line__product__tax_category"],
                        service_date=charge["service_start"],
                    )
                    treatments[key] = treatment
                taxed.append((charge["net_amount"], treatment))
                lines.append(
                    InvoiceLine(
                        org_id=first["org_id"],
                        charge_id=charge["id"],
                        position=position,
                        description=charge["line__product__name_de" if language == "de" else "line__product__name_en"],
                        unit=charge["line__product__unit"],
                        quantity=Decimal(charge["quantity"]),
                        unit_price=charge["unit_price"],
                        net_amount=charge["net_amount"],
                        days_charged=charge["days_charged"],
                        days_in_period=charge["days_in_period"],
                        tax_category=treatment.category,
                        tax_rate=treatment.rate,
                        period_start=charge["service_start"],
                        period_end=charge["service_start"] + timedelta(days=charge["days_charged"]),
                    )
                )
            with translation.override(language):
                taxes = tax_rows(taxed)
        except (ValueError, TypeError) as error:
            result.failures[first["org_id"]] = f"{type(error).__name__}: {error}"
            continue
        net = sum((line.net_amount for line in lines), ZERO)
        tax = sum((row.tax_amount for row in taxes), ZERO)
        invoice = Invoice(
            org_id=first["org_id"],
            contract_id=first["contract_id"],
            order=order,
            billing_run_id=run_id,
            status=InvoiceStatus.DRAFT,
            billing_date=billing_date,
            issue_date=billing_date,
            due_date=billing_date + timedelta(days=first["contract__payment_terms_days"]),
            period_start=min(line.period_start for line in lines),
            period_end=max(line.period_end for line in lines),
            currency=first["contract__currency"],
            language=language,
            payment_method_kind=first["contract__payment_method_kind"],
            payment_terms_days=first["contract__payment_terms_days"],
            net_amount=net,
            tax_amount=tax,
            gross_amount=net + tax,
            seller=seller,
            buyer=buyer_snapshot(org),
            po_number=(order.po_number if order is not None and order.po_number else first["contract__po_number"]),
            buyer_reference=first["contract__buyer_reference"],
            contract_number=first["contract__number"],
            notes=list(dict.fromkeys(row.note for row in taxes if row.note)),
        )
        plans.append(_Plan(invoice=invoice, lines=lines, taxes=taxes))
    # An org that failed on one contract is not billed on any other either: all of its invoices or none.
    return [plan for plan in plans if plan.invoice.org_id not in result.failures]


def _add_payment_details(plans: list[_Plan], *, issue_date: date) -> None:
    """How each invoice is paid, as the org's payment method is now (billing.ports: payments answers)."""
    details = ports.payment_details_by_org(sorted({plan.invoice.org_id for plan in plans}), issue_date)
    for plan in plans:
        invoice = plan.invoice
        invoice.payment_details = ports.invoice_payment_details(
            details.get(invoice.org_id), kind=invoice.payment_method_kind, due_date=invoice.due_date
        )


def _write_drafts(plans: list[_Plan]) -> list[Invoice]:
    """Insert the drafts, their lines and VAT rows (three bulk inserts)."""
    invoices = Invoice.objects.bulk_create([plan.invoice for plan in plans], batch_size=1000)
    lines: list[InvoiceLine] = []
    taxes: list[InvoiceTax] = []
    for plan, invoice in zip(plans, invoices, strict=True):
        for line in plan.lines:
            line.invoice_id = invoice.pk
            lines.append(line)
        for row in plan.taxes:
            taxes.append(
                InvoiceTax(
                    org_id=invoice.org_id,
                    invoice_id=invoice.pk,
                    tax_category=row.category,
                    tax_rate=row.rate,
                    taxable_amount=row.taxable_amount,
                    tax_amount=row.tax_amount,
                    note=row.note,
                    exemption_reason_code=row.exemption_reason_code,
                )
            )
    InvoiceLine.objects.bulk_create(lines, batch_size=2000)
    InvoiceTax.objects.bulk_create(taxes, batch_size=2000)
    return invoices


def _number_invoices(invoices: Sequence[Invoice], *, now: dt.datetime, number_format: str) -> None:
    """Give drafts their numbers and open them, in one statement; the counter is locked from here to commit."""
    by_year: dict[int, list[Invoice]] = {}
    for invoice in invoices:
        by_year.setdefault(invoice.issue_date.year, []).append(invoice)
    for year in sorted(by_year):
        batch = by_year[year]
        sequence = numbering.allocate_numbers(series=NumberSeries.INVOICE, year=year, count=len(batch))
        for invoice, seq in zip(batch, sequence, strict=True):
            invoice.number = numbering.format_number(number_format, year=year, seq=seq)
            invoice.status = InvoiceStatus.OPEN
            invoice.issued_at = now
            invoice.status_changed_at = now
    if connection.vendor == "postgresql":
        for start in range(0, len(invoices), 1000):
            chunk = invoices[start : start + 1000]
            values = ", ".join(["(%s::bigint, %s)"] * len(chunk))
            params: list[Any] = [value for invoice in chunk for value in (invoice.pk, invoice.number)]
            statement = (
                "UPDATE billing_invoice AS i SET number = v.number, status = 'open', issued_at = %s, "  # noqa: S608
                f"status_changed_at = %s FROM (VALUES {values}) AS v(id, number) "  # only placeholders formatted in
                "WHERE i.id = v.id AND i.status = 'draft'"
            )
            with connection.cursor() as cursor:
                cursor.execute(
                    statement,
                    [now, now, *params],
                )
                if cursor.rowcount != len(chunk):
                    raise RuntimeError("an invoice to number is no longer a draft")
    else:
        Invoice.objects.bulk_update(list(invoices), ["number", "status", "issued_at", "status_changed_at"])


def _expected_numbers(invoices: Sequence[Invoice], *, number_format: str, turn: NumberTurn | None = None) -> list[str]:
    """The numbers these invoices get if nobody else issues meanwhile: read without taking the counter's lock."""
    years = {invoice.issue_date.year for invoice in invoices}
    last = dict(
        NumberCounter.objects.filter(series__code=NumberSeries.INVOICE, year__in=years).values_list(
            "year", "last_number"
        )
    )
    expected: dict[int, str] = {}
    for year in sorted(years):  # the order _number_invoices hands them out in
        seq = last.get(year, 0)
        if turn is not None and len(years) == 1:
            seq = turn.reserve(last_taken=seq, count=len(invoices))
        for invoice in invoices:
            if invoice.issue_date.year == year:
                seq += 1
                expected[id(invoice)] = numbering.format_number(number_format, year=year, seq=seq)
    return [expected[id(invoice)] for invoice in invoices]


def _issue_numbered(
    invoices: Sequence[Invoice],
    *,
    now: dt.datetime,
    number_format: str,
    documents: bool,
    render_documents: DocumentHook | None,
    turn: NumberTurn | None = None,
) -> None:
    """Number and open the drafts, with their documents rendered, validated and stored, in the caller's transaction.

    Rendering (~25 ms an invoice, mostly the Schematron) happens before the
    number counter is locked, with the numbers the invoices are expected to
    get; the numbers are then taken last, as always. Only if someone else
    issued in between (expected ≠ taken) are those documents rendered again,
    under the lock. Either way the stored XML is exactly the validated one and
    a failure rolls everything back, numbers included: no gap.
    """
    rendered: list[stored_documents.RenderedDocuments] = []
    if documents:
        expected = _expected_numbers(invoices, number_format=number_format, turn=turn)
        for invoice, number in zip(invoices, expected, strict=True):
            invoice.number, invoice.issued_at = number, now
        try:
            rendered = [stored_documents.render_documents(invoice) for invoice in invoices]
        finally:
            for invoice in invoices:
                invoice.number = None
    if turn is not None:
        turn.wait()
    _number_invoices(invoices, now=now, number_format=number_format)
    if documents:
        rendered = [
            item if item.number == item.record.number else stored_documents.render_documents(item.record)
            for item in rendered
        ]
        stored_documents.store_documents(rendered)
    if render_documents is not None:
        render_documents(invoices)
    ports.announce_issued([invoice.pk for invoice in invoices])  # after commit: e.g. payments collects


def bill_orgs(
    *,
    org_ids: Sequence[int],
    billing_date: date,
    vendor: Vendor,
    now: dt.datetime,
    run_id: int | None = None,
    order: Order | None = None,
    documents: bool = True,
    render_documents: DocumentHook | None = None,
    turn: NumberTurn | None = None,
) -> BatchResult:
    """Invoice and issue every due, uninvoiced charge of these orgs, inside the caller's transaction.

    The caller holds the locks of the org rows. Charges are read after the
    locks are taken, so a charge another transaction has just invoiced is not
    seen again; one the unique charge link still refuses. Orgs whose tax
    cannot be determined are left out and reported in `failures`. With
    `documents`, every invoice's XML is validated and its documents are stored
    before the transaction commits (EInvoiceInvalid rolls it all back).
    """
    result = BatchResult()
    if not org_ids:
        return result
    charges = due_charges(org_ids=org_ids, billing_date=billing_date, order=order)
    if not charges:
        return result
    wanted = {charge["org_id"] for charge in charges}
    orgs = {
        row["id"]: row for row in Org.objects.filter(id__in=wanted).values("id", "language", *BUYER_FIELDS).iterator()
    }
    plans = _plan_invoices(
        charges=charges,
        orgs=orgs,
        vendor=vendor,
        billing_date=billing_date,
        run_id=run_id,
        order=order,
        result=result,
    )
    if not plans:
        return result
    _add_payment_details(plans, issue_date=billing_date)
    invoices = _write_drafts(plans)
    _issue_numbered(
        invoices,
        now=now,
        number_format=vendor.invoice_number_format,
        documents=documents,
        render_documents=render_documents,
        turn=turn,
    )
    result.invoices = invoices
    result.lines_created = sum(len(plan.lines) for plan in plans)
    result.orgs_billed = {invoice.org_id for invoice in invoices}
    return result


def lock_org(org: Org) -> Org:
    return Org.objects.select_for_update().get(pk=org.pk)


@transaction.atomic(durable=True)
def invoice_due_charges(
    *, org: Org, billing_date: date, documents: bool = True, render_documents: DocumentHook | None = None
) -> list[Invoice]:
    """Issue one invoice per contract of `org` for every uninvoiced charge with period_start <= billing_date.

    Idempotent: a second call finds no uninvoiced charge and returns [].
    Raises InvalidInput (ValueError from the tax engine) when VAT cannot be determined.
    """
    lock_org(org)
    result = bill_orgs(
        org_ids=[org.pk],
        billing_date=billing_date,
        vendor=get_vendor(),
        now=timezone.now(),
        documents=documents,
        render_documents=render_documents,
    )
    if result.failures:
        raise TaxUndetermined(result.failures[org.pk])
    return result.invoices


def _invoice_order(order: Order, *, documents: bool, render_documents: DocumentHook | None) -> Invoice | None:
    lock_org(order.org)
    result = bill_orgs(
        org_ids=[order.org_id],
        billing_date=order.ordered_on,
        vendor=get_vendor(),
        now=timezone.now(),
        order=order,
        documents=documents,
        render_documents=render_documents,
    )
    if result.failures:
        raise TaxUndetermined(result.failures[order.org_id])
    return result.invoices[0] if result.invoices else None


@transaction.atomic(durable=True)
def invoice_order_now(
    order: Order, *, documents: bool = True, render_documents: DocumentHook | None = None
) -> Invoice | None:
    """Invoice an order's charges of the current period at once (Essentials purchases are paid at once).

    The current period is the one containing the order date; later periods of
    the order's lines are billed by the billing run. Returns None when those
    charges are already invoiced (calling it twice bills nothing twice).
    """
    return _invoice_order(order, documents=documents, render_documents=render_documents)


def invoice_purchase(order: Order) -> Invoice | None:
    """`place_order(after_place=...)` for My Account and the API: an Essentials purchase is invoiced at once.

    Runs inside the order's transaction, so the order, its charges, the
    invoice, its number and its validated documents are committed together or
    not at all; a repeated submission returns the first order without calling
    it. Orders of other editions are billed by the billing run (returns None).
    """
    if order.org.edition != Edition.ESSENTIALS:
        return None
    return _invoice_order(order, documents=True, render_documents=None)


# ---------------------------------------------------------------- drafts, issuing, the status machine


@transaction.atomic(durable=True)
def create_draft_invoices(*, org: Org, billing_date: date) -> list[Invoice]:
    """Draft invoices (no number yet) for the due, uninvoiced charges of `org`; they already hold the charges."""
    lock_org(org)
    charges = due_charges(org_ids=[org.pk], billing_date=billing_date)
    if not charges:
        return []
    result = BatchResult()
    orgs = {org.pk: Org.objects.filter(pk=org.pk).values("id", "language", *BUYER_FIELDS).get()}
    plans = _plan_invoices(
        charges=charges,
        orgs=orgs,
        vendor=get_vendor(),
        billing_date=billing_date,
        run_id=None,
        order=None,
        result=result,
    )
    if result.failures:
        raise TaxUndetermined(result.failures[org.pk])
    return _write_drafts(plans)


def _check_transition(invoice: Invoice, to_status: str) -> None:
    if to_status not in INVOICE_TRANSITIONS[invoice.status]:
        raise InvalidTransition(
            _("An invoice that is %(current)s cannot become %(target)s.")
            % {"current": InvoiceStatus(invoice.status).label, "target": InvoiceStatus(to_status).label},
            extra={"from": invoice.status, "to": to_status},
        )


def lock_invoice(invoice: Invoice) -> Invoice:
    return Invoice.objects.select_for_update().get(pk=invoice.pk)


@transaction.atomic(durable=True)
def issue_invoice(
    *,
    invoice: Invoice,
    actor: Actor,
    issue_date: date | None = None,
    documents: bool = True,
    render_documents: DocumentHook | None = None,
) -> Invoice:
    """Finalise a draft: fresh seller/buyer snapshot, due date, the next gapless number, status open, documents.

    The number is taken last, inside this transaction, so a failure anywhere
    (an invalid e-invoice, `render_documents`) rolls the counter back with it.
    """
    org = lock_org(invoice.org)
    invoice = lock_invoice(invoice)
    _check_transition(invoice, InvoiceStatus.OPEN)
    if not invoice.lines.exists():
        raise NothingToInvoice(_("An invoice without lines cannot be issued."))
    vendor = get_vendor()
    now = timezone.now()
    invoice.issue_date = issue_date or invoice.issue_date
    invoice.due_date = invoice.issue_date + timedelta(days=invoice.payment_terms_days)
    invoice.seller = seller_snapshot(vendor)
    invoice.buyer = buyer_snapshot({name: getattr(org, name) for name in BUYER_FIELDS})
    invoice.language = org.language
    invoice.payment_details = ports.invoice_payment_details(
        ports.payment_details_by_org([org.pk], invoice.issue_date).get(org.pk),
        kind=invoice.payment_method_kind,
        due_date=invoice.due_date,
    )
    invoice.save()
    _issue_numbered(
        [invoice],
        now=now,
        number_format=vendor.invoice_number_format,
        documents=documents,
        render_documents=render_documents,
    )
    record_event(
        actor=actor,
        org_id=invoice.org_id,
        action="invoice.issued",
        object_type="invoice",
        object_id=invoice.public_id,
        after={"number": invoice.number, "gross_amount": str(invoice.gross_amount), "currency": invoice.currency},
    )
    return invoice


@transaction.atomic(durable=True)
def delete_draft_invoice(*, invoice: Invoice, actor: Actor) -> None:
    """Discard a draft; its charges become uninvoiced again. Issued invoices are never deleted."""
    invoice = lock_invoice(invoice)
    if invoice.status != InvoiceStatus.DRAFT:
        raise InvoiceImmutable(_("An issued invoice cannot be deleted; issue a credit note instead."))
    record_event(
        actor=actor,
        org_id=invoice.org_id,
        action="invoice.draft_deleted",
        object_type="invoice",
        object_id=invoice.public_id,
    )
    invoice.delete()


def set_invoice_status(invoice: Invoice, to_status: str, *, actor: Actor, now: dt.datetime) -> None:
    """Move a locked invoice along the transition table and record it (inside the caller's transaction)."""
    _check_transition(invoice, to_status)
    before = invoice.status
    invoice.status = to_status
    invoice.status_changed_at = now
    invoice.save(update_fields=["status", "status_changed_at", "amount_paid", "amount_credited"])
    record_event(
        actor=actor,
        org_id=invoice.org_id,
        action=f"invoice.{to_status}",
        object_type="invoice",
        object_id=invoice.public_id,
        before={"status": before},
        after={"status": to_status},
    )


@transaction.atomic(durable=True)
def mark_invoice_uncollectible(*, invoice: Invoice, actor: Actor) -> Invoice:
    invoice = lock_invoice(invoice)
    set_invoice_status(invoice, InvoiceStatus.UNCOLLECTIBLE, actor=actor, now=timezone.now())
    return invoice


@transaction.atomic(durable=True)
def record_invoice_payment(*, invoice: Invoice, amount: Decimal, actor: Actor) -> Invoice:
    """Add a received amount (gross) to an open or uncollectible invoice; paid in full → status paid."""
    invoice = lock_invoice(invoice)
    apply_invoice_payment(invoice=invoice, amount=amount, actor=actor, now=timezone.now())
    return invoice


def apply_invoice_payment(*, invoice: Invoice, amount: Decimal, actor: Actor, now: dt.datetime) -> None:
    """`record_invoice_payment` on an invoice the caller has locked, inside the caller's transaction (payments)."""
    if invoice.status not in (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE):
        raise InvalidTransition(
            _("Only open or uncollectible invoices take payments."), extra={"from": invoice.status, "to": "paid"}
        )
    if amount <= 0 or amount > invoice.open_amount:
        raise InvalidTransition(_("The amount must be positive and at most the open amount."), code="invalid_amount")
    invoice.amount_paid += amount
    if invoice.open_amount == 0:
        set_invoice_status(invoice, InvoiceStatus.PAID, actor=actor, now=now)
    else:
        invoice.save(update_fields=["amount_paid"])


@transaction.atomic
def reverse_invoice_payment(*, invoice: Invoice, amount: Decimal, actor: Actor) -> Invoice:
    """Take back a received amount (a SEPA return, a refund): amount paid goes down, a paid invoice reopens.

    Runs inside the caller's transaction when there is one (payments calls it
    with the invoice already locked; locking again is harmless). A paid invoice
    becomes open again only if something is owed again: one credited meanwhile
    (its open amount still zero or less) stays paid, a void one stays void.
    """
    invoice = lock_invoice(invoice)
    if invoice.status == InvoiceStatus.DRAFT:
        raise InvalidTransition(_("A draft has no payments."), extra={"from": invoice.status, "to": "open"})
    if amount <= 0 or amount > invoice.amount_paid:
        raise InvalidTransition(_("The amount must be positive and at most the amount paid."), code="invalid_amount")
    invoice.amount_paid -= amount
    record_event(
        actor=actor,
        org_id=invoice.org_id,
        action="invoice.payment_reversed",
        object_type="invoice",
        object_id=invoice.public_id,
        after={"amount": str(amount), "amount_paid": str(invoice.amount_paid), "currency": invoice.currency},
    )
    if invoice.status == InvoiceStatus.PAID and invoice.open_amount > 0:
        set_invoice_status(invoice, InvoiceStatus.OPEN, actor=actor, now=timezone.now())
    else:
        invoice.save(update_fields=["amount_paid"])
    return invoice


def refuse_change(invoice: Invoice) -> None:
    """Raise unless `invoice` is a draft: the one check every editing path makes."""
    if invoice.status != InvoiceStatus.DRAFT:
        raise InvoiceImmutable(_("An issued invoice is never changed; issue a credit note instead."))
