"""GET and PATCH /org: the billing profile, its validation and who may change it."""

from __future__ import annotations

from typing import Any

import pytest
from django.forms.models import model_to_dict

from konto.accounts.models import Org, User
from konto.accounts.testing import make_user
from konto.api.tests.conftest import ApiClient, create_token, german, problem
from konto.core.models import AuditEvent

FIELDS_INVALID = "Please correct the marked fields."


def org_json(org: Org, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": org.public_id,
        "legal_name": "Bäckerei Test GmbH",
        "address": {
            "street": "Teststraße 1",
            "line2": None,
            "postal_code": "10115",
            "city": "Berlin",
            "country": "DE",
        },
        "vat_id": None,
        "billing_email": None,
        "currency": "EUR",
        "language": "de",
        "segment": "commercial",
        "edition": "essentials",
        "status": "active",
    }
    body.update(changes)
    return body


def snapshot(org: Org) -> dict[str, Any]:
    return model_to_dict(Org.objects.get(pk=org.pk))


# ---------------------------------------------------------------- reading


def test_get_org_returns_the_billing_profile(org: Org, billing_api: ApiClient) -> None:
    # when
    response = billing_api.get("/org")
    # then
    assert response.status_code == 200
    assert response.json() == org_json(org)


def test_get_org_shows_optional_fields_when_set(org: Org, billing_api: ApiClient) -> None:
    # given
    Org.objects.filter(pk=org.pk).update(
        address_line2="Hinterhaus", vat_id="DE123456788", billing_email="rechnung@test.example", language="en"
    )
    # when
    response = billing_api.get("/org")
    # then
    expected = org_json(org, vat_id="DE123456788", billing_email="rechnung@test.example", language="en")
    expected["address"]["line2"] = "Hinterhaus"
    assert response.json() == expected


def test_get_org_is_the_tokens_org_only(org: Org, other_org: Org, other_admin: User) -> None:
    # given
    api = ApiClient(create_token(other_admin))
    # when
    response = api.get("/org")
    # then
    assert response.json()["id"] == other_org.public_id
    assert response.json()["legal_name"] == "Fremdfirma AG"


# ---------------------------------------------------------------- changing


def test_patch_org_changes_the_given_fields_only(org: Org, billing_user: User, billing_api: ApiClient) -> None:
    # when
    response = billing_api.patch(
        "/org",
        {
            "legal_name": "  Bäckerei Müller GmbH ",
            "address": {"city": "Potsdam", "postal_code": "14467", "line2": "2. OG"},
            "vat_id": "de 123 456 788",
            "billing_email": "Rechnung@Test.example",
            "language": "en",
        },
    )
    # then
    assert response.status_code == 200
    expected = org_json(
        org,
        legal_name="Bäckerei Müller GmbH",
        vat_id="DE123456788",
        billing_email="rechnung@test.example",
        language="en",
    )
    expected["address"].update(city="Potsdam", postal_code="14467", line2="2. OG")
    assert response.json() == expected
    org.refresh_from_db()
    assert (org.legal_name, org.city, org.postal_code, org.street, org.address_line2, org.vat_id) == (
        "Bäckerei Müller GmbH",
        "Potsdam",
        "14467",
        "Teststraße 1",
        "2. OG",
        "DE123456788",
    )
    event = AuditEvent.objects.get(action="org.billing_profile_changed")
    assert (event.org_id, event.actor_id, event.object_id) == (org.pk, billing_user.pk, org.public_id)


def test_patch_org_moves_the_org_to_another_country_with_its_vat_id(org: Org, billing_api: ApiClient) -> None:
    # when
    response = billing_api.patch(
        "/org",
        {"address": {"country": "at", "city": "Wien", "postal_code": "1010"}, "vat_id": "ATU13585627"},
    )
    # then
    assert response.status_code == 200
    assert response.json()["address"] == {
        "street": "Teststraße 1",
        "line2": None,
        "postal_code": "1010",
        "city": "Wien",
        "country": "AT",
    }
    assert response.json()["vat_id"] == "ATU13585627"


def test_patch_org_switches_currency_while_no_invoice_exists(org: Org, billing_api: ApiClient) -> None:
    # when
    response = billing_api.patch("/org", {"currency": "CHF"})
    # then
    assert response.status_code == 200
    assert response.json()["currency"] == "CHF"


@pytest.mark.parametrize("cleared", [None, ""])
def test_patch_org_clears_optional_fields_with_null_or_empty(
    org: Org, billing_api: ApiClient, cleared: str | None
) -> None:
    # given
    Org.objects.filter(pk=org.pk).update(vat_id="DE123456788", billing_email="a@test.example", address_line2="x")
    # when
    response = billing_api.patch("/org", {"vat_id": cleared, "billing_email": cleared, "address": {"line2": cleared}})
    # then
    assert response.status_code == 200
    assert response.json() == org_json(org)
    org.refresh_from_db()
    assert (org.vat_id, org.billing_email, org.address_line2) == ("", "", "")


def test_empty_patch_changes_nothing(org: Org, billing_api: ApiClient) -> None:
    # given
    before = snapshot(org)
    # when
    response = billing_api.patch("/org", {})
    # then
    assert response.status_code == 200
    assert response.json() == org_json(org)
    assert snapshot(org) == before
    assert not AuditEvent.objects.filter(action="org.billing_profile_changed").exists()


def test_patch_org_needs_manage_billing_contacts(org: Org) -> None:
    # given: an invoice viewer has a billing permission, but not this one
    viewer = make_user(org, "viewer@test.example", permission_sets=("invoice_viewer",))
    api = ApiClient(create_token(viewer))
    before = snapshot(org)
    # when
    response = api.patch("/org", {"legal_name": "Gekapert GmbH"})
    # then
    assert response.status_code == 403
    assert response.json() == problem(
        403,
        "permission_denied",
        "This needs the permission “Manage billing contacts” (manage_billing_contacts), which your user does "
        "not have. Ask a user who manages your org's users to grant it.",
        missing_permission="manage_billing_contacts",
    )
    assert snapshot(org) == before


def test_invoice_viewer_may_read_the_org(org: Org) -> None:
    # given
    viewer = make_user(org, "viewer@test.example", permission_sets=("invoice_viewer",))
    # when
    response = ApiClient(create_token(viewer)).get("/org")
    # then
    assert response.status_code == 200


def test_patch_without_token_changes_nothing(org: Org, anonymous_api: ApiClient) -> None:
    # given
    before = snapshot(org)
    # when
    response = anonymous_api.patch("/org", {"legal_name": "Gekapert GmbH"})
    # then
    assert response.status_code == 401
    assert snapshot(org) == before


# ---------------------------------------------------------------- bad input

NULL = ("This field cannot be null.", None)
TEXT = ("Enter text.", None)
OBJECT = ("Enter an object.", None)
REQUIRED = ("This field is required.", None)
UNKNOWN = ("Unknown field.", None)


def at_most(n: int) -> tuple[str, dict[str, Any]]:
    return ("Use at most %(max)d characters.", {"max": n})


BAD_INPUT = [
    # wrong types
    ({"legal_name": 42}, "legal_name", TEXT),
    ({"legal_name": ["Bäckerei"]}, "legal_name", TEXT),
    ({"legal_name": True}, "legal_name", TEXT),
    ({"address": ["Teststraße 1", "Berlin"]}, "address", OBJECT),
    ({"address": "Teststraße 1, Berlin"}, "address", OBJECT),
    ({"address": {"postal_code": 10115}}, "address.postal_code", TEXT),
    ({"vat_id": 123456788}, "vat_id", TEXT),
    ({"billing_email": {"email": "a@b.de"}}, "billing_email", TEXT),
    ({"currency": 978}, "currency", TEXT),
    # null where not allowed
    ({"legal_name": None}, "legal_name", NULL),
    ({"address": None}, "address", NULL),
    ({"address": {"city": None}}, "address.city", NULL),
    ({"address": {"country": None}}, "address.country", NULL),
    ({"currency": None}, "currency", NULL),
    ({"language": None}, "language", NULL),
    # empty where required
    ({"legal_name": "   "}, "legal_name", REQUIRED),
    ({"address": {"street": ""}}, "address.street", REQUIRED),
    ({"address": {"country": ""}}, "address.country", REQUIRED),
    # overlong strings
    ({"legal_name": "x" * 201}, "legal_name", at_most(200)),
    ({"address": {"street": "x" * 201}}, "address.street", at_most(200)),
    ({"address": {"line2": "x" * 201}}, "address.line2", at_most(200)),
    ({"address": {"postal_code": "1" * 21}}, "address.postal_code", at_most(20)),
    ({"address": {"city": "x" * 101}}, "address.city", at_most(100)),
    ({"billing_email": "a" * 250 + "@b.de"}, "billing_email", at_most(254)),
    # values outside what Konto supports
    ({"address": {"country": "XX"}}, "address.country", ("Choose a country from the list.", None)),
    ({"address": {"country": "Deutschland"}}, "address.country", ("Choose a country from the list.", None)),
    ({"currency": "USD"}, "currency", ("Choose EUR or CHF.", None)),
    ({"language": "fr"}, "language", ("Choose German or English.", None)),
    (
        {"billing_email": "rechnung(at)test.example"},
        "billing_email",
        (
            "Enter a valid email address, e.g. name@example.com.",
            None,
        ),
    ),
    # characters no database column can hold
    ({"legal_name": "Bäckerei\u0000 GmbH"}, "legal_name", ("Null characters are not allowed.", None)),
    ({"address": {"city": "Ber\u0000lin"}}, "address.city", ("Null characters are not allowed.", None)),
    ({"vat_id": "DE\u0000123456788"}, "vat_id", ("Null characters are not allowed.", None)),
    # unknown and read-only fields
    ({"legal_nam": "Tippfehler GmbH"}, "legal_nam", UNKNOWN),
    ({"segment": "nonprofit"}, "segment", UNKNOWN),
    ({"edition": "unlimited"}, "edition", UNKNOWN),
    ({"status": "active"}, "status", UNKNOWN),
    ({"id": "org_other"}, "id", UNKNOWN),
    ({"address": {"zip": "10115"}}, "address.zip", UNKNOWN),
]


@pytest.mark.parametrize(("body", "field", "message"), BAD_INPUT, ids=[repr(case[0])[:60] for case in BAD_INPUT])
def test_bad_input_is_a_422_with_a_translated_field_error_and_nothing_changes(
    org: Org, billing_api: ApiClient, body: dict[str, Any], field: str, message: tuple[str, dict[str, Any] | None]
) -> None:
    # given
    before = snapshot(org)
    # when
    response = billing_api.patch("/org", body, language="de")
    # then
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json; charset=utf-8"
    assert response["Content-Language"] == "de"
    assert response.json() == problem(
        422,
        "invalid_input",
        german(FIELDS_INVALID),
        errors=[{"field": field, "message": german(*message)}],
        title=german("Invalid input"),
    )
    assert snapshot(org) == before
    assert not AuditEvent.objects.filter(action="org.billing_profile_changed").exists()


def test_vat_id_with_wrong_check_digit_is_refused_with_invalid_vat_id(org: Org, billing_api: ApiClient) -> None:
    # given
    before = snapshot(org)
    # when
    response = billing_api.patch("/org", {"vat_id": "DE123456789"}, language="de")
    # then
    assert response.status_code == 422
    message = german(
        "The VAT ID %(vat_id)s has a wrong check digit. Format: %(format)s.",
        {"vat_id": "DE123456789", "format": german("DE + 9 digits, e.g. DE123456788")},
    )
    assert response.json() == problem(
        422,
        "invalid_vat_id",
        german(FIELDS_INVALID),
        errors=[{"field": "vat_id", "message": message}],
        title=german("Invalid VAT ID"),
    )
    assert snapshot(org) == before


def test_vat_id_of_another_country_is_refused(org: Org, billing_api: ApiClient) -> None:
    # given
    before = snapshot(org)
    # when
    response = billing_api.patch("/org", {"vat_id": "ATU13585627"})
    # then
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_vat_id"
    assert response.json()["errors"] == [
        {
            "field": "vat_id",
            "message": "The VAT ID ATU13585627 does not belong to the billing country. "
            "Format: DE + 9 digits, e.g. DE123456788.",
        }
    ]
    assert snapshot(org) == before


def test_changing_country_checks_the_existing_vat_id_against_it(org: Org, billing_api: ApiClient) -> None:
    # given: a German VAT ID is on file
    Org.objects.filter(pk=org.pk).update(vat_id="DE123456788")
    before = snapshot(org)
    # when: the org moves to Austria without a new VAT ID
    response = billing_api.patch("/org", {"address": {"country": "AT"}})
    # then
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["vat_id"]
    assert snapshot(org) == before


def test_all_bad_values_are_reported_at_once(org: Org, billing_api: ApiClient) -> None:
    # given
    before = snapshot(org)
    # when
    response = billing_api.patch(
        "/org",
        {
            "legal_name": "x" * 201,
            "address": {"country": "XX", "city": ""},
            "currency": "USD",
            "language": "fr",
        },
    )
    # then
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_input"
    assert sorted(response.json()["errors"], key=lambda error: error["field"]) == [
        {"field": "address.city", "message": "This field is required."},
        {"field": "address.country", "message": "Choose a country from the list."},
        {"field": "currency", "message": "Choose EUR or CHF."},
        {"field": "language", "message": "Choose German or English."},
        {"field": "legal_name", "message": "Use at most 200 characters."},
    ]
    assert snapshot(org) == before


def test_type_errors_are_reported_together(org: Org, billing_api: ApiClient) -> None:
    # when
    response = billing_api.patch("/org", {"legal_name": 1, "address": [], "vat_id": 2, "color": "blue"})
    # then
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "legal_name", "message": "Enter text."},
        {"field": "address", "message": "Enter an object."},
        {"field": "vat_id", "message": "Enter text."},
        {"field": "color", "message": "Unknown field."},
    ]


def test_currency_cannot_change_once_invoices_exist(org: Org, billing_api: ApiClient) -> None:
    # given
    Org.objects.filter(pk=org.pk).update(is_currency_locked=True)
    before = snapshot(org)
    # when
    response = billing_api.patch("/org", {"currency": "CHF"})
    # then
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "currency", "message": "The currency cannot change once invoices have been issued."}
    ]
    assert snapshot(org) == before
