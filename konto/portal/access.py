"""The access rule of My Account, applied to every page.

A page needs a signed-in org user with at least one billing permission, and
may name a specific permission on top. A user who lacks it gets HTTP 403 with
a page that names the missing permission and the org's users who can grant it.
Vendor staff have no org and are sent to the back office.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.mixins import AccessMixin
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render

from konto.accounts.models import Org, User
from konto.accounts.permissions import (
    BILLING_PERMISSIONS,
    MANAGE_BILLING,
    REGISTRY,
    effective_permissions,
    has_any_billing_permission,
)
from konto.accounts.selectors import grantors


def forbidden_response(request: HttpRequest, user: User, org: Org, missing: str) -> HttpResponse:
    context = {
        "missing_permission": REGISTRY[missing],
        "grantors": grantors(org=org),
        "hide_nav": not has_any_billing_permission(user),
    }
    return render(request, "portal/forbidden.html", context, status=403)


class MyAccountMixin(AccessMixin):
    """Base for every My Account view: login, org membership, billing access, page permission."""

    # The permission this page needs besides "any billing permission"; None for none.
    required_permission: str | None = None

    request: HttpRequest
    org: Org
    permissions: frozenset[str]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        if not isinstance(user, User) or not user.is_authenticated:
            return self.handle_no_permission()
        org = user.org
        if org is None:
            return redirect("admin:index")
        permissions = effective_permissions(user)
        if not permissions & BILLING_PERMISSIONS:
            return forbidden_response(request, user, org, MANAGE_BILLING)
        if self.required_permission and self.required_permission not in permissions:
            return forbidden_response(request, user, org, self.required_permission)
        self.org = org
        self.permissions = permissions
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc,no-any-return]  # AccessMixin ends in View
