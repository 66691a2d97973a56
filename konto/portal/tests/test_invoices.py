"""My Account invoices: list with filters, search and pagination, detail, downloads, access and tenant scoping."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from konto.accounts.models import PermissionSet, User
from konto.accounts.testing import make_admin, make_billing_user, make_user
from konto.billing.models import Invoice, StoredDocument
from konto.billing.services.invoices import invoice_due_charges
from konto.billing.tests.helpers import build_catalog, german_org, monthly_contract
from konto.billing.tests.test_sharing import issued_invoice

pytestmark = pytest.mark.django_db
BERLIN = ZoneInfo("Europe/Berlin")
INVOICES = reverse("portal:invoices")


@pytest.fixture(autouse=True)
def _on_1_august_2026() -> Iterator[None]:
    with time_machine.travel(datetime(2026, 8, 1, 10, 0, tzinfo=BERLIN), tick=False):
        yield


def _en(user: User) -> User:
    user.language = "en"
    user.save(update_fields=["language"])
    return user


def _detail(invoice: Invoice) -> str:
    return reverse("portal:invoice_detail", kwargs={"public_id": invoice.public_id})


@pytest.fixture
def invoice() -> Invoice:
    return issued_invoice(german_org(), billing_date=date(2026, 7, 1))


@pytest.fixture
def admin(invoice: Invoice) -> User:
    return _en(make_admin(invoice.org, "anna@baeckerei.example", full_name="Anna Admin"))


def test_list_shows_number_dates_period_status_and_amounts(client, invoice, admin):
    client.force_login(admin)
    html = client.get(INVOICES).content.decode()

    assert "<h1>Invoices</h1>" in html
    assert f'<a href="{_detail(invoice)}">RE-2026-000001</a>' in html
    assert '<td data-label="Issue date">Jul 1, 2026</td>' in html  # issued
    assert '<td data-label="Due date">Jul 15, 2026</td>' in html  # due after 14 days
    assert (
        '<td data-label="Service period">Jun 1, 2026 – Jul 31, 2026</td>' in html
    )  # service period, last day inclusive
    assert '<span class="badge badge--danger">Overdue</span>' in html  # open and past due on 1 August
    assert '<td class="num" data-label="Gross">€297.50</td>' in html
    assert '<td class="num invoice-table__overdue" data-label="Open amount">€297.50</td>' in html
    assert "1 invoice</h2>" in html


def test_list_has_an_empty_state(client, invoice):
    other = german_org("Leerfirma GmbH", vat_id="")
    user = _en(make_admin(other, "leer@firma.example"))
    client.force_login(user)

    html = client.get(INVOICES).content.decode()

    assert "No invoices yet" in html
    assert "RE-2026-000001" not in html


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ({"status": "overdue"}, True),
        ({"status": "open"}, True),
        ({"status": "paid"}, False),
        ({"q": "000001"}, True),
        ({"q": "RE-2026-000002"}, False),
        ({"issued_from": "2026-07-01", "issued_until": "2026-07-01"}, True),
        ({"issued_from": "2026-07-02"}, False),
    ],
)
def test_filters_and_search(client, invoice, admin, query, shown):
    client.force_login(admin)
    html = client.get(INVOICES, query).content.decode()

    assert ("RE-2026-000001</a>" in html) is shown
    if not shown:
        assert "No invoices match these filters" in html


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"status": "bogus"}, "Choose one of the listed statuses."),
        ({"issued_from": "01.07.2026"}, "Enter a date as YYYY-MM-DD."),
        (
            {"issued_from": "2026-08-01", "issued_until": "2026-07-01"},
            "The end date must be on or after the start date.",
        ),
        ({"q": "x" * 41}, "Search for at most 40 characters of an invoice number."),
    ],
)
def test_bad_filters_show_an_error_and_are_not_applied(client, invoice, admin, query, error):
    client.force_login(admin)
    response = client.get(INVOICES, query)

    html = response.content.decode()
    assert response.status_code == 200
    assert error in html
    assert "RE-2026-000001</a>" in html


def _invoices(count: int) -> User:
    org = german_org("Viele Rechnungen GmbH")
    catalog = build_catalog()
    for _ in range(count):
        monthly_contract(org, catalog)
    invoice_due_charges(org=org, billing_date=date(2026, 7, 1), documents=False)
    return _en(make_admin(org, f"admin{count}@viele.example"))


def test_the_list_takes_the_same_number_of_queries_for_1_and_30_invoices(client):
    counts = []
    for number in (1, 30):
        user = _invoices(number)
        client.force_login(user)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(INVOICES)
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_pagination_shows_25_per_page(client):
    user = _invoices(30)
    client.force_login(user)

    first = client.get(INVOICES).content.decode()
    second = client.get(INVOICES, {"page": "2"}).content.decode()
    garbage = client.get(INVOICES, {"page": "abc"}).content.decode()

    assert first.count("invoice-table__download") == 25
    assert "Page 1 of 2" in first
    assert second.count("invoice-table__download") == 5
    assert "Page 2 of 2" in second
    assert "Page 1 of 2" in garbage


def test_detail_shows_lines_vat_totals_and_payments(client, invoice, admin):
    client.force_login(admin)
    html = client.get(_detail(invoice)).content.decode()

    assert "Invoice RE-2026-000001" in html
    assert '<td data-label="Service period">Jun 1, 2026 – Jun 30, 2026</td>' in html
    assert '<td data-label="Service period">Jul 1, 2026 – Jul 31, 2026</td>' in html
    assert "VAT 19% on €250.00" in html
    assert '<td class="num">€47.50</td>' in html
    assert '<td class="num" data-testid="invoice-gross">€297.50</td>' in html
    assert '<p class="card__value" data-testid="invoice-open">€297.50</p>' in html
    assert "overdue since" in html


def test_pdf_and_xml_downloads_come_from_the_stored_documents(client, invoice, admin):
    client.force_login(admin)

    pdf = client.get(reverse("portal:invoice_download", kwargs={"public_id": invoice.public_id, "kind": "pdf"}))
    xml = client.get(reverse("portal:invoice_download", kwargs={"public_id": invoice.public_id, "kind": "xml"}))

    assert pdf.status_code == 200
    assert pdf["Content-Disposition"] == 'attachment; filename="RE-2026-000001.pdf"'
    pdf_bytes = b"".join(pdf.streaming_content)
    assert pdf_bytes[:5] == b"%PDF-"
    assert len(pdf_bytes) == StoredDocument.objects.get(invoice=invoice, kind="pdf").size
    assert xml["Content-Type"] == "application/xml"
    assert b"RE-2026-000001" in b"".join(xml.streaming_content)


def test_a_document_not_stored_yet_answers_a_clear_404_page(client):
    invoice = issued_invoice(german_org(), billing_date=date(2026, 7, 1), documents=False)
    user = _en(make_admin(invoice.org, "anna@x.example"))
    client.force_login(user)

    response = client.get(reverse("portal:invoice_download", kwargs={"public_id": invoice.public_id, "kind": "pdf"}))

    assert response.status_code == 404
    assert "Document not available yet" in response.content.decode()


def test_another_orgs_invoice_and_garbage_ids_are_404(client, invoice):
    stranger = _en(make_admin(german_org("Fremdfirma GmbH", vat_id=""), "otto@fremd.example"))
    client.force_login(stranger)
    for url in (
        _detail(invoice),
        reverse("portal:invoice_download", kwargs={"public_id": invoice.public_id, "kind": "pdf"}),
        reverse("portal:invoice_detail", kwargs={"public_id": "garbage"}),
        reverse("portal:invoice_download", kwargs={"public_id": invoice.public_id, "kind": "exe"}),
    ):
        assert client.get(url).status_code == 404, url


def test_view_invoices_is_required(client, invoice):
    standard = _en(make_user(invoice.org, "sales@x.example"))
    PermissionSet.objects.create(code="cases_only", name="Cases only", permissions=["manage_cases"])
    purchaser = _en(make_user(invoice.org, "cases@x.example", permission_sets=("cases_only",)))
    billing = _en(make_billing_user(invoice.org, "billing@x.example"))

    client.force_login(standard)
    assert client.get(INVOICES).status_code == 403
    client.force_login(purchaser)
    response = client.get(_detail(invoice))
    assert response.status_code == 403
    assert "View invoices" in response.content.decode()
    assert 'href="/account/invoices/"' not in client.get(reverse("portal:contracts")).content.decode()
    client.force_login(billing)
    assert client.get(_detail(invoice)).status_code == 200
    assert 'href="/account/invoices/"' in client.get(reverse("portal:contracts")).content.decode()
