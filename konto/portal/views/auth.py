"""Sign-in pages: log in and out, password reset, invitation acceptance, language switch."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.urls import reverse, reverse_lazy
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from konto.accounts.exceptions import InvitationInvalid
from konto.accounts.models import Invitation, User
from konto.accounts.services.invitations import accept_invitation, pending_invitation
from konto.accounts.services.users import set_user_language
from konto.core.exceptions import KontoError
from konto.core.forms import add_service_error
from konto.portal.forms.auth import InvitationAcceptForm, LoginForm, PasswordResetRequestForm

# The backend a person is signed in with after setting a password from an invitation.
SIGN_IN_BACKEND = "konto.accounts.backends.ThrottledEmailBackend"


def _safe_next(request: HttpRequest, value: str | None) -> str:
    """`value` when it points into this site, else ""."""
    if value and url_has_allowed_host_and_scheme(
        url=value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return ""


def _home_url(user: Any) -> str:
    """Where a signed-in person starts: vendor staff in the back office, org users in My Account."""
    if isinstance(user, User) and user.is_authenticated and user.org_id is None:
        return reverse("admin:index")
    return resolve_url(settings.LOGIN_REDIRECT_URL)


class LoginView(auth_views.LoginView):
    """Email + password. Redirects to `next` only within this site; vendor staff go to the back office."""

    template_name = "portal/auth/login.html"
    authentication_form = LoginForm

    def get_default_redirect_url(self) -> str:
        return _home_url(self.request.user)


class LogoutView(auth_views.LogoutView):
    """Ends the session; POST only, so a link or image elsewhere cannot sign anybody out."""

    next_page = "portal:login"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        messages.info(request, _("You are logged out."))
        return response


class PasswordResetView(auth_views.PasswordResetView):
    """Asks for an email address; the same page follows whether or not it belongs to a user."""

    template_name = "portal/auth/password_reset_form.html"
    form_class = PasswordResetRequestForm
    subject_template_name = "accounts/email/password_reset_subject.txt"
    email_template_name = "accounts/email/password_reset.txt"
    html_email_template_name = "accounts/email/password_reset.html"
    success_url = reverse_lazy("portal:password_reset_done")


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "portal/auth/password_reset_done.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context: dict[str, Any] = super().get_context_data(**kwargs)
        context["hours"] = settings.PASSWORD_RESET_TIMEOUT // 3600
        return context


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "portal/auth/password_reset_confirm.html"
    success_url = reverse_lazy("portal:password_reset_complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "portal/auth/password_reset_complete.html"


@method_decorator([sensitive_post_parameters(), never_cache], name="dispatch")
class InvitationAcceptView(View):
    """The one-time link from an invitation email: choose a password, then start in My Account."""

    template_name = "portal/auth/invitation_accept.html"

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        try:
            invitation = pending_invitation(token)
        except InvitationInvalid as error:
            return self._invalid(request, error)
        return self._render(request, invitation, InvitationAcceptForm())

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        try:
            invitation = pending_invitation(token)
        except InvitationInvalid as error:
            return self._invalid(request, error)
        form = InvitationAcceptForm(request.POST)
        if not form.is_valid():
            return self._render(request, invitation, form)
        try:
            user = accept_invitation(token=token, password=form.cleaned_data["password"])
        except InvitationInvalid as error:
            return self._invalid(request, error)
        except KontoError as error:
            add_service_error(form, error)
            return self._render(request, invitation, form)
        login(request, user, backend=SIGN_IN_BACKEND)
        messages.success(request, _("Welcome, %(name)s. Your password is set.") % {"name": user.full_name})
        return HttpResponseRedirect(reverse("portal:overview"))

    def _render(self, request: HttpRequest, invitation: Invitation, form: InvitationAcceptForm) -> HttpResponse:
        context = {"invitation": invitation, "invited_user": invitation.user, "form": form}
        return render(request, self.template_name, context)

    def _invalid(self, request: HttpRequest, error: KontoError) -> HttpResponse:
        return render(request, self.template_name, {"error": error.message}, status=error.status)


class LanguageSetView(View):
    """Switches the interface language (cookie, and the user's setting when signed in); then goes back."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponseBase:
        next_url = _safe_next(request, request.POST.get("next"))
        if not next_url:
            next_url = _home_url(request.user) if request.user.is_authenticated else reverse("portal:login")
        response = HttpResponseRedirect(next_url)
        language = request.POST.get("language", "")
        if language not in dict(settings.LANGUAGES):
            return response  # an unknown language changes nothing
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            path=settings.LANGUAGE_COOKIE_PATH,
            domain=settings.LANGUAGE_COOKIE_DOMAIN,
            secure=settings.LANGUAGE_COOKIE_SECURE,
            httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,
        )
        if isinstance(request.user, User) and request.user.is_authenticated:
            set_user_language(user=request.user, language=language)
        return response
