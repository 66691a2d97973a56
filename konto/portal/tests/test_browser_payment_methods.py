"""Payment methods in headless Chromium: a SEPA mandate with its printable page, a card replaced through 3-D Secure."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from playwright.sync_api import Browser, Page, expect

from konto.accounts.models import Org
from konto.payments import selectors
from konto.payments.models import PaymentMethod

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DEMO_PASSWORD = "konto-demo"
SCREENSHOTS = Path(settings.VAR_DIR) / "screenshots"
ALPENBLICK = "Alpenblick Software GmbH"
BAECKEREI = "Bäckerei Müller GmbH"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def demo(transactional_db: None, live_server: Any, settings: Any) -> None:
    # The sandbox's card page and its links are built from KONTO_BASE_URL: here, the live server.
    settings.KONTO_BASE_URL = str(live_server)
    call_command("seed_demo", force=True, verbosity=0)


@pytest.fixture
def english(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="en-GB", viewport=DESKTOP)  # type: ignore[arg-type]
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


def _open_payment_page(page: Page) -> None:
    page.locator(".sidenav").get_by_role("link", name="Payment", exact=True).click()
    expect(page.get_by_role("heading", name="Payment", level=1)).to_be_visible()


def test_alpenblick_admin_sets_up_a_sepa_mandate(demo: None, english: Page, live_server: Any) -> None:
    page, base = english, str(live_server)
    org = Org.objects.get(legal_name=ALPENBLICK)

    # Given the System Administrator of Alpenblick on the payment page
    _log_in(page, base, "admin@alpenblick.example")
    _open_payment_page(page)
    expect(page.get_by_role("heading", name="Test cards of the sandbox")).to_be_visible()
    _screenshots(page, "payment-methods-alpenblick-before")

    # When they open the SEPA form, they read the whole mandate text
    page.get_by_role("link", name="Set up SEPA mandate").click()
    expect(page.get_by_role("heading", name="Set up a SEPA Direct Debit mandate", level=1)).to_be_visible()
    mandate = page.get_by_role("region", name="SEPA Direct Debit mandate")
    expect(mandate).to_contain_text("I authorise (A) Nimbus CRM GmbH to send instructions to my bank")
    expect(mandate).to_contain_text("Creditor identifier: DE98ZZZ09999999999.")

    # A mistyped IBAN is explained next to the field and nothing is saved
    page.get_by_label("Account holder").fill("Alpenblick Software GmbH")
    page.get_by_label("IBAN", exact=True).fill("DE88 3704 0044 0532 0130 00")
    page.get_by_label("BIC", exact=True).fill("COBADEFFXXX")
    page.get_by_label("I accept the SEPA Direct Debit mandate shown above.").check()
    page.get_by_role("button", name="Accept mandate and save").click()
    expect(page.locator("#id_iban_error")).to_have_text(
        "Enter a valid IBAN: 2 letters for the country, 2 check digits and the account number, "
        "e.g. DE89 3704 0044 0532 0130 00."
    )
    expect(page.get_by_label("IBAN", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Account holder")).to_have_value("Alpenblick Software GmbH")
    assert not PaymentMethod.objects.filter(org=org, kind="sepa_debit").exists()
    _screenshots(page, "sepa-mandate-error")

    # When they correct it and accept the mandate
    page.get_by_label("IBAN", exact=True).fill("DE89 3704 0044 0532 0130 00")
    page.get_by_label("I accept the SEPA Direct Debit mandate shown above.").check()
    page.get_by_role("button", name="Accept mandate and save").click()

    # Then the mandate is the default, shown with the masked IBAN only
    method = PaymentMethod.objects.get(org=org, kind="sepa_debit")
    expect(page.locator(".message--success")).to_have_text(
        f"The SEPA Direct Debit mandate {method.mandate_reference} for DE89 •••• 3000 has been set up."
    )
    row = page.locator(".method").filter(has_text="SEPA Direct Debit DE89 •••• 3000")
    expect(row).to_have_count(1)
    expect(page.locator(".method").first).to_contain_text("SEPA Direct Debit DE89 •••• 3000")
    expect(row.locator(".badge")).to_have_text("Default")
    expect(row).to_contain_text(method.mandate_reference)
    expect(row).to_contain_text("DE98ZZZ09999999999")
    expect(row).not_to_contain_text("DE89 3704 0044 0532 0130 00")
    expect(row).not_to_contain_text("DE89370400440532013000")
    assert method.is_default
    assert method.iban == "DE89370400440532013000"
    assert method.bic == "COBADEFFXXX"
    assert method.mandate_ip == "127.0.0.1"
    assert "Chrome" in method.mandate_user_agent
    assert selectors.default_payment_method(org=org) == method
    _screenshots(page, "payment-methods-sepa")

    # And the printable mandate names creditor, reference and the masked account, and prints without navigation
    row.get_by_role("link", name=re.compile("Printable mandate")).click()
    expect(page.get_by_role("heading", name="SEPA Direct Debit mandate", level=1)).to_be_visible()
    document = page.locator(".mandate-document")
    expect(document).to_contain_text(method.mandate_reference)
    expect(document).to_contain_text("DE98ZZZ09999999999")
    expect(document).to_contain_text("DE89 •••• 3000")
    expect(document).to_contain_text("Nimbus CRM GmbH")
    expect(document).not_to_contain_text("DE89 3704 0044 0532 0130 00")
    _screenshot(page, "sepa-mandate-print-screen")
    page.emulate_media(media="print")
    expect(page.get_by_role("button", name="Print")).to_be_hidden()
    expect(page.locator(".topbar__tools")).to_be_hidden()
    _screenshot(page, "sepa-mandate-print")
    page.emulate_media(media="screen")

    # And the mandate now pays the contract: removing it without another method is refused, nothing changes
    page.get_by_role("link", name="Back to payment methods").click()
    row.get_by_role("link", name=re.compile("Remove")).click()
    expect(page.get_by_role("heading", name="Remove SEPA Direct Debit DE89 •••• 3000?", level=2)).to_be_visible()
    page.get_by_role("button", name="Remove payment method").click()
    expect(page.locator("#form-errors")).to_contain_text(
        "This payment method pays your active contracts. Choose or add a replacement before removing it."
    )
    method.refresh_from_db()
    assert method.status == PaymentMethod.Status.ACTIVE
    assert method.is_default
    _screenshots(page, "payment-method-remove-refused")


def test_baeckerei_admin_replaces_the_card_with_3d_secure(demo: None, english: Page, live_server: Any) -> None:
    page, base = english, str(live_server)
    org = Org.objects.get(legal_name=BAECKEREI)
    old = selectors.default_payment_method(org=org)
    old_card = old if old is not None and old.kind == "card" else None

    # Given the System Administrator of the bakery on the payment page
    _log_in(page, base, "admin@baeckerei-mueller.example")
    _open_payment_page(page)
    _screenshots(page, "payment-methods-baeckerei-before")

    # When they replace the card (or add one, while the demo has none)
    if old_card is not None:
        old_label = f"•••• {old_card.card_last4}"
        page.locator(".method").filter(has_text=old_label).get_by_role(
            "button", name=re.compile("Replace card")
        ).click()
    else:
        page.locator("#add-method").get_by_role("button", name="Add card").click()

    # and enter the 3-D Secure test card on the sandbox's card page
    expect(page.get_by_role("heading", name=re.compile("Add a card"), level=1)).to_be_visible()
    page.get_by_label("Card number").fill("4000 0025 0000 3155")
    page.get_by_label("Expiry date (MM/YY)").fill("12/30")
    page.get_by_label("Security code (CVC)").fill("123")
    page.get_by_label("Name on the card").fill("Maria Müller")
    _screenshot(page, "sandbox-card-page")
    page.get_by_role("button", name="Save card").click()

    # Then the bank asks for confirmation, and they confirm
    expect(page.get_by_role("heading", name=re.compile("3-D Secure confirmation"), level=1)).to_be_visible()
    _screenshot(page, "sandbox-3ds-challenge")
    page.get_by_role("button", name="Confirm").click()

    # And back in My Account the new card is the default
    expect(page.get_by_role("heading", name="Payment", level=1)).to_be_visible()
    new = PaymentMethod.objects.get(org=org, kind="card", card_last4="3155", status="active")
    message = page.locator(".message--success")
    if old_card is not None:
        expect(message).to_have_text(f"Visa •••• 3155 has replaced Visa •••• {old_card.card_last4}.")
        old_card.refresh_from_db()
        assert old_card.status == PaymentMethod.Status.REMOVED
    else:
        expect(message).to_have_text("Visa •••• 3155 has been added.")
    first = page.locator(".method").first
    expect(first.locator(".method__label")).to_have_text("Visa •••• 3155")
    expect(first.locator(".badge")).to_have_text("Default")
    expect(first).to_contain_text("12/2030")
    assert new.is_default
    assert selectors.default_payment_method(org=org) == new
    _screenshots(page, "payment-methods-card-replaced")
