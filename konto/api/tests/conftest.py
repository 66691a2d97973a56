"""Fixtures for API tests: a client that sends a bearer token and a language."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from django.test import Client
from django.utils import translation

from konto.accounts.models import User
from konto.accounts.services.tokens import create_api_token
from konto.core.audit import Actor

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response


# Every API test starts at this moment, with the clock standing still.
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW_JSON = "2026-03-02T09:00:00Z"


@pytest.fixture(autouse=True)
def clock(time_machine: Any) -> Any:
    """The stopped clock of every API test; `clock.shift(...)` moves it on."""
    time_machine.move_to(NOW, tick=False)
    return time_machine


def german(message: str, params: dict[str, Any] | None = None) -> str:
    """`message` as gettext renders it for German, the way the API must have rendered it."""
    with translation.override("de"):
        text = translation.gettext(message)
    return text % params if params else text


def problem(status: int, code: str, detail: str, errors: list[dict[str, str]] | None = None, **extra: Any) -> Any:
    """The exact problem+json body the API answers with."""
    body: dict[str, Any] = {
        "type": f"https://konto.dev/problems/{code}",
        "title": TITLES[code],
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    body.update(extra)
    return body


TITLES = {
    "unauthorized": "Authentication required",
    "permission_denied": "Permission denied",
    "not_found": "Not found",
    "method_not_allowed": "Method not allowed",
    "invalid_input": "Invalid input",
    "invalid_vat_id": "Invalid VAT ID",
    "license_limit_reached": "License limit reached",
    "request_too_large": "Request too large",
    "server_error": "Server error",
}


def create_token(user: User, name: str = "Test token") -> str:
    assert user.org is not None
    _, secret = create_api_token(org=user.org, user=user, actor=Actor.system("test"), name=name)
    return secret


class ApiClient:
    """Django's test client speaking to /api/v1/ with a bearer token and Accept-Language."""

    def __init__(self, secret: str | None, language: str | None = "en") -> None:
        # CSRF checks on, as in production: bearer-token requests need no CSRF token.
        self.client = Client(enforce_csrf_checks=True)
        self.secret = secret
        self.language = language

    def headers(self, language: str | None, authorization: str | None) -> dict[str, str]:
        headers: dict[str, str] = {}
        if authorization is not None:
            headers["Authorization"] = authorization
        elif self.secret is not None:
            headers["Authorization"] = f"Bearer {self.secret}"
        language = language if language is not None else self.language
        if language:
            headers["Accept-Language"] = language
        return headers

    def get(self, path: str, *, language: str | None = None, authorization: str | None = None) -> Response:
        return self.client.get("/api/v1" + path, headers=self.headers(language, authorization))

    def patch(
        self, path: str, body: Any = None, *, raw: str | bytes | None = None, language: str | None = None
    ) -> Response:
        data = raw if raw is not None else json.dumps(body)
        return self.client.patch(
            "/api/v1" + path, data=data, content_type="application/json", headers=self.headers(language, None)
        )

    def request(self, method: str, path: str, *, language: str | None = None) -> Response:
        return self.client.generic(method, "/api/v1" + path, headers=self.headers(language, None))


@pytest.fixture
def admin_api(admin: User) -> ApiClient:
    return ApiClient(create_token(admin))


@pytest.fixture
def billing_api(billing_user: User) -> ApiClient:
    return ApiClient(create_token(billing_user))


@pytest.fixture
def standard_api(standard_user: User) -> ApiClient:
    return ApiClient(create_token(standard_user))


@pytest.fixture
def anonymous_api(db: None) -> ApiClient:
    return ApiClient(None)
