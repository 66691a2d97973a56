"""Settings: editing the billing profile, and creating, listing and revoking API tokens."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.urls import reverse
from django.utils.html import escape

from konto.accounts.models import ApiToken, Org, PermissionSet, User
from konto.accounts.services.billing_profile import BILLING_PROFILE_FIELDS
from konto.accounts.services.tokens import create_api_token
from konto.accounts.testing import make_user
from konto.core.audit import Actor
from konto.core.models import AuditEvent

pytestmark = pytest.mark.django_db

SETTINGS = reverse("portal:settings")
TOKENS = reverse("portal:api_tokens")

VALID_PROFILE = {
    "legal_name": "Bäckerei Müller GmbH",
    "street": "Hauptstraße 5",
    "address_line2": "2. OG",
    "postal_code": "80331",
    "city": "München",
    "country": "DE",
    "vat_id": "de 123 456 788",
    "billing_email": "Rechnung@Baeckerei.example",
    "currency": "EUR",
    "language": "en",
}


def _english(user: User) -> User:
    user.language = "en"
    user.save(update_fields=["language"])
    return user


def _snapshot(org: Org) -> dict[str, Any]:
    org.refresh_from_db()
    return {field: getattr(org, field) for field in BILLING_PROFILE_FIELDS}


@pytest.fixture
def admin_en(admin: User) -> User:
    return _english(admin)


@pytest.fixture
def contacts_only_user(org: Org) -> User:
    """May edit the billing profile, but holds no other billing permission."""
    PermissionSet.objects.create(code="contacts_only", name="Contacts only", permissions=["manage_billing_contacts"])
    return _english(make_user(org, "contacts@test.example", permission_sets=("contacts_only",)))


# ---------------------------------------------------------------- billing profile: showing


def test_billing_profile_form_shows_the_current_values(client, org, admin_en):
    client.force_login(admin_en)

    response = client.get(SETTINGS)

    html = response.content.decode()
    assert response.status_code == 200
    assert f'value="{escape(org.legal_name)}"' in html
    assert '<option value="DE" selected>Germany</option>' in html
    assert '<option value="EUR" selected>Euro (EUR)</option>' in html
    assert '<p class="help" id="id_vat_id_helptext">Format: DE + 9 digits, e.g. DE123456788.</p>' in html
    assert 'aria-describedby="id_vat_id_helptext"' in html
    assert 'aria-current="page">Billing profile</a>' in html
    assert f'<a href="{TOKENS}">API tokens</a>' in html


def test_vat_id_help_names_the_swiss_format_for_a_swiss_org(client, org, admin_en):
    Org.objects.filter(pk=org.pk).update(country="CH", currency="CHF")
    client.force_login(admin_en)

    html = client.get(SETTINGS).content.decode()

    assert '<p class="help" id="id_vat_id_helptext">Format: CHE-123.456.789 MWST (or TVA / IVA).</p>' in html
    # Every country's help text is on the page for the script that follows a country change.
    assert '"AT": "Format: ATU + 8 digits, e.g. ATU13585627."' in html


def test_vat_id_help_follows_the_submitted_country_after_an_error(client, admin_en):
    client.force_login(admin_en)

    response = client.post(SETTINGS, {**VALID_PROFILE, "country": "AT", "vat_id": "ATU1"})

    html = response.content.decode()
    assert '<p class="help" id="id_vat_id_helptext">Format: ATU + 8 digits, e.g. ATU13585627.</p>' in html
    assert '<option value="AT" selected>Austria</option>' in html


def test_locked_currency_is_shown_disabled(client, org, admin_en):
    Org.objects.filter(pk=org.pk).update(is_currency_locked=True)
    client.force_login(admin_en)

    html = client.get(SETTINGS).content.decode()

    assert '<select name="currency" disabled' in html
    assert "The currency is fixed because invoices have been issued." in html


# ---------------------------------------------------------------- billing profile: saving


def test_saving_the_billing_profile_changes_the_org_and_writes_an_audit_event(client, org, admin_en):
    client.force_login(admin_en)

    response = client.post(SETTINGS, VALID_PROFILE)

    assert response.status_code == 302
    assert response["Location"] == SETTINGS
    assert _snapshot(org) == {
        "legal_name": "Bäckerei Müller GmbH",
        "street": "Hauptstraße 5",
        "address_line2": "2. OG",
        "postal_code": "80331",
        "city": "München",
        "country": "DE",
        "vat_id": "DE123456788",
        "billing_email": "rechnung@baeckerei.example",
        "currency": "EUR",
        "language": "en",
    }
    event = AuditEvent.objects.get(action="org.billing_profile_changed")
    assert event.org_id == org.pk
    assert event.actor_id == admin_en.pk
    assert event.object_id == org.public_id
    assert event.before == {
        "legal_name": "Bäckerei Test GmbH",
        "street": "Teststraße 1",
        "address_line2": "",
        "postal_code": "10115",
        "city": "Berlin",
        "vat_id": "",
        "billing_email": "",
        "language": "de",
    }
    assert event.after == {
        "legal_name": "Bäckerei Müller GmbH",
        "street": "Hauptstraße 5",
        "address_line2": "2. OG",
        "postal_code": "80331",
        "city": "München",
        "vat_id": "DE123456788",
        "billing_email": "rechnung@baeckerei.example",
        "language": "en",
    }


def test_success_message_is_shown_after_saving(client, admin_en):
    client.force_login(admin_en)

    response = client.post(SETTINGS, VALID_PROFILE, follow=True)

    assert '<p class="message message--success" role="status">The billing profile has been saved.</p>' in (
        response.content.decode()
    )


def test_identity_billing_user_may_edit_the_billing_profile(client, org, billing_user):
    client.force_login(billing_user)

    response = client.post(SETTINGS, {**VALID_PROFILE, "country": "AT", "vat_id": "ATU13585627"})

    assert response.status_code == 302
    assert _snapshot(org)["vat_id"] == "ATU13585627"
    assert AuditEvent.objects.get(action="org.billing_profile_changed").actor_id == billing_user.pk


def test_locked_currency_stays_when_the_disabled_field_is_not_submitted(client, org, admin_en):
    Org.objects.filter(pk=org.pk).update(is_currency_locked=True)
    client.force_login(admin_en)
    data = {key: value for key, value in VALID_PROFILE.items() if key != "currency"}

    response = client.post(SETTINGS, data)

    assert response.status_code == 302
    snapshot = _snapshot(org)
    assert snapshot["currency"] == "EUR"
    assert snapshot["city"] == "München"


BAD_VALUES = [
    pytest.param({"legal_name": ""}, "legal_name", "This field is required.", id="empty-legal-name"),
    pytest.param({"legal_name": "   "}, "legal_name", "This field is required.", id="blank-legal-name"),
    pytest.param({"legal_name": "x" * 201}, "legal_name", "Use at most 200 characters.", id="long-legal-name"),
    pytest.param({"street": ""}, "street", "This field is required.", id="empty-street"),
    pytest.param({"street": "s" * 201}, "street", "Use at most 200 characters.", id="long-street"),
    pytest.param({"address_line2": "a" * 201}, "address_line2", "Use at most 200 characters.", id="long-line2"),
    pytest.param({"postal_code": ""}, "postal_code", "This field is required.", id="empty-postal-code"),
    pytest.param({"postal_code": "1" * 21}, "postal_code", "Use at most 20 characters.", id="long-postal-code"),
    pytest.param({"city": ""}, "city", "This field is required.", id="empty-city"),
    pytest.param({"city": "c" * 101}, "city", "Use at most 100 characters.", id="long-city"),
    pytest.param({"country": ""}, "country", "This field is required.", id="empty-country"),
    pytest.param({"country": "XX"}, "country", "Choose a country from the list.", id="unknown-country"),
    pytest.param(
        {"vat_id": "DE123456789"},
        "vat_id",
        "The VAT ID DE123456789 has a wrong check digit. Format: DE + 9 digits, e.g. DE123456788.",
        id="vat-id-check-digit",
    ),
    pytest.param(
        {"vat_id": "ATU13585627"},
        "vat_id",
        "The VAT ID ATU13585627 does not belong to the billing country. Format: DE + 9 digits, e.g. DE123456788.",
        id="austrian-vat-id-for-germany",
    ),
    pytest.param(
        {"vat_id": "DE12345"},
        "vat_id",
        "The VAT ID DE12345 is not valid. Format: DE + 9 digits, e.g. DE123456788.",
        id="vat-id-too-short",
    ),
    pytest.param(
        {"country": "US", "vat_id": "DE123456788"},
        "vat_id",
        "VAT IDs are only recorded for EU and Swiss addresses.",
        id="vat-id-outside-eu",
    ),
    pytest.param(
        {"billing_email": "not-an-email"},
        "billing_email",
        "Enter a valid email address, e.g. name@example.com.",
        id="bad-email",
    ),
    pytest.param({"currency": "USD"}, "currency", "Choose EUR or CHF.", id="currency-usd"),
    pytest.param({"currency": ""}, "currency", "Choose EUR or CHF.", id="currency-empty"),
    pytest.param({"language": "fr"}, "language", "Choose German or English.", id="language-fr"),
    pytest.param({"language": ""}, "language", "Choose German or English.", id="language-empty"),
    pytest.param({"city": "Berlin\x00"}, "city", "Null characters are not allowed.", id="null-character"),
]


@pytest.mark.parametrize(("bad", "field", "message"), BAD_VALUES)
def test_bad_value_is_refused_next_to_its_field_and_nothing_changes(client, org, admin_en, bad, field, message):
    before = _snapshot(org)
    client.force_login(admin_en)

    response = client.post(SETTINGS, {**VALID_PROFILE, **bad})

    html = response.content.decode()
    assert response.status_code == 200
    assert f'<div id="id_{field}_error"><p class="field-error">{escape(message)}</p></div>' in html
    assert 'aria-invalid="true"' in html
    assert "The billing profile was not saved." in html
    assert _snapshot(org) == before
    assert not AuditEvent.objects.exists()


def test_currency_change_is_refused_once_invoices_exist(client, org, admin_en):
    Org.objects.filter(pk=org.pk).update(is_currency_locked=True)
    before = _snapshot(org)
    client.force_login(admin_en)

    response = client.post(SETTINGS, {**VALID_PROFILE, "currency": "CHF"})

    assert response.status_code == 200
    assert escape("The currency cannot change once invoices have been issued.") in response.content.decode()
    assert _snapshot(org) == before
    assert not AuditEvent.objects.exists()


def test_refused_form_keeps_what_was_typed(client, admin_en):
    client.force_login(admin_en)

    response = client.post(SETTINGS, {**VALID_PROFILE, "vat_id": "DE123456789"})

    html = response.content.decode()
    assert 'value="DE123456789"' in html
    assert f'value="{escape("Bäckerei Müller GmbH")}"' in html
    assert 'value="2. OG"' in html
    assert '<option value="en" selected>English</option>' in html


def test_several_bad_fields_are_all_reported_at_once(client, org, admin_en):
    before = _snapshot(org)
    client.force_login(admin_en)

    response = client.post(SETTINGS, {**VALID_PROFILE, "legal_name": "", "country": "XX", "language": "fr"})

    html = response.content.decode()
    assert '<div id="id_legal_name_error">' in html
    assert '<div id="id_country_error">' in html
    assert '<div id="id_language_error">' in html
    assert _snapshot(org) == before


def test_missing_fields_in_a_forged_post_are_refused(client, org, admin_en):
    before = _snapshot(org)
    client.force_login(admin_en)

    response = client.post(SETTINGS, {"legal_name": "Nur Name GmbH"})

    assert response.status_code == 200
    assert _snapshot(org) == before


def test_user_without_billing_contacts_permission_gets_403_and_nothing_changes(client, org, admin):
    viewer = make_user(org, "viewer@test.example", permission_sets=("invoice_viewer",), language="en")
    before = _snapshot(org)
    client.force_login(viewer)

    assert client.get(SETTINGS).status_code == 403
    response = client.post(SETTINGS, VALID_PROFILE)

    assert response.status_code == 403
    assert "Manage billing contacts" in response.content.decode()
    assert _snapshot(org) == before


def test_standard_user_gets_403_on_every_settings_page(client, org, admin, standard_user):
    before = _snapshot(org)
    client.force_login(standard_user)

    assert client.get(SETTINGS).status_code == 403
    assert client.post(SETTINGS, VALID_PROFILE).status_code == 403
    assert client.get(TOKENS).status_code == 403
    assert client.post(TOKENS, {"name": "Export"}).status_code == 403
    assert _snapshot(org) == before
    assert not ApiToken.objects.exists()


# ---------------------------------------------------------------- API tokens


def test_token_list_starts_empty_with_an_explanation(client, admin_en):
    client.force_login(admin_en)

    response = client.get(TOKENS)

    html = response.content.decode()
    assert response.status_code == 200
    assert "No API tokens yet" in html
    assert f'href="{reverse("api:openapi-view")}"' in html


def test_creating_a_token_shows_the_secret_once_and_stores_only_its_hash(client, org, admin_en):
    client.force_login(admin_en)

    response = client.post(TOKENS, {"name": "Accounting export"})

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get()
    secret = response.context["secret"]
    assert secret.startswith("konto_")
    html = response.content.decode()
    assert f'<code class="secret__value" id="token-secret">{secret}</code>' in html
    assert token.org == org
    assert token.user == admin_en
    assert token.name == "Accounting export"
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert token.token_prefix == secret[:12]
    assert secret not in {token.token_prefix, token.token_hash, token.name}
    assert AuditEvent.objects.get(action="api_token.created").object_id == token.public_id

    # The list afterwards names the token but never shows the secret again.
    listing = client.get(TOKENS).content.decode()
    assert "Accounting export" in listing
    assert f"{token.token_prefix}…" in listing
    assert secret not in listing


@pytest.mark.parametrize(
    "name",
    [pytest.param("", id="empty"), pytest.param("   ", id="blank"), pytest.param("n" * 101, id="too-long")],
)
def test_token_with_bad_name_is_refused_and_none_is_created(client, admin_en, name):
    client.force_login(admin_en)

    response = client.post(TOKENS, {"name": name})

    assert response.status_code == 200
    assert (
        '<div id="id_name_error"><p class="field-error">Give the token a name of at most 100 characters.</p></div>'
        in response.content.decode()
    )
    assert not ApiToken.objects.exists()


def test_token_list_shows_user_dates_and_status_in_the_users_locale(client, org, admin):
    with time_machine.travel(datetime(2026, 1, 5, 9, 0, tzinfo=UTC), tick=False):
        token, _secret = create_api_token(org=org, user=admin, actor=Actor.system(), name="ERP")
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=datetime(2026, 2, 3, 13, 45, tzinfo=UTC))
    admin.language = "de"
    admin.save(update_fields=["language"])
    client.force_login(admin)

    html = client.get(TOKENS).content.decode()

    assert "<td>05.01.2026</td>" in html
    assert "<td>03.02.2026, 14:45</td>" in html
    assert "Anna Admin" in html

    admin.language = "en"
    admin.save(update_fields=["language"])
    html = client.get(TOKENS).content.decode()
    assert "<td>Jan 5, 2026</td>" in html
    assert '<span class="badge badge--ok">Active</span>' in html


def test_revoking_a_token_ends_it_and_is_audited(client, org, admin_en):
    token, _secret = create_api_token(org=org, user=admin_en, actor=Actor.system(), name="ERP")
    client.force_login(admin_en)

    response = client.post(reverse("portal:api_token_revoke", args=[token.public_id]), follow=True)

    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.get(action="api_token.revoked").object_id == token.public_id
    html = response.content.decode()
    assert escape("The API token “ERP” has been revoked.") in html
    assert '<span class="badge badge--muted">Revoked</span>' in html


def test_revoking_another_orgs_token_answers_404_and_leaves_it_active(client, admin_en, other_admin, other_org):
    foreign, _secret = create_api_token(org=other_org, user=other_admin, actor=Actor.system(), name="Foreign")
    client.force_login(admin_en)

    response = client.post(reverse("portal:api_token_revoke", args=[foreign.public_id]))

    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.revoked_at is None
    assert not AuditEvent.objects.filter(action="api_token.revoked").exists()


def test_another_orgs_tokens_are_not_listed(client, admin_en, other_admin, other_org):
    create_api_token(org=other_org, user=other_admin, actor=Actor.system(), name="Foreign integration")
    client.force_login(admin_en)

    assert "Foreign integration" not in client.get(TOKENS).content.decode()


def test_revoking_an_unknown_token_answers_404(client, admin_en):
    client.force_login(admin_en)

    assert client.post(reverse("portal:api_token_revoke", args=["tok_doesnotexist0000"])).status_code == 404


def test_revoke_only_accepts_post(client, org, admin_en):
    token, _secret = create_api_token(org=org, user=admin_en, actor=Actor.system(), name="ERP")
    client.force_login(admin_en)

    response = client.get(reverse("portal:api_token_revoke", args=[token.public_id]))

    assert response.status_code == 405
    token.refresh_from_db()
    assert token.revoked_at is None


def test_standard_user_cannot_revoke_a_token(client, org, admin, standard_user):
    token, _secret = create_api_token(org=org, user=admin, actor=Actor.system(), name="ERP")
    client.force_login(standard_user)

    response = client.post(reverse("portal:api_token_revoke", args=[token.public_id]))

    assert response.status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None


def test_billing_contacts_alone_do_not_reach_api_tokens(client, org, admin, contacts_only_user):
    client.force_login(contacts_only_user)

    settings_page = client.get(SETTINGS).content.decode()
    response = client.get(TOKENS)

    assert 'aria-current="page">Billing profile</a>' in settings_page
    assert f'href="{TOKENS}"' not in settings_page
    assert response.status_code == 403
    assert "Manage Billing" in response.content.decode()
