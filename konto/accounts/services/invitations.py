"""Invitations: the link and its email, and accepting one by setting a password."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from konto.accounts.exceptions import InvalidInput, InvitationInvalid
from konto.accounts.models import Invitation, Org, User
from konto.accounts.selectors import hash_secret
from konto.core.audit import Actor, record_event


def _new_invitation(*, org: Org, user: User, invited_by: User | None, now: datetime) -> str:
    token = secrets.token_urlsafe(32)
    Invitation.objects.filter(user=user, accepted_at__isnull=True, revoked_at__isnull=True).update(revoked_at=now)
    Invitation.objects.create(
        org=org,
        user=user,
        token_hash=hash_secret(token),
        invited_by=invited_by,
        expires_at=now + timedelta(seconds=settings.KONTO_INVITATION_TTL_SECONDS),
    )
    return token


def _send_invitation_email(*, user_id: int, token: str, invited_by_name: str, billing_only: bool) -> None:
    user = User.objects.select_related("org").get(pk=user_id)
    if user.org is None:  # vendor staff are never invited through an org
        return
    language = user.language or user.org.language
    url = settings.KONTO_BASE_URL.rstrip("/") + reverse("portal:accept_invitation", args=[token])
    with translation.override(language):
        context = {
            "user": user,
            "org": user.org,
            "url": url,
            "invited_by": invited_by_name,
            "billing_only": billing_only,
            "product_name": settings.KONTO_PRODUCT_NAME,
            "hours": settings.KONTO_INVITATION_TTL_SECONDS // 3600,
        }
        subject = render_to_string("accounts/email/invitation_subject.txt", context).strip()
        body = render_to_string("accounts/email/invitation.txt", context)
        html = render_to_string("accounts/email/invitation.html", context)
    message = EmailMultiAlternatives(subject, body, to=[user.email])
    message.attach_alternative(html, "text/html")
    message.send()


def _send_invitation_after_commit(user: User, token: str, actor: Actor, *, billing_only: bool) -> None:
    inviter = User.objects.filter(pk=actor.user_id).only("full_name").first() if actor.user_id else None
    user_id, name = user.pk, (inviter.full_name if inviter else actor.email)
    transaction.on_commit(
        lambda: _send_invitation_email(user_id=user_id, token=token, invited_by_name=name, billing_only=billing_only)
    )


def pending_invitation(token: str) -> Invitation:
    """The usable invitation for a token, or InvitationInvalid (expired, used, revoked, unknown)."""
    invitation = (
        Invitation.objects.select_related("user", "org").filter(token_hash=hash_secret(token)).first()
        if isinstance(token, str)
        else None
    )
    if invitation is None or invitation.revoked_at is not None:
        raise InvitationInvalid(_("This invitation link is not valid. Ask your administrator for a new one."))
    if invitation.accepted_at is not None:
        raise InvitationInvalid(_("This invitation link has already been used. Log in with your password."))
    if invitation.expires_at <= timezone.now():
        raise InvitationInvalid(_("This invitation link has expired. Ask your administrator for a new one."))
    if not invitation.user.is_active:
        raise InvitationInvalid(_("This invitation link is not valid. Ask your administrator for a new one."))
    return invitation


@transaction.atomic(durable=True)
def accept_invitation(*, token: str, password: str) -> User:
    """Set the user's password and spend the invitation; a second use is refused."""
    invitation = pending_invitation(token)
    user = invitation.user
    if not isinstance(password, str) or not password:
        message = _("Enter a password.")
        raise InvalidInput(message, code="invalid_password", fields={"password": message})
    try:
        validate_password(password, user)
    except ValidationError as error:
        message = " ".join(str(m) for m in error.messages)
        raise InvalidInput(message, code="invalid_password", fields={"password": message}) from None
    now = timezone.now()
    # The filtered update is what makes the link single-use under concurrency.
    spent = Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True).update(
        accepted_at=now
    )
    if spent != 1:
        raise InvitationInvalid(_("This invitation link has already been used. Log in with your password."))
    user.set_password(password)
    user.save(update_fields=["password"])
    record_event(
        actor=Actor(user_id=user.pk, email=user.email),
        org_id=invitation.org_id,
        action="user.invitation_accepted",
        object_type="user",
        object_id=user.public_id,
    )
    return user
