"""Every error is application/problem+json with a stable code; bad input is never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.utils import translation

from konto.accounts import selectors
from konto.accounts.exceptions import CurrencyLocked, LicenseLimitReached
from konto.accounts.models import Org
from konto.api.api import api
from konto.api.tests.conftest import ApiClient, german, problem
from konto.core.exceptions import InvalidInput, NotFound


def test_unknown_path_is_a_404_problem(admin_api: ApiClient) -> None:
    # when
    response = admin_api.get("/invoices-that-do-not-exist")
    # then
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json; charset=utf-8"
    assert response.json() == problem(404, "not_found", "Not found.")


def test_unknown_path_does_not_redirect_to_a_trailing_slash(admin_api: ApiClient) -> None:
    # when
    response = admin_api.get("/me/")
    # then
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_api_root_is_a_404_problem(anonymous_api: ApiClient) -> None:
    # when
    response = anonymous_api.get("/")
    # then
    assert response.status_code == 404
    assert response.json() == problem(404, "not_found", "Not found.")


def test_wrong_method_is_a_405_problem_naming_the_allowed_methods(admin_api: ApiClient) -> None:
    # when
    response = admin_api.request("DELETE", "/org")
    # then
    assert response.status_code == 405
    assert response["Allow"] == "GET, PATCH"
    assert response.json() == problem(
        405, "method_not_allowed", "The method DELETE is not allowed here. Allowed: GET, PATCH."
    )


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ('{"legal_name": ', "The request body is not valid JSON."),
        ("legal_name=Foo", "The request body is not valid JSON."),
        (b"\xff\xfe\x00{", "The request body is not valid JSON."),
        ("[1, 2]", "The request body must be a JSON object."),
        ('"a string"', "The request body must be a JSON object."),
        ("null", "The request body must be a JSON object."),
        ("[" * 100_000 + "]" * 100_000, "The request body is not valid JSON."),
        ("", "The request body must be a JSON object."),
    ],
)
def test_body_that_is_not_a_json_object_is_a_422_problem(
    org: Org, admin_api: ApiClient, raw: str | bytes, detail: str
) -> None:
    # when
    response = admin_api.patch("/org", raw=raw)
    # then
    assert response.status_code == 422
    assert response.json() == problem(422, "invalid_input", detail)
    org.refresh_from_db()
    assert org.legal_name == "Bäckerei Test GmbH"


def test_body_error_is_translated(admin_api: ApiClient) -> None:
    # when
    response = admin_api.patch("/org", raw="{", language="de")
    # then
    assert response.status_code == 422
    assert response["Content-Language"] == "de"
    assert response.json()["detail"] == german("The request body is not valid JSON.")


def test_body_larger_than_the_upload_limit_is_a_413_problem(settings, admin_api: ApiClient) -> None:
    # given
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    # when
    response = admin_api.patch("/org", {"legal_name": "x" * 200})
    # then
    assert response.status_code == 413
    assert response.json() == problem(413, "request_too_large", "The request body is too large.")


def test_a_bug_is_a_500_problem_without_internals(monkeypatch, admin_api: ApiClient) -> None:
    # given: a defect somewhere below the endpoint
    def broken(**kwargs):
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr("konto.api.licenses.license_usage", broken)
    admin_api.client = Client(raise_request_exception=False)
    # when
    response = admin_api.get("/licenses")
    # then
    assert response.status_code == 500
    assert response.json() == problem(500, "server_error", "Something went wrong on our side.")
    assert b"hunter2" not in response.content


def _handled(exc: Exception, language: str = "en") -> tuple[HttpResponse, dict[str, Any]]:
    """The response the API gives for `exc` in `language` (whatever an earlier test left active), and its body."""
    with translation.override(language):
        response = api.on_exception(RequestFactory().get("/api/v1/anything"), exc)
    return response, json.loads(response.content)


def test_konto_error_keeps_its_status_code_fields_and_extra_members() -> None:
    # given
    error = LicenseLimitReached(
        "No Full license is free: 5 bought, 5 assigned, 0 free.",
        fields={"license_type": "No Full license is free: 5 bought, 5 assigned, 0 free."},
        extra={"license_type": "full", "bought": 5, "assigned": 5, "free": 0, "status": 200},
    )
    # when
    response, body = _handled(error)
    # then: extension members are added, but never overwrite the standard ones
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json; charset=utf-8"
    assert body == problem(
        409,
        "license_limit_reached",
        "No Full license is free: 5 bought, 5 assigned, 0 free.",
        errors=[{"field": "license_type", "message": "No Full license is free: 5 bought, 5 assigned, 0 free."}],
        license_type="full",
        bought=5,
        assigned=5,
        free=0,
    )


def test_konto_error_with_its_own_code_gets_a_title_from_its_status() -> None:
    # when
    response, body = _handled(CurrencyLocked("The currency cannot change once invoices have been issued."))
    # then
    assert response.status_code == 409
    assert (body["title"], body["code"]) == ("Currency locked", "currency_locked")
    assert body["type"] == "https://konto.dev/problems/currency_locked"


def test_unknown_code_falls_back_to_the_status_title() -> None:
    # when
    response, body = _handled(InvalidInput("Nope.", code="something_new"))
    # then
    assert response.status_code == 422
    assert (body["title"], body["code"]) == ("Invalid input", "something_new")


def test_lazy_messages_are_rendered_in_the_active_language(other_org: Org) -> None:
    # given: a selector's NotFound carries a lazily translated message
    with pytest.raises(NotFound) as caught:
        selectors.get_org_user(org=other_org, public_id="usr_missing")
    # when
    response, body = _handled(caught.value, language="de")
    # then
    assert response.status_code == 404
    assert body["detail"] == german("User not found.")
