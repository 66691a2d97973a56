"""The back office: Django's admin, for vendor staff only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _


def is_vendor_staff(user: Any) -> bool:
    """Active vendor staff: marked as staff and member of no org (org users never enter, whatever their flags)."""
    return bool(
        getattr(user, "is_authenticated", False)
        and user.is_active
        and user.is_staff
        and getattr(user, "org_id", None) is None
    )


class BackofficeAuthenticationForm(AdminAuthenticationForm):
    """The admin login, refusing org users even if someone marked them as staff."""

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        if not is_vendor_staff(user):
            raise forms.ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


class BackofficeSite(admin.AdminSite):
    site_header = _("Konto back office")
    site_title = _("Konto back office")
    index_title = _("Billing operations")
    site_url = None  # My Account is for customers; staff have no org to show there
    login_form = BackofficeAuthenticationForm

    def has_permission(self, request: HttpRequest) -> bool:
        return is_vendor_staff(request.user)


backoffice_site = BackofficeSite(name="admin")
