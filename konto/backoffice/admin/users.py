"""People in the back office: vendor staff created and edited, org users shown and (de)activated, role groups."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from konto.accounts.actors import actor_from_request
from konto.accounts.models import User
from konto.accounts.services.users import deactivate_user, reactivate_user
from konto.backoffice import services
from konto.backoffice.admin_site import backoffice_site
from konto.backoffice.forms import StaffUserChangeForm, StaffUserCreationForm
from konto.core.audit import record_event
from konto.core.exceptions import KontoError


class OrgUserFilter(admin.SimpleListFilter):
    title = _("kind of user")
    parameter_name = "kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("org", gettext("Org users")), ("staff", gettext("Vendor staff"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "org":
            return queryset.filter(org__isnull=False)
        if self.value() == "staff":
            return queryset.filter(org__isnull=True, is_staff=True)
        return queryset


@admin.register(User, site=backoffice_site)
class UserAdmin(DjangoUserAdmin):  # type: ignore[type-arg]  # the stubs bind UserAdmin to AbstractUser
    """Vendor staff are created and edited here; org users are shown, and managed by their org in My Account.

    Password hashes are never shown. Deactivating or reactivating an org user
    goes through the same services as in My Account.
    """

    form = StaffUserChangeForm
    add_form = StaffUserCreationForm
    list_display = (
        "email",
        "full_name",
        "org",
        "license_type",
        "profile",
        "staff_role",
        "is_active",
        "last_login",
    )
    list_filter = (
        OrgUserFilter,
        "is_active",
        "is_staff",
        "staff_role",
        "license_type",
        "profile",
        ("org", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("email", "full_name", "org__legal_name")
    ordering = ("email",)
    list_select_related = ("org", "profile")
    list_per_page = 50
    filter_horizontal = ()
    readonly_fields = (
        "password_status",
        "role_groups",
        "org",
        "license_type",
        "profile",
        "permission_set_names",
        "deactivated_at",
        "last_login",
        "date_joined",
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "full_name", "staff_role", "language")}),
        (_("Password"), {"classes": ("wide",), "fields": ("usable_password", "password1", "password2")}),
    )
    actions = ("deactivate_org_users", "reactivate_org_users")

    def get_fieldsets(self, request: HttpRequest, obj: User | None = None) -> Any:
        if obj is None:
            return self.add_fieldsets
        if obj.org_id is not None:
            return (
                (None, {"fields": ("email", "full_name", "language", "password_status")}),
                (
                    _("Org and access"),
                    {
                        "fields": (
                            "org",
                            "license_type",
                            "profile",
                            "permission_set_names",
                            "is_active",
                            "deactivated_at",
                        )
                    },
                ),
                (_("Dates"), {"fields": ("last_login", "date_joined")}),
            )
        staff_fields = ["staff_role", "role_groups", "is_active"]
        if request.user.is_superuser:
            staff_fields.insert(2, "is_superuser")
        return (
            (None, {"fields": ("email", "full_name", "language", "password_status")}),
            (_("Back office"), {"fields": staff_fields}),
            (_("Dates"), {"fields": ("last_login", "date_joined")}),
        )

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        if obj is not None and obj.org_id is not None:
            return False  # org users are managed by their org; see the actions for (de)activation
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return False  # deactivate instead: invoices, orders and the audit trail keep referring to people

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return super().get_queryset(request).select_related("org", "profile")

    @admin.display(description=_("password"))
    def password_status(self, user: User) -> SafeString | str:
        if not user.has_usable_password():
            text = gettext("Not set (the invitation link sets it)") if user.org_id else gettext("Not set")
        else:
            text = gettext("Set")
        if user.org_id is not None:
            return text  # org users reset their password themselves
        url = reverse("admin:auth_user_password_change", args=[user.pk])
        return format_html('{} · <a href="{}">{}</a>', text, url, gettext("Set a new password"))

    @admin.display(description=_("groups"))
    def role_groups(self, user: User) -> str | None:
        return ", ".join(group.name for group in user.groups.all()) or None

    @admin.display(description=_("permission sets"))
    def permission_set_names(self, user: User) -> str | None:
        return ", ".join(str(ps) for ps in user.permission_sets.all()) or None

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        services.assign_role_group(obj)
        record_event(
            actor=actor_from_request(request),
            org_id=None,
            action="staff_user.changed" if change else "staff_user.created",
            object_type="user",
            object_id=obj.public_id,
            after={
                field: str(form.cleaned_data.get(field))
                for field in form.changed_data
                if field in ("email", "full_name", "language", "staff_role", "is_active", "is_superuser")
            },
        )

    def _org_user_action(
        self,
        request: HttpRequest,
        queryset: QuerySet[User],
        service: Callable[..., User],
        done: Callable[[int], str],
    ) -> None:
        actor = actor_from_request(request)
        count = 0
        for user in queryset.filter(org__isnull=False).select_related("org"):
            assert user.org is not None  # noqa: S101 - filtered above
            try:
                service(org=user.org, actor=actor, user=user)
            except KontoError as error:
                self.message_user(request, f"{user.email}: {error.message}", messages.ERROR)
            else:
                count += 1
        if count:
            self.message_user(request, done(count), messages.SUCCESS)

    @admin.action(description=_("Deactivate selected org users (frees their licenses)"), permissions=["change"])
    def deactivate_org_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._org_user_action(
            request,
            queryset.filter(is_active=True),
            deactivate_user,
            lambda n: ngettext("%(count)d user deactivated.", "%(count)d users deactivated.", n) % {"count": n},
        )

    @admin.action(description=_("Reactivate selected org users (needs a free license)"), permissions=["change"])
    def reactivate_org_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._org_user_action(
            request,
            queryset.filter(is_active=False),
            reactivate_user,
            lambda n: ngettext("%(count)d user reactivated.", "%(count)d users reactivated.", n) % {"count": n},
        )


backoffice_site.register(Group, GroupAdmin)
