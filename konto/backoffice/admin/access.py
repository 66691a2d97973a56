"""The access model in the back office: profiles and permission sets, the standard ones protected."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from konto.accounts.actors import actor_from_request
from konto.accounts.models import PermissionSet, Profile
from konto.accounts.permissions import REGISTRY
from konto.backoffice.admin_site import backoffice_site
from konto.backoffice.forms import PermissionSetForm, ProfileForm
from konto.backoffice.generics import ModelAdmin
from konto.core.audit import record_event

# Profiles and permission sets the code relies on (created by the accounts migration).
STANDARD_PROFILES = frozenset({"system_administrator", "standard_user", "identity_user"})
STANDARD_PERMISSION_SETS = frozenset(
    {"my_account_admin", "invoice_viewer", "accounts_payable", "purchasing", "user_administration"}
)


def _permission_labels(codes: list[str]) -> str | None:
    return ", ".join(str(REGISTRY[code].label) for code in codes if code in REGISTRY) or None


class PermissionsCodeAdmin(ModelAdmin[Any]):
    """Shared by profiles and permission sets: permission codes as checkboxes, standard records protected."""

    standard_codes: frozenset[str] = frozenset()
    search_fields = ("code", "name")

    @admin.display(description=_("permissions"))
    def permission_labels(self, obj: Profile | PermissionSet) -> str | None:
        return _permission_labels(obj.permissions)

    @admin.display(description=_("users"), ordering="user_count")
    def user_count(self, obj: Any) -> int:
        return int(getattr(obj, "user_count", 0))

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset: QuerySet[Any] = super().get_queryset(request).annotate(user_count=Count("users", distinct=True))
        return queryset

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            readonly.append("code")  # code refers to it; the name may change
        return readonly

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_fields(request, obj))
        if obj is not None and not self.has_change_permission(request, obj):
            # Read-only visitors see the permissions' names, not the stored codes.
            fields = ["permission_labels" if field == "permissions" else field for field in fields]
        return fields

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.code in self.standard_codes:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        before = list(form.initial.get("permissions") or []) if change else []
        super().save_model(request, obj, form, change)
        if "permissions" in form.changed_data or not change:
            record_event(
                actor=actor_from_request(request),
                org_id=None,
                action=f"{self.model._meta.model_name}.permissions_changed",
                object_type=self.model._meta.model_name or "",
                object_id=obj.code,
                before={"permissions": before},
                after={"permissions": list(obj.permissions)},
            )


@admin.register(Profile, site=backoffice_site)
class ProfileAdmin(PermissionsCodeAdmin):
    form = ProfileForm
    standard_codes = STANDARD_PROFILES
    list_display = ("name", "code", "is_system_administrator", "permission_labels", "user_count")
    list_filter = ("is_system_administrator",)
    fields = ("code", "name", "description", "is_system_administrator", "permissions")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # Only the standard System Administrator profile holds every permission;
        # the last-administrator rule depends on it.
        return [*super().get_readonly_fields(request, obj), "is_system_administrator"]


@admin.register(PermissionSet, site=backoffice_site)
class PermissionSetAdmin(PermissionsCodeAdmin):
    form = PermissionSetForm
    standard_codes = STANDARD_PERMISSION_SETS
    list_display = ("name", "code", "permission_labels", "user_count")
    fields = ("code", "name", "description", "permissions")
