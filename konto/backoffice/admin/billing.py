"""Billing in the back office: runs, invoices and credit notes (read-only), credit notes and write-offs, number formats.

Invoices and credit notes are never edited here: "Mark uncollectible" and
"Issue credit note" call the billing services (each its own durable
transaction with an audit event), and a refusal is shown as an error message
with nothing changed. "Start billing run" on the runs list queues the billing
run for a date as a background task (billing operations only). Number formats
live on the vendor record; the number series page edits them through a service.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import CharField, Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from konto.accounts.actors import actor_from_request
from konto.accounts.models import Vendor
from konto.backoffice import services
from konto.backoffice.admin._common import ReadOnlyAdminMixin
from konto.backoffice.admin_site import backoffice_site
from konto.backoffice.generics import ModelAdmin, ModelForm, TabularInline
from konto.billing.models import (
    BillingRun,
    BillingRunError,
    CreditNote,
    CreditNoteLine,
    Invoice,
    InvoiceLine,
    NumberCounter,
    NumberSeries,
)
from konto.billing.services.credit_notes import CREDITABLE, issue_credit_note
from konto.billing.services.invoices import mark_invoice_uncollectible
from konto.billing.tasks import enqueue_billing_run
from konto.core.exceptions import KontoError


class _ReadOnlyInline(ReadOnlyAdminMixin):
    extra = 0
    can_delete = False
    show_change_link = False


# ---------------------------------------------------------------- billing runs


class BillingRunErrorInline(_ReadOnlyInline, TabularInline[BillingRunError, BillingRun]):
    model = BillingRunError
    fields = ("org", "message", "created_at")
    readonly_fields = fields
    verbose_name = _("org not billed")
    verbose_name_plural = _("orgs not billed (their charges stay for the next run)")

    def get_queryset(self, request: HttpRequest) -> QuerySet[BillingRunError]:
        return super().get_queryset(request).select_related("org")


class StartBillingRunForm(forms.Form):
    billing_date = forms.DateField(
        label=_("Billing date"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("Every charge due on or before this date and not invoiced yet is billed."),
    )


@admin.register(BillingRun, site=backoffice_site)
class BillingRunAdmin(ReadOnlyAdminMixin, ModelAdmin[BillingRun]):
    """Each run of the billing run: what it billed and which orgs failed, with the reason."""

    change_list_template = "backoffice/billingrun_change_list.html"

    list_display = (
        "public_id",
        "billing_date",
        "status",
        "started_at",
        "finished_at",
        "orgs_due",
        "orgs_billed",
        "orgs_failed",
        "invoices_created",
        "lines_created",
        "error_count",
    )
    list_filter = ("status",)
    search_fields = ("public_id",)
    date_hierarchy = "started_at"
    list_per_page = 50
    fields = (
        "public_id",
        "billing_date",
        "status",
        "workers",
        "started_at",
        "finished_at",
        "orgs_due",
        "orgs_billed",
        "orgs_failed",
        "invoices_created",
        "lines_created",
    )
    readonly_fields = fields
    inlines = (BillingRunErrorInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[BillingRun]:
        return super().get_queryset(request).annotate(error_total=Count("errors"))

    @admin.display(description=_("errors"), ordering="error_total")
    def error_count(self, run: BillingRun) -> int:
        return int(getattr(run, "error_total", 0))

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.start_view)
        return [path("start/", view, name="billing_billingrun_start"), *super().get_urls()]

    def has_start_permission(self, request: HttpRequest) -> bool:
        # Billing runs issue invoices: billing operations' work, like marking one uncollectible.
        return request.user.has_perm("billing.change_invoice")

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "has_start_permission": self.has_start_permission(request)}
        return super().changelist_view(request, extra_context)

    def start_view(self, request: HttpRequest) -> HttpResponse:
        """Queue a billing run for a date (`enqueue_billing_run`); the run appears here once a worker took it."""
        if not self.has_start_permission(request):
            raise PermissionDenied
        changelist_url = reverse("admin:billing_billingrun_changelist")
        form = StartBillingRunForm(
            request.POST if request.method == "POST" else None, initial={"billing_date": timezone.localdate()}
        )
        if request.method == "POST" and form.is_valid():
            billing_date = form.cleaned_data["billing_date"]
            try:
                enqueue_billing_run(billing_date=billing_date)
            except KontoError as error:
                form.add_error(None, str(error.message))
            else:
                self.message_user(
                    request,
                    gettext("Billing run for %(date)s started; it is listed here as soon as a worker has picked it up.")
                    % {"date": billing_date.isoformat()},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(changelist_url)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Start billing run"),
            "form": form,
            "opts": self.opts,
            "changelist_url": changelist_url,
        }
        return TemplateResponse(
            request, "backoffice/start_billing_run.html", context, status=422 if request.method == "POST" else 200
        )


# ---------------------------------------------------------------- invoices


class InvoiceLineInline(_ReadOnlyInline, TabularInline[InvoiceLine, Invoice]):
    model = InvoiceLine
    fields = (
        "position",
        "description",
        "quantity",
        "unit_price",
        "period_start",
        "period_end",
        "days_charged",
        "days_in_period",
        "net_amount",
        "tax_category",
        "tax_rate",
    )
    readonly_fields = fields


class InvoiceCreditNoteInline(_ReadOnlyInline, TabularInline[CreditNote, Invoice]):
    model = CreditNote
    fields = ("number", "is_full", "issue_date", "gross_amount", "reason")
    readonly_fields = fields
    show_change_link = True


class CreditNoteForm(forms.Form):
    """Which lines to credit (none ticked: every line not credited yet) and why."""

    lines = forms.ModelMultipleChoiceField(
        label=_("Lines to credit"),
        queryset=InvoiceLine.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Tick none to credit every line not credited yet; that cancels the invoice."),
    )
    reason = forms.CharField(label=_("Reason"), max_length=300, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, invoice: Invoice, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["lines"]
        field.queryset = invoice.lines.filter(credit_note_line__isnull=True).order_by("position")
        field.label_from_instance = lambda line: (
            f"{line.position}. {line.description} ({line.period_start} – {line.period_end}): "
            f"{line.net_amount} {invoice.currency}"
        )


@admin.register(Invoice, site=backoffice_site)
class InvoiceAdmin(ReadOnlyAdminMixin, ModelAdmin[Invoice]):
    """Issued and draft invoices, never edited: credit notes and write-offs go through the billing services."""

    list_display = ("number_or_draft", "org", "status", "issue_date", "due_date", "gross_amount", "open", "currency")
    list_filter = ("status", "currency", ("issue_date", admin.DateFieldListFilter))
    search_fields = ("number", "public_id", "org__legal_name")
    list_select_related = ("org",)
    date_hierarchy = "issue_date"
    list_per_page = 50
    fields = (
        "public_id",
        "number",
        "org",
        "contract",
        "order",
        "status",
        "billing_date",
        "issue_date",
        "due_date",
        "period_start",
        "period_end",
        "currency",
        "language",
        "payment_method_kind",
        "payment_terms_days",
        "net_amount",
        "tax_amount",
        "gross_amount",
        "amount_paid",
        "amount_credited",
        "open",
        "po_number",
        "buyer_reference",
        "contract_number",
        "issued_at",
        "status_changed_at",
        "created_at",
        "credit_note_link",
    )
    readonly_fields = fields
    inlines = (InvoiceLineInline, InvoiceCreditNoteInline)
    actions = ("mark_uncollectible", "credit_invoice")

    @admin.display(description=_("number"), ordering="number")
    def number_or_draft(self, invoice: Invoice) -> str:
        return invoice.number or gettext("Draft %(id)s") % {"id": invoice.public_id}

    @admin.display(description=_("open"))
    def open(self, invoice: Invoice) -> str:
        return f"{invoice.open_amount:.2f}"

    @admin.display(description=_("credit note"))
    def credit_note_link(self, invoice: Invoice) -> SafeString | str:
        if invoice.status not in CREDITABLE:
            return "—"
        url = reverse("admin:billing_invoice_credit_note", args=[invoice.pk])
        return format_html('<a href="{}">{}</a>', url, gettext("Issue a credit note…"))

    def get_fields(self, request: HttpRequest, obj: Invoice | None = None) -> Any:
        if self.has_credit_permission(request):
            return self.fields
        return tuple(field for field in self.fields if field != "credit_note_link")  # it links to a refusal

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.credit_note_view)
        return [
            path("<int:invoice_pk>/credit-note/", view, name="billing_invoice_credit_note"),
            *super().get_urls(),
        ]

    # ------------------------------------------------------------ permissions

    def has_uncollectible_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.change_invoice")

    def has_credit_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.add_creditnote")

    # ------------------------------------------------------------ actions

    @admin.action(description=_("Mark uncollectible"), permissions=["uncollectible"])
    def mark_uncollectible(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> HttpResponseBase | None:
        actor = actor_from_request(request)
        done = 0
        for invoice in queryset.order_by("pk"):
            try:
                mark_invoice_uncollectible(invoice=invoice, actor=actor)
            except KontoError as error:
                self.message_user(request, f"{invoice}: {error.message}", messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(
                request,
                ngettext("%(count)d invoice marked uncollectible.", "%(count)d invoices marked uncollectible.", done)
                % {"count": done},
                messages.SUCCESS,
            )
        return None

    @admin.action(description=_("Issue credit note"), permissions=["credit"])
    def credit_invoice(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> HttpResponseBase | None:
        invoices = list(queryset[:2])
        if len(invoices) != 1:
            self.message_user(request, gettext("Choose exactly one invoice to credit."), messages.ERROR)
            return None
        return HttpResponseRedirect(reverse("admin:billing_invoice_credit_note", args=[invoices[0].pk]))

    def credit_note_view(self, request: HttpRequest, invoice_pk: int) -> HttpResponse:
        """Issue a full or partial credit note with a reason, through `issue_credit_note`."""
        if not self.has_credit_permission(request):
            raise PermissionDenied
        invoice = get_object_or_404(Invoice.objects.select_related("org"), pk=invoice_pk)
        change_url = reverse("admin:billing_invoice_change", args=[invoice.pk])
        form = CreditNoteForm(request.POST if request.method == "POST" else None, invoice=invoice)
        if invoice.status not in CREDITABLE:
            self.message_user(
                request,
                gettext("Only issued invoices that are not void can be credited."),
                messages.ERROR,
            )
            return HttpResponseRedirect(change_url)
        if request.method == "POST" and form.is_valid():
            lines = form.cleaned_data["lines"]
            try:
                note = issue_credit_note(
                    invoice=invoice,
                    actor=actor_from_request(request),
                    reason=form.cleaned_data["reason"],
                    line_ids=[line.pk for line in lines] if lines else None,
                )
            except KontoError as error:
                form.add_error(None, str(error.message))
            else:
                self.message_user(
                    request,
                    gettext("Credit note %(number)s issued for %(amount)s %(currency)s.")
                    % {"number": note.number, "amount": note.gross_amount, "currency": note.currency},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Issue a credit note for %(invoice)s") % {"invoice": invoice},
            "invoice": invoice,
            "form": form,
            "opts": self.opts,
            "change_url": change_url,
        }
        return TemplateResponse(
            request, "backoffice/issue_credit_note.html", context, status=422 if request.method == "POST" else 200
        )


# ---------------------------------------------------------------- credit notes


class CreditNoteLineInline(_ReadOnlyInline, TabularInline[CreditNoteLine, CreditNote]):
    model = CreditNoteLine
    fields = ("position", "description", "quantity", "unit_price", "period_start", "period_end", "net_amount")
    readonly_fields = fields


@admin.register(CreditNote, site=backoffice_site)
class CreditNoteAdmin(ReadOnlyAdminMixin, ModelAdmin[CreditNote]):
    """Credit notes as issued; they never change."""

    list_display = ("number", "org", "invoice", "is_full", "issue_date", "gross_amount", "currency")
    list_filter = ("is_full", "currency", ("issue_date", admin.DateFieldListFilter))
    search_fields = ("number", "public_id", "invoice__number", "org__legal_name")
    list_select_related = ("org", "invoice")
    date_hierarchy = "issue_date"
    list_per_page = 50
    fields = (
        "public_id",
        "number",
        "org",
        "invoice",
        "is_full",
        "reason",
        "issue_date",
        "currency",
        "net_amount",
        "tax_amount",
        "gross_amount",
        "created_at",
    )
    readonly_fields = fields
    inlines = (CreditNoteLineInline,)


# ---------------------------------------------------------------- number series


FORMAT_FIELDS = {
    NumberSeries.INVOICE: "invoice_number_format",
    NumberSeries.CREDIT_NOTE: "credit_note_number_format",
}


class NumberCounterInline(_ReadOnlyInline, TabularInline[NumberCounter, NumberSeries]):
    model = NumberCounter
    fields = ("year", "last_number")
    readonly_fields = fields
    verbose_name = _("counter")
    verbose_name_plural = _("counters (the last number given per year; never edited)")


class NumberSeriesForm(ModelForm[NumberSeries]):
    """The series' number format, stored on the vendor record."""

    number_format = forms.CharField(
        label=_("number format"),
        max_length=50,
        help_text=_(
            "Must contain {seq} (the running number, e.g. {seq:06} for six digits) and may contain {year}. "
            "Without {year} the numbers of a new year repeat those of the last one, so keep it."
        ),
    )

    class Meta:
        model = NumberSeries
        fields: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = FORMAT_FIELDS.get(self.instance.code)
        vendor = Vendor.objects.first()
        if field and vendor is not None:
            self.fields["number_format"].initial = getattr(vendor, field)

    def clean_number_format(self) -> str:
        try:
            return services.clean_number_format(self.cleaned_data["number_format"])
        except KontoError as error:
            raise forms.ValidationError(str(error.message), code=error.code) from None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.instance.code not in FORMAT_FIELDS:
            raise forms.ValidationError(gettext("This series has no configurable format."))
        if Vendor.objects.first() is None:
            raise forms.ValidationError(gettext("Enter the vendor's company data first."))
        return cleaned


def _format_subquery(field: str) -> Subquery:
    return Subquery(Vendor.objects.order_by("pk").values(field)[:1], output_field=CharField())


@admin.register(NumberSeries, site=backoffice_site)
class NumberSeriesAdmin(ModelAdmin[NumberSeries]):
    """The invoice and credit-note number series: their format is editable, their counters are not."""

    form = NumberSeriesForm
    list_display = ("code", "number_format", "last_number_this_year")
    fields = ("code", "number_format")
    readonly_fields = ("code",)
    inlines = (NumberCounterInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[NumberSeries]:
        year = timezone.localdate().year
        counters = NumberCounter.objects.filter(series=OuterRef("pk"), year=year).values("last_number")[:1]
        return (
            super()
            .get_queryset(request)
            .annotate(
                invoice_format=_format_subquery("invoice_number_format"),
                credit_note_format=_format_subquery("credit_note_number_format"),
                this_year=Coalesce(Subquery(counters, output_field=IntegerField()), Value(0)),
            )
        )

    @admin.display(description=_("number format"))
    def number_format(self, series: NumberSeries) -> str:
        if series.code == NumberSeries.INVOICE:
            return str(getattr(series, "invoice_format", "") or "")
        if series.code == NumberSeries.CREDIT_NOTE:
            return str(getattr(series, "credit_note_format", "") or "")
        return "—"

    @admin.display(description=_("last number this year"))
    def last_number_this_year(self, series: NumberSeries) -> int:
        return int(getattr(series, "this_year", 0))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # series are created on first use by the numbering service

    def has_delete_permission(self, request: HttpRequest, obj: NumberSeries | None = None) -> bool:
        return False  # issued numbers refer to them

    def save_model(self, request: HttpRequest, obj: NumberSeries, form: ModelForm[NumberSeries], change: bool) -> None:
        if "number_format" in form.changed_data:
            services.set_number_format(
                series=obj.code, number_format=form.cleaned_data["number_format"], actor=actor_from_request(request)
            )
