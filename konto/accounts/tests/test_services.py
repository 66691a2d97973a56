"""Account services: user administration, billing access, billing profile, API tokens."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail
from django.forms.models import model_to_dict
from django.utils import timezone, translation

from konto.accounts.exceptions import (
    EmailNotAvailable,
    InvalidInput,
    LastSystemAdministrator,
    LicenseLimitReached,
    NotFound,
)
from konto.accounts.models import ApiToken, Invitation, LicensePool, Org, PermissionSet, Profile, User
from konto.accounts.permissions import effective_permissions
from konto.accounts.selectors import active_token_for
from konto.accounts.services.billing_profile import update_billing_profile
from konto.accounts.services.tokens import create_api_token, revoke_api_token
from konto.accounts.services.users import (
    change_user_access,
    deactivate_user,
    give_billing_access,
    invite_user,
    reactivate_user,
    resend_invitation,
    set_user_language,
)
from konto.accounts.testing import make_admin, make_user
from konto.core.audit import Actor
from konto.core.models import AuditEvent

LINK = re.compile(r"http://testserver/invitation/([A-Za-z0-9_-]+)/")
# A syntactically valid address longer than the 254 characters an email column holds.
OVERLONG_EMAIL = "user@" + ".".join(["a" * 60] * 4) + ".example.com"


@pytest.fixture
def actor(admin: User) -> Actor:
    return Actor(user_id=admin.pk, email=admin.email, ip_address="203.0.113.7", user_agent="pytest")


def _profile(code: str) -> Profile:
    return Profile.objects.get(code=code)


def _sets(*codes: str) -> list[PermissionSet]:
    return list(PermissionSet.objects.filter(code__in=codes))


def _set_codes(user: User) -> list[str]:
    return sorted(User.objects.get(pk=user.pk).permission_sets.values_list("code", flat=True))


def _state() -> dict[str, Any]:
    """Every row an account service may write, to assert that a refusal changed nothing."""
    return {
        "orgs": [model_to_dict(org) for org in Org.objects.order_by("pk")],
        "users": list(
            User.objects.order_by("pk").values_list(
                "email", "full_name", "org_id", "license_type", "profile__code", "is_active", "password", "language"
            )
        ),
        "assignments": sorted(User.permission_sets.through.objects.values_list("user_id", "permission_set__code")),
        "invitations": list(Invitation.objects.order_by("pk").values_list("user_id", "revoked_at", "accepted_at")),
        "tokens": list(ApiToken.objects.order_by("pk").values_list("public_id", "revoked_at")),
        "events": AuditEvent.objects.count(),
        "mails": len(mail.outbox),
    }


# ---------------------------------------------------------------- give billing access


def test_give_billing_access_to_a_new_email_creates_an_identity_user_and_mails_an_invitation(
    org, admin, actor, django_capture_on_commit_callbacks
):
    # When billing access is given to somebody new
    with django_capture_on_commit_callbacks(execute=True):
        result = give_billing_access(org=org, actor=actor, full_name="  Bea Buchhaltung ", email=" Bea@Test.Example ")

    # Then an Identity user with My Account Admin exists, without a password yet
    user = User.objects.get(email="bea@test.example")
    assert result.created is True
    assert result.user == user
    assert (user.full_name, user.org, user.license_type, user.profile_id) == (
        "Bea Buchhaltung",
        org,
        "identity",
        _profile("identity_user").pk,
    )
    assert _set_codes(user) == ["my_account_admin"]
    assert user.is_active is True
    assert user.has_usable_password() is False
    assert "manage_billing" in effective_permissions(user)
    assert user.can_use_product is False
    # and one invitation email with a one-time link whose token is stored only hashed
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["bea@test.example"]
    match = LINK.search(str(message.body))
    assert match is not None
    invitation = Invitation.objects.get(user=user)
    assert invitation.token_hash == hashlib.sha256(match.group(1).encode()).hexdigest()
    assert invitation.invited_by == admin
    # and one audit event
    event = AuditEvent.objects.get()
    assert (event.action, event.org_id, event.object_id, event.actor_id, event.actor_email) == (
        "user.billing_access_given",
        org.pk,
        user.public_id,
        admin.pk,
        "admin@test.example",
    )
    assert event.after is not None
    assert event.after["permission_sets"] == ["my_account_admin"]
    assert (event.ip_address, event.user_agent) == ("203.0.113.7", "pytest")


def test_the_invitation_email_is_sent_only_after_commit(org, admin, actor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        give_billing_access(org=org, actor=actor, full_name="Bea", email="bea@test.example")
    assert len(callbacks) == 1
    assert mail.outbox == []

    callbacks[0]()

    assert len(mail.outbox) == 1


def test_give_billing_access_to_a_user_of_the_same_org_adds_the_set_and_creates_nobody(
    org, admin, standard_user, actor, django_capture_on_commit_callbacks
):
    users_before = User.objects.count()

    with django_capture_on_commit_callbacks(execute=True):
        result = give_billing_access(org=org, actor=actor, full_name="Anything", email="SALES@test.example")

    standard_user.refresh_from_db()
    assert result.created is False
    assert result.user.pk == standard_user.pk
    assert User.objects.count() == users_before
    assert _set_codes(standard_user) == ["my_account_admin"]
    # The license, profile and name stay; nobody is mailed a new link
    assert (standard_user.license_type, standard_user.profile.code, standard_user.full_name) == (
        "full",
        "standard_user",
        "Sven Sales",
    )
    assert mail.outbox == []
    event = AuditEvent.objects.get()
    assert event.before is not None
    assert event.after is not None
    assert (event.before["permission_sets"], event.after["permission_sets"]) == ([], ["my_account_admin"])


def test_give_billing_access_twice_to_the_same_user_changes_nothing_the_second_time(org, admin, billing_user, actor):
    before = _state()
    result = give_billing_access(org=org, actor=actor, full_name="Bea", email="billing@test.example")
    assert result.created is False
    assert _state() == before


def test_give_billing_access_to_a_deactivated_user_of_the_org_reactivates_them(org, admin, actor):
    former = make_user(org, "former@test.example", is_active=False, deactivated_at=timezone.now())

    result = give_billing_access(org=org, actor=actor, full_name="Former", email="former@test.example")

    former.refresh_from_db()
    assert (result.created, former.is_active, former.deactivated_at) == (False, True, None)
    assert _set_codes(former) == ["my_account_admin"]


def test_give_billing_access_cannot_reactivate_a_user_without_a_free_seat(org, admin, actor):
    LicensePool.objects.filter(org=org, license_type="full").update(purchased_seats=1)
    make_user(org, "former@test.example", is_active=False)
    before = _state()
    with pytest.raises(LicenseLimitReached):
        give_billing_access(org=org, actor=actor, full_name="Former", email="former@test.example")
    assert _state() == before


def test_give_billing_access_to_another_orgs_email_is_refused_and_changes_nothing(org, admin, other_admin, actor):
    before = _state()
    with translation.override("en"), pytest.raises(EmailNotAvailable) as refused:
        give_billing_access(org=org, actor=actor, full_name="Otto", email="admin@other.example")
    assert refused.value.code == "email_not_available"
    assert refused.value.status == 409
    assert set(refused.value.fields) == {"email"}
    assert _state() == before
    assert _set_codes(other_admin) == []


def test_give_billing_access_to_a_vendor_staff_email_is_refused(org, admin, actor):
    make_user(None, "ops@vendor.example")
    before = _state()
    with pytest.raises(EmailNotAvailable):
        give_billing_access(org=org, actor=actor, full_name="Ops", email="ops@vendor.example")
    assert _state() == before


@pytest.mark.parametrize(
    "email",
    [
        "",
        "   ",
        "not-an-email",
        "a@b",
        "name@exa mple.com",
        "two@@test.example",
        "nul\x00@test.example",
        OVERLONG_EMAIL,
    ],
    ids=["empty", "blank", "no-at", "no-domain-dot", "space", "double-at", "nul", "overlong"],
)
def test_give_billing_access_refuses_an_invalid_email(org, admin, actor, email):
    before = _state()
    with translation.override("en"), pytest.raises(InvalidInput) as refused:
        give_billing_access(org=org, actor=actor, full_name="Bea", email=email)
    assert refused.value.code == "invalid_email"
    assert refused.value.fields == {"email": "Enter a valid email address, e.g. name@example.com."}
    assert _state() == before


@pytest.mark.parametrize(
    "full_name",
    ["", "    ", "x" * 151, "Bea\x00Buchhaltung", "Bea\nBuchhaltung"],
    ids=["empty", "blank", "overlong", "nul", "newline"],
)
def test_give_billing_access_refuses_an_empty_overlong_or_control_character_name(org, admin, actor, full_name):
    before = _state()
    with pytest.raises(InvalidInput) as refused:
        give_billing_access(org=org, actor=actor, full_name=full_name, email="bea@test.example")
    assert refused.value.code == "invalid_name"
    assert set(refused.value.fields) == {"full_name"}
    assert _state() == before


def test_give_billing_access_accepts_a_name_of_exactly_150_characters(org, admin, actor):
    result = give_billing_access(org=org, actor=actor, full_name="x" * 150, email="long@test.example")
    assert result.user.full_name == "x" * 150


@pytest.mark.parametrize("value", [None, 42, ["bea@test.example"]], ids=["none", "int", "list"])
def test_give_billing_access_refuses_values_that_are_not_text(org, admin, actor, value):
    before = _state()
    with pytest.raises(InvalidInput):
        give_billing_access(org=org, actor=actor, full_name="Bea", email=value)
    with pytest.raises(InvalidInput):
        give_billing_access(org=org, actor=actor, full_name=value, email="bea@test.example")
    assert _state() == before


# ---------------------------------------------------------------- invite, change, deactivate


def test_invite_user_creates_the_user_with_sets_and_language(org, admin, actor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        user = invite_user(
            org=org,
            actor=actor,
            full_name="Paula Purchase",
            email="paula@test.example",
            license_type="full",
            profile=_profile("standard_user"),
            permission_sets=_sets("purchasing", "invoice_viewer"),
            language="en",
        )
    assert (user.license_type, user.profile_id, user.language) == ("full", _profile("standard_user").pk, "en")
    assert _set_codes(user) == ["invoice_viewer", "purchasing"]
    assert user.has_usable_password() is False
    assert [m.to for m in mail.outbox] == [["paula@test.example"]]
    assert AuditEvent.objects.get().action == "user.invited"


def test_invite_user_refuses_an_email_that_any_user_already_has(org, admin, other_admin, actor):
    before = _state()
    for email in ["admin@test.example", "ADMIN@other.example"]:
        with pytest.raises(EmailNotAvailable):
            invite_user(
                org=org,
                actor=actor,
                full_name="Dup",
                email=email,
                license_type="full",
                profile=_profile("standard_user"),
            )
    assert _state() == before


def test_invite_user_refuses_a_system_administrator_on_an_identity_license(org, admin, actor):
    before = _state()
    with pytest.raises(InvalidInput) as refused:
        invite_user(
            org=org,
            actor=actor,
            full_name="Ida",
            email="ida@test.example",
            license_type="identity",
            profile=_profile("system_administrator"),
        )
    assert refused.value.code == "invalid_license_type"
    assert _state() == before


def test_invite_user_refuses_an_unknown_language(org, admin, actor):
    before = _state()
    with pytest.raises(InvalidInput) as refused:
        invite_user(
            org=org,
            actor=actor,
            full_name="Fran",
            email="fran@test.example",
            license_type="full",
            profile=_profile("standard_user"),
            language="fr",
        )
    assert set(refused.value.fields) == {"language"}
    assert _state() == before


def test_last_system_administrator_cannot_be_deactivated(org, admin, billing_user):
    before = _state()
    with translation.override("en"), pytest.raises(LastSystemAdministrator) as refused:
        deactivate_user(org=org, actor=Actor(user_id=billing_user.pk, email=billing_user.email), user=admin)
    assert str(refused.value.message) == (
        "Anna Admin is the org's only active System Administrator. Make another user System Administrator first."
    )
    assert refused.value.code == "last_system_administrator"
    assert _state() == before


def test_last_system_administrator_cannot_be_moved_to_another_profile(org, admin, actor):
    before = _state()
    with pytest.raises(LastSystemAdministrator):
        change_user_access(
            org=org,
            actor=actor,
            user=admin,
            license_type="full",
            profile=_profile("standard_user"),
            permission_sets=_sets("my_account_admin"),
        )
    assert _state() == before


def test_an_inactive_or_other_orgs_administrator_does_not_count_as_another_one(org, admin, other_admin, actor):
    make_admin(org, "retired@test.example", is_active=False)
    with pytest.raises(LastSystemAdministrator):
        deactivate_user(org=org, actor=Actor.system(), user=admin)


def test_with_two_administrators_one_can_be_deactivated(org, admin, actor):
    second = make_admin(org, "zweit@test.example", full_name="Zora Zweit")

    deactivate_user(org=org, actor=actor, user=second)

    second.refresh_from_db()
    assert second.is_active is False
    assert second.deactivated_at is not None
    event = AuditEvent.objects.get()
    assert event.action == "user.deactivated"
    assert event.before is not None
    assert event.after is not None
    assert (event.before["is_active"], event.after["is_active"]) == (True, False)
    # and now the remaining one is protected
    with pytest.raises(LastSystemAdministrator):
        deactivate_user(org=org, actor=Actor(user_id=second.pk, email=second.email), user=admin)


def test_with_two_administrators_one_can_become_a_standard_user(org, admin, actor):
    second = make_admin(org, "zweit@test.example")

    change_user_access(
        org=org,
        actor=actor,
        user=second,
        license_type="full",
        profile=_profile("standard_user"),
        permission_sets=_sets("invoice_viewer"),
    )

    second.refresh_from_db()
    assert second.profile_id == _profile("standard_user").pk
    assert effective_permissions(second) == {"view_invoices"}


def test_a_user_cannot_deactivate_themself(org, admin, actor):
    make_admin(org, "zweit@test.example")
    before = _state()
    with pytest.raises(InvalidInput) as refused:
        deactivate_user(org=org, actor=actor, user=admin)
    assert refused.value.code == "cannot_deactivate_self"
    assert _state() == before


def test_deactivation_ends_pending_invitations_and_revokes_tokens(org, admin, actor):
    result = give_billing_access(org=org, actor=actor, full_name="Bea", email="bea@test.example")
    token, secret = create_api_token(org=org, user=result.user, actor=actor, name="Export")

    deactivate_user(org=org, actor=actor, user=result.user)

    assert Invitation.objects.get(user=result.user).revoked_at is not None
    assert active_token_for(secret) is None
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_deactivating_an_inactive_user_changes_nothing(org, admin, actor):
    gone = make_user(org, "gone@test.example", is_active=False)
    before = _state()
    deactivate_user(org=org, actor=actor, user=gone)
    assert _state() == before


def test_change_user_access_refuses_a_system_administrator_on_an_identity_license(org, admin, standard_user, actor):
    before = _state()
    with pytest.raises(InvalidInput) as refused:
        change_user_access(
            org=org,
            actor=actor,
            user=standard_user,
            license_type="identity",
            profile=_profile("system_administrator"),
            permission_sets=[],
        )
    assert refused.value.code == "invalid_license_type"
    assert _state() == before


def test_change_user_access_writes_before_and_after(org, admin, standard_user, actor):
    change_user_access(
        org=org,
        actor=actor,
        user=standard_user,
        license_type="full",
        profile=_profile("system_administrator"),
        permission_sets=_sets("purchasing"),
    )
    event = AuditEvent.objects.get()
    assert event.action == "user.access_changed"
    assert event.before is not None
    assert event.after is not None
    assert (event.before["profile"], event.before["permission_sets"]) == ("standard_user", [])
    assert (event.after["profile"], event.after["permission_sets"]) == ("system_administrator", ["purchasing"])


def test_change_user_access_forgets_the_cached_permissions_of_the_given_instance(org, admin, standard_user, actor):
    assert effective_permissions(standard_user) == frozenset()
    change_user_access(
        org=org,
        actor=actor,
        user=standard_user,
        license_type="full",
        profile=_profile("standard_user"),
        permission_sets=_sets("invoice_viewer"),
    )
    assert effective_permissions(standard_user) == {"view_invoices"}


@pytest.mark.parametrize("operation", ["change", "deactivate", "reactivate", "resend"])
def test_another_orgs_user_is_not_found_and_nothing_changes(org, admin, other_org, actor, operation):
    stranger = make_user(other_org, "stranger@other.example", password=None)
    operations: dict[str, Callable[[], object]] = {
        "change": lambda: change_user_access(
            org=org,
            actor=actor,
            user=stranger,
            license_type="full",
            profile=_profile("standard_user"),
            permission_sets=[],
        ),
        "deactivate": lambda: deactivate_user(org=org, actor=actor, user=stranger),
        "reactivate": lambda: reactivate_user(org=org, actor=actor, user=stranger),
        "resend": lambda: resend_invitation(org=org, actor=actor, user=stranger),
    }
    before = _state()
    with pytest.raises(NotFound):
        operations[operation]()
    assert _state() == before


# ---------------------------------------------------------------- billing profile

VALID_DE_VAT_ID = "DE136695976"


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"legal_name": ""}, {"legal_name"}),
        ({"legal_name": "   "}, {"legal_name"}),
        ({"legal_name": "x" * 201}, {"legal_name"}),
        ({"legal_name": 5}, {"legal_name"}),
        ({"legal_name": ["Neue GmbH"]}, {"legal_name"}),
        ({"legal_name": {"de": "Neue GmbH"}}, {"legal_name"}),
        ({"legal_name": True}, {"legal_name"}),
        ({"legal_name": "Neue\x00GmbH"}, {"legal_name"}),
        ({"street": "x" * 201}, {"street"}),
        ({"street": None}, {"street"}),
        ({"address_line2": "x" * 201}, {"address_line2"}),
        ({"postal_code": "1" * 21}, {"postal_code"}),
        ({"city": "x" * 101}, {"city"}),
        ({"city": "Ber\nlin"}, {"city"}),
        ({"country": "XX"}, {"country"}),
        ({"country": "Germany"}, {"country"}),
        ({"country": ""}, {"country"}),
        ({"country": 49}, {"country"}),
        ({"vat_id": "DE136695975"}, {"vat_id"}),  # wrong check digit
        ({"vat_id": "DE13669597"}, {"vat_id"}),  # too short
        ({"vat_id": "ATU13585627"}, {"vat_id"}),  # valid, but Austrian
        ({"vat_id": "x" * 5000}, {"vat_id"}),
        ({"vat_id": 136695976}, {"vat_id"}),
        ({"country": "AT", "vat_id": "ATU13585626"}, {"vat_id"}),
        ({"country": "AT", "vat_id": VALID_DE_VAT_ID}, {"vat_id"}),
        ({"country": "CH", "vat_id": "CHE-116.281.711 MWST"}, {"vat_id"}),
        ({"country": "CH", "vat_id": VALID_DE_VAT_ID}, {"vat_id"}),
        ({"country": "US", "vat_id": "US123456789"}, {"vat_id"}),
        ({"currency": "USD"}, {"currency"}),
        ({"currency": ""}, {"currency"}),
        ({"currency": 978}, {"currency"}),
        ({"language": "fr"}, {"language"}),
        ({"language": ""}, {"language"}),
        ({"billing_email": "rechnung@"}, {"billing_email"}),
        ({"billing_email": OVERLONG_EMAIL}, {"billing_email"}),
        (
            {"legal_name": "", "city": "x" * 101, "vat_id": "DE136695975", "currency": "USD", "language": "fr"},
            {"legal_name", "city", "vat_id", "currency", "language"},
        ),
        ({"country": "XX", "vat_id": "DE136695975"}, {"country"}),
    ],
)
def test_update_billing_profile_refuses_bad_values_and_saves_nothing(org, admin, actor, changes, fields):
    before = _state()
    with pytest.raises(InvalidInput) as refused:
        update_billing_profile(org=org, actor=actor, changes=changes)
    assert set(refused.value.fields) == fields
    assert refused.value.status == 422
    assert _state() == before


def test_update_billing_profile_names_the_expected_vat_id_format(org, admin, actor):
    with translation.override("en"), pytest.raises(InvalidInput) as refused:
        update_billing_profile(org=org, actor=actor, changes={"vat_id": "DE136695975"})
    assert refused.value.code == "invalid_vat_id"
    assert refused.value.fields == {
        "vat_id": "The VAT ID DE136695975 has a wrong check digit. Format: DE + 9 digits, e.g. DE123456788."
    }


@pytest.mark.parametrize("field", ["iban", "public_id", "is_currency_locked", "status", "segment", "edition", ""])
def test_update_billing_profile_refuses_unknown_fields(org, admin, actor, field):
    before = _state()
    with pytest.raises(InvalidInput) as refused:
        update_billing_profile(org=org, actor=actor, changes={field: "x", "legal_name": "Neue GmbH"})
    assert refused.value.code == "unknown_field"
    assert set(refused.value.fields) == {field}
    assert _state() == before


@pytest.mark.parametrize("changes", [None, [], "legal_name=x", [("legal_name", "x")]])
def test_update_billing_profile_refuses_changes_that_are_not_a_mapping(org, admin, actor, changes):
    before = _state()
    with pytest.raises(InvalidInput):
        update_billing_profile(org=org, actor=actor, changes=changes)
    assert _state() == before


def test_currency_cannot_change_once_locked(org, admin, actor):
    Org.objects.filter(pk=org.pk).update(is_currency_locked=True)
    before = _state()
    with translation.override("en"), pytest.raises(InvalidInput) as refused:
        update_billing_profile(org=org, actor=actor, changes={"currency": "chf"})
    assert refused.value.fields == {"currency": "The currency cannot change once invoices have been issued."}
    assert _state() == before


def test_a_locked_currency_may_be_submitted_unchanged(org, admin, actor):
    Org.objects.filter(pk=org.pk).update(is_currency_locked=True)
    update_billing_profile(org=org, actor=actor, changes={"currency": "EUR", "city": "Potsdam"})
    org.refresh_from_db()
    assert (org.currency, org.city) == ("EUR", "Potsdam")


def test_update_billing_profile_saves_and_audits_only_the_changed_fields(org, admin, actor):
    # When the legal name and VAT ID change and the city is submitted unchanged
    updated = update_billing_profile(
        org=org,
        actor=actor,
        changes={
            "legal_name": "  Bäckerei Neu GmbH ",
            "vat_id": "de 136 695 976",
            "city": "Berlin",
            "billing_email": " Rechnung@Test.Example ",
        },
    )

    # Then the values are stored cleaned, the VAT ID compact
    org.refresh_from_db()
    assert (org.legal_name, org.vat_id, org.city, org.billing_email) == (
        "Bäckerei Neu GmbH",
        "DE136695976",
        "Berlin",
        "rechnung@test.example",
    )
    assert updated.vat_id == "DE136695976"
    # and exactly one audit event holds before/after of the changed fields only
    event = AuditEvent.objects.get()
    assert (event.action, event.object_type, event.object_id, event.org_id, event.actor_id) == (
        "org.billing_profile_changed",
        "org",
        org.public_id,
        org.pk,
        admin.pk,
    )
    assert event.before == {"legal_name": "Bäckerei Test GmbH", "vat_id": "", "billing_email": ""}
    assert event.after == {
        "legal_name": "Bäckerei Neu GmbH",
        "vat_id": "DE136695976",
        "billing_email": "rechnung@test.example",
    }


def test_moving_the_org_to_switzerland_stores_the_swiss_vat_id_formatted(org, admin, actor):
    update_billing_profile(
        org=org,
        actor=actor,
        changes={"country": "ch", "vat_id": "che116281710mwst", "currency": "CHF", "language": "en"},
    )
    org.refresh_from_db()
    assert (org.country, org.vat_id, org.currency, org.language) == ("CH", "CHE-116.281.710 MWST", "CHF", "en")


def test_moving_the_org_abroad_rechecks_the_stored_vat_id(org, admin, actor):
    update_billing_profile(org=org, actor=actor, changes={"vat_id": VALID_DE_VAT_ID})
    before = _state()
    with pytest.raises(InvalidInput) as refused:
        update_billing_profile(org=org, actor=actor, changes={"country": "AT"})
    assert set(refused.value.fields) == {"vat_id"}
    assert _state() == before


def test_clearing_the_vat_id_is_allowed(org, admin, actor):
    update_billing_profile(org=org, actor=actor, changes={"vat_id": VALID_DE_VAT_ID})
    update_billing_profile(org=org, actor=actor, changes={"vat_id": ""})
    org.refresh_from_db()
    assert org.vat_id == ""


def test_submitting_the_profile_unchanged_writes_no_audit_event(org, admin, actor):
    update_billing_profile(org=org, actor=actor, changes={"legal_name": "Bäckerei Test GmbH", "country": "DE"})
    assert AuditEvent.objects.count() == 0


def test_set_user_language(org, standard_user):
    set_user_language(user=standard_user, language="en")
    standard_user.refresh_from_db()
    assert standard_user.language == "en"
    with pytest.raises(InvalidInput):
        set_user_language(user=standard_user, language="fr")
    standard_user.refresh_from_db()
    assert standard_user.language == "en"


# ---------------------------------------------------------------- API tokens


def test_create_api_token_keeps_only_the_hash_and_a_prefix(org, admin, billing_user, actor):
    token, secret = create_api_token(org=org, user=billing_user, actor=actor, name=" Buchhaltungsexport ")

    assert re.fullmatch(r"konto_[A-Za-z0-9_-]{43}", secret)
    token.refresh_from_db()
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert token.token_prefix == secret[:12]
    assert secret not in [str(value) for value in model_to_dict(token).values()]
    assert (token.name, token.user, token.org, token.created_by) == ("Buchhaltungsexport", billing_user, org, admin)
    assert token.public_id.startswith("tok_")
    assert active_token_for(secret) == token
    event = AuditEvent.objects.get()
    assert (event.action, event.object_id, event.after) == (
        "api_token.created",
        token.public_id,
        {"name": "Buchhaltungsexport", "user": "billing@test.example"},
    )


def test_a_wrong_secret_finds_no_token(org, admin, actor):
    _token, secret = create_api_token(org=org, user=admin, actor=actor, name="CI")
    assert active_token_for(secret[:-1]) is None
    assert active_token_for("") is None
    assert active_token_for(hashlib.sha256(secret.encode()).hexdigest()) is None


def test_a_revoked_token_is_not_found_and_revoking_twice_writes_one_event(org, admin, actor):
    token, secret = create_api_token(org=org, user=admin, actor=actor, name="CI")

    revoke_api_token(org=org, actor=actor, public_id=token.public_id)
    revoke_api_token(org=org, actor=actor, public_id=token.public_id)

    assert active_token_for(secret) is None
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert list(AuditEvent.objects.order_by("id").values_list("action", flat=True)) == [
        "api_token.created",
        "api_token.revoked",
    ]


def test_revoking_another_orgs_token_is_not_found_and_changes_nothing(org, admin, other_org, other_admin, actor):
    foreign, secret = create_api_token(
        org=other_org, user=other_admin, actor=Actor(user_id=other_admin.pk, email=other_admin.email), name="Theirs"
    )
    before = _state()
    for public_id in [foreign.public_id, "tok_doesnotexist0000", "", "x" * 1000]:
        with pytest.raises(NotFound):
            revoke_api_token(org=org, actor=actor, public_id=public_id)
    assert _state() == before
    assert active_token_for(secret) == foreign


@pytest.mark.parametrize(
    "name", ["", "   ", "x" * 101, None, 7, "CI\x00"], ids=["empty", "blank", "long", "none", "int", "nul"]
)
def test_create_api_token_refuses_a_bad_name(org, admin, actor, name):
    before = _state()
    with pytest.raises(InvalidInput) as refused:
        create_api_token(org=org, user=admin, actor=actor, name=name)
    assert set(refused.value.fields) == {"name"}
    assert _state() == before


def test_create_api_token_for_another_orgs_or_an_inactive_user_is_not_found(org, admin, other_admin, actor):
    gone = make_user(org, "gone@test.example", is_active=False)
    before = _state()
    for user in [other_admin, gone]:
        with pytest.raises(NotFound):
            create_api_token(org=org, user=user, actor=actor, name="CI")
    assert _state() == before


def test_a_token_of_a_deactivated_user_is_not_found_even_if_not_revoked(org, admin, standard_user, actor):
    _token, secret = create_api_token(org=org, user=standard_user, actor=actor, name="CI")
    User.objects.filter(pk=standard_user.pk).update(is_active=False)
    assert active_token_for(secret) is None
