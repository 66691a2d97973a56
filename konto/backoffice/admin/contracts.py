"""Contracts, their lines, charges and orders in the back office: read-only, since only services write them."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from konto.backoffice.admin._common import ReadOnlyAdminMixin
from konto.backoffice.admin_site import backoffice_site
from konto.backoffice.generics import ModelAdmin, TabularInline
from konto.contracts.models import Charge, Contract, ContractLine, Order, OrderLine


class _ReadOnlyInline(ReadOnlyAdminMixin):
    extra = 0
    can_delete = False
    show_change_link = False


class ContractLineInline(_ReadOnlyInline, TabularInline[ContractLine, Contract]):
    model = ContractLine
    fields = ("public_id", "product", "quantity", "unit_price", "start_date", "end_date", "order")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[ContractLine]:
        return super().get_queryset(request).select_related("product", "order", "contract")


class ContractOrderInline(_ReadOnlyInline, TabularInline[Order, Contract]):
    model = Order
    fields = ("public_id", "status", "ordered_on", "today_gross_amount", "currency", "confirmed_by", "po_number")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Order]:
        return super().get_queryset(request).select_related("confirmed_by")


class ChargeInline(_ReadOnlyInline, TabularInline[Charge, Contract]):
    model = Charge
    fields = (
        "line",
        "period_start",
        "period_end",
        "service_start",
        "quantity",
        "unit_price",
        "days_charged",
        "days_in_period",
        "net_amount",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Charge]:
        return super().get_queryset(request).select_related("line__product", "line__contract")


@admin.register(Contract, site=backoffice_site)
class ContractAdmin(ReadOnlyAdminMixin, ModelAdmin[Contract]):
    """Contracts with their lines, orders and charges; created by onboarding and orders, never edited here."""

    list_display = (
        "number",
        "org",
        "status",
        "start_date",
        "end_date",
        "billing_frequency",
        "payment_method_kind",
        "currency",
        "auto_renew",
    )
    list_filter = ("status", "billing_frequency", "payment_method_kind", "currency", "auto_renew")
    search_fields = ("number", "public_id", "org__legal_name", "po_number", "buyer_reference")
    list_select_related = ("org",)
    date_hierarchy = "start_date"
    list_per_page = 50
    fields = (
        "public_id",
        "number",
        "org",
        "status",
        "start_date",
        "end_date",
        "billing_frequency",
        "currency",
        "payment_terms_days",
        "payment_method_kind",
        "auto_renew",
        "notice_period_days",
        "po_number",
        "buyer_reference",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    inlines = (ContractLineInline, ContractOrderInline, ChargeInline)


class OrderLineInline(_ReadOnlyInline, TabularInline[OrderLine, Order]):
    model = OrderLine
    fields = (
        "product",
        "quantity",
        "unit_price",
        "period_start",
        "period_end",
        "days_charged",
        "days_in_period",
        "prorated_net_amount",
        "tax_category",
        "tax_rate",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[OrderLine]:
        return super().get_queryset(request).select_related("product")


@admin.register(Order, site=backoffice_site)
class OrderAdmin(ReadOnlyAdminMixin, ModelAdmin[Order]):
    """Confirmed orders as the customer saw and confirmed them."""

    list_display = ("public_id", "org", "contract", "status", "ordered_on", "today_gross_amount", "currency")
    list_filter = ("status", "currency")
    search_fields = ("public_id", "org__legal_name", "contract__number", "po_number", "idempotency_key")
    list_select_related = ("org", "contract")
    date_hierarchy = "ordered_on"
    list_per_page = 50
    fields = (
        "public_id",
        "org",
        "contract",
        "status",
        "ordered_on",
        "currency",
        "today_net_amount",
        "today_tax_amount",
        "today_gross_amount",
        "next_invoice_net_amount",
        "renewal_net_amount",
        "po_number",
        "idempotency_key",
        "confirmed_by",
        "confirmed_at",
        "created_at",
    )
    readonly_fields = fields
    inlines = (OrderLineInline,)


@admin.register(Charge, site=backoffice_site)
class ChargeAdmin(ReadOnlyAdminMixin, ModelAdmin[Charge]):
    """One contract line for one billing period: what invoices will be made from."""

    list_display = ("contract", "org", "line", "period_start", "period_end", "days_charged", "net_amount")
    list_filter = ("contract__currency", "contract__billing_frequency")
    search_fields = ("contract__number", "contract__public_id", "org__legal_name", "line__product__code")
    list_select_related = ("contract", "org", "line__product", "line__contract")
    date_hierarchy = "period_start"
    list_per_page = 100
    fields = (
        "org",
        "contract",
        "line",
        "period_start",
        "period_end",
        "service_start",
        "quantity",
        "unit_price",
        "days_charged",
        "days_in_period",
        "net_amount",
        "created_at",
    )
    readonly_fields = fields
