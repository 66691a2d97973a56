"""Private helpers shared by the account services: the org lock, input cleaning, the acting user."""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from konto.accounts.exceptions import InvalidInput
from konto.accounts.models import Org, User
from konto.core.audit import Actor

EMAIL_MAX_LENGTH = 254  # what the email columns hold (RFC 5321 path limit)


def _lock_org(org: Org) -> Org:
    return Org.objects.select_for_update().get(pk=org.pk)


def _has_control_characters(value: str) -> bool:
    """Line breaks, tabs, NUL and the like have no place in a one-line field (PostgreSQL refuses NUL)."""
    return any(unicodedata.category(char) == "Cc" for char in value)


def _clean_email(email: str) -> str:
    email = email.strip().lower() if isinstance(email, str) else ""
    try:
        if len(email) > EMAIL_MAX_LENGTH:
            raise ValidationError("too long")
        validate_email(email)
    except ValidationError:
        message = _("Enter a valid email address, e.g. name@example.com.")
        raise InvalidInput(message, code="invalid_email", fields={"email": message}) from None
    return email


def _actor_user(actor: Actor) -> User | None:
    return User.objects.filter(pk=actor.user_id).first() if actor.user_id else None
