"""Forms of the sign-in pages: login, password reset, invitation acceptance."""

from __future__ import annotations

import math
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.forms import PasswordResetForm
from django.http import HttpRequest
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from konto.accounts.actors import client_ip
from konto.accounts.models import User
from konto.accounts.services.login import login_lock_remaining


def lockout_message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))  # "1 more minute" for the last seconds too
    return ngettext(
        "Too many failed attempts. For your security this sign-in is locked for %(minutes)d more minute.",
        "Too many failed attempts. For your security this sign-in is locked for %(minutes)d more minutes.",
        minutes,
    ) % {"minutes": minutes}


class LoginForm(forms.Form):
    """Email and password, checked by the throttled backend; a locked email + IP pair is not even tried."""

    email = forms.EmailField(
        label=_("Email"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, request: HttpRequest | None = None, *args: Any, **kwargs: Any) -> None:
        self.request = request
        self.user_cache: User | None = None
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        cleaned_data = super().clean() or {}
        email = cleaned_data.get("email")
        password = cleaned_data.get("password")
        if not email or password is None:
            return cleaned_data
        email = email.strip().lower()
        ip_address = client_ip(self.request) if self.request is not None else None
        remaining = login_lock_remaining(email=email, ip_address=ip_address)
        if remaining > 0:
            raise forms.ValidationError(lockout_message(remaining), code="login_locked")
        user = authenticate(self.request, email=email, password=password)
        if not isinstance(user, User):
            # The failure just recorded may be the one that locks the pair: say so at once.
            remaining = login_lock_remaining(email=email, ip_address=ip_address)
            if remaining > 0:
                raise forms.ValidationError(lockout_message(remaining), code="login_locked")
            raise forms.ValidationError(_("Email or password is wrong."), code="invalid_login")
        self.user_cache = user
        return cleaned_data

    def get_user(self) -> User | None:
        return self.user_cache


class PasswordResetRequestForm(PasswordResetForm):
    """Django's reset form, mailing each user in their own language with Konto's public address.

    The page after submitting is the same whether or not the address belongs to anybody.
    """

    def clean_email(self) -> str:
        return str(self.cleaned_data["email"]).strip().lower()

    def send_mail(
        self,
        subject_template_name: str,
        email_template_name: str,
        context: dict[str, Any],
        from_email: str | None,
        to_email: str,
        html_email_template_name: str | None = None,
    ) -> None:
        user: User = context["user"]
        language = user.language or (user.org.language if user.org is not None else settings.LANGUAGE_CODE)
        context = {
            **context,
            "base_url": settings.KONTO_BASE_URL.rstrip("/"),
            "hours": settings.PASSWORD_RESET_TIMEOUT // 3600,
        }
        with translation.override(language):
            super().send_mail(
                subject_template_name, email_template_name, context, from_email, to_email, html_email_template_name
            )


class InvitationAcceptForm(forms.Form):
    """The password a person chooses when accepting an invitation; its strength is checked by the service."""

    password = forms.CharField(
        label=_("Choose a password"),
        strip=False,
        max_length=4096,
        help_text=_("At least 10 characters; not a common password and not similar to your name or email."),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "autofocus": True}),
    )
    password_confirm = forms.CharField(
        label=_("Repeat the password"),
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        cleaned_data = super().clean() or {}
        password = cleaned_data.get("password")
        confirm = cleaned_data.get("password_confirm")
        if password and confirm and password != confirm:
            self.add_error("password_confirm", _("The two passwords differ. Type the same password twice."))
        return cleaned_data
