"""Fixtures shared by the tests of every app, including the browser tests."""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest

from konto.accounts.models import Org, User
from konto.accounts.testing import make_admin, make_billing_user, make_org, make_user

CHROMIUM = os.environ.get("KONTO_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")


@pytest.fixture(autouse=True)
def _test_settings(settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.KONTO_BASE_URL = "http://testserver"
    # A fast hasher: PBKDF2's deliberate cost would dominate the suite's run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Background tasks run at once in tests, whatever KONTO_TASKS says.
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture
def org(db: None) -> Org:
    return make_org(legal_name="Bäckerei Test GmbH")


@pytest.fixture
def other_org(db: None) -> Org:
    return make_org(legal_name="Fremdfirma AG", country="AT", city="Wien", postal_code="1010")


@pytest.fixture
def admin(org: Org) -> User:
    return make_admin(org, "admin@test.example", full_name="Anna Admin")


@pytest.fixture
def billing_user(org: Org) -> User:
    return make_billing_user(org, "billing@test.example", full_name="Bea Buchhaltung")


@pytest.fixture
def standard_user(org: Org) -> User:
    return make_user(org, "sales@test.example", full_name="Sven Sales")


@pytest.fixture
def other_admin(other_org: Org) -> User:
    return make_admin(other_org, "admin@other.example", full_name="Otto Other")


# ---------------------------------------------------------------- browser tests


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("KONTO_REQUIRE_BROWSER"):
            pytest.fail(f"Chromium not found at {CHROMIUM}; install Debian's chromium package.")
        pytest.skip("Chromium is not installed (apt-get install chromium); browser tests skipped.")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Playwright's sync API runs an event loop in the test thread; the ORM calls
    # of browser tests are still synchronous, so Django's async guard is lifted
    # when (and only when) browser tests are collected.
    if any(item.get_closest_marker("browser") for item in items):
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
