"""Fixtures of the back-office tests: vendor staff in their role groups, a fast password hasher."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import translation

from konto.accounts.models import User
from konto.accounts.testing import PASSWORD, make_user
from konto.backoffice.services import assign_role_group


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    # Messages are asserted in English, the source language, whatever the default language is.
    with translation.override("en"):
        yield


def make_staff(email: str, role: str, **fields: Any) -> User:
    fields.setdefault("language", "en")  # the back office in English for these tests
    user = make_user(None, email, staff_role=role, full_name=email.split("@")[0].title(), **fields)
    assign_role_group(user)
    return user


@pytest.fixture
def billing_ops(db: None) -> User:
    return make_staff("ops@vendor.example", "billing_ops")


@pytest.fixture
def account_executive(db: None) -> User:
    return make_staff("ae@vendor.example", "account_executive")


@pytest.fixture
def support_agent(db: None) -> User:
    return make_staff("support@vendor.example", "support_agent")


@pytest.fixture
def superuser(db: None) -> User:
    return User.objects.create_superuser("root@vendor.example", PASSWORD, full_name="Root", language="en")


@pytest.fixture
def seeded(db: None) -> str:
    out = StringIO()
    call_command("seed_demo", force=True, stdout=out)
    return out.getvalue()
