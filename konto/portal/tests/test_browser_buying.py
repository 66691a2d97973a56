"""Buying in headless Chromium: licenses and storage for Bäckerei Müller, then the Essentials limit."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import Browser, Locator, Page, expect

from konto.accounts.models import Org
from konto.contracts.models import Contract, ContractLine, Order
from konto.contracts.services.pricing import OrderItem, OrderPreview, price_order
from konto.core.money import format_money

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DEMO_PASSWORD = "konto-demo"
SCREENSHOTS = Path(settings.VAR_DIR) / "screenshots"


@pytest.fixture
def demo(transactional_db: None, live_server: object) -> None:
    call_command("seed_demo", force=True, verbosity=0)


@pytest.fixture
def english(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


def _screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _log_in(page: Page, base_url: str, email: str) -> None:
    page.goto(base_url + "/login/")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(DEMO_PASSWORD)
    page.locator("form[action='/login/'] button[type=submit]").click()


def _catalog_card(page: Page, name: str) -> Locator:
    return page.locator("section[aria-labelledby=catalog-heading] article").filter(
        has=page.get_by_role("heading", name=name, exact=True)
    )


def _eur(amount: object) -> str:
    return format_money(amount, "EUR", "en")  # type: ignore[arg-type]  # Decimal from the preview


def _expected(org: Org, contract: Contract, code: str, quantity: int) -> OrderPreview:
    return price_order(org=org, contract=contract, items=[OrderItem(code, quantity)], today=timezone.localdate())


def _buy(page: Page, base: str, org: Org, contract: Contract, code: str, name: str, quantity: int, shot: str) -> None:
    """Open Products, review `quantity` × product, check the preview's numbers, confirm, see the result."""
    expected = _expected(org, contract, code, quantity)
    line = expected.lines[0]
    page.locator(".sidenav").get_by_role("link", name="Products", exact=True).click()
    card = _catalog_card(page, name)
    card.get_by_label("Quantity").fill(str(quantity))
    card.get_by_role("button", name="Review order").click()

    expect(page.get_by_role("heading", name="Review your order", level=1)).to_be_visible()
    row = page.get_by_role("row").filter(has_text=name)
    expect(row).to_contain_text(_eur(line.prorated_net_amount))
    expect(row).to_contain_text(f"prorated ({line.days_charged} of {line.days_in_period} days)")
    expect(page.get_by_test_id("today-gross")).to_have_text(_eur(expected.today.gross_amount))
    expect(page.locator(".timeline")).to_contain_text(_eur(expected.next_invoice.gross_amount))
    expect(page.locator(".timeline")).to_contain_text(_eur(expected.renewal.gross_amount))
    confirm = page.get_by_role("button", name=f"Order for a charge – {_eur(expected.today.gross_amount)}")
    expect(confirm).to_be_visible()
    _screenshot(page, shot)
    confirm.click()

    expect(page.locator(".message--success")).to_have_text("Thank you, your order has been placed.")
    expect(page.locator(".buying-result")).to_contain_text(f"{quantity} × {name} added to your contract")
    expect(page.locator(".buying-result")).to_contain_text(_eur(expected.today.gross_amount))


def test_admin_buys_licenses_and_storage_then_hits_the_essentials_limit(
    demo: None, english: Page, live_server: object
) -> None:
    page, base = english, str(live_server)
    org = Org.objects.get(legal_name="Bäckerei Müller GmbH")
    contract = Contract.objects.get(org=org)
    # Given the System Administrator of Bäckerei Müller (Essentials, monthly, 5 licenses) on the products page
    _log_in(page, base, "admin@baeckerei-mueller.example")
    page.locator(".sidenav").get_by_role("link", name="Products", exact=True).click()
    expect(page.get_by_role("heading", name="Buy new products", level=1)).to_be_visible()
    expect(page.locator("section[aria-labelledby=recommended-heading]")).to_contain_text("Inbox")
    expect(_catalog_card(page, "Analytics Plus")).to_contain_text("Not available in your edition")
    _screenshot(page, "buying-products")

    # When they buy 2 more Essentials licenses and one Data Storage, each after its preview
    _buy(page, base, org, contract, "essentials", "Essentials", 2, "buying-preview-licenses")
    _buy(page, base, org, contract, "data-storage", "Data Storage (10 GB)", 1, "buying-preview-storage")

    # Then both are lines of the contract, bought today, and the orders are listed there
    page.get_by_role("link", name="View contract").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(contract.number)
    lines = page.locator("section[aria-labelledby=lines-heading] tbody tr")
    expect(lines).to_have_count(3)
    expect(lines.nth(1)).to_contain_text("Essentials")
    expect(lines.nth(1)).to_contain_text("Ordered in My Account")
    expect(lines.nth(2)).to_contain_text("Data Storage (10 GB)")
    expect(page.locator("section[aria-labelledby=orders-heading] tbody tr")).to_have_count(2)
    _screenshot(page, "buying-contract-detail")
    assert Order.objects.filter(org=org).count() == 2
    assert sorted(
        ContractLine.objects.filter(contract=contract, order__isnull=False).values_list("product__code", "quantity")
    ) == [("data-storage", 1), ("essentials", 2)]

    # When they try 4 more Essentials licenses (11 in all)
    page.locator(".sidenav").get_by_role("link", name="Products", exact=True).click()
    card = _catalog_card(page, "Essentials")
    card.get_by_label("Quantity").fill("4")
    card.get_by_role("button", name="Review order").click()

    # Then the order is refused with the limit and an upgrade offer, and nothing was bought
    alert = page.locator(".buying-error")
    expect(alert).to_contain_text("Essentials includes at most 10 Full licenses. You have 7, so you can add 3 more.")
    expect(alert).to_contain_text(re.compile(r"Upgrading to Professional or Enterprise lifts the limit"))
    expect(alert).to_contain_text("ae@nimbus.example")
    _screenshot(page, "buying-essentials-limit")
    assert Order.objects.filter(org=org).count() == 2
