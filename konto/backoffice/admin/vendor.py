"""The vendor record in the back office: the one seller, added once and edited with an audit event."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from konto.accounts.actors import actor_from_request
from konto.accounts.models import Vendor
from konto.backoffice.admin_site import backoffice_site
from konto.backoffice.forms import VendorForm
from konto.backoffice.generics import ModelAdmin, ModelForm
from konto.core.audit import record_event


@admin.register(Vendor, site=backoffice_site)
class VendorAdmin(ModelAdmin[Vendor]):
    """The one seller record: added once, never deleted; the list goes straight to it."""

    form = VendorForm
    fieldsets = (
        (_("Company"), {"fields": ("legal_name", "managing_directors", "register_entry")}),
        (_("Address"), {"fields": ("street", "postal_code", "city", "country")}),
        (_("Tax"), {"fields": ("vat_id", "tax_number")}),
        (_("Contact"), {"fields": ("email", "phone", "website")}),
        (_("Bank account"), {"fields": ("bank_name", "iban", "bic", "sepa_creditor_id", "qr_bill_iban")}),
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
