"""API tokens: created with a secret shown once, revoked, their use recorded."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from konto.accounts.exceptions import InvalidInput, NotFound
from konto.accounts.models import ApiToken, Org, User
from konto.accounts.selectors import hash_secret
from konto.accounts.services._common import _actor_user, _has_control_characters
from konto.core.audit import Actor, record_event

TOKEN_PREFIX = "konto_"  # noqa: S105 - a public marker that makes leaked tokens recognisable, not a secret


@transaction.atomic(durable=True)
def create_api_token(*, org: Org, user: User, actor: Actor, name: str) -> tuple[ApiToken, str]:
    """Create a bearer token for `user`; the secret is returned once and only its hash is kept."""
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > 100 or _has_control_characters(name):
        message = _("Give the token a name of at most 100 characters.")
        raise InvalidInput(message, code="invalid_name", fields={"name": message})
    if user.org_id != org.pk or not user.is_active:
        raise NotFound(_("User not found."))
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        org=org,
        user=user,
        name=name,
        token_prefix=secret[: len(TOKEN_PREFIX) + 6],
        token_hash=hash_secret(secret),
        created_by=_actor_user(actor),
    )
    record_event(
        actor=actor,
        org_id=org.pk,
        action="api_token.created",
        object_type="api_token",
        object_id=token.public_id,
        after={"name": name, "user": user.email},
    )
    return token, secret


@transaction.atomic(durable=True)
def revoke_api_token(*, org: Org, actor: Actor, public_id: str) -> ApiToken:
    token = ApiToken.objects.select_for_update().filter(org=org, public_id=public_id).first()
    if token is None:
        raise NotFound(_("API token not found."))
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record_event(
            actor=actor, org_id=org.pk, action="api_token.revoked", object_type="api_token", object_id=token.public_id
        )
    return token


def touch_api_token(token: ApiToken) -> None:
    """Record use at most once a minute, so reads do not turn into writes."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
