"""Fixtures of the catalog tests: the demo catalog and orgs, seeded once per test."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import translation


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    # Messages are asserted in English, the source language, whatever the default language is.
    with translation.override("en"):
        yield


@pytest.fixture
def demo(db: None) -> None:
    call_command("seed_demo", force=True, stdout=StringIO())
