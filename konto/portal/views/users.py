"""User administration in My Account: the org's users, invitations, billing access, licenses, profiles."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View

from konto.accounts import selectors
from konto.accounts.actors import actor_from_request
from konto.accounts.exceptions import NotFound
from konto.accounts.models import LicenseType, User
from konto.accounts.permissions import MANAGE_USERS
from konto.accounts.services.users import (
    change_user_access,
    deactivate_user,
    give_billing_access,
    invite_user,
    reactivate_user,
    resend_invitation,
)
from konto.core.audit import Actor
from konto.core.exceptions import KontoError
from konto.core.forms import add_service_error
from konto.portal.access import MyAccountMixin
from konto.portal.forms.users import BillingAccessForm, UserAccessForm, UserInviteForm

USERS_PER_PAGE = 25


class UserAdminMixin(MyAccountMixin):
    """Pages for people who hold Manage users; a user of another org is not found, like a missing one."""

    required_permission = MANAGE_USERS

    kwargs: dict[str, Any]

    def get_org_user(self) -> User:
        try:
            return selectors.get_org_user(org=self.org, public_id=self.kwargs["public_id"])
        except NotFound:
            raise Http404(_("User not found.")) from None


class UserListView(UserAdminMixin, View):
    """The org's users with license, profile, permission sets and status; license usage above."""

    template_name = "portal/users/list.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        page = Paginator(selectors.org_users(org=self.org), USERS_PER_PAGE).get_page(request.GET.get("page"))
        context = {
            "page_obj": page,
            "org_users": page.object_list,
            "license_usage": selectors.license_usage(org=self.org),
        }
        return render(request, self.template_name, context)


class UserInviteView(UserAdminMixin, View):
    """Invite a new user: the license is taken at once and a 72-hour link is emailed."""

    template_name = "portal/users/invite.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(
            request, UserInviteForm(initial={"license_type": LicenseType.FULL, "profile": "standard_user"})
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        form = UserInviteForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                user = invite_user(
                    org=self.org,
                    actor=actor_from_request(request),
                    full_name=data["full_name"],
                    email=data["email"],
                    license_type=data["license_type"],
                    profile=data["profile"],
                    permission_sets=data["permission_sets"],
                    language=data["language"],
                )
            except KontoError as error:
                add_service_error(form, error)
            else:
                hours = settings.KONTO_INVITATION_TTL_SECONDS // 3600
                messages.success(
                    request,
                    ngettext(
                        "Invitation sent to %(email)s. The link is valid for %(hours)d hour.",
                        "Invitation sent to %(email)s. The link is valid for %(hours)d hours.",
                        hours,
                    )
                    % {"email": user.email, "hours": hours},
                )
                return redirect("portal:users")
        return self._render(request, form)

    def _render(self, request: HttpRequest, form: UserInviteForm) -> HttpResponse:
        return render(request, self.template_name, {"form": form})


class BillingAccessGiveView(UserAdminMixin, View):
    """Give a person Manage Billing: a new Identity user with an invitation, or an existing user of the org."""

    template_name = "portal/users/billing_access.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request, BillingAccessForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = BillingAccessForm(request.POST)
        if form.is_valid():
            try:
                result = give_billing_access(
                    org=self.org,
                    actor=actor_from_request(request),
                    full_name=form.cleaned_data["full_name"],
                    email=form.cleaned_data["email"],
                )
            except KontoError as error:
                add_service_error(form, error)
            else:
                names = {"name": result.user.full_name, "email": result.user.email}
                if result.created:
                    message = (
                        _(
                            "%(name)s now has billing access with an Identity license. "
                            "An invitation to set a password has been sent to %(email)s."
                        )
                        % names
                    )
                else:
                    message = (
                        _("%(name)s already had an account and now has billing access (My Account Admin).") % names
                    )
                messages.success(request, message)
                return redirect("portal:users")
        return self._render(request, form)

    def _render(self, request: HttpRequest, form: BillingAccessForm) -> HttpResponse:
        context = {"form": form, "hours": settings.KONTO_INVITATION_TTL_SECONDS // 3600}
        return render(request, self.template_name, context)


class UserDetailView(UserAdminMixin, View):
    """One user: details, the form to change license type, profile and permission sets, and actions."""

    template_name = "portal/users/detail.html"

    def get(self, request: HttpRequest, public_id: str) -> HttpResponse:
        org_user = self.get_org_user()
        return self._render(request, org_user, UserAccessForm(initial=UserAccessForm.initial_for(org_user)))

    def post(self, request: HttpRequest, public_id: str) -> HttpResponse:
        org_user = self.get_org_user()
        form = UserAccessForm(request.POST)
        if form.is_valid():
            try:
                change_user_access(
                    org=self.org,
                    actor=actor_from_request(request),
                    user=org_user,
                    license_type=form.cleaned_data["license_type"],
                    profile=form.cleaned_data["profile"],
                    permission_sets=form.cleaned_data["permission_sets"],
                )
            except KontoError as error:
                add_service_error(form, error)
            else:
                messages.success(request, _("The access of %(name)s has been saved.") % {"name": org_user.full_name})
                return redirect("portal:user_detail", public_id=org_user.public_id)
        return self._render(request, org_user, form)

    def _render(self, request: HttpRequest, org_user: User, form: UserAccessForm) -> HttpResponse:
        context = {
            "org_user": org_user,
            "form": form,
            "is_self": org_user.pk == request.user.pk,
            "is_invited": org_user.is_active and not org_user.has_usable_password(),
        }
        return render(request, self.template_name, context)


class UserActionView(UserAdminMixin, View):
    """A POST-only button on the user page; the outcome is shown there as a message."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, public_id: str) -> HttpResponse:
        org_user = self.get_org_user()
        try:
            message = self.perform(org_user, actor_from_request(request))
        except KontoError as error:
            messages.error(request, str(error.message))
        else:
            messages.success(request, message)
        return redirect("portal:user_detail", public_id=org_user.public_id)

    def perform(self, org_user: User, actor: Actor) -> str:
        raise NotImplementedError


class UserDeactivateView(UserActionView):
    def perform(self, org_user: User, actor: Actor) -> str:
        deactivate_user(org=self.org, actor=actor, user=org_user)
        return _("%(name)s has been deactivated. The license is free again.") % {"name": org_user.full_name}


class UserReactivateView(UserActionView):
    def perform(self, org_user: User, actor: Actor) -> str:
        reactivate_user(org=self.org, actor=actor, user=org_user)
        return _("%(name)s has been reactivated.") % {"name": org_user.full_name}


class UserInvitationResendView(UserActionView):
    def perform(self, org_user: User, actor: Actor) -> str:
        resend_invitation(org=self.org, actor=actor, user=org_user)
        return _("A new invitation has been sent to %(email)s. Earlier links no longer work.") % {
            "email": org_user.email
        }
