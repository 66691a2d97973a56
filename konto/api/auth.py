"""Bearer-token authentication and the access rule of My Account for API requests.

A token acts as its user, with that user's effective permissions. Like every
My Account page, every endpoint needs at least one billing permission;
endpoints that need a specific permission call `require_permission`.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from ninja.security import HttpBearer

from konto.accounts.models import ApiToken, Org, User
from konto.accounts.permissions import (
    BILLING_PERMISSIONS,
    MANAGE_BILLING,
    REGISTRY,
    effective_permissions,
)
from konto.accounts.selectors import active_token_for
from konto.accounts.services.tokens import touch_api_token
from konto.core.exceptions import PermissionDenied

# Longer values cannot be a token; they are refused before any hashing or query.
MAX_TOKEN_LENGTH = 200


class BearerToken(HttpBearer):
    """`Authorization: Bearer <token>`: an unrevoked token of an active org user."""

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        api_token = active_token_for(token)
        if api_token is None or api_token.user.org_id != api_token.org_id:
            return None
        user = api_token.user
        request.user = user
        _use_language_of(request, user, api_token.org)
        touch_api_token(api_token)
        if not effective_permissions(user) & BILLING_PERMISSIONS:
            raise permission_denied(MANAGE_BILLING)
        return api_token


def _use_language_of(request: HttpRequest, user: User, org: Org) -> None:
    """Without an Accept-Language header, answer in the user's (or the org's) language."""
    if request.headers.get("Accept-Language"):
        return
    language = user.language or org.language
    translation.activate(language)
    request.LANGUAGE_CODE = language


def permission_denied(code: str) -> PermissionDenied:
    permission = REGISTRY[code]
    return PermissionDenied(
        _(
            "This needs the permission “%(permission)s” (%(code)s), which your user does not have. "
            "Ask a user who manages your org's users to grant it."
        )
        % {"permission": permission.label, "code": code},
        extra={"missing_permission": code},
    )


def api_token_of(request: HttpRequest) -> ApiToken:
    token = getattr(request, "auth", None)
    if not isinstance(token, ApiToken):
        raise TypeError("The endpoint is not behind BearerToken.")
    return token


def user_of(request: HttpRequest) -> User:
    return api_token_of(request).user


def org_of(request: HttpRequest) -> Org:
    return api_token_of(request).org


def require_permission(request: HttpRequest, code: str) -> None:
    """Refuse with 403 `permission_denied` naming the permission the caller lacks."""
    if code not in effective_permissions(user_of(request)):
        raise permission_denied(code)
