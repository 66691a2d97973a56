"""Paying in headless Chromium: Bäckerei Müller's card was declined; the admin replaces it and pays the invoice.

The new card (4000 0025 0000 3155) asks for 3-D Secure twice: when it is
saved on the sandbox's card page and when the invoice is paid while the admin
is present. Screenshots go to var/screenshots/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from konto.accounts.models import Org
from konto.billing.models import Invoice
from konto.core.audit import Actor
from konto.core.money import ZERO, format_money
from konto.payments import selectors
from konto.payments.models import Payment, PaymentMethod
from konto.payments.services.collection import collect_invoices
from konto.payments.services.pay import record_bank_transfer
from konto.payments.tests.core_helpers import DECLINED, add_test_card

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DEMO_PASSWORD = "konto-demo"
SHOTS = Path(settings.VAR_DIR) / "screenshots"
BAECKEREI = "Bäckerei Müller GmbH"
ADMIN = "admin@baeckerei-mueller.example"
NEW_CARD = "4000 0025 0000 3155"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def demo(transactional_db: None, live_server: Any, settings: Any) -> None:
    # The sandbox's card and 3-D Secure pages are served by this live server.
    settings.KONTO_BASE_URL = live_server.url
    call_command("seed_demo", force=True, verbosity=0)


@pytest.fixture
def english(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="en-GB", viewport=DESKTOP)  # type: ignore[arg-type]
    yield context.new_page()
    context.close()


def _shot(page: Page, name: str, *, phone: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    if phone:
        page.set_viewport_size(PHONE)  # type: ignore[arg-type]
        page.screenshot(path=str(SHOTS / f"{name}-phone.png"), full_page=True)
        page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]


def _eur(amount: Any) -> str:
    return format_money(amount, "EUR", "en")


def _declined_invoice(org: Org) -> Invoice:
    """The demo's open invoice whose automatic card charge was declined; the scene is made if the demo lacks it.

    Made through the services: the older invoices are paid by transfer, a card that is always declined
    becomes the default, and the newest invoice is collected automatically, which fails.
    """
    failed = selectors.latest_failed_collection(org=org)
    if failed is None:
        *older, newest = list(selectors.open_invoices(org=org))
        for number, invoice in enumerate(older):
            record_bank_transfer(
                invoice=invoice,
                amount=invoice.open_amount,
                booking_date=timezone.localdate(),
                reference=invoice.number or "",
                actor=Actor.system("test"),
                idempotency_key=f"demo-transfer-{number}",
            )
        add_test_card(org, DECLINED)
        collect_invoices(invoice_ids=[newest.pk], today=timezone.localdate())
        failed = selectors.latest_failed_collection(org=org)
    assert failed is not None
    (allocation,) = failed.allocations.all()
    return allocation.invoice


def _log_in(page: Page, base: str) -> None:
    page.goto(base + "/login/")
    page.locator("input[name=email]").fill(ADMIN)
    page.locator("input[name=password]").fill(DEMO_PASSWORD)
    page.locator("form[action='/login/'] button[type=submit]").click()


def test_admin_replaces_the_declined_card_with_3d_secure_and_pays_the_open_invoice(
    demo: None, english: Page, live_server: Any
) -> None:
    page, base = english, str(live_server.url)
    org = Org.objects.get(legal_name=BAECKEREI)
    invoice = _declined_invoice(org)
    gross = _eur(invoice.open_amount)
    assert [i.pk for i in selectors.open_invoices(org=org)] == [invoice.pk]  # one open invoice: the declined one

    # Given the admin of Bäckerei Müller sees the banner about the declined card
    _log_in(page, base)
    banner = page.locator(".account-banners .alert")
    expect(banner).to_contain_text("Card payment declined")
    expect(banner).to_contain_text(f"Your card payment for invoice {invoice.number} was declined.")
    expect(banner).to_contain_text("The card was declined by the card issuer.")
    expect(page.get_by_test_id("open-balance")).to_have_text(gross)
    _shot(page, "pay-01-overview-declined-banner", phone=True)

    # When they replace the card on the payment page with 4000 0025 0000 3155 and confirm 3-D Secure
    banner.get_by_role("link", name="Update your card").click()
    expect(page.get_by_role("heading", name="Payment", level=1)).to_be_visible()
    page.get_by_role("button", name="Replace card").click()
    expect(page.get_by_role("heading", name="Add a card")).to_be_visible()
    page.get_by_label("Card number").fill(NEW_CARD)
    page.get_by_label("Expiry date (MM/YY)").fill("12/30")
    page.get_by_label("Security code (CVC)").fill("123")
    page.get_by_label("Name on the card").fill("Maria Müller")
    _shot(page, "pay-02-sandbox-card-page")
    page.get_by_role("button", name="Save card").click()
    expect(page.get_by_role("heading", name="3-D Secure confirmation")).to_be_visible()
    expect(page.locator(".details")).to_contain_text("Save the card for future payments")
    _shot(page, "pay-03-sandbox-3ds-setup")
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator(".message--success")).to_contain_text("Visa •••• 3155 has replaced Visa •••• 0002.")
    _shot(page, "pay-04-card-replaced")
    new_card = PaymentMethod.objects.get(org=org, status="active", is_default=True)
    assert (new_card.card_brand, new_card.card_last4) == ("visa", "3155")

    # And pay the open invoice from the banner: choose, review the summary, confirm 3-D Secure
    page.locator(".account-banners").get_by_role("link", name="Pay now").click()
    expect(page.get_by_role("heading", name="Pay invoices", level=1)).to_be_visible()
    expect(page.get_by_label(invoice.number or "")).to_be_checked()
    expect(page.get_by_test_id("pay-total")).to_have_text(gross)
    expect(page.get_by_label("Visa •••• 3155 Default")).to_be_checked()
    page.get_by_label(invoice.number or "").uncheck()  # the total follows the selection without a reload
    expect(page.get_by_test_id("pay-total")).to_have_text(_eur(ZERO))
    page.get_by_label(invoice.number or "").check()
    expect(page.get_by_test_id("pay-total")).to_have_text(gross)
    _shot(page, "pay-05-choose", phone=True)
    page.get_by_role("button", name="Review payment").click()

    expect(page.get_by_role("heading", name="Review your payment", level=1)).to_be_visible()
    expect(page.get_by_test_id("charge-amount")).to_have_text(gross)
    expect(page.get_by_test_id("summary-method")).to_contain_text("Visa •••• 3155")
    _shot(page, "pay-06-summary", phone=True)
    page.get_by_role("button", name=f"Pay {gross}").click()

    expect(page.get_by_role("heading", name="3-D Secure confirmation")).to_be_visible()
    expect(page.locator(".details")).to_contain_text("Visa •••• 3155")
    _shot(page, "pay-07-sandbox-3ds-payment")
    page.get_by_role("button", name="Confirm").click()

    # Then the payment succeeded, the invoice is paid and nothing is open any more
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Payment of {gross}")
    expect(page.locator(".pay-result")).to_contain_text("Thank you, your payment has been received.")
    expect(page.get_by_test_id("allocation-open")).to_have_text(_eur(ZERO))
    expect(page.locator(".account-banners")).to_have_count(0)
    _shot(page, "pay-08-result", phone=True)
    payment = Payment.objects.get(org=org, origin="customer")
    assert (payment.status, payment.amount, payment.method_id) == ("succeeded", invoice.open_amount, new_card.pk)

    page.get_by_role("link", name=invoice.number or "").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Paid")
    expect(page.get_by_test_id("invoice-open")).to_have_text(_eur(ZERO))
    expect(page.locator(".invoice-payments")).to_contain_text(f"{gross} ·")
    expect(page.locator(".invoice-payments")).to_contain_text("Visa •••• 3155")
    _shot(page, "pay-09-invoice-paid")

    page.locator(".sidenav").get_by_role("link", name="Overview", exact=True).click()
    expect(page.get_by_test_id("open-balance")).to_have_text(_eur(ZERO))
    expect(page.locator(".account-banners")).to_have_count(0)
    _shot(page, "pay-10-overview-paid")

    page.goto(base + "/account/payment/payments/")
    expect(page.locator(".payments-table tbody tr").first).to_contain_text("Paid")
    _shot(page, "pay-11-history", phone=True)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.open_amount) == ("paid", ZERO)
