"""Payments in the back office: payments and refunds, payment methods (masked), SEPA files and bank statements.

Nothing here is edited through the admin's forms. "Refund", "Export due
collections", "Upload bank statement", "Assign to invoice" and "Ignore" call
the payment services (each its own durable transaction with an audit event);
a refusal is shown on the form with nothing changed. Those are billing
operations' work; other staff roles with view rights only look. A full IBAN
is never shown: payment methods and statement lines are masked, and the
SEPA file (which must carry full IBANs for the bank) is only downloaded by
billing operations.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext, pgettext
from django.utils.translation import gettext_lazy as _
from lxml import etree

from konto.accounts.actors import actor_from_request
from konto.backoffice.admin._common import ReadOnlyAdminMixin
from konto.backoffice.admin_site import backoffice_site
from konto.backoffice.generics import ModelAdmin, TabularInline
from konto.billing.models import Invoice
from konto.core.exceptions import KontoError
from konto.core.forms import add_service_error
from konto.payments.models import (
    BankStatement,
    BankStatementLine,
    Payment,
    PaymentAllocation,
    PaymentMethod,
    Refund,
    SepaExport,
)
from konto.payments.services.camt import (
    MAX_STATEMENT_BYTES,
    assign_statement_line,
    ignore_statement_line,
    import_bank_statement,
    mask_iban,
)
from konto.payments.services.refunds import REFUNDABLE, refund_payment
from konto.payments.services.sepa_export import export_sepa_collections, payment_public_id

FORM_TEMPLATE = "backoffice/payments_form.html"


class _ReadOnlyInline(ReadOnlyAdminMixin):
    extra = 0
    can_delete = False
    show_change_link = False


def _link(url_name: str, pk: int, text: str) -> SafeString:
    return format_html('<a href="{}">{}</a>', reverse(url_name, args=[pk]), text)


def _shown(names: Sequence[str], *, link: str, may_use: bool) -> tuple[str, ...]:
    """`names` without the column `link` for staff who may not use the form it links to (a link to a refusal)."""
    return tuple(name for name in names if may_use or name != link)


def method_summary(method: PaymentMethod | None) -> str:
    """How a payment method is shown to staff: card brand and last 4, or the masked IBAN and mandate."""
    if method is None:
        return "—"
    if method.kind == PaymentMethod.Kind.CARD:
        return f"{method.card_brand.title()} •••• {method.card_last4}"
    if method.kind == PaymentMethod.Kind.SEPA_DEBIT:
        return f"{method.masked_iban} ({method.mandate_reference})"
    return str(PaymentMethod.Kind(method.kind).label)


def _form_page(
    admin_: ModelAdmin[Any],
    request: HttpRequest,
    *,
    form: forms.Form,
    title: str,
    intro: str = "",
    submit: str,
    cancel_url: str,
    breadcrumb_url: str,
    is_upload: bool = False,
) -> TemplateResponse:
    context = {
        **admin_.admin_site.each_context(request),
        "title": title,
        "intro": intro,
        "form": form,
        "opts": admin_.opts,
        "submit_label": submit,
        "cancel_url": cancel_url,
        "changelist_url": breadcrumb_url,
        "is_upload": is_upload,
    }
    return TemplateResponse(request, FORM_TEMPLATE, context, status=422 if request.method == "POST" else 200)


# ---------------------------------------------------------------- payments


class PaymentAllocationInline(_ReadOnlyInline, TabularInline[PaymentAllocation, Payment]):
    model = PaymentAllocation
    fields = ("invoice_link", "amount", "is_in_flight", "is_applied")
    readonly_fields = fields
    verbose_name = _("allocation")
    verbose_name_plural = _("allocations to invoices")

    def get_queryset(self, request: HttpRequest) -> QuerySet[PaymentAllocation]:
        return super().get_queryset(request).select_related("invoice")

    @admin.display(description=_("invoice"))
    def invoice_link(self, allocation: PaymentAllocation) -> SafeString:
        return _link("admin:billing_invoice_change", allocation.invoice_id, str(allocation.invoice))


class RefundInline(_ReadOnlyInline, TabularInline[Refund, Payment]):
    model = Refund
    fields = ("public_id", "amount", "reason", "status", "created_by", "created_at")
    readonly_fields = fields
    verbose_name = _("refund")
    verbose_name_plural = _("refunds")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Refund]:
        return super().get_queryset(request).select_related("created_by")


class RefundForm(forms.Form):
    amount = forms.DecimalField(
        label=_("Amount"),
        max_digits=14,
        decimal_places=2,
        help_text=_("Gross, at most what has not been refunded yet."),
    )
    reason = forms.CharField(label=_("Reason"), max_length=300, widget=forms.Textarea(attrs={"rows": 3}))
    # One key per form shown: a double submit refunds once.
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def clean_idempotency_key(self) -> str:
        value: str = self.cleaned_data["idempotency_key"]
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise forms.ValidationError(_("The form has expired; please submit it again.")) from None


def _refundable_amount(payment: Payment) -> Decimal:
    """What is left to refund of a succeeded payment (`refund_payment` also subtracts pending refunds); else 0."""
    if payment.status not in REFUNDABLE:
        return Decimal(0)
    return payment.amount - payment.amount_refunded


@admin.register(Payment, site=backoffice_site)
class PaymentAdmin(ReadOnlyAdminMixin, ModelAdmin[Payment]):
    """Every payment with its allocations and refunds; a refund goes through `refund_payment`."""

    list_display = (
        "public_id",
        "org",
        "kind",
        "origin",
        "status",
        "amount",
        "amount_refunded",
        "currency",
        "created_at",
    )
    list_filter = ("status", "kind", "origin", "currency")
    search_fields = ("public_id", "org__legal_name", "allocations__invoice__number")
    list_select_related = ("org",)
    date_hierarchy = "created_at"
    list_per_page = 50
    fields = (
        "public_id",
        "org",
        "kind",
        "origin",
        "status",
        "payment_method",
        "amount",
        "amount_refunded",
        "currency",
        "gateway",
        "gateway_ref",
        "failure_code",
        "failure_message",
        "collection_date",
        "exported_at",
        "retry_count",
        "next_retry_on",
        "initiated_by",
        "created_at",
        "status_changed_at",
        "refund_link",
    )
    readonly_fields = fields
    inlines = (PaymentAllocationInline, RefundInline)
    actions = ("refund",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Payment]:
        return super().get_queryset(request).select_related("method", "initiated_by")

    @admin.display(description=_("payment method"))
    def payment_method(self, payment: Payment) -> str:
        return method_summary(payment.method)

    @admin.display(description=_("refund"))
    def refund_link(self, payment: Payment) -> SafeString | str:
        if _refundable_amount(payment) <= 0:
            return "—"
        return _link("admin:payments_payment_refund", payment.pk, gettext("Refund…"))

    def get_fields(self, request: HttpRequest, obj: Payment | None = None) -> Any:
        return _shown(self.fields, link="refund_link", may_use=self.has_refund_permission(request))

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.refund_view)
        return [path("<int:payment_pk>/refund/", view, name="payments_payment_refund"), *super().get_urls()]

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payments.add_refund")

    @admin.action(description=_("Refund"), permissions=["refund"])
    def refund(self, request: HttpRequest, queryset: QuerySet[Payment]) -> HttpResponseRedirect | None:
        payments = list(queryset[:2])
        if len(payments) != 1:
            self.message_user(request, gettext("Choose exactly one payment to refund."), messages.ERROR)
            return None
        return HttpResponseRedirect(reverse("admin:payments_payment_refund", args=[payments[0].pk]))

    def refund_view(self, request: HttpRequest, payment_pk: int) -> HttpResponse:
        """Refund part or all of a succeeded payment with a reason (`refund_payment`)."""
        if not self.has_refund_permission(request):
            raise PermissionDenied
        payment = get_object_or_404(Payment.objects.select_related("org"), pk=payment_pk)
        change_url = reverse("admin:payments_payment_change", args=[payment.pk])
        refundable = _refundable_amount(payment)
        if refundable <= 0:
            self.message_user(request, gettext("Only succeeded payments can be refunded."), messages.ERROR)
            return HttpResponseRedirect(change_url)
        if request.method == "POST":
            form = RefundForm(request.POST)
            if form.is_valid():
                try:
                    refund = refund_payment(
                        payment=payment,
                        amount=form.cleaned_data["amount"],
                        reason=form.cleaned_data["reason"],
                        actor=actor_from_request(request),
                        idempotency_key=f"backoffice-refund-{form.cleaned_data['idempotency_key']}",
                    )
                except KontoError as error:
                    add_service_error(form, error)
                    # A refused or failed refund may have used its key: a new attempt gets a new one.
                    form.data = {**form.data, "idempotency_key": str(uuid.uuid4())}
                else:
                    self.message_user(
                        request,
                        gettext("Refund of %(amount)s %(currency)s: %(status)s.")
                        % {
                            "amount": refund.amount,
                            "currency": payment.currency,
                            "status": Refund.Status(refund.status).label,
                        },
                        messages.SUCCESS if refund.status != Refund.Status.FAILED else messages.ERROR,
                    )
                    return HttpResponseRedirect(change_url)
        else:
            form = RefundForm(initial={"amount": refundable, "idempotency_key": str(uuid.uuid4())})
        intro = gettext(
            "%(payment)s of %(org)s: %(amount)s %(currency)s paid, %(refunded)s refunded, up to %(refundable)s "
            "%(currency)s can be refunded."
        ) % {
            "payment": payment.public_id,
            "org": payment.org,
            "amount": payment.amount,
            "refunded": payment.amount_refunded,
            "refundable": refundable,
            "currency": payment.currency,
        }
        return _form_page(
            self,
            request,
            form=form,
            title=gettext("Refund payment %(payment)s") % {"payment": payment.public_id},
            intro=intro,
            submit=gettext("Refund"),
            cancel_url=change_url,
            breadcrumb_url=reverse("admin:payments_payment_changelist"),
        )


# ---------------------------------------------------------------- payment methods


@admin.register(PaymentMethod, site=backoffice_site)
class PaymentMethodAdmin(ReadOnlyAdminMixin, ModelAdmin[PaymentMethod]):
    """Orgs' payment methods as the customer set them up; cards and IBANs masked, never edited here."""

    list_display = ("public_id", "org", "kind", "summary", "status", "is_default", "created_at")
    list_filter = ("kind", "status", "is_default")
    search_fields = ("public_id", "org__legal_name", "mandate_reference")
    list_select_related = ("org",)
    list_per_page = 50
    # Deliberately without `iban`: only the masked form is shown.
    fields = (
        "public_id",
        "org",
        "kind",
        "status",
        "is_default",
        "summary",
        "card_exp",
        "account_holder",
        "bic",
        "mandate_reference",
        "creditor_id",
        "mandate_signed_at",
        "mandate_ip",
        "mandate_user_agent",
        "mandate_text",
        "gateway",
        "created_by",
        "created_at",
        "removed_at",
    )
    readonly_fields = fields

    @admin.display(description=_("payment method"))
    def summary(self, method: PaymentMethod) -> str:
        return method_summary(method)

    @admin.display(description=_("expiry"))
    def card_exp(self, method: PaymentMethod) -> str:
        if method.card_exp_month is None or method.card_exp_year is None:
            return "—"
        return f"{method.card_exp_month:02d}/{method.card_exp_year}"


# ---------------------------------------------------------------- SEPA files


class ExportSepaForm(forms.Form):
    collection_date_until = forms.DateField(
        label=_("Collections due until"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_(
            "Every pending direct debit announced for this date or earlier goes into the file. Hand the file to "
            "the bank at least one business day before the first collection date."
        ),
    )


def _sepa_end_to_end_ids(content: bytes) -> list[str]:
    root = etree.fromstring(content, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    return [str(element.text) for element in root.iter("{*}EndToEndId") if element.text]


@admin.register(SepaExport, site=backoffice_site)
class SepaExportAdmin(ReadOnlyAdminMixin, ModelAdmin[SepaExport]):
    """pain.008 files of SEPA collections; "Export due collections" makes the next one."""

    change_list_template = "backoffice/sepaexport_change_list.html"
    list_display = (
        "message_id",
        "collection_date",
        "payments_count",
        "total_amount",
        "currency",
        "created_by",
        "created_at",
        "download",
    )
    list_select_related = ("created_by",)
    date_hierarchy = "created_at"
    search_fields = ("message_id", "public_id")
    list_per_page = 50
    fields = (
        "public_id",
        "message_id",
        "collection_date",
        "payments_count",
        "total_amount",
        "currency",
        "created_by",
        "created_at",
        "collections",
        "download",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[SepaExport]:
        return super().get_queryset(request).defer("content")

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payments.add_sepaexport")

    def get_list_display(self, request: HttpRequest) -> Any:
        return _shown(self.list_display, link="download", may_use=self.has_export_permission(request))

    def get_fields(self, request: HttpRequest, obj: SepaExport | None = None) -> Any:
        return _shown(self.fields, link="download", may_use=self.has_export_permission(request))

    @admin.display(description=_("file"))
    def download(self, export: SepaExport) -> SafeString:
        return _link("admin:payments_sepaexport_download", export.pk, f"pain008-{export.message_id}.xml")

    @admin.display(description=_("collections"))
    def collections(self, export: SepaExport) -> SafeString | str:
        content = SepaExport.objects.filter(pk=export.pk).values_list("content", flat=True).first()  # deferred
        public_ids = [payment_public_id(value) for value in _sepa_end_to_end_ids(bytes(content or b""))]
        if not public_ids:
            return "—"
        payments = Payment.objects.filter(public_id__in=public_ids).select_related("org").order_by("public_id")
        return format_html_join(
            "",
            '<div><a href="{}">{}</a> {} — {} {}</div>',
            (
                (
                    reverse("admin:payments_payment_change", args=[payment.pk]),
                    payment.public_id,
                    payment.org,
                    payment.amount,
                    payment.currency,
                )
                for payment in payments
            ),
        )

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "has_export_permission": self.has_export_permission(request)}
        return super().changelist_view(request, extra_context)

    def get_urls(self) -> list[URLPattern]:
        return [
            path("export/", self.admin_site.admin_view(self.export_view), name="payments_sepaexport_export"),
            path(
                "<int:export_pk>/download/",
                self.admin_site.admin_view(self.download_view),
                name="payments_sepaexport_download",
            ),
            *super().get_urls(),
        ]

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """Export every due SEPA collection into a new pain.008 file (`export_sepa_collections`)."""
        if not self.has_export_permission(request):
            raise PermissionDenied
        changelist_url = reverse("admin:payments_sepaexport_changelist")
        today = timezone.localdate()
        form = ExportSepaForm(
            request.POST if request.method == "POST" else None,
            initial={"collection_date_until": today + timedelta(days=5)},
        )
        if request.method == "POST" and form.is_valid():
            until = form.cleaned_data["collection_date_until"]
            try:
                export = export_sepa_collections(
                    collection_date_until=until, actor=actor_from_request(request), now=timezone.now()
                )
            except KontoError as error:
                add_service_error(form, error)
            else:
                if export is None:
                    self.message_user(
                        request,
                        gettext("No SEPA collections are due until %(date)s; no file was made.")
                        % {"date": until.isoformat()},
                        messages.WARNING,
                    )
                    return HttpResponseRedirect(changelist_url)
                self.message_user(
                    request,
                    ngettext(
                        "SEPA file %(file)s made with %(count)d collection of %(total)s %(currency)s in total. "
                        "Download it and hand it to the bank.",
                        "SEPA file %(file)s made with %(count)d collections of %(total)s %(currency)s in total. "
                        "Download it and hand it to the bank.",
                        export.payments_count,
                    )
                    % {
                        "file": f"pain008-{export.message_id}.xml",
                        "count": export.payments_count,
                        "total": export.total_amount,
                        "currency": export.currency,
                    },
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:payments_sepaexport_change", args=[export.pk]))
        return _form_page(
            self,
            request,
            form=form,
            title=gettext("Export due collections"),
            intro=gettext(
                "Makes one pain.008 file of all pending SEPA direct debits due until the date below. A collection "
                "is exported once: running this again exports only what became due since."
            ),
            submit=gettext("Export due collections"),
            cancel_url=changelist_url,
            breadcrumb_url=changelist_url,
        )

    def download_view(self, request: HttpRequest, export_pk: int) -> HttpResponse:
        """The file as made: it holds the debtors' full IBANs, so only billing operations download it."""
        if not self.has_export_permission(request):
            raise PermissionDenied
        export = get_object_or_404(SepaExport, pk=export_pk)
        response = HttpResponse(bytes(export.content), content_type="application/xml")
        response["Content-Disposition"] = f'attachment; filename="pain008-{export.message_id}.xml"'
        response["Cache-Control"] = "no-store"
        return response


# ---------------------------------------------------------------- bank statements


class UploadStatementForm(forms.Form):
    file = forms.FileField(
        label=_("camt.053 file"),
        help_text=_("The bank statement as XML (camt.053). The same statement is never imported twice."),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_STATEMENT_BYTES:  # refused before it is read into memory
            raise forms.ValidationError(_("A bank statement file can be at most 20 MB."))
        return upload


class AssignLineForm(forms.Form):
    invoice_number = forms.CharField(label=_("Invoice number"), max_length=40)

    def clean_invoice_number(self) -> Invoice:
        number = " ".join(self.cleaned_data["invoice_number"].split()).upper()
        invoice = Invoice.objects.filter(number=number).select_related("org").first()
        if invoice is None:
            raise forms.ValidationError(_("There is no invoice %(number)s."), params={"number": number})
        return invoice


class IgnoreLineForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=300, widget=forms.Textarea(attrs={"rows": 3}))


def _may_work_on_lines(request: HttpRequest) -> bool:
    return bool(request.user.has_perm("payments.change_bankstatementline"))


class _StatementLineColumns:
    """Columns a statement line shows in its statement's inline and in the lines list; the IBAN only masked.

    "work" (links to assign or ignore) is left out for staff who may not, see `_may_work_on_lines`.
    """

    @admin.display(description=_("direction"))
    def direction(self, line: BankStatementLine) -> str:
        if line.is_credit:
            return pgettext("money on a bank statement", "in")
        return pgettext("money on a bank statement", "out")

    @admin.display(description=_("payer's account"))
    def payer_account(self, line: BankStatementLine) -> str:
        return line.payer_iban_masked or "—"  # stored masked only

    @admin.display(description=_("invoice"))
    def invoice_link(self, line: BankStatementLine) -> SafeString | str:
        if line.invoice_id is None:
            return "—"
        return _link("admin:billing_invoice_change", line.invoice_id, str(line.invoice))

    @admin.display(description=_("payment"))
    def payment_link(self, line: BankStatementLine) -> SafeString | str:
        if line.payment_id is None or line.payment is None:
            return "—"
        return _link("admin:payments_payment_change", line.payment_id, line.payment.public_id)

    @admin.display(description=_("to do"))
    def work(self, line: BankStatementLine) -> SafeString | str:
        if line.status != BankStatementLine.Status.UNMATCHED:
            return ""
        links = []
        if line.is_credit:
            links.append(
                (reverse("admin:payments_bankstatementline_assign", args=[line.pk]), gettext("Assign to invoice"))
            )
        links.append((reverse("admin:payments_bankstatementline_ignore", args=[line.pk]), gettext("Ignore")))
        return format_html_join(" | ", '<a href="{}">{}</a>', links)


class BankStatementLineInline(_StatementLineColumns, _ReadOnlyInline, TabularInline[BankStatementLine, BankStatement]):
    model = BankStatementLine
    fields = (
        "booking_date",
        "direction",
        "amount",
        "currency",
        "payer_name",
        "payer_account",
        "remittance",
        "status",
        "return_reason",
        "invoice_link",
        "payment_link",
        "work",
    )
    readonly_fields = fields
    verbose_name = _("line")
    verbose_name_plural = _("lines")

    def get_queryset(self, request: HttpRequest) -> QuerySet[BankStatementLine]:
        return super().get_queryset(request).select_related("invoice", "payment")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return _shown(self.fields, link="work", may_use=_may_work_on_lines(request))


@admin.register(BankStatement, site=backoffice_site)
class BankStatementAdmin(ReadOnlyAdminMixin, ModelAdmin[BankStatement]):
    """Imported camt.053 statements with their lines; "Upload bank statement" imports the next one."""

    change_list_template = "backoffice/bankstatement_change_list.html"
    list_display = (
        "statement_id",
        "account",
        "created_on",
        "lines_count",
        "matched_count",
        "unmatched",
        "imported_by",
        "imported_at",
    )
    list_select_related = ("imported_by",)
    search_fields = ("statement_id", "public_id")
    date_hierarchy = "imported_at"
    list_per_page = 50
    fields = (
        "public_id",
        "statement_id",
        "account",
        "created_on",
        "lines_count",
        "matched_count",
        "unmatched",
        "imported_by",
        "imported_at",
    )
    readonly_fields = fields
    inlines = (BankStatementLineInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[BankStatement]:
        return (
            super()
            .get_queryset(request)
            .annotate(unmatched_total=Count("lines", filter=Q(lines__status=BankStatementLine.Status.UNMATCHED)))
        )

    @admin.display(description=_("account"))
    def account(self, statement: BankStatement) -> str:
        return mask_iban(statement.account_iban) or "—"

    @admin.display(description=_("unmatched"), ordering="unmatched_total")
    def unmatched(self, statement: BankStatement) -> int:
        return int(getattr(statement, "unmatched_total", 0))

    def has_upload_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payments.add_bankstatement")

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "has_upload_permission": self.has_upload_permission(request)}
        return super().changelist_view(request, extra_context)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.upload_view)
        return [path("upload/", view, name="payments_bankstatement_upload"), *super().get_urls()]

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        """Import a camt.053 file (`import_bank_statement`); refusals are shown on the form."""
        if not self.has_upload_permission(request):
            raise PermissionDenied
        changelist_url = reverse("admin:payments_bankstatement_changelist")
        form = UploadStatementForm(
            request.POST if request.method == "POST" else None, request.FILES if request.method == "POST" else None
        )
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                statement = import_bank_statement(content=upload.read(), actor=actor_from_request(request))
            except KontoError as error:
                add_service_error(form, error)
            else:
                unmatched = statement.lines.filter(status=BankStatementLine.Status.UNMATCHED).count()
                self.message_user(
                    request,
                    gettext(
                        "Statement %(id)s imported: %(lines)d lines, %(matched)d booked, %(unmatched)d to assign "
                        "or ignore."
                    )
                    % {
                        "id": statement.statement_id,
                        "lines": statement.lines_count,
                        "matched": statement.matched_count,
                        "unmatched": unmatched,
                    },
                    messages.SUCCESS if not unmatched else messages.WARNING,
                )
                return HttpResponseRedirect(reverse("admin:payments_bankstatement_change", args=[statement.pk]))
        return _form_page(
            self,
            request,
            form=form,
            title=gettext("Upload bank statement"),
            intro=gettext(
                "Incoming transfers are booked on the invoice whose number is in the reference when the amount is "
                "at most what is open; returned direct debits reopen their invoices. Everything else is listed for "
                "you to assign or ignore."
            ),
            submit=gettext("Import"),
            cancel_url=changelist_url,
            breadcrumb_url=changelist_url,
            is_upload=True,
        )


@admin.register(BankStatementLine, site=backoffice_site)
class BankStatementLineAdmin(_StatementLineColumns, ReadOnlyAdminMixin, ModelAdmin[BankStatementLine]):
    """Every statement line; filter "Unmatched" for the ones waiting to be assigned or ignored."""

    list_display = (
        "booking_date",
        "statement",
        "direction",
        "amount",
        "currency",
        "payer_name",
        "payer_account",
        "remittance",
        "status",
        "invoice",
        "work",
    )
    list_filter = ("status", "is_credit", "currency")
    search_fields = ("remittance", "payer_name", "entry_reference", "statement__statement_id", "invoice__number")
    list_select_related = ("statement", "invoice")
    list_per_page = 100
    fields = (
        "statement",
        "entry_reference",
        "booking_date",
        "direction",
        "amount",
        "currency",
        "payer_name",
        "payer_account",
        "remittance",
        "return_reason",
        "status",
        "invoice",
        "payment",
        "work",
    )
    readonly_fields = fields

    def get_list_display(self, request: HttpRequest) -> Any:
        return _shown(self.list_display, link="work", may_use=_may_work_on_lines(request))

    def get_fields(self, request: HttpRequest, obj: BankStatementLine | None = None) -> Any:
        return _shown(self.fields, link="work", may_use=_may_work_on_lines(request))

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:line_pk>/assign/",
                self.admin_site.admin_view(self.assign_view),
                name="payments_bankstatementline_assign",
            ),
            path(
                "<int:line_pk>/ignore/",
                self.admin_site.admin_view(self.ignore_view),
                name="payments_bankstatementline_ignore",
            ),
            *super().get_urls(),
        ]

    def _line_for_work(self, request: HttpRequest, line_pk: int) -> BankStatementLine:
        if not _may_work_on_lines(request):
            raise PermissionDenied
        return get_object_or_404(BankStatementLine.objects.select_related("statement"), pk=line_pk)

    def _intro(self, line: BankStatementLine) -> str:
        return gettext("%(date)s: %(amount)s %(currency)s from %(payer)s (%(iban)s), reference “%(reference)s”.") % {
            "date": line.booking_date.isoformat(),
            "amount": line.amount,
            "currency": line.currency,
            "payer": line.payer_name or "—",
            "iban": line.payer_iban_masked or "—",
            "reference": line.remittance or "—",
        }

    def assign_view(self, request: HttpRequest, line_pk: int) -> HttpResponse:
        """Book an unmatched incoming transfer on an invoice named by its number (`assign_statement_line`)."""
        line = self._line_for_work(request, line_pk)
        statement_url = reverse("admin:payments_bankstatement_change", args=[line.statement_id])
        form = AssignLineForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            invoice = form.cleaned_data["invoice_number"]
            try:
                assign_statement_line(line=line, invoice=invoice, actor=actor_from_request(request))
            except KontoError as error:
                if not error.fields:  # payments-core's refusals (not open, more than open) are about the invoice
                    form.add_error("invoice_number", str(error.message))
                else:
                    add_service_error(form, error)
            else:
                self.message_user(
                    request,
                    gettext("%(amount)s %(currency)s booked on invoice %(invoice)s.")
                    % {"amount": line.amount, "currency": line.currency, "invoice": invoice.number},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(statement_url)
        return _form_page(
            self,
            request,
            form=form,
            title=gettext("Assign to invoice"),
            intro=self._intro(line),
            submit=gettext("Assign"),
            cancel_url=statement_url,
            breadcrumb_url=reverse("admin:payments_bankstatementline_changelist"),
        )

    def ignore_view(self, request: HttpRequest, line_pk: int) -> HttpResponse:
        """Mark an unmatched line as not Konto's business, with a reason (`ignore_statement_line`)."""
        line = self._line_for_work(request, line_pk)
        statement_url = reverse("admin:payments_bankstatement_change", args=[line.statement_id])
        form = IgnoreLineForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                ignore_statement_line(line=line, actor=actor_from_request(request), reason=form.cleaned_data["reason"])
            except KontoError as error:
                add_service_error(form, error)
            else:
                self.message_user(request, gettext("The line is ignored."), messages.SUCCESS)
                return HttpResponseRedirect(statement_url)
        return _form_page(
            self,
            request,
            form=form,
            title=gettext("Ignore statement line"),
            intro=self._intro(line),
            submit=gettext("Ignore"),
            cancel_url=statement_url,
            breadcrumb_url=reverse("admin:payments_bankstatementline_changelist"),
        )
