"""Template context for every page: navigation entries the user may use."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from konto.accounts.models import User
from konto.accounts.permissions import MANAGE_BILLING_CONTACTS, MANAGE_USERS, effective_permissions


def portal(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if not isinstance(user, User) or not user.is_authenticated or user.org_id is None:
        return {}
    permissions = effective_permissions(user)
    return {
        "konto_permissions": permissions,
        "konto_org": user.org,
        "can_manage_users": MANAGE_USERS in permissions,
        "can_manage_billing_contacts": MANAGE_BILLING_CONTACTS in permissions,
    }
