"""Invoices in headless Chromium: list, filter, detail, PDF, share link (anonymous view, revoke), recipients."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from facturx import get_xml_from_pdf
from playwright.sync_api import Browser, BrowserContext, Download, Page, expect

from konto.accounts.models import Org
from konto.billing import selectors
from konto.billing.models import DocumentKind, Invoice, InvoiceRecipient, InvoiceStatus, ShareLink, StoredDocument
from konto.billing.services.invoices import invoice_due_charges
from konto.contracts.models import Contract
from konto.core.money import format_money

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DEMO_PASSWORD = "konto-demo"
SCREENSHOTS = Path(settings.VAR_DIR) / "screenshots"
ALPENBLICK = "Alpenblick Software GmbH"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def demo(transactional_db: None, live_server: object) -> None:
    call_command("seed_demo", force=True, verbosity=0)


def _context(browser: Browser, viewport: dict[str, int] = DESKTOP) -> BrowserContext:
    return browser.new_context(locale="en-GB", viewport=viewport, accept_downloads=True)  # type: ignore[arg-type]


@pytest.fixture
def english(browser: Browser) -> Iterator[Page]:
    context = _context(browser)
    yield context.new_page()
    context.close()


def _screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _screenshots(page: Page, name: str) -> None:
    """`name`.png at desktop width and `name`-phone.png at phone width."""
    _screenshot(page, name)
    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    _screenshot(page, f"{name}-phone")
    page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]


def _log_in(page: Page, base_url: str, email: str) -> None:
    page.goto(base_url + "/login/")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(DEMO_PASSWORD)
    page.locator("form[action='/login/'] button[type=submit]").click()


def _eur(amount: object) -> str:
    return format_money(amount, "EUR", "en")  # type: ignore[arg-type]  # a Decimal from the model


def _pdf_bytes(download: Download) -> bytes:
    return Path(download.path()).read_bytes()


def _alpenblick_invoice() -> Invoice:
    """Alpenblick's latest issued invoice; billed here through the services if the demo has no history yet."""
    org = Org.objects.get(legal_name=ALPENBLICK)
    issued = Invoice.objects.filter(org=org).exclude(status=InvoiceStatus.DRAFT)
    if not issued.exists():
        contract = Contract.objects.get(org=org)
        invoice_due_charges(org=org, billing_date=contract.start_date)
    invoice = issued.order_by("-issue_date", "-number").first()
    assert invoice is not None
    assert StoredDocument.objects.filter(invoice=invoice, kind=DocumentKind.PDF).exists()
    return invoice


def test_admin_finds_downloads_and_shares_an_invoice(
    demo: None, english: Page, browser: Browser, live_server: object
) -> None:
    page, base = english, str(live_server)
    invoice = _alpenblick_invoice()
    today = timezone.localdate()
    status = selectors.display_status(invoice, today=today)
    label = {"open": "Open", "overdue": "Overdue", "paid": "Paid", "void": "Void", "uncollectible": "Uncollectible"}
    total = selectors.filter_invoices(org=invoice.org, today=today).count()
    matching = selectors.filter_invoices(org=invoice.org, today=today, status=status).count()
    pdf = StoredDocument.objects.get(invoice=invoice, kind=DocumentKind.PDF)

    # Given the System Administrator of Alpenblick on the Invoices page
    _log_in(page, base, "admin@alpenblick.example")
    page.locator(".sidenav").get_by_role("link", name="Invoices", exact=True).click()
    expect(page.get_by_role("heading", name="Invoices", level=1)).to_be_visible()

    # Then the list shows the invoice with its status badge, gross and open amount
    heading = page.locator("#invoices-heading")
    expect(heading).to_have_text(f"{total} invoice" if total == 1 else f"{total} invoices")
    row = page.locator("section[aria-labelledby=invoices-heading] tbody tr").filter(has_text=invoice.number or "")
    expect(row).to_have_count(1)
    expect(row.locator(".badge")).to_have_text(label[status])
    expect(row.locator("td.num").nth(0)).to_have_text(_eur(invoice.gross_amount))
    expect(row.locator("td.num").nth(1)).to_have_text(_eur(invoice.open_amount))
    _screenshots(page, "invoices-list")

    # When they filter by the invoice's status, it is listed; by another status, it is not
    page.get_by_label("Status").select_option(status)
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(rf"status={status}"))
    expect(heading).to_have_text(f"{matching} matching invoice" + ("" if matching == 1 else "s"))
    expect(
        page.locator("section[aria-labelledby=invoices-heading] tbody tr").filter(has_text=invoice.number or "")
    ).to_have_count(1)
    other = "void" if status != "void" else "paid"
    page.get_by_label("Status").select_option(other)
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(rf"status={other}"))
    invoices = page.locator("section[aria-labelledby=invoices-heading]")
    expect(invoices).not_to_contain_text(invoice.number or "")
    page.get_by_role("link", name="Reset").click()

    # When they open the invoice
    invoices.get_by_role("link", name=invoice.number or "", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Invoice {invoice.number}")
    expect(page.locator("h1 .badge")).to_have_text(label[status])
    expect(page.get_by_test_id("invoice-gross")).to_have_text(_eur(invoice.gross_amount))
    expect(page.get_by_test_id("invoice-open")).to_have_text(_eur(invoice.open_amount))
    lines = page.locator("section[aria-labelledby=lines-heading] tbody tr")
    expect(lines).to_have_count(invoice.lines.count())
    _screenshots(page, "invoice-detail")

    # Then the PDF downloads with its stored name and bytes
    with page.expect_download() as download_info:
        page.locator(".invoice-actions").get_by_role("link", name="Download PDF").click()
    download = download_info.value
    assert download.suggested_filename == pdf.filename
    content = _pdf_bytes(download)
    assert content[:5] == b"%PDF-"
    assert len(content) == pdf.size
    assert hashlib.sha256(content).hexdigest() == pdf.sha256
    # and the XML embedded in the downloaded PDF/A-3 is the stored XML of that invoice, byte for byte
    stored_xml = StoredDocument.objects.get(invoice=invoice, kind=DocumentKind.XML)
    with stored_xml.file.open("rb") as handle:
        xml = handle.read()
    embedded_name, embedded = get_xml_from_pdf(content, check_xsd=True)
    assert embedded_name == ("xrechnung.xml" if stored_xml.profile == "xrechnung" else "factur-x.xml")
    assert embedded == xml
    assert f"<ram:ID>{invoice.number}</ram:ID>".encode() in embedded

    # When they create a share link valid for 7 days
    page.get_by_label("Valid for (days)").fill("7")
    page.get_by_role("button", name="Create link").click()
    expect(page.get_by_role("heading", name="Share link created", level=1)).to_be_visible()
    url = page.get_by_test_id("share-url").input_value()
    assert url.startswith(base + "/share/")
    link = ShareLink.objects.get(invoice=invoice)
    assert abs(link.expires_at - link.created_at - timedelta(days=7)) < timedelta(seconds=5)

    # Then someone without an account opens it in a new browser and sees the invoice and its PDF
    visitor_context = _context(browser, PHONE)
    visitor = visitor_context.new_page()
    response = visitor.goto(url)
    assert response is not None
    assert response.status == 200
    expect(visitor.get_by_role("heading", level=1)).to_contain_text(f"Invoice {invoice.number}")
    expect(visitor.locator("main")).to_contain_text(f"Billed to {ALPENBLICK}")
    expect(visitor.get_by_test_id("invoice-gross")).to_have_text(_eur(invoice.gross_amount))
    expect(visitor.locator(".sidenav")).to_have_count(0)
    _screenshot(visitor, "invoice-shared-phone")
    visitor.set_viewport_size(DESKTOP)  # type: ignore[arg-type]
    _screenshot(visitor, "invoice-shared")
    with visitor.expect_download() as shared_info:
        visitor.get_by_role("link", name="Download PDF").click()
    assert _pdf_bytes(shared_info.value)[:5] == b"%PDF-"
    link.refresh_from_db()
    assert link.open_count == 2

    # When the admin revokes the link on the invoice page
    page.get_by_role("link", name="Back to the invoice").click()
    links = page.locator("section[aria-labelledby=links-heading] tbody tr")
    expect(links).to_have_count(1)
    expect(links.first.locator("td.num").first).to_have_text("2")
    expect(links.first.locator(".badge")).to_have_text("Active")
    page.once("dialog", lambda dialog: dialog.accept())
    links.first.get_by_role("button", name="Revoke").click()
    expect(page.locator(".message--success")).to_contain_text("The share link has been revoked")
    expect(links.first.locator(".badge")).to_have_text("Revoked")

    # Then the visitor's link is refused and shows nothing of the invoice
    refused = visitor.goto(url)
    assert refused is not None
    assert refused.status == 410
    expect(visitor.get_by_role("heading", level=1)).to_have_text("This link is not valid")
    expect(visitor.locator("main")).not_to_contain_text(invoice.number or "")
    gone = visitor.goto(url + "download/")
    assert gone is not None
    assert gone.status == 410
    visitor_context.close()
    link.refresh_from_db()
    assert link.open_count == 2


def test_admin_adds_an_invoice_recipient(demo: None, english: Page, live_server: object) -> None:
    page, base = english, str(live_server)
    org = Org.objects.get(legal_name=ALPENBLICK)
    # Given the System Administrator of Alpenblick in Settings → Invoice recipients
    _log_in(page, base, "admin@alpenblick.example")
    page.goto(base + "/account/settings/")
    page.get_by_role("link", name="Invoice recipients").click()
    expect(page.get_by_role("heading", name="Add an invoice recipient")).to_be_visible()

    # When they mistype an address, the error is next to the field and the typing is kept
    page.get_by_label("Email address").fill("kreditoren@alpenblick")
    page.get_by_label("Name").fill("Kreditorenbuchhaltung")
    page.get_by_role("button", name="Add recipient").click()
    expect(page.locator("#id_email_error")).to_have_text("Enter a valid email address, e.g. invoices@example.com.")
    expect(page.get_by_label("Name")).to_have_value("Kreditorenbuchhaltung")
    assert not InvoiceRecipient.objects.filter(org=org).exists()

    # When they correct it and choose XRechnung
    page.get_by_label("Email address").fill("kreditoren@alpenblick.example")
    page.get_by_label("Format").select_option("xrechnung")
    page.get_by_role("button", name="Add recipient").click()

    # Then the recipient is listed with its format
    expect(page.locator(".message--success")).to_have_text("kreditoren@alpenblick.example now receives invoices.")
    row = page.get_by_role("row").filter(has_text="kreditoren@alpenblick.example")
    expect(row).to_contain_text("Kreditorenbuchhaltung")
    expect(row).to_contain_text("XRechnung XML")
    assert list(InvoiceRecipient.objects.filter(org=org).values_list("email", "name", "format")) == [
        ("kreditoren@alpenblick.example", "Kreditorenbuchhaltung", "xrechnung")
    ]
    _screenshots(page, "invoice-recipients")
