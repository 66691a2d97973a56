"""Invitations: hashed one-time tokens, 72-hour expiry, single use, resend, acceptance."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.utils import translation

from konto.accounts.exceptions import InvalidInput, InvitationInvalid
from konto.accounts.models import Invitation, User
from konto.accounts.services.invitations import accept_invitation, pending_invitation
from konto.accounts.services.users import deactivate_user, give_billing_access, reactivate_user, resend_invitation
from konto.core.audit import Actor
from konto.core.models import AuditEvent

LINK = re.compile(r"http://testserver/invitation/([A-Za-z0-9_-]+)/")
STRONG_PASSWORD = "Kontoauszug-Sommer-2026"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

NOT_VALID = "This invitation link is not valid. Ask your administrator for a new one."
USED = "This invitation link has already been used. Log in with your password."
EXPIRED = "This invitation link has expired. Ask your administrator for a new one."


@pytest.fixture
def actor(admin: User) -> Actor:
    return Actor(user_id=admin.pk, email=admin.email)


@pytest.fixture
def invite(org, actor, django_capture_on_commit_callbacks):
    """Give billing access to a new person and return the token from the mailed link."""

    def invite(email: str = "bea@test.example") -> str:
        with django_capture_on_commit_callbacks(execute=True):
            give_billing_access(org=org, actor=actor, full_name="Bea Buchhaltung", email=email)
        return _token_from(mail.outbox[-1].body)

    return invite


def _token_from(body: Any) -> str:
    match = LINK.search(str(body))
    assert match is not None, body
    return match.group(1)


def _user_row(email: str) -> dict[str, Any]:
    user = User.objects.get(email=email)
    return {
        "full_name": user.full_name,
        "org_id": user.org_id,
        "license_type": user.license_type,
        "profile": user.profile_id,
        "sets": sorted(user.permission_sets.values_list("code", flat=True)),
        "is_active": user.is_active,
        "language": user.language,
        "last_login": user.last_login,
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
    }


def _refused(token: str, password: str = STRONG_PASSWORD) -> InvitationInvalid:
    with translation.override("en"), pytest.raises(InvitationInvalid) as refused:
        accept_invitation(token=token, password=password)
    return refused.value


def test_the_token_is_stored_only_as_its_sha256(invite):
    token = invite()

    invitation = Invitation.objects.get()
    assert len(token) == 43  # 32 random bytes, URL-safe
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    stored = Invitation.objects.values_list(
        "public_id", "token_hash", "created_at", "expires_at", "accepted_at", "revoked_at"
    ).get()
    assert all(token not in str(value) for value in stored)
    assert not AuditEvent.objects.filter(after__icontains=token).exists()


def test_the_invitation_expires_72_hours_after_it_was_sent(invite):
    with time_machine.travel(START, tick=False) as clock:
        token = invite()
        assert Invitation.objects.get().expires_at == START + timedelta(hours=72)

        clock.shift(timedelta(hours=71, minutes=59, seconds=59))
        assert pending_invitation(token).user.email == "bea@test.example"

        clock.shift(timedelta(seconds=1))
        refused = _refused(token)

    assert str(refused.message) == EXPIRED
    assert refused.code == "invitation_invalid"
    assert User.objects.get(email="bea@test.example").has_usable_password() is False
    assert Invitation.objects.get().accepted_at is None


def test_accepting_sets_the_password_and_changes_nothing_else(invite):
    token = invite()
    before = _user_row("bea@test.example")
    events_before = AuditEvent.objects.count()

    with time_machine.travel(START, tick=False):
        user = accept_invitation(token=token, password=STRONG_PASSWORD)

    assert user.check_password(STRONG_PASSWORD) is True
    assert User.objects.get(email="bea@test.example").check_password(STRONG_PASSWORD) is True
    assert _user_row("bea@test.example") == before
    assert Invitation.objects.get().accepted_at == START
    # exactly one more event, and it holds no secret
    assert AuditEvent.objects.count() == events_before + 1
    event = AuditEvent.objects.order_by("-id").first()
    assert event is not None
    assert (event.action, event.actor_id, event.object_id, event.before, event.after) == (
        "user.invitation_accepted",
        user.pk,
        user.public_id,
        None,
        None,
    )


def test_the_link_works_only_once(invite):
    token = invite()
    accept_invitation(token=token, password=STRONG_PASSWORD)
    password_hash = User.objects.get(email="bea@test.example").password

    refused = _refused(token, password="Ganz-anderes-Passwort-99")

    assert str(refused.message) == USED
    assert User.objects.get(email="bea@test.example").password == password_hash


def test_resending_revokes_the_earlier_link(org, actor, invite, django_capture_on_commit_callbacks):
    first = invite()
    user = User.objects.get(email="bea@test.example")

    with django_capture_on_commit_callbacks(execute=True):
        resend_invitation(org=org, actor=actor, user=user)
    second = _token_from(mail.outbox[-1].body)

    assert len(mail.outbox) == 2
    assert second != first
    assert str(_refused(first).message) == NOT_VALID
    assert accept_invitation(token=second, password=STRONG_PASSWORD).pk == user.pk
    assert list(Invitation.objects.order_by("created_at").values_list("revoked_at", flat=True))[1] is None
    assert AuditEvent.objects.filter(action="user.invitation_resent").count() == 1


def test_resending_to_a_user_who_has_joined_is_refused(org, actor, invite):
    accept_invitation(token=invite(), password=STRONG_PASSWORD)
    user = User.objects.get(email="bea@test.example")
    invitations = list(Invitation.objects.values_list("pk", "revoked_at", "accepted_at"))
    with pytest.raises(InvalidInput) as refused:
        resend_invitation(org=org, actor=actor, user=user)
    assert refused.value.code == "already_joined"
    assert list(Invitation.objects.values_list("pk", "revoked_at", "accepted_at")) == invitations
    assert len(mail.outbox) == 1


def test_resending_to_a_deactivated_user_is_refused(org, actor, invite):
    invite()
    user = User.objects.get(email="bea@test.example")
    deactivate_user(org=org, actor=actor, user=user)
    with pytest.raises(InvalidInput) as refused:
        resend_invitation(org=org, actor=actor, user=user)
    assert refused.value.code == "user_inactive"
    assert Invitation.objects.count() == 1


def test_a_deactivated_users_link_is_invalid_even_after_reactivation(org, actor, invite):
    token = invite()
    user = User.objects.get(email="bea@test.example")

    deactivate_user(org=org, actor=actor, user=user)
    assert str(_refused(token).message) == NOT_VALID

    reactivate_user(org=org, actor=actor, user=user)
    assert str(_refused(token).message) == NOT_VALID
    assert User.objects.get(pk=user.pk).has_usable_password() is False


def test_a_link_whose_user_was_deactivated_without_revoking_is_invalid(invite):
    token = invite()
    User.objects.filter(email="bea@test.example").update(is_active=False)
    assert str(_refused(token).message) == NOT_VALID


@pytest.mark.parametrize(
    "password",
    ["kurz", "1234567890123", "password123", "bea@test.example", "", None],
    ids=["short", "numeric", "common", "like-email", "empty", "none"],
)
def test_a_weak_password_is_refused_and_the_invitation_stays_usable(invite, password):
    token = invite()

    with pytest.raises(InvalidInput) as refused:
        accept_invitation(token=token, password=password)

    assert refused.value.code == "invalid_password"
    assert set(refused.value.fields) == {"password"}
    assert User.objects.get(email="bea@test.example").has_usable_password() is False
    assert Invitation.objects.get().accepted_at is None
    # the same link still works with a good password
    assert accept_invitation(token=token, password=STRONG_PASSWORD).check_password(STRONG_PASSWORD)


@pytest.mark.parametrize("token", ["", "nonsense", "x" * 5000, "../../etc/passwd", None], ids=str)
def test_an_unknown_token_is_invalid(invite, token):
    invite()
    assert str(_refused(token).message) == NOT_VALID
    assert Invitation.objects.get().accepted_at is None


def test_the_hash_itself_is_not_a_token(invite):
    invite()
    assert str(_refused(Invitation.objects.get().token_hash).message) == NOT_VALID
