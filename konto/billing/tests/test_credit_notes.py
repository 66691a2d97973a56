"""Credit notes: a full one voids the invoice, partial ones credit single lines, all add up to the invoice."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.utils import translation

from konto.billing.exceptions import InvalidInput, InvalidTransition
from konto.billing.models import CreditNote, Invoice
from konto.billing.services.credit_notes import issue_credit_note
from konto.billing.services.invoices import create_draft_invoices, invoice_due_charges
from konto.billing.services.snapshot import build_credit_note_document
from konto.core.audit import Actor

from .helpers import build_catalog, german_org, monthly_contract

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("test")


@pytest.fixture
def invoice(db):
    with translation.override("en"):
        org = german_org()
        monthly_contract(org, build_catalog(), quantity=1, price="10.05")
        # June, July, August: 3 × 10.05 = 30.15 net, 19 % of the sum = 5.7285 → 5.73
        (invoice,) = invoice_due_charges(org=org, billing_date=date(2026, 8, 1))
    return invoice


def test_full_credit_note_voids_the_invoice(invoice):
    note = issue_credit_note(invoice=invoice, actor=SYSTEM, reason="Cancelled", issue_date=date(2026, 8, 2))

    assert (note.number, note.is_full) == ("GS-2026-000001", True)
    assert (note.net_amount, note.tax_amount, note.gross_amount) == (
        Decimal("30.15"),
        Decimal("5.73"),
        Decimal("35.88"),
    )
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_credited) == ("void", Decimal("35.88"))
    document = build_credit_note_document(note)
    assert (document.type_code, document.preceding_invoice_number) == ("381", "RE-2026-000001")
    assert len(document.lines) == 3


def test_partial_credit_notes_add_up_to_the_invoice(invoice):
    first_line, *_rest = invoice.lines.order_by("position")
    partial = issue_credit_note(invoice=invoice, actor=SYSTEM, reason="June not used", line_ids=[first_line.pk])
    # 10.05 × 19 % = 1.9095 → 1.91
    assert (partial.is_full, partial.net_amount, partial.tax_amount) == (False, Decimal("10.05"), Decimal("1.91"))
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_credited) == ("open", Decimal("11.96"))

    with pytest.raises(InvalidInput):
        issue_credit_note(invoice=invoice, actor=SYSTEM, reason="again", line_ids=[first_line.pk])

    rest = issue_credit_note(invoice=invoice, actor=SYSTEM, reason="Cancelled")
    # The rest: 20.10 net and 5.73 − 1.91 = 3.82 VAT (not 20.10 × 19 % = 3.819 → 3.82 by luck: taken as the remainder)
    assert (rest.is_full, rest.net_amount, rest.tax_amount) == (True, Decimal("20.10"), Decimal("3.82"))
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_credited) == ("void", invoice.gross_amount)
    assert sorted(CreditNote.objects.values_list("number", flat=True)) == ["GS-2026-000001", "GS-2026-000002"]


def test_void_invoice_and_drafts_cannot_be_credited(invoice):
    issue_credit_note(invoice=invoice, actor=SYSTEM, reason="Cancelled")
    with pytest.raises(InvalidTransition):
        issue_credit_note(invoice=invoice, actor=SYSTEM, reason="twice")
    assert CreditNote.objects.count() == 1


def test_draft_cannot_be_credited(db):
    org = german_org()
    monthly_contract(org, build_catalog())
    (draft,) = create_draft_invoices(org=org, billing_date=date(2026, 6, 1))
    with pytest.raises(InvalidTransition):
        issue_credit_note(invoice=draft, actor=SYSTEM, reason="no")
    assert CreditNote.objects.count() == 0
    assert Invoice.objects.get().status == "draft"


def test_a_reason_is_required(invoice):
    with pytest.raises(InvalidInput):
        issue_credit_note(invoice=invoice, actor=SYSTEM, reason="  ")
    assert CreditNote.objects.count() == 0
