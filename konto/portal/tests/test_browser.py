"""End-to-end flows of My Account in headless Chromium against a live server and the demo data."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from playwright.sync_api import Browser, BrowserContext, Page, expect

from konto.accounts.models import LicenseType, User

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DEMO_PASSWORD = "konto-demo"
SCREENSHOTS = Path(settings.VAR_DIR) / "screenshots"


@pytest.fixture
def demo(transactional_db: None, live_server: object) -> None:
    call_command("seed_demo", force=True, verbosity=0)
    mail.outbox.clear()  # the seed's payment receipts and dunning notices; these tests read the emails they cause


def _context(browser: Browser, locale: str) -> BrowserContext:
    return browser.new_context(locale=locale, viewport={"width": 1280, "height": 900})


@pytest.fixture
def english(browser: Browser) -> Iterator[Page]:
    context = _context(browser, "en-GB")
    yield context.new_page()
    context.close()


@pytest.fixture
def german(browser: Browser) -> Iterator[Page]:
    context = _context(browser, "de-DE")
    yield context.new_page()
    context.close()


def _screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _log_in(page: Page, base_url: str, email: str, password: str = DEMO_PASSWORD) -> None:
    page.goto(base_url + "/login/")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(password)
    page.locator("form[action='/login/'] button[type=submit]").click()


def test_admin_sees_license_usage_and_gives_billing_access(demo: None, english: Page, live_server: object) -> None:
    page, base = english, str(live_server)
    # Given the System Administrator of Bäckerei Müller logs in
    _log_in(page, base, "admin@baeckerei-mueller.example")

    # Then the overview shows the edition and the license usage of both license types
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.get_by_text("Essentials").first).to_be_visible()
    full_bar = page.get_by_role("img", name=re.compile(r"Full licenses: \d+ of 5 assigned"))
    expect(full_bar).to_be_visible()
    expect(page.get_by_role("img", name=re.compile(r"Identity licenses: \d+ of 100 assigned"))).to_be_visible()
    _screenshot(page, "overview-admin")

    # When they give billing access to a new person
    page.locator(".sidenav").get_by_role("link", name="Users", exact=True).click()
    expect(page.get_by_role("heading", name="Users", level=1)).to_be_visible()
    _screenshot(page, "users")
    page.get_by_role("link", name="Give billing access").first.click()
    page.get_by_label("Name").fill("Petra Pay")
    page.get_by_label("Email").fill("petra.pay@baeckerei-mueller.example")
    page.locator("main form button[type=submit]").click()

    # Then a new Identity user with My Account Admin exists and is listed as invited
    expect(page.locator(".message--success")).to_contain_text("petra.pay@baeckerei-mueller.example")
    petra = User.objects.get(email="petra.pay@baeckerei-mueller.example")
    assert petra.license_type == LicenseType.IDENTITY
    assert [ps.code for ps in petra.permission_sets.all()] == ["my_account_admin"]
    page.goto(base + "/account/users/")
    expect(page.get_by_role("row", name=re.compile("Petra Pay"))).to_be_visible()

    # And the invitation email's one-time link lets her set a password and open My Account
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["petra.pay@baeckerei-mueller.example"]
    link = re.search(r"http://testserver(/invitation/[^\s\"<]+/)", str(mail.outbox[0].body))
    assert link is not None
    page.locator("form[action='/logout/'] button").click()
    page.goto(base + link.group(1))
    page.get_by_label("Choose a password").fill("Rechnungen-2026!")
    page.get_by_label("Repeat the password").fill("Rechnungen-2026!")
    page.locator("main form button[type=submit]").click()
    expect(page.locator(".topbar__user")).to_have_text("Petra Pay")
    expect(page.get_by_role("img", name=re.compile(r"Full licenses"))).to_be_visible()
    # An Identity user with billing access has no Users page
    expect(page.locator(".sidenav").get_by_role("link", name="Users", exact=True)).to_have_count(0)


def test_user_without_billing_permission_sees_german_403_page(demo: None, german: Page, live_server: object) -> None:
    page, base = german, str(live_server)
    # Given a Standard User without any billing permission logs in with a German browser
    _log_in(page, base, "verkauf@baeckerei-mueller.example")

    # When they open My Account
    response = page.goto(base + "/account/")

    # Then they get the German 403 page naming the missing permission and who can grant it
    assert response is not None
    assert response.status == 403
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sie haben keinen Zugriff auf diese Seite")
    expect(page.locator("main")).to_contain_text("Abrechnung verwalten")
    expect(page.locator(".grantors")).to_contain_text("Maria Müller")
    expect(page.locator(".grantors")).to_contain_text("admin@baeckerei-mueller.example")
    _screenshot(page, "forbidden-de")


def test_wrong_password_is_refused_and_then_locked(demo: None, english: Page, live_server: object) -> None:
    page, base = english, str(live_server)
    for _ in range(4):
        _log_in(page, base, "admin@baeckerei-mueller.example", "wrong-password")
        expect(page.locator(".form-errors, .field-error").first).to_contain_text("Email or password is wrong")
    # The fifth failure locks this email from this address for 15 minutes
    _log_in(page, base, "admin@baeckerei-mueller.example", "wrong-password")
    expect(page.locator("main")).to_contain_text("locked for 15 more minutes")
    # and even the right password is refused now
    _log_in(page, base, "admin@baeckerei-mueller.example")
    expect(page.locator("main")).to_contain_text("locked for 15 more minutes")
    assert page.url.endswith("/login/")
    _screenshot(page, "login-locked")
