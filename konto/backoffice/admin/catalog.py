"""The catalog in the back office: products, price books and their prices."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Case, Count, QuerySet, Value, When
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from konto.backoffice.admin_site import backoffice_site
from konto.backoffice.forms import PriceBookEntryForm, ProductForm
from konto.backoffice.generics import ModelAdmin, TabularInline
from konto.catalog.models import PriceBook, PriceBookEntry, Product
from konto.core.editions import Edition
from konto.core.periods import BillingFrequency

# Monthly, quarterly, annual: the order people read prices in.
FREQUENCY_ORDER = Case(
    *[When(billing_frequency=f.value, then=Value(i)) for i, f in enumerate(BillingFrequency)],
    default=Value(len(BillingFrequency)),
)


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
