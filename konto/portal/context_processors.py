"""Template context for every page: navigation entries the user may use, the payment banners."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest

from konto.accounts.models import User
from konto.accounts.permissions import (
    BILLING_PERMISSIONS,
    MANAGE_BILLING_CONTACTS,
    MANAGE_USERS,
    effective_permissions,
)
from konto.portal.views.payments import AccountBanner, account_banners


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
        # Payment banners (declined card, overdue, suspended): a callable, so the query runs only on pages that
        # show them (the template calls it).
        "account_banners": _banners(user.org, permissions) if permissions & BILLING_PERMISSIONS else (),
    }


def _banners(org: Any, permissions: frozenset[str]) -> Callable[[], list[AccountBanner]]:
    def banners() -> list[AccountBanner]:
        return account_banners(org=org, permissions=permissions)

    return functools.cache(banners)
