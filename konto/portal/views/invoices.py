"""Invoices in My Account: list and detail, document downloads, emailing and share links, invoice recipients.

The public share page (/share/<token>/) lives here too: it needs no login,
shows one invoice read-only, and every open is counted and audited by
`billing.services.sharing.open_share_link`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views import View

from konto.accounts.actors import actor_from_request
from konto.accounts.permissions import MANAGE_BILLING_CONTACTS, PAY_INVOICES, VIEW_INVOICES
from konto.billing import selectors
from konto.billing.exceptions import InvalidInput, KontoError, NotFound
from konto.billing.models import (
    CreditNote,
    DocumentKind,
    Invoice,
    InvoiceLine,
    InvoiceRecipient,
    InvoiceTax,
    ShareLink,
    StoredDocument,
)
from konto.billing.services import sharing
from konto.core.exceptions import KontoError as CoreKontoError
from konto.core.forms import add_service_error
from konto.portal.access import MyAccountMixin
from konto.portal.forms.invoices import InvoiceEmailForm, InvoiceFilterForm, InvoiceRecipientForm, ShareLinkForm
from konto.portal.views.payments import invoice_payment_rows
from konto.portal.views.settings import SettingsMixin

PAGE_SIZE = 25
ONE_DAY = timedelta(days=1)  # service periods end exclusively; pages show the last day


@dataclass(frozen=True)
class InvoiceRow:
    invoice: Invoice
    status: str  # shown status: open, overdue, paid, void, uncollectible

    @property
    def period_last_day(self) -> date:
        return self.invoice.period_end - ONE_DAY  # period_end is exclusive


@dataclass(frozen=True)
class LineRow:
    line: InvoiceLine
    last_day: date  # the service period's last day, inclusive
    rate: Decimal  # VAT rate as a ratio, 0.19


@dataclass(frozen=True)
class TaxRow:
    tax: InvoiceTax
    rate: Decimal  # as a ratio


def line_rows(invoice: Invoice) -> list[LineRow]:
    return [LineRow(line, line.period_end - ONE_DAY, line.tax_rate / 100) for line in invoice.lines.all()]


def tax_rows(invoice: Invoice) -> list[TaxRow]:
    return [TaxRow(tax, tax.tax_rate / 100) for tax in invoice.taxes.all()]


@dataclass(frozen=True)
class ShareLinkRow:
    link: ShareLink
    now: datetime

    @property
    def status(self) -> str:
        if self.link.revoked_at is not None:
            return "revoked"
        return "expired" if self.link.expires_at <= self.now else "active"


def invoice_or_404(org: Any, public_id: str) -> Invoice:
    try:
        return selectors.get_invoice(org=org, public_id=public_id)
    except NotFound:
        raise Http404("Invoice not found.") from None


def download_response(document: StoredDocument) -> FileResponse:
    content_type = "application/pdf" if document.kind == DocumentKind.PDF else "application/xml"
    response = FileResponse(
        document.file.open("rb"), as_attachment=True, filename=document.filename, content_type=content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


def not_stored_response(request: HttpRequest, *, number: str, back_url: str) -> HttpResponse:
    context = {"number": number, "back_url": back_url}
    return render(request, "portal/invoices/not_stored.html", context, status=404)


class InvoiceListView(MyAccountMixin, View):
    """Issued invoices with filters, search and 25 per page, and the org's credit notes; constant queries."""

    required_permission = VIEW_INVOICES
    template_name = "portal/invoices/list.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        today = timezone.localdate()
        form = InvoiceFilterForm(request.GET if request.GET.keys() - {"page"} else None)
        filters = form.filters()
        invoices = selectors.filter_invoices(org=self.org, today=today, **filters)
        page = Paginator(invoices, PAGE_SIZE).get_page(request.GET.get("page"))
        rows = [InvoiceRow(invoice, selectors.display_status(invoice, today=today)) for invoice in page.object_list]
        query = request.GET.copy()
        query.pop("page", None)
        context = {
            "form": form,
            "rows": rows,
            "page": page,
            "query": query.urlencode(),
            "is_filtered": any(filters.values()),
            "credit_notes": list(selectors.list_credit_notes(org=self.org)),
        }
        return render(request, self.template_name, context)


class InvoiceDetailMixin(MyAccountMixin):
    required_permission = VIEW_INVOICES

    def detail_response(
        self,
        invoice: Invoice,
        *,
        email_form: InvoiceEmailForm | None = None,
        share_form: ShareLinkForm | None = None,
        status: int = 200,
    ) -> HttpResponse:
        today = timezone.localdate()
        now = timezone.now()
        documents = selectors.stored_document_kinds(org=self.org, invoice=invoice)
        credit_notes = list(invoice.credit_notes.all())
        context = {
            "invoice": invoice,
            "status": selectors.display_status(invoice, today=today),
            "period_last_day": invoice.period_end - ONE_DAY,
            "lines": line_rows(invoice),
            "taxes": tax_rows(invoice),
            "credit_notes": credit_notes,
            "pdf": documents.get(DocumentKind.PDF),
            "xml": documents.get(DocumentKind.XML),
            "is_xrechnung": sharing.is_xrechnung(invoice),
            "share_links": [
                ShareLinkRow(link, now) for link in selectors.list_share_links(org=self.org, invoice=invoice)
            ],
            "email_form": email_form or InvoiceEmailForm(),
            "share_form": share_form or ShareLinkForm(),
            # Paying (konto.portal.views.payments): the Pay button and the payments that went to this invoice.
            "is_payable": PAY_INVOICES in self.permissions
            and invoice.status == Invoice.Status.OPEN
            and invoice.open_amount > 0,
            "payment_allocations": invoice_payment_rows(org=self.org, invoice=invoice),
        }
        return render(self.request, "portal/invoices/detail.html", context, status=status)


class InvoiceDetailView(InvoiceDetailMixin, View):
    """One invoice: lines with service periods, VAT per rate, totals, payments, credit notes, documents, sharing."""

    def get(self, request: HttpRequest, public_id: str) -> HttpResponse:
        return self.detail_response(invoice_or_404(self.org, public_id))


class InvoiceDownloadView(MyAccountMixin, View):
    """The stored PDF or XML of an invoice; a clear 404 page while it is not stored yet."""

    required_permission = VIEW_INVOICES

    def get(self, request: HttpRequest, public_id: str, kind: str) -> HttpResponseBase:
        invoice = invoice_or_404(self.org, public_id)
        if kind not in DocumentKind.values:
            raise Http404("Unknown document.")
        document = selectors.stored_document(org=self.org, kind=kind, invoice=invoice)
        if document is None:
            back = reverse("portal:invoice_detail", kwargs={"public_id": invoice.public_id})
            return not_stored_response(request, number=invoice.number or "", back_url=back)
        return download_response(document)


class CreditNoteDownloadView(MyAccountMixin, View):
    required_permission = VIEW_INVOICES

    def get(self, request: HttpRequest, public_id: str, kind: str) -> HttpResponseBase:
        try:
            credit_note: CreditNote = selectors.get_credit_note(org=self.org, public_id=public_id)
        except NotFound:
            raise Http404("Credit note not found.") from None
        if kind not in DocumentKind.values:
            raise Http404("Unknown document.")
        document = selectors.stored_document(org=self.org, kind=kind, credit_note=credit_note)
        if document is None:
            return not_stored_response(request, number=credit_note.number, back_url=reverse("portal:invoices"))
        return download_response(document)


class InvoiceEmailView(InvoiceDetailMixin, View):
    """Email the invoice's document to 1–10 addresses with an optional message."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, public_id: str) -> HttpResponse:
        invoice = invoice_or_404(self.org, public_id)
        form = InvoiceEmailForm(request.POST)
        form.is_valid()
        try:
            sent_to = sharing.email_invoice(
                invoice=invoice,
                actor=actor_from_request(request),
                addresses=sharing.split_addresses(form.cleaned_data.get("addresses", "")),
                message=form.cleaned_data.get("message", ""),
            )
        except InvalidInput as error:
            add_service_error(form, error)
            return self.detail_response(invoice, email_form=form, status=422)
        except KontoError as error:
            form.add_error(None, str(error.message))
            return self.detail_response(invoice, email_form=form, status=409)
        messages.success(
            request,
            _("Invoice %(number)s has been sent to %(addresses)s.")
            % {"number": invoice.number, "addresses": ", ".join(sent_to)},
        )
        return redirect("portal:invoice_detail", public_id=invoice.public_id)


class ShareLinkCreateView(InvoiceDetailMixin, View):
    """Create a share link; its URL is shown once on the result page and never stored."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, public_id: str) -> HttpResponse:
        invoice = invoice_or_404(self.org, public_id)
        form = ShareLinkForm(request.POST)
        form.is_valid()
        try:
            link, token = sharing.create_share_link(
                invoice=invoice,
                actor=actor_from_request(request),
                expires_in_days=form.cleaned_data.get("expires_in_days", ""),
            )
        except InvalidInput as error:
            add_service_error(form, error)
            return self.detail_response(invoice, share_form=form, status=422)
        url = request.build_absolute_uri(reverse("portal:shared_invoice", kwargs={"token": token}))
        response = render(
            request, "portal/invoices/share_link_created.html", {"invoice": invoice, "link": link, "url": url}
        )
        add_never_cache_headers(response)
        return response


class ShareLinkRevokeView(MyAccountMixin, View):
    required_permission = VIEW_INVOICES
    http_method_names = ["post"]

    def post(self, request: HttpRequest, public_id: str, link_id: str) -> HttpResponse:
        invoice = invoice_or_404(self.org, public_id)
        if not ShareLink.objects.filter(org=self.org, invoice=invoice, public_id=link_id).exists():
            raise Http404("Share link not found.")
        sharing.revoke_share_link(org=self.org, actor=actor_from_request(request), public_id=link_id)
        messages.success(request, _("The share link has been revoked; it no longer opens the invoice."))
        return redirect("portal:invoice_detail", public_id=invoice.public_id)


# ---------------------------------------------------------------- the public share page


def _share_failure(request: HttpRequest, error: CoreKontoError) -> HttpResponse:
    response = render(request, "portal/invoices/share_invalid.html", {"hide_nav": True}, status=error.status)
    add_never_cache_headers(response)
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _private(response: HttpResponse) -> HttpResponse:
    add_never_cache_headers(response)
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response


class SharedInvoiceView(View):
    """The read-only invoice summary behind a share link; no login, every open audited."""

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        try:
            link = sharing.open_share_link(token=token, actor=actor_from_request(request), what="page")
        except (sharing.ShareLinkInvalid, sharing.ShareLinkGone) as error:
            return _share_failure(request, error)
        invoice = selectors.get_invoice(org=link.invoice.org, public_id=link.invoice.public_id)
        context = {
            "hide_nav": True,
            "invoice": invoice,
            "org": invoice.org,
            "link": link,
            "token": token,
            "status": selectors.display_status(invoice, today=timezone.localdate()),
            "period_last_day": invoice.period_end - ONE_DAY,
            "lines": line_rows(invoice),
            "taxes": tax_rows(invoice),
            "has_pdf": StoredDocument.objects.filter(invoice=invoice, kind=DocumentKind.PDF).exists(),
        }
        return _private(render(request, "portal/invoices/shared.html", context))


class SharedInvoiceDownloadView(View):
    def get(self, request: HttpRequest, token: str) -> HttpResponseBase:
        try:
            link = sharing.open_share_link(token=token, actor=actor_from_request(request), what="pdf")
        except (sharing.ShareLinkInvalid, sharing.ShareLinkGone) as error:
            return _share_failure(request, error)
        document = StoredDocument.objects.filter(invoice=link.invoice, kind=DocumentKind.PDF).first()
        if document is None:
            back = reverse("portal:shared_invoice", kwargs={"token": token})
            return _private(not_stored_response(request, number=link.invoice.number or "", back_url=back))
        response = download_response(document)
        response["Cache-Control"] = "no-store"
        response["Referrer-Policy"] = "no-referrer"
        return response


# ---------------------------------------------------------------- Settings → Invoice recipients


class InvoiceRecipientListView(SettingsMixin, View):
    """Who receives the org's invoices by email and in which format; add a recipient."""

    required_permission = MANAGE_BILLING_CONTACTS
    settings_tab = "invoice_recipients"
    template_name = "portal/invoices/recipients.html"

    def render_list(self, form: InvoiceRecipientForm, status: int = 200) -> HttpResponse:
        recipients = list(selectors.recipients_for(self.org))
        context = self.settings_context(
            form=form,
            recipients=recipients,
            max_recipients=sharing.MAX_RECIPIENTS,
            is_full=len(recipients) >= sharing.MAX_RECIPIENTS,
        )
        return render(self.request, self.template_name, context, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.render_list(InvoiceRecipientForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = InvoiceRecipientForm(request.POST)
        form.is_valid()
        data = form.cleaned_data
        try:
            recipient = sharing.add_invoice_recipient(
                org=self.org,
                actor=actor_from_request(request),
                email=data.get("email", ""),
                name=data.get("name", ""),
                format=data.get("format", ""),
            )
        except InvalidInput as error:
            add_service_error(form, error)
            return self.render_list(form, status=422)
        messages.success(request, _("%(email)s now receives invoices.") % {"email": recipient.email})
        return redirect("portal:invoice_recipients")


class InvoiceRecipientEditView(SettingsMixin, View):
    required_permission = MANAGE_BILLING_CONTACTS
    settings_tab = "invoice_recipients"
    template_name = "portal/invoices/recipient_edit.html"

    def recipient(self, public_id: str) -> InvoiceRecipient:
        try:
            return selectors.get_invoice_recipient(org=self.org, public_id=public_id)
        except NotFound:
            raise Http404("Invoice recipient not found.") from None

    def render_form(self, recipient: InvoiceRecipient, form: InvoiceRecipientForm, status: int = 200) -> HttpResponse:
        return render(
            self.request, self.template_name, self.settings_context(form=form, recipient=recipient), status=status
        )

    def get(self, request: HttpRequest, public_id: str) -> HttpResponse:
        recipient = self.recipient(public_id)
        initial = {"email": recipient.email, "name": recipient.name, "format": recipient.format}
        return self.render_form(recipient, InvoiceRecipientForm(initial=initial))

    def post(self, request: HttpRequest, public_id: str) -> HttpResponse:
        recipient = self.recipient(public_id)
        form = InvoiceRecipientForm(request.POST)
        form.is_valid()
        data = form.cleaned_data
        try:
            sharing.update_invoice_recipient(
                org=self.org,
                actor=actor_from_request(request),
                public_id=recipient.public_id,
                email=data.get("email", ""),
                name=data.get("name", ""),
                format=data.get("format", ""),
            )
        except InvalidInput as error:
            add_service_error(form, error)
            return self.render_form(recipient, form, status=422)
        messages.success(request, _("The invoice recipient has been saved."))
        return redirect("portal:invoice_recipients")


class InvoiceRecipientRemoveView(SettingsMixin, View):
    required_permission = MANAGE_BILLING_CONTACTS
    http_method_names = ["post"]

    def post(self, request: HttpRequest, public_id: str) -> HttpResponse:
        try:
            recipient = sharing.remove_invoice_recipient(
                org=self.org, actor=actor_from_request(request), public_id=public_id
            )
        except NotFound:
            raise Http404("Invoice recipient not found.") from None
        messages.success(request, _("%(email)s no longer receives invoices.") % {"email": recipient.email})
        return redirect("portal:invoice_recipients")
