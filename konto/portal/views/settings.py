"""Settings of My Account: the org's billing profile and the org's API tokens."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views import View

from konto.accounts.actors import actor_from_request
from konto.accounts.exceptions import InvalidInput, NotFound
from konto.accounts.models import User
from konto.accounts.permissions import MANAGE_BILLING, MANAGE_BILLING_CONTACTS
from konto.accounts.selectors import org_api_tokens
from konto.accounts.services.billing_profile import update_billing_profile
from konto.accounts.services.tokens import create_api_token, revoke_api_token
from konto.core.forms import add_service_error
from konto.portal.access import MyAccountMixin
from konto.portal.forms.settings import ApiTokenCreateForm, BillingProfileForm, vat_id_help_by_country


class SettingsMixin(MyAccountMixin):
    """Context shared by the settings pages: which tab is open and which tabs exist."""

    settings_tab = ""

    def settings_context(self, **context: Any) -> dict[str, Any]:
        return {
            "settings_tab": self.settings_tab,
            "can_manage_api_tokens": MANAGE_BILLING in self.permissions,
            "can_edit_billing_profile": MANAGE_BILLING_CONTACTS in self.permissions,
            **context,
        }


class BillingProfileEditView(SettingsMixin, View):
    """Edit the invoice address, VAT ID, billing email, currency and invoice language."""

    required_permission = MANAGE_BILLING_CONTACTS
    settings_tab = "billing_profile"
    template_name = "portal/settings/billing_profile.html"

    def render_form(self, form: BillingProfileForm) -> HttpResponse:
        context = self.settings_context(form=form, vat_id_help=vat_id_help_by_country())
        return render(self.request, self.template_name, context)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.render_form(BillingProfileForm(org=self.org))

    def post(self, request: HttpRequest) -> HttpResponse:
        form = BillingProfileForm(request.POST, org=self.org)
        if not form.is_valid():
            return self.render_form(form)
        try:
            update_billing_profile(org=self.org, actor=actor_from_request(request), changes=form.changes())
        except InvalidInput as error:
            add_service_error(form, error)
            return self.render_form(form)
        messages.success(request, _("The billing profile has been saved."))
        return redirect("portal:settings")


class ApiTokenListView(SettingsMixin, View):
    """List the org's API tokens and create new ones; a new token's secret is shown once."""

    required_permission = MANAGE_BILLING
    settings_tab = "api_tokens"
    template_name = "portal/settings/api_tokens.html"

    def render_list(self, form: ApiTokenCreateForm) -> HttpResponse:
        context = self.settings_context(form=form, tokens=org_api_tokens(org=self.org))
        return render(self.request, self.template_name, context)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.render_list(ApiTokenCreateForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ApiTokenCreateForm(request.POST)
        if not form.is_valid():
            return self.render_list(form)
        user = cast(User, request.user)  # MyAccountMixin let only org users through
        try:
            token, secret = create_api_token(
                org=self.org, user=user, actor=actor_from_request(request), name=form.cleaned_data["name"]
            )
        except InvalidInput as error:
            add_service_error(form, error)
            return self.render_list(form)
        # Rendered, not redirected: the secret exists only in this response and is never stored.
        response = render(
            request,
            "portal/settings/api_token_created.html",
            self.settings_context(token=token, secret=secret),
        )
        add_never_cache_headers(response)
        return response


class ApiTokenRevokeView(SettingsMixin, View):
    """Revoke one of the org's tokens; another org's token answers 404 like a missing one."""

    required_permission = MANAGE_BILLING
    http_method_names = ["post"]

    def post(self, request: HttpRequest, public_id: str) -> HttpResponse:
        try:
            token = revoke_api_token(org=self.org, actor=actor_from_request(request), public_id=public_id)
        except NotFound:
            raise Http404(_("API token not found.")) from None
        messages.success(request, _("The API token “%(name)s” has been revoked.") % {"name": token.name})
        return redirect("portal:api_tokens")
