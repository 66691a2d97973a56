"""What vendor staff see and edit in the back office: vendor, orgs, users, access model, catalog, audit trail.

Every model is registered on `backoffice_site`, never on Django's default
site. Changes to orgs, license pools and API tokens go through services (each
its own durable transaction, with an audit event); the catalog, the vendor
record, profiles and permission sets are saved by the admin's model forms
after the catalog and form rules have checked them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.db.models import Case, Count, F, OuterRef, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from konto.accounts import services as account_services
from konto.accounts.actors import actor_from_request
from konto.accounts.models import (
    ApiToken,
    Invitation,
    LicensePool,
    LicenseType,
    Org,
    PermissionSet,
    Profile,
    User,
    Vendor,
)
from konto.accounts.permissions import REGISTRY
from konto.backoffice import services
from konto.backoffice.admin_site import backoffice_site
from konto.backoffice.forms import (
    LicensePoolForm,
    OrgForm,
    PermissionSetForm,
    PriceBookEntryForm,
    ProductForm,
    ProfileForm,
    StaffUserChangeForm,
    StaffUserCreationForm,
    VendorForm,
)
from konto.backoffice.generics import ModelAdmin, ModelForm, TabularInline
from konto.catalog.models import PriceBook, PriceBookEntry, Product
from konto.core.audit import record_event
from konto.core.editions import Edition
from konto.core.exceptions import KontoError
from konto.core.models import AuditEvent
from konto.core.periods import BillingFrequency

# Profiles and permission sets the code relies on (created by the accounts migration).
STANDARD_PROFILES = frozenset({"system_administrator", "standard_user", "identity_user"})
STANDARD_PERMISSION_SETS = frozenset(
    {"my_account_admin", "invoice_viewer", "accounts_payable", "purchasing", "user_administration"}
)


def _permission_labels(codes: list[str]) -> str | None:
    return ", ".join(str(REGISTRY[code].label) for code in codes if code in REGISTRY) or None


class ReadOnlyAdminMixin:
    """A record nobody edits here: the trail of what happened, or a secret only services may touch."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# ---------------------------------------------------------------- vendor


@admin.register(Vendor, site=backoffice_site)
class VendorAdmin(ModelAdmin[Vendor]):
    """The one seller record: added once, never deleted; the list goes straight to it."""

    form = VendorForm
    fieldsets = (
        (_("Company"), {"fields": ("legal_name", "managing_directors", "register_entry")}),
        (_("Address"), {"fields": ("street", "postal_code", "city", "country")}),
        (_("Tax"), {"fields": ("vat_id", "tax_number")}),
        (_("Contact"), {"fields": ("email", "phone", "website")}),
        (_("Bank account"), {"fields": ("bank_name", "iban", "bic", "sepa_creditor_id")}),
        (
            _("Invoicing"),
            {"fields": ("invoice_number_format", "credit_note_number_format", "default_payment_terms_days")},
        ),
    )
    list_display = ("legal_name", "city", "country", "vat_id")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not Vendor.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Vendor | None = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        vendor = Vendor.objects.first()
        if vendor is not None and self.has_view_or_change_permission(request, vendor):
            return HttpResponseRedirect(reverse("admin:accounts_vendor_change", args=[vendor.pk]))
        return super().changelist_view(request, extra_context)

    def save_model(self, request: HttpRequest, obj: Vendor, form: ModelForm[Vendor], change: bool) -> None:
        super().save_model(request, obj, form, change)
        record_event(
            actor=actor_from_request(request),
            org_id=None,
            action="vendor.changed" if change else "vendor.created",
            object_type="vendor",
            object_id=str(obj.pk),
            after={field: str(form.cleaned_data.get(field)) for field in form.changed_data},
        )


# ---------------------------------------------------------------- orgs


class LicensePoolInline(TabularInline[LicensePool, Org]):
    model = LicensePool
    form = LicensePoolForm
    fields = ("license_type", "free_seats", "purchased_seats", "assigned")
    readonly_fields = ("license_type", "assigned")
    extra = 0
    can_delete = False
    verbose_name = _("license pool")
    verbose_name_plural = _("licenses (free seats are included or donated, bought seats come from purchases)")

    def has_add_permission(self, request: HttpRequest, obj: Org | None = None) -> bool:
        return False  # both pools are created with the org

    @admin.display(description=_("assigned"))
    def assigned(self, pool: LicensePool) -> int:
        return services.assigned_licenses(org=pool.org, license_type=pool.license_type)


ORG_FIELD_GROUPS: tuple[tuple[Any, tuple[str, ...]], ...] = (  # (lazy title, fields)
    (_("Billing profile"), ("legal_name", "street", "address_line2", "postal_code", "city", "country")),
    (_("Tax and invoicing"), ("vat_id", "billing_email", "currency", "currency_locked", "language")),
    (_("Terms"), ("segment", "edition", "status", "account_executive")),
    (_("Record"), ("public_id", "created_at", "updated_at")),
)


@admin.register(Org, site=backoffice_site)
class OrgAdmin(ModelAdmin[Org]):
    """Customer orgs. Saves call services, each its own durable transaction (with an audit event)."""

    form = OrgForm
    list_display = (
        "legal_name",
        "country",
        "edition",
        "segment",
        "currency_code",
        "status",
        "executive",
        "full_licenses",
    )
    list_filter = (
        "status",
        "edition",
        "segment",
        "currency",
        "country",
        ("account_executive", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("legal_name", "vat_id", "public_id")
    list_select_related = ("account_executive",)
    list_per_page = 50
    inlines = (LicensePoolInline,)
    readonly_fields = ("public_id", "currency_locked", "created_at", "updated_at")
    fieldsets = [(name, {"fields": fields}) for name, fields in ORG_FIELD_GROUPS]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Org]:
        full_pool = LicensePool.objects.filter(org=OuterRef("pk"), license_type=LicenseType.FULL)
        full_users = (
            User.objects.filter(org=OuterRef("pk"), license_type=LicenseType.FULL, is_active=True)
            .order_by()
            .values("org")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                full_total=Subquery(
                    full_pool.annotate(total=F("free_seats") + F("purchased_seats")).values("total")[:1]
                ),
                full_assigned=Coalesce(Subquery(full_users[:1]), 0),
            )
        )

    @admin.display(description=_("currency"), ordering="currency")
    def currency_code(self, org: Org) -> str:
        return org.currency

    @admin.display(description=_("account executive"), ordering="account_executive__full_name")
    def executive(self, org: Org) -> str | None:
        return org.account_executive.full_name if org.account_executive else None

    @admin.display(description=_("currency locked"), boolean=True)
    def currency_locked(self, org: Org) -> bool:
        return org.is_currency_locked

    @admin.display(description=_("Full licenses (assigned / total)"))
    def full_licenses(self, org: Org) -> str:
        return f"{getattr(org, 'full_assigned', 0)} / {getattr(org, 'full_total', None) or 0}"

    def get_inlines(self, request: HttpRequest, obj: Org | None) -> tuple[type[LicensePoolInline], ...]:
        return (LicensePoolInline,) if obj is not None else ()

    def get_fieldsets(self, request: HttpRequest, obj: Org | None = None) -> Any:
        if obj is None:  # no record fields before the org exists
            return [
                (name, {"fields": [f for f in fields if f not in self.readonly_fields]})
                for name, fields in ORG_FIELD_GROUPS
            ]
        return self.fieldsets

    def has_change_permission(self, request: HttpRequest, obj: Org | None = None) -> bool:
        return super().has_change_permission(request, obj) or request.user.has_perm("accounts.assign_account_executive")

    def has_delete_permission(self, request: HttpRequest, obj: Org | None = None) -> bool:
        return False  # orgs are closed (status), never deleted: invoices and the audit trail refer to them

    def get_readonly_fields(self, request: HttpRequest, obj: Org | None = None) -> list[str]:
        readonly = list(self.readonly_fields)
        if obj is not None and not request.user.has_perm("accounts.change_org"):
            # An account executive may only hand the org to another account executive.
            readonly += [
                field
                for _name, fields in ORG_FIELD_GROUPS
                for field in fields
                if field != "account_executive" and field not in readonly
            ]
        return readonly

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # Services run their own durable transaction, so the admin must not
        # wrap the save in one; a refusal the form could not foresee (a
        # concurrent change) becomes an error message, not a server error.
        try:
            response: HttpResponse = self._changeform_view(  # type: ignore[attr-defined]  # Django's view body, not in the stubs
                request, object_id, form_url, extra_context
            )
        except KontoError as error:
            self.message_user(request, str(error.message), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        return response

    def save_model(self, request: HttpRequest, obj: Org, form: ModelForm[Org], change: bool) -> None:
        actor = actor_from_request(request)
        data = form.cleaned_data
        if not change:
            org = services.create_org(
                actor=actor,
                profile={f: data.get(f, "") for f in services.PROFILE_FIELDS},
                terms={f: data[f] for f in services.TERMS_FIELDS if f in data},
            )
            obj.pk, obj.public_id, obj.created_at, obj.updated_at = (
                org.pk,
                org.public_id,
                org.created_at,
                org.updated_at,
            )
            obj._state.adding = False
            return
        profile_changes = {f: data[f] for f in services.PROFILE_FIELDS if f in form.changed_data}
        if profile_changes:
            account_services.update_billing_profile(org=obj, actor=actor, changes=profile_changes)
        terms = {f: data[f] for f in services.TERMS_FIELDS if f in form.changed_data}
        if terms:
            services.change_org_terms(org=obj, actor=actor, changes=terms)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: Any) -> None:
        actor = actor_from_request(request)
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for pool_form in formset.forms:
            if not pool_form.has_changed():
                continue
            pool = services.set_license_seats(
                org=form.instance,
                actor=actor,
                license_type=pool_form.instance.license_type,
                free_seats=pool_form.cleaned_data["free_seats"],
                purchased_seats=pool_form.cleaned_data["purchased_seats"],
            )
            formset.changed_objects.append((pool, pool_form.changed_data))


# ---------------------------------------------------------------- users


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
            account_services.deactivate_user,
            lambda n: ngettext("%(count)d user deactivated.", "%(count)d users deactivated.", n) % {"count": n},
        )

    @admin.action(description=_("Reactivate selected org users (needs a free license)"), permissions=["change"])
    def reactivate_org_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._org_user_action(
            request,
            queryset.filter(is_active=False),
            account_services.reactivate_user,
            lambda n: ngettext("%(count)d user reactivated.", "%(count)d users reactivated.", n) % {"count": n},
        )


backoffice_site.register(Group, GroupAdmin)


# ---------------------------------------------------------------- profiles and permission sets


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


# ---------------------------------------------------------------- audit trail, tokens, invitations


# Monthly, quarterly, annual: the order people read prices in.
FREQUENCY_ORDER = Case(
    *[When(billing_frequency=f.value, then=Value(i)) for i, f in enumerate(BillingFrequency)],
    default=Value(len(BillingFrequency)),
)


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
            account_services.revoke_api_token(org=token.org, actor=actor, public_id=token.public_id)
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


# ---------------------------------------------------------------- catalog


@admin.register(Product, site=backoffice_site)
class ProductAdmin(ModelAdmin[Product]):
    form = ProductForm
    list_display = ("code", "name_de", "name_en", "kind", "edition", "unit", "tax_category", "allowed", "is_active")
    list_filter = ("kind", "edition", "is_active", "tax_category")
    search_fields = ("code", "name_de", "name_en")
    fieldsets = (
        (None, {"fields": ("code", "kind", "edition", "unit", "tax_category", "is_active", "sort_order")}),
        (_("Names"), {"fields": ("name_de", "name_en", "description_de", "description_en")}),
        (_("Who may buy it"), {"fields": ("allowed_editions",)}),
        (_("Licenses"), {"fields": ("grants_license_type", "seats_per_unit")}),
    )

    @admin.display(description=_("editions that may buy it"))
    def allowed(self, product: Product) -> str | None:
        labels = dict(Edition.choices)
        return ", ".join(str(labels.get(code, code)) for code in product.allowed_editions) or None

    def get_readonly_fields(self, request: HttpRequest, obj: Product | None = None) -> list[str]:
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            readonly.append("code")  # the API and integrations know products by code
        return readonly


class PriceBookEntryInline(TabularInline[PriceBookEntry, PriceBook]):
    model = PriceBookEntry
    form = PriceBookEntryForm
    fields = ("product", "billing_frequency", "unit_price")
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[PriceBookEntry]:
        return (
            super()
            .get_queryset(request)
            .select_related("product")
            .annotate(frequency_order=FREQUENCY_ORDER)
            .order_by("product__sort_order", "product__code", "frequency_order")
        )

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        field: Any = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "product" and field is not None:
            # A plain select: the rows stay readable without the related-object icons.
            field.widget = getattr(field.widget, "widget", field.widget)
            # One query for the product choices of every row, not one per row.
            field.choices = list(field.choices)
        return field


@admin.register(PriceBook, site=backoffice_site)
class PriceBookAdmin(ModelAdmin[PriceBook]):
    list_display = ("name", "segment", "currency", "is_active", "entry_count")
    list_filter = ("segment", "currency", "is_active")
    search_fields = ("name",)
    inlines = (PriceBookEntryInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[PriceBook]:
        return super().get_queryset(request).annotate(entry_count=Count("entries"))

    @admin.display(description=_("prices"), ordering="entry_count")
    def entry_count(self, book: PriceBook) -> int:
        return int(getattr(book, "entry_count", 0))


@admin.register(PriceBookEntry, site=backoffice_site)
class PriceBookEntryAdmin(ModelAdmin[PriceBookEntry]):
    form = PriceBookEntryForm
    list_display = ("product_code", "product_name", "price_book", "billing_frequency", "unit_price")
    list_editable = ("unit_price",)
    list_filter = ("price_book", "billing_frequency", "product__kind")
    search_fields = ("product__code", "product__name_de", "product__name_en")
    list_select_related = ("product", "price_book")
    ordering = ("price_book__segment", "price_book__currency", "product__sort_order", "product__code")
    list_per_page = 100

    @admin.display(description=_("code"), ordering="product__code")
    def product_code(self, entry: PriceBookEntry) -> str:
        return entry.product.code

    @admin.display(description=_("product"))
    def product_name(self, entry: PriceBookEntry) -> str:
        return entry.product.name

    def get_changelist_form(self, request: HttpRequest, **kwargs: Any) -> Any:
        kwargs.setdefault("form", PriceBookEntryForm)
        return super().get_changelist_form(request, **kwargs)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        field: Any = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "product" and field is not None:
            field.queryset = field.queryset.order_by("sort_order", "code")
        return field
