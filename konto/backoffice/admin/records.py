"""Records nobody edits in the back office: the audit trail, API tokens (revocable) and invitations."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponseBase
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from konto.accounts.actors import actor_from_request
from konto.accounts.models import ApiToken, Invitation, Org
from konto.accounts.services.tokens import revoke_api_token
from konto.backoffice.admin._common import ReadOnlyAdminMixin
from konto.backoffice.admin_site import backoffice_site
from konto.backoffice.generics import ModelAdmin
from konto.core.models import AuditEvent


def _org_name_subquery(field: str) -> Subquery:
    return Subquery(Org.objects.filter(pk=OuterRef(field)).values("legal_name")[:1])


class AuditOrgFilter(admin.SimpleListFilter):
    title = _("org")
    parameter_name = "org_id"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(pk), name) for pk, name in Org.objects.order_by("legal_name").values_list("pk", "legal_name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(org_id=int(value))
        return queryset


@admin.register(AuditEvent, site=backoffice_site)
class AuditEventAdmin(ReadOnlyAdminMixin, ModelAdmin[AuditEvent]):
    list_display = ("created_at", "action", "org_name", "actor_email", "object_type", "object_id")
    list_filter = (AuditOrgFilter, "object_type", "action")
    search_fields = ("action", "actor_email", "object_id")
    date_hierarchy = "created_at"
    list_per_page = 100
    fields = (
        "created_at",
        "action",
        "org_name",
        "actor_email",
        "object_type",
        "object_id",
        "before_json",
        "after_json",
        "ip_address",
        "user_agent",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEvent]:
        return super().get_queryset(request).annotate(org_name=_org_name_subquery("org_id"))

    @admin.display(description=_("org"))
    def org_name(self, event: AuditEvent) -> str | None:
        return getattr(event, "org_name", None)

    @staticmethod
    def _json(value: Any) -> SafeString | None:
        if value is None:
            return None
        return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True))

    @admin.display(description=_("before"))
    def before_json(self, event: AuditEvent) -> SafeString | None:
        return self._json(event.before)

    @admin.display(description=_("after"))
    def after_json(self, event: AuditEvent) -> SafeString | None:
        return self._json(event.after)


class TokenStatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", gettext("Active")), ("revoked", gettext("Revoked"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiToken, site=backoffice_site)
class ApiTokenAdmin(ReadOnlyAdminMixin, ModelAdmin[ApiToken]):
    """API tokens of org users; only the prefix is shown. Revoking calls the same service as My Account."""

    list_display = ("name", "token_prefix", "org", "user", "created_at", "last_used_at", "is_active")
    list_filter = (TokenStatusFilter, ("org", admin.RelatedOnlyFieldListFilter))
    search_fields = ("name", "token_prefix", "public_id", "user__email", "org__legal_name")
    list_select_related = ("org", "user")
    fields = (
        "public_id",
        "name",
        "token_prefix",
        "org",
        "user",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    readonly_fields = fields
    actions = ("revoke_tokens",)

    @admin.display(description=_("active"), boolean=True)
    def is_active(self, token: ApiToken) -> bool:
        return token.is_active

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("accounts.change_apitoken")

    @admin.action(description=_("Revoke selected API tokens"), permissions=["revoke"])
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> HttpResponseBase | None:
        actor = actor_from_request(request)
        revoked = 0
        for token in queryset.filter(revoked_at__isnull=True).select_related("org"):
            revoke_api_token(org=token.org, actor=actor, public_id=token.public_id)
            revoked += 1
        self.message_user(
            request,
            ngettext("%(count)d API token revoked.", "%(count)d API tokens revoked.", revoked) % {"count": revoked},
            messages.SUCCESS,
        )
        return None


class InvitationStatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("accepted", gettext("Accepted")),
            ("revoked", gettext("Revoked")),
            ("open", gettext("Open")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "accepted":
            return queryset.filter(accepted_at__isnull=False)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "open":
            return queryset.filter(accepted_at__isnull=True, revoked_at__isnull=True)
        return queryset


@admin.register(Invitation, site=backoffice_site)
class InvitationAdmin(ReadOnlyAdminMixin, ModelAdmin[Invitation]):
    list_display = ("user", "org", "invited_by", "created_at", "expires_at", "accepted_at", "revoked_at")
    list_filter = (InvitationStatusFilter, ("org", admin.RelatedOnlyFieldListFilter))
    search_fields = ("user__email", "user__full_name", "org__legal_name")
    list_select_related = ("user", "org", "invited_by")
    fields = ("public_id", "org", "user", "invited_by", "created_at", "expires_at", "accepted_at", "revoked_at")
    readonly_fields = fields
