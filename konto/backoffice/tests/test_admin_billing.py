"""Billing in the back office: runs, invoices, credit notes and number series; actions go through billing services."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from konto.accounts.models import Org, Vendor
from konto.backoffice.tests.forms import admin_form_data
from konto.billing.models import BillingRun, CreditNote, Invoice, NumberCounter, NumberSeries
from konto.billing.services import numbering
from konto.billing.services.billing_run import run_billing
from konto.billing.services.credit_notes import issue_credit_note
from konto.billing.services.invoices import create_draft_invoices, invoice_due_charges
from konto.billing.tests.helpers import build_catalog, german_org, monthly_contract
from konto.catalog.models import Product
from konto.core.audit import Actor
from konto.core.models import AuditEvent

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("test")
INVOICES = "/backoffice/billing/invoice/"
CREDIT_NOTES = "/backoffice/billing/creditnote/"
RUNS = "/backoffice/billing/billingrun/"
SERIES = "/backoffice/billing/numberseries/"


@pytest.fixture(autouse=True)
def _memory_storage(settings: Any) -> None:
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}


@pytest.fixture(autouse=True)
def _clock(time_machine: Any) -> None:
    time_machine.move_to("2026-08-03T09:00:00Z", tick=False)


@pytest.fixture
def catalog(db: None) -> dict[str, Product]:
    return build_catalog()


@pytest.fixture
def invoice(catalog: dict[str, Product]) -> Invoice:
    """June to August 2026, issued 2026-08-01: 3 lines × 10.05 = 30.15 net, 5.73 VAT, 35.88 gross."""
    org = german_org()
    monthly_contract(org, catalog, quantity=1, price="10.05")
    (invoice,) = invoice_due_charges(org=org, billing_date=date(2026, 8, 1))
    return invoice


def _messages(response: Any) -> list[tuple[str, str]]:
    return [(message.level_tag, str(message)) for message in get_messages(response.wsgi_request)]


def _action(client: Any, action: str, *invoices: Invoice) -> Any:
    return client.post(INVOICES, {"action": action, "index": 0, "_selected_action": [i.pk for i in invoices]})


def _credit_url(invoice: Invoice) -> str:
    return f"{INVOICES}{invoice.pk}/credit-note/"


def _state(invoice: Invoice) -> tuple[str, Decimal]:
    invoice.refresh_from_db()
    return invoice.status, invoice.amount_credited


# ---------------------------------------------------------------- lists


def _add_billing(count: int, catalog: dict[str, Product]) -> None:
    """`count` orgs, each with an invoice (one billing run each) and a partial credit note."""
    for _number in range(count):
        org = german_org(f"Kunde {Org.objects.count()} GmbH")
        monthly_contract(org, catalog, quantity=2, price="10.00")
        run_billing(billing_date=date(2026, 7, 1), documents=False)
        invoice = Invoice.objects.get(org=org)
        line = invoice.lines.order_by("position").first()
        assert line is not None
        issue_credit_note(invoice=invoice, actor=SYSTEM, reason="Goodwill", line_ids=[line.pk], documents=False)


def _queries(client: Any, url: str) -> int:
    with CaptureQueriesContext(connection) as context:
        response = client.get(url)
    assert response.status_code == 200
    return len(context.captured_queries)


@pytest.mark.parametrize("url", [RUNS, INVOICES, CREDIT_NOTES])
def test_billing_lists_have_constant_queries(client, billing_ops, catalog, url):
    client.force_login(billing_ops)
    _add_billing(1, catalog)
    client.get(url)  # warm caches such as content types
    with_one = _queries(client, url)

    _add_billing(19, catalog)
    with_twenty = _queries(client, url)

    assert BillingRun.objects.count() == Invoice.objects.count() == CreditNote.objects.count() == 20
    assert with_twenty == with_one


def test_number_series_list_and_page_have_constant_queries(client, billing_ops, invoice):
    client.force_login(billing_ops)
    series = NumberSeries.objects.get(code="invoice")
    url = f"{SERIES}{series.pk}/change/"
    client.get(SERIES)
    client.get(url)
    list_with_one, page_with_one = _queries(client, SERIES), _queries(client, url)

    for year in range(2007, 2026):  # 19 more years of counters
        with transaction.atomic():
            numbering.next_number(series="invoice", year=year, number_format="RE-{year}-{seq:06}")

    assert (_queries(client, SERIES), _queries(client, url)) == (list_with_one, page_with_one)


def test_lists_show_what_was_billed(client, billing_ops, invoice):
    note = issue_credit_note(invoice=invoice, actor=SYSTEM, reason="June unused", line_ids=[invoice.lines.first().pk])
    client.force_login(billing_ops)

    invoices = client.get(INVOICES).content.decode()
    notes = client.get(CREDIT_NOTES).content.decode()
    series = client.get(SERIES).content.decode()

    assert "RE-2026-000001" in invoices
    assert "Bäckerei Test GmbH" in invoices
    assert "35.88" in invoices
    assert "23.92" in invoices  # open: 35.88 − 11.96
    assert note.number in notes
    assert "11.96" in notes
    assert "RE-{year}-{seq:06}" in series
    assert "GS-{year}-{seq:06}" in series


def test_invoice_page_shows_lines_credit_notes_and_the_credit_link(client, billing_ops, invoice):
    client.force_login(billing_ops)

    response = client.get(f"{INVOICES}{invoice.pk}/change/")

    assert response.status_code == 200
    page = response.content.decode()
    assert page.count("10.05") >= 3
    assert _credit_url(invoice) in page


# ---------------------------------------------------------------- mark uncollectible


def test_mark_uncollectible_goes_through_the_service_and_is_audited(client, billing_ops, invoice):
    client.force_login(billing_ops)

    response = _action(client, "mark_uncollectible", invoice)

    assert response.status_code == 302
    assert _state(invoice) == ("uncollectible", Decimal("0.00"))
    event = AuditEvent.objects.get(action="invoice.uncollectible")
    assert (event.actor_email, event.object_id, event.org_id) == (billing_ops.email, invoice.public_id, invoice.org_id)
    assert (event.before, event.after) == ({"status": "open"}, {"status": "uncollectible"})
    assert _messages(response) == [("success", "1 invoice marked uncollectible.")]


def test_mark_uncollectible_refuses_a_void_invoice_and_changes_nothing(client, billing_ops, invoice):
    issue_credit_note(invoice=invoice, actor=SYSTEM, reason="Cancelled")
    client.force_login(billing_ops)
    events = AuditEvent.objects.count()

    response = _action(client, "mark_uncollectible", invoice)

    assert response.status_code == 302
    assert _state(invoice) == ("void", Decimal("35.88"))
    assert AuditEvent.objects.count() == events
    assert _messages(response) == [("error", "RE-2026-000001: An invoice that is Void cannot become Uncollectible.")]


# ---------------------------------------------------------------- credit notes


def test_credit_action_leads_to_the_credit_note_page(client, billing_ops, invoice):
    client.force_login(billing_ops)

    response = _action(client, "credit_invoice", invoice)
    page = client.get(_credit_url(invoice))

    assert response.status_code == 302
    assert response["Location"] == _credit_url(invoice)
    assert page.status_code == 200
    assert [str(line) for line in page.context["form"].fields["lines"].queryset] == [
        str(line) for line in invoice.lines.order_by("position")
    ]
    assert "RE-2026-000001" in page.content.decode()


def test_full_credit_note_voids_the_invoice_and_is_audited(client, billing_ops, invoice):
    client.force_login(billing_ops)

    response = client.post(_credit_url(invoice), {"reason": "  Contract cancelled  "})

    assert response.status_code == 302
    assert response["Location"] == f"{INVOICES}{invoice.pk}/change/"
    note = CreditNote.objects.get()
    assert (note.number, note.is_full, note.reason, note.gross_amount) == (
        "GS-2026-000001",
        True,
        "Contract cancelled",
        Decimal("35.88"),
    )
    assert note.lines.count() == 3
    assert _state(invoice) == ("void", Decimal("35.88"))
    event = AuditEvent.objects.get(action="credit_note.issued")
    assert (event.actor_email, event.object_id, event.org_id) == (billing_ops.email, note.public_id, invoice.org_id)
    assert event.after == {
        "number": "GS-2026-000001",
        "invoice": "RE-2026-000001",
        "is_full": True,
        "gross_amount": "35.88",
        "reason": "Contract cancelled",
    }
    assert AuditEvent.objects.get(action="invoice.void").actor_email == billing_ops.email
    assert _messages(response) == [("success", "Credit note GS-2026-000001 issued for 35.88 EUR.")]


def test_credit_note_for_selected_lines_keeps_the_invoice_open(client, billing_ops, invoice):
    client.force_login(billing_ops)
    first, second, third = invoice.lines.order_by("position")

    response = client.post(_credit_url(invoice), {"reason": "June and July unused", "lines": [first.pk, second.pk]})

    assert response.status_code == 302
    note = CreditNote.objects.get()
    # 20.10 net, 19 % = 3.819 → 3.82
    assert (note.is_full, note.net_amount, note.tax_amount, note.gross_amount) == (
        False,
        Decimal("20.10"),
        Decimal("3.82"),
        Decimal("23.92"),
    )
    assert [line.invoice_line_id for line in note.lines.order_by("position")] == [first.pk, second.pk]
    assert _state(invoice) == ("open", Decimal("23.92"))
    assert AuditEvent.objects.get(action="credit_note.issued").after == {
        "number": "GS-2026-000001",
        "invoice": "RE-2026-000001",
        "is_full": False,
        "gross_amount": "23.92",
        "reason": "June and July unused",
    }
    # The credited lines are no longer offered
    page = client.get(_credit_url(invoice))
    assert list(page.context["form"].fields["lines"].queryset) == [third]


def _unchanged(invoice: Invoice) -> Any:
    return (_state(invoice), CreditNote.objects.count(), AuditEvent.objects.count())


def test_credit_note_without_a_reason_is_refused(client, billing_ops, invoice):
    client.force_login(billing_ops)
    before = _unchanged(invoice)

    response = client.post(_credit_url(invoice), {"reason": "   ", "lines": [invoice.lines.first().pk]})

    assert response.status_code == 422
    assert response.context["form"].errors == {"reason": ["This field is required."]}
    assert "errorlist" in response.content.decode()
    assert _unchanged(invoice) == before


def test_credit_note_with_a_line_of_another_invoice_is_refused(client, billing_ops, invoice, catalog):
    other = german_org("Andere GmbH")
    monthly_contract(other, catalog)
    (foreign,) = invoice_due_charges(org=other, billing_date=date(2026, 6, 1))
    client.force_login(billing_ops)
    before = _unchanged(invoice)

    response = client.post(_credit_url(invoice), {"reason": "x", "lines": [foreign.lines.get().pk]})

    assert response.status_code == 422
    assert list(response.context["form"].errors) == ["lines"]
    assert _unchanged(invoice) == before


def test_void_invoice_cannot_be_credited(client, billing_ops, invoice):
    issue_credit_note(invoice=invoice, actor=SYSTEM, reason="Cancelled")
    client.force_login(billing_ops)
    before = _unchanged(invoice)

    response = client.post(_credit_url(invoice), {"reason": "Again"})

    assert response.status_code == 302
    assert response["Location"] == f"{INVOICES}{invoice.pk}/change/"
    assert _messages(response) == [("error", "Only issued invoices that are not void can be credited.")]
    assert _unchanged(invoice) == before


def test_draft_cannot_be_credited(client, billing_ops, catalog):
    org = german_org()
    monthly_contract(org, catalog)
    (draft,) = create_draft_invoices(org=org, billing_date=date(2026, 6, 1))
    client.force_login(billing_ops)
    before = _unchanged(draft)

    page = client.get(_credit_url(draft), follow=True)
    response = client.post(_credit_url(draft), {"reason": "Oops"})
    action = _action(client, "credit_invoice", draft)

    assert page.redirect_chain == [(f"{INVOICES}{draft.pk}/change/", 302)]
    assert "Only issued invoices that are not void can be credited." in page.content.decode()
    assert response.status_code == 302
    assert _messages(response) == [("error", "Only issued invoices that are not void can be credited.")]
    assert action.status_code == 302
    assert _unchanged(draft) == before
    assert "Issue a credit note" not in client.get(f"{INVOICES}{draft.pk}/change/").content.decode()


def test_crediting_needs_exactly_one_invoice(client, billing_ops, invoice, catalog):
    other = german_org("Andere GmbH")
    monthly_contract(other, catalog)
    (second,) = invoice_due_charges(org=other, billing_date=date(2026, 6, 1))
    client.force_login(billing_ops)

    response = _action(client, "credit_invoice", invoice, second)

    assert response.status_code == 302
    assert response["Location"] == INVOICES
    assert _messages(response) == [("error", "Choose exactly one invoice to credit.")]


# ---------------------------------------------------------------- roles


def test_support_agent_sees_billing_but_cannot_act(client, support_agent, invoice):
    client.force_login(support_agent)
    before = _unchanged(invoice)
    series = NumberSeries.objects.get(code="invoice")

    for url in (
        RUNS,
        INVOICES,
        CREDIT_NOTES,
        SERIES,
        f"{INVOICES}{invoice.pk}/change/",
        f"{SERIES}{series.pk}/change/",
    ):
        assert client.get(url).status_code == 200, url
    listing = client.get(INVOICES)
    assert "mark_uncollectible" not in listing.content.decode()
    assert _credit_url(invoice) not in client.get(f"{INVOICES}{invoice.pk}/change/").content.decode()

    _action(client, "mark_uncollectible", invoice)
    _action(client, "credit_invoice", invoice)
    assert client.get(_credit_url(invoice)).status_code == 403
    assert client.post(_credit_url(invoice), {"reason": "x"}).status_code == 403
    assert client.post(f"{SERIES}{series.pk}/change/", {"number_format": "X-{seq}"}).status_code == 403
    assert _unchanged(invoice) == before
    assert Vendor.objects.get().invoice_number_format == "RE-{year}-{seq:06}"


def test_account_executive_sees_invoices_only(client, account_executive, invoice):
    client.force_login(account_executive)
    before = _unchanged(invoice)

    assert client.get(INVOICES).status_code == 200
    detail = client.get(f"{INVOICES}{invoice.pk}/change/")
    assert detail.status_code == 200
    assert "10.05" in detail.content.decode()
    for url in (RUNS, CREDIT_NOTES, SERIES):
        assert client.get(url).status_code == 403, url
    assert client.get(_credit_url(invoice)).status_code == 403
    _action(client, "mark_uncollectible", invoice)
    assert _unchanged(invoice) == before


# ---------------------------------------------------------------- number formats


def _series_url(code: str) -> str:
    return f"{SERIES}{NumberSeries.objects.get(code=code).pk}/change/"


def _save_format(client: Any, code: str, number_format: str) -> Any:
    """Submit the series page as rendered (counters inline included) with a new format."""
    url = _series_url(code)
    return client.post(url, {**admin_form_data(client, url), "number_format": number_format})


@pytest.mark.parametrize("number_format", ["RE-{year}", "RE-{year}-{number}", "RE-{seq", "RE-{year}-{seq:040}"])
def test_number_format_refuses_bad_formats(client, billing_ops, invoice, number_format):
    client.force_login(billing_ops)
    events = AuditEvent.objects.count()

    response = _save_format(client, "invoice", number_format)

    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["number_format"]
    assert Vendor.objects.get().invoice_number_format == "RE-{year}-{seq:06}"
    assert AuditEvent.objects.count() == events


def test_number_format_change_is_audited_and_used_for_the_next_invoice(client, billing_ops, invoice, catalog):
    client.force_login(billing_ops)
    page = client.get(_series_url("invoice"))
    assert page.context["adminform"].form["number_format"].value() == "RE-{year}-{seq:06}"

    changed = _save_format(client, "invoice", " INV{year}/{seq:04} ")
    restored = _save_format(client, "invoice", "RE-{year}-{seq:06}")

    assert changed.status_code == restored.status_code == 302
    events = AuditEvent.objects.filter(action="number_series.format_changed").order_by("id")
    assert [(e.actor_email, e.object_id, e.before, e.after) for e in events] == [
        (
            billing_ops.email,
            "invoice",
            {"number_format": "RE-{year}-{seq:06}"},
            {"number_format": "INV{year}/{seq:04}"},
        ),
        (
            billing_ops.email,
            "invoice",
            {"number_format": "INV{year}/{seq:04}"},
            {"number_format": "RE-{year}-{seq:06}"},
        ),
    ]
    assert Vendor.objects.get().invoice_number_format == "RE-{year}-{seq:06}"
    assert list(NumberCounter.objects.values_list("series__code", "year", "last_number")) == [("invoice", 2026, 1)]


def test_new_invoice_numbers_follow_the_new_format(client, billing_ops, invoice, catalog):
    client.force_login(billing_ops)

    response = _save_format(client, "invoice", "INV{year}/{seq:04}")

    assert response.status_code == 302
    org = german_org("Neu GmbH")
    monthly_contract(org, catalog)
    (second,) = invoice_due_charges(org=org, billing_date=date(2026, 6, 1))
    assert second.number == "INV2026/0002"
    invoice.refresh_from_db()
    assert invoice.number == "RE-2026-000001"
