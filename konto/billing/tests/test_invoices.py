"""Invoices from charges: one per contract and billing date, VAT per rate on sums, issuing and the status machine."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import translation

from konto.accounts.models import Org
from konto.billing.exceptions import InvalidTransition, InvoiceImmutable
from konto.billing.models import Invoice, InvoiceLine, InvoiceTax
from konto.billing.services.invoices import (
    create_draft_invoices,
    delete_draft_invoice,
    invoice_due_charges,
    issue_invoice,
    mark_invoice_uncollectible,
    record_invoice_payment,
    tax_rows,
)
from konto.billing.services.snapshot import build_invoice_document
from konto.core.audit import Actor
from konto.core.tax import TaxTreatment

from .helpers import add_contract, build_catalog, german_org, monthly_contract

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("test")
JULY = date(2026, 7, 1)


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def catalog(db):
    return build_catalog()


def test_due_charges_become_one_numbered_invoice_per_contract(catalog):
    # Given a German org with 5 Essentials licenses at 25.00 a month from 2026-06-01
    org = german_org()
    contract = monthly_contract(org, catalog)

    # When it is billed on 2026-07-01
    (invoice,) = invoice_due_charges(org=org, billing_date=JULY)

    # Then June and July are on one invoice: 2 × 125.00 net, 19 % VAT on the sum
    assert invoice.number == "RE-2026-000001"
    assert invoice.status == "open"
    assert invoice.contract_id == contract.pk
    assert (invoice.net_amount, invoice.tax_amount, invoice.gross_amount) == (
        Decimal("250.00"),
        Decimal("47.50"),
        Decimal("297.50"),
    )
    assert (invoice.issue_date, invoice.due_date) == (JULY, date(2026, 7, 15))
    assert (invoice.period_start, invoice.period_end) == (date(2026, 6, 1), date(2026, 8, 1))
    lines = list(invoice.lines.order_by("position").values_list("position", "net_amount", "tax_category", "tax_rate"))
    assert lines == [(1, Decimal("125.00"), "S", Decimal("19.00")), (2, Decimal("125.00"), "S", Decimal("19.00"))]
    assert list(invoice.taxes.values_list("tax_category", "tax_rate", "taxable_amount", "tax_amount")) == [
        ("S", Decimal("19.00"), Decimal("250.00"), Decimal("47.50"))
    ]
    assert invoice.buyer["name"] == "Bäckerei Test GmbH"
    assert invoice.buyer["vat_id"] == "DE295713867"
    assert invoice.seller["country"] == "DE"


def test_billing_again_bills_nothing_twice(catalog):
    org = german_org()
    monthly_contract(org, catalog)
    invoice_due_charges(org=org, billing_date=JULY)

    assert invoice_due_charges(org=org, billing_date=JULY) == []
    # The next month bills only August
    (august,) = invoice_due_charges(org=org, billing_date=date(2026, 8, 1))
    assert august.number == "RE-2026-000002"
    assert august.net_amount == Decimal("125.00")
    assert InvoiceLine.objects.count() == 3


def test_vat_is_computed_per_rate_on_the_sum_not_per_line(catalog):
    # Three lines of 0.13: per line 0.0247 → 0.02 (0.06 in all), on the sum 0.39 × 19 % = 0.0741 → 0.07
    org = german_org(edition="enterprise")
    add_contract(
        org,
        catalog,
        start=date(2026, 6, 1),
        end=date(2027, 6, 1),
        frequency="monthly",
        lines=[(code, 1, Decimal("0.13")) for code in ("enterprise", "data-storage", "file-storage")],
    )
    (invoice,) = invoice_due_charges(org=org, billing_date=date(2026, 6, 1))

    assert invoice.net_amount == Decimal("0.39")
    assert invoice.tax_amount == Decimal("0.07")
    assert invoice.gross_amount == Decimal("0.46")


def test_tax_rows_round_half_up_per_rate():
    standard = TaxTreatment("S", Decimal("19.00"), "")
    reduced = TaxTreatment("S", Decimal("7.00"), "")
    rows = tax_rows([(Decimal("0.50"), reduced), (Decimal("10.00"), standard), (Decimal("0.00"), reduced)])
    # 10.00 × 19 % = 1.90; 0.50 × 7 % = 0.035 → 0.04 (half-up, not half-even)
    assert [(row.rate, row.taxable_amount, row.tax_amount) for row in rows] == [
        (Decimal("19.00"), Decimal("10.00"), Decimal("1.90")),
        (Decimal("7.00"), Decimal("0.50"), Decimal("0.04")),
    ]


def test_reverse_charge_invoice_for_an_austrian_business(catalog):
    org = Org.objects.get(
        pk=german_org("Alpen Test GmbH", country="AT", vat_id="ATU13585627", city="Wien", edition="enterprise").pk
    )
    add_contract(
        org,
        catalog,
        start=date(2026, 3, 1),
        end=date(2027, 3, 1),
        frequency="annual",
        lines=[("enterprise", 40, Decimal("1980.00"))],
        payment="bank_transfer",
    )
    (invoice,) = invoice_due_charges(org=org, billing_date=date(2026, 3, 1))

    assert (invoice.net_amount, invoice.tax_amount, invoice.gross_amount) == (
        Decimal("79200.00"),
        Decimal("0.00"),
        Decimal("79200.00"),
    )
    tax = InvoiceTax.objects.get(invoice=invoice)
    assert (tax.tax_category, tax.tax_rate, tax.exemption_reason_code) == ("AE", Decimal("0.00"), "VATEX-EU-AE")
    # the note is printed in the org's language (German by default)
    assert invoice.notes == ["Steuerschuldnerschaft des Leistungsempfängers."]
    document = build_invoice_document(invoice)
    assert document.payment.means_code == "58"
    assert document.grand_total == Decimal("79200.00")
    assert document.tax_subtotals[0].exemption_reason_code == "VATEX-EU-AE"


def test_an_orgs_invoices_hold_only_its_own_charges(catalog):
    first, second = german_org("Erste GmbH"), german_org("Zweite GmbH")
    monthly_contract(first, catalog, quantity=1)
    monthly_contract(second, catalog, quantity=2)

    invoice_due_charges(org=first, billing_date=JULY)

    assert Invoice.objects.filter(org=second).count() == 0
    assert set(InvoiceLine.objects.values_list("charge__org_id", flat=True)) == {first.pk}
    assert set(InvoiceLine.objects.values_list("org_id", flat=True)) == {first.pk}
    (invoice,) = invoice_due_charges(org=second, billing_date=JULY)
    assert set(invoice.lines.values_list("charge__org_id", flat=True)) == {second.pk}
    assert invoice.net_amount == Decimal("100.00")


def test_draft_is_issued_with_the_next_number_and_only_once(catalog):
    org = german_org()
    monthly_contract(org, catalog)
    (draft,) = create_draft_invoices(org=org, billing_date=JULY)
    assert (draft.number, draft.status) == (None, "draft")

    issued = issue_invoice(invoice=draft, actor=SYSTEM, issue_date=date(2026, 7, 2))
    assert (issued.number, issued.status, issued.due_date) == ("RE-2026-000001", "open", date(2026, 7, 16))

    with pytest.raises(InvalidTransition):
        issue_invoice(invoice=draft, actor=SYSTEM)
    assert Invoice.objects.get().number == "RE-2026-000001"


def test_a_failing_document_hook_gives_the_number_back(catalog):
    org = german_org()
    monthly_contract(org, catalog)
    (draft,) = create_draft_invoices(org=org, billing_date=JULY)

    def refuse(invoices):
        assert invoices[0].number == "RE-2026-000001"
        raise ValueError("schematron says no")

    with pytest.raises(ValueError, match="schematron"):
        issue_invoice(invoice=draft, actor=SYSTEM, render_documents=refuse)
    draft.refresh_from_db()
    assert (draft.status, draft.number) == ("draft", None)
    assert issue_invoice(invoice=draft, actor=SYSTEM).number == "RE-2026-000001"


def test_status_machine_refuses_what_the_table_does_not_allow(catalog):
    org = german_org()
    monthly_contract(org, catalog)
    (invoice,) = invoice_due_charges(org=org, billing_date=JULY)

    with pytest.raises(InvoiceImmutable):
        delete_draft_invoice(invoice=invoice, actor=SYSTEM)
    record_invoice_payment(invoice=invoice, amount=Decimal("100.00"), actor=SYSTEM)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid) == ("open", Decimal("100.00"))
    record_invoice_payment(invoice=invoice, amount=Decimal("197.50"), actor=SYSTEM)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid) == ("paid", Decimal("297.50"))

    with pytest.raises(InvalidTransition):
        mark_invoice_uncollectible(invoice=invoice, actor=SYSTEM)
    with pytest.raises(InvalidTransition):
        record_invoice_payment(invoice=invoice, amount=Decimal("1.00"), actor=SYSTEM)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid) == ("paid", Decimal("297.50"))
    assert Invoice.objects.get().status == "paid"


def test_open_invoice_can_become_uncollectible_and_then_paid(catalog):
    org = german_org()
    monthly_contract(org, catalog)
    (invoice,) = invoice_due_charges(org=org, billing_date=JULY)
    mark_invoice_uncollectible(invoice=invoice, actor=SYSTEM)
    record_invoice_payment(invoice=invoice, amount=Decimal("297.50"), actor=SYSTEM)
    invoice.refresh_from_db()
    assert invoice.status == "paid"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger guard exists on PostgreSQL only")
def test_database_refuses_changes_to_an_issued_invoice(catalog):
    org = german_org()
    monthly_contract(org, catalog)
    # Without stored documents, whose protected link would refuse the DELETE before the trigger does
    (invoice,) = invoice_due_charges(org=org, billing_date=JULY, documents=False)

    for change in (
        lambda: Invoice.objects.filter(pk=invoice.pk).update(net_amount=Decimal("1.00"), gross_amount=Decimal("48.50")),
        lambda: Invoice.objects.filter(pk=invoice.pk).update(number="RE-2026-999999"),
        lambda: Invoice.objects.filter(pk=invoice.pk).update(status="draft", number=None),
        lambda: InvoiceLine.objects.filter(invoice=invoice).update(net_amount=Decimal("1.00")),
        lambda: InvoiceLine.objects.filter(invoice=invoice).delete(),
        lambda: Invoice.objects.filter(pk=invoice.pk).delete(),
    ):
        with pytest.raises(DatabaseError, match="issued invoice"), transaction.atomic():
            change()
    invoice.refresh_from_db()
    assert (invoice.number, invoice.net_amount, invoice.lines.count()) == ("RE-2026-000001", Decimal("250.00"), 2)
    # Status changes along the table stay possible
    Invoice.objects.filter(pk=invoice.pk).update(status="paid", amount_paid=invoice.gross_amount)
