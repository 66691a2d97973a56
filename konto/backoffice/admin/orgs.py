"""Customer orgs in the back office: billing profile, terms and license pools, each saved through a service."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, F, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.translation import gettext_lazy as _

from konto.accounts.actors import actor_from_request
from konto.accounts.models import LicensePool, LicenseType, Org, User
from konto.accounts.services.billing_profile import update_billing_profile
from konto.backoffice import services
from konto.backoffice.admin_site import backoffice_site
from konto.backoffice.forms import LicensePoolForm, OrgForm
from konto.backoffice.generics import ModelAdmin, ModelForm, TabularInline
from konto.core.exceptions import KontoError


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
            update_billing_profile(org=obj, actor=actor, changes=profile_changes)
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
