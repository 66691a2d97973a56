"""Paying open invoices in My Account: choose, review the summary, pay once; the result and the payments history.

The summary is rendered with a fresh idempotency key; the confirmation passes
it to `payments.services.pay.pay_invoices`, which pays at most once per key:
a double click, a reload or a second tab gets the first payment back. Whether
and how much may be paid, the oldest-first allocation and the receipt email
are the service's; this module asks, shows and redirects.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from konto.accounts.actors import actor_from_request
from konto.accounts.models import Org
from konto.accounts.permissions import MANAGE_PAYMENT_METHODS, PAY_INVOICES
from konto.billing.models import Invoice
from konto.billing.selectors import display_status
from konto.core.exceptions import KontoError, NotFound
from konto.core.forms import add_service_error
from konto.core.money import ZERO
from konto.payments import selectors
from konto.payments.models import MethodKind, Payment, PaymentMethod, PaymentStatus
from konto.payments.services import ledger, pay
from konto.portal.access import MyAccountMixin
from konto.portal.forms.payments import PayConfirmForm, PaySelectionForm
from konto.portal.templatetags.konto_format import request_locale
from konto.portal.views.payment_methods import method_label, transfer_account

PAGE_SIZE = 25
CHARGEABLE_KINDS = frozenset({MethodKind.CARD, MethodKind.SEPA_DEBIT})
SELECT_OVERDUE = "overdue"  # ?select=overdue preselects the overdue invoices (the overdue banner's link)

# Why a card payment failed, by the gateway's stable code; the gateway's own text is English. SEPA returns
# have their reasons in payments.services.pay.
FAILURE_REASONS: dict[str, Promise] = {
    "card_declined": gettext_lazy("The card was declined by the card issuer."),
    "insufficient_funds": gettext_lazy("The card has insufficient funds."),
    "expired_card": gettext_lazy("The card has expired."),
    "incorrect_cvc": gettext_lazy("The card's security code was wrong."),
    "processing_error": gettext_lazy("The payment provider could not process the card. Please try again."),
    "authentication_failed": gettext_lazy("The 3-D Secure confirmation failed or was cancelled."),
    "authentication_required": gettext_lazy("The card issuer asks for a 3-D Secure confirmation."),
    "not_found": gettext_lazy("The payment provider did not receive the payment; nothing was charged."),
    "gateway_unavailable": gettext_lazy("The payment provider could not be reached; nothing was charged."),
    "method_unusable": gettext_lazy("This card can no longer be used. Please add a new card."),
}


def failure_reason(code: str, kind: str = MethodKind.CARD) -> str:
    """The translated reason for a failure code; an unknown code still gets a sentence, with the code."""
    if kind == MethodKind.SEPA_DEBIT and code not in FAILURE_REASONS:
        return pay.sepa_return_reason(code)
    if code in FAILURE_REASONS:
        return str(FAILURE_REASONS[code])
    if code:
        return _("The payment could not be completed (code %(code)s).") % {"code": code}
    return _("The payment could not be completed.")


def chargeable_methods(methods: list[PaymentMethod]) -> list[PaymentMethod]:
    """The org's active cards and SEPA mandates, the default first (bank transfer is paid by the customer)."""
    return sorted(
        (
            method
            for method in methods
            if method.kind in CHARGEABLE_KINDS and method.status == PaymentMethod.Status.ACTIVE
        ),
        key=lambda method: not method.is_default,
    )


@dataclass(frozen=True)
class OpenRow:
    """An open invoice as the selection table shows it."""

    invoice: Invoice
    status: str  # open | overdue
    is_selected: bool
    is_in_flight: bool  # a payment for it is on its way (pending, awaiting confirmation, unknown): not payable now


@dataclass(frozen=True)
class AllocationRow:
    """What one invoice receives of the amount to pay, and what stays open."""

    invoice: Invoice
    status: str
    amount: Decimal  # gross allocated to this invoice
    remaining: Decimal  # the invoice's open amount after this payment


def allocation_rows(invoices: list[Invoice], amount: Decimal, today: date) -> list[AllocationRow]:
    """How `pay_invoices` will spread `amount` over the selected invoices (its own rule, oldest first)."""
    plan = {invoice.pk: part for invoice, part in ledger.allocate_oldest_first(invoices, amount)}
    return [
        AllocationRow(
            invoice,
            display_status(invoice, today=today),
            plan.get(invoice.pk, ZERO),
            invoice.open_amount - plan.get(invoice.pk, ZERO),
        )
        for invoice in invoices
    ]


@dataclass(frozen=True)
class PaymentRow:
    payment: Payment
    method_label: str
    invoices: list[Invoice]


def payment_method_label(payment: Payment) -> str:
    if payment.method is not None:
        return method_label(payment.method)
    return str(MethodKind(payment.kind).label) if payment.kind in MethodKind.values else payment.kind


def action_return_url(request: HttpRequest, idempotency_key: str) -> str:
    """Where the gateway's 3-D Secure page sends the browser back; the key names the payment (and only this org's)."""
    query = urlencode({"key": idempotency_key})
    return request.build_absolute_uri(f"{reverse('portal:payment_action_return')}?{query}")


@dataclass(frozen=True)
class InvoicePaymentRow:
    """A payment as the invoice page lists it: the part of it that went to this invoice."""

    payment: Payment
    amount: Decimal  # gross allocated to the invoice
    method_label: str


def invoice_payment_rows(*, org: Org, invoice: Invoice) -> list[InvoicePaymentRow]:
    """The payments allocated to `invoice`, newest first, for the invoice page."""
    return [
        InvoicePaymentRow(allocation.payment, allocation.amount, payment_method_label(allocation.payment))
        for allocation in selectors.list_invoice_allocations(org=org, invoice=invoice)
    ]


@dataclass(frozen=True)
class BannerLink:
    url: str
    text: str


@dataclass(frozen=True)
class AccountBanner:
    """A banner above every My Account page about the org's payments (declined card, overdue, suspended)."""

    level: str  # warn | danger: the colour, always with a title and text
    title: str
    text: str
    links: tuple[BannerLink, ...] = ()


def failed_collection_banner(payment: Payment, permissions: frozenset[str]) -> AccountBanner:
    """ "Your card payment for invoice X was declined. <reason> Update your card or pay now." """
    invoices = [allocation.invoice for allocation in payment.allocations.select_related("invoice")]
    values = {
        "invoices": ", ".join(invoice.number or "" for invoice in invoices),
        "reason": failure_reason(payment.failure_code, payment.kind),
    }
    is_sepa = payment.kind == MethodKind.SEPA_DEBIT
    if is_sepa:
        title = _("Direct debit failed")
        text = _("The SEPA Direct Debit for invoice %(invoices)s failed. %(reason)s") % values
    else:
        title = _("Card payment declined")
        text = _("Your card payment for invoice %(invoices)s was declined. %(reason)s") % values
    links = []
    if MANAGE_PAYMENT_METHODS in permissions:
        text += " " + (_("Update your payment method or pay now.") if is_sepa else _("Update your card or pay now."))
        links.append(
            BannerLink(reverse("portal:payment"), _("Update payment method") if is_sepa else _("Update your card"))
        )
    elif PAY_INVOICES in permissions:
        text += " " + _("Pay now with another payment method.")
    if PAY_INVOICES in permissions:
        query = urlencode([("invoice", invoice.public_id) for invoice in invoices])
        links.append(BannerLink(f"{reverse('portal:pay_invoices')}?{query}", _("Pay now")))
    return AccountBanner("danger", title, text, tuple(links))


def account_banners(*, org: Org, permissions: frozenset[str]) -> list[AccountBanner]:
    """The banners of the org's payment standing, most urgent first; the org's status needs no query."""
    banners = []
    can_pay = PAY_INVOICES in permissions
    if org.status == Org.Status.SUSPENDED:
        banners.append(
            AccountBanner(
                "danger",
                _("Account suspended"),
                _(
                    "Your account has been suspended because invoices remain unpaid. "
                    "Pay the open amount or contact us to restore access."
                ),
                (BannerLink(reverse("portal:pay_invoices"), _("Pay open invoices")),) if can_pay else (),
            )
        )
    elif org.status == Org.Status.OVERDUE:
        banners.append(
            AccountBanner(
                "warn",
                _("Payment overdue"),
                _("Your account is overdue: purchases are blocked until the overdue invoices are paid."),
                (BannerLink(f"{reverse('portal:pay_invoices')}?select={SELECT_OVERDUE}", _("Pay overdue invoices")),)
                if can_pay
                else (),
            )
        )
    failed = selectors.latest_failed_collection(org=org)
    if failed is not None:
        banners.append(failed_collection_banner(failed, permissions))
    return banners


class PayMixin(MyAccountMixin):
    """Pages of paying invoices and the payments history: they need Pay invoices."""

    required_permission = PAY_INVOICES

    def open_invoices(self) -> list[Invoice]:
        return list(selectors.open_invoices(org=self.org))

    def methods(self) -> list[PaymentMethod]:
        return chargeable_methods(list(selectors.list_payment_methods(org=self.org)))

    def selection_form(
        self, data: Any, open_invoices: list[Invoice], methods: list[PaymentMethod], **kwargs: Any
    ) -> PaySelectionForm:
        return PaySelectionForm(
            data,
            org=self.org,
            open_invoices=open_invoices,
            methods=methods,
            locale=request_locale(self.request),
            **kwargs,
        )

    def render_selection(
        self,
        form: PaySelectionForm,
        *,
        selected: set[str],
        status: int = 200,
        notice: str = "",
    ) -> HttpResponse:
        today = timezone.localdate()
        in_flight = ledger.in_flight_invoice_ids([invoice.pk for invoice in form.open_invoices])
        rows = [
            OpenRow(
                invoice,
                display_status(invoice, today=today),
                invoice.public_id in selected and invoice.pk not in in_flight,
                invoice.pk in in_flight,
            )
            for invoice in form.open_invoices
        ]
        currency = form.open_invoices[0].currency if form.open_invoices else self.org.currency
        if form.is_bound:
            chosen_method = str(form.data.get("method", ""))
            is_partial = bool(form.data.get("is_partial"))
        else:
            chosen_method = str(form.initial.get("method", ""))
            is_partial = False
        context = {
            "form": form,
            "rows": rows,
            "currency": currency,
            "selected_total": sum((row.invoice.open_amount for row in rows if row.is_selected), ZERO),
            "methods": [(method, method_label(method)) for method in form.methods],
            "chosen_method": chosen_method or (form.methods[0].public_id if form.methods else ""),
            "is_partial": is_partial,
            "transfer_account": transfer_account(self.org) if not form.methods else None,
            "can_manage_methods": MANAGE_PAYMENT_METHODS in self.permissions,
            "notice": notice,
        }
        return render(self.request, "portal/payment/pay_select.html", context, status=status)

    def render_summary(self, form: PaySelectionForm, *, warning: str = "") -> HttpResponse:
        data = form.cleaned_data
        method: PaymentMethod = data["payment_method"]
        charge: Decimal = data["charge_amount"]
        context = {
            "rows": allocation_rows(data["invoices"], charge, timezone.localdate()),
            "total": data["total"],
            "charge_amount": charge,
            "is_partial": charge != data["total"],
            "currency": data["currency"],
            "method": method,
            "method_label": method_label(method),
            "is_sepa": method.kind == MethodKind.SEPA_DEBIT,
            # A new key per rendered summary: a double click, a reload or a second tab pays once.
            "idempotency_key": uuid.uuid4().hex,
            "invoice_ids": [invoice.public_id for invoice in data["invoices"]],
            "warning": warning,
        }
        response = render(self.request, "portal/payment/pay_summary.html", context)
        add_never_cache_headers(response)
        return response


def only_error(form: PaySelectionForm) -> PaySelectionForm:
    """The bound form, validated, without its own errors: the refusal about to be added says what is wrong."""
    form.is_valid()
    form.errors.clear()
    return form


class PayInvoicesView(PayMixin, View):
    """Choose open invoices (oldest due first), a payment method and optionally a different amount."""

    def get(self, request: HttpRequest) -> HttpResponse:
        today = timezone.localdate()
        open_invoices = self.open_invoices()
        open_ids = [invoice.public_id for invoice in open_invoices]
        asked = [str(public_id)[:40] for public_id in request.GET.getlist("invoice")]
        notice = ""
        if request.GET.get("select") == SELECT_OVERDUE:
            selected = {
                invoice.public_id for invoice in open_invoices if display_status(invoice, today=today) == "overdue"
            }
        elif asked:
            selected = set(asked) & set(open_ids)
            if len(selected) < len(set(asked)):
                notice = _("An invoice from your link is not open any more. Choose from your open invoices below.")
        else:
            selected = set(open_ids)
        methods = self.methods()
        initial = {"invoice_ids": [i for i in open_ids if i in selected]}
        if methods:
            initial["method"] = methods[0].public_id
        form = self.selection_form(None, open_invoices, methods, initial=initial)
        return self.render_selection(form, selected=selected, notice=notice)

    def post(self, request: HttpRequest) -> HttpResponse:
        form = self.selection_form(request.POST, self.open_invoices(), self.methods())
        if not form.is_valid() or form.cleaned_data.get("payment_method") is None:
            if form.is_valid():  # valid, but nothing to pay with: say so
                form.add_error(None, _("Add a card or a SEPA Direct Debit mandate to pay online."))
            return self.render_selection(form, selected=set(request.POST.getlist("invoice_ids")), status=422)
        return self.render_summary(form)


class PayConfirmView(PayMixin, View):
    """The summary's one button: pay once per idempotency key, then the result (or the 3-D Secure page)."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponseBase:
        confirm = PayConfirmForm(request.POST)
        open_invoices = self.open_invoices()
        methods = self.methods()
        selection = self.selection_form(confirm.selection_data(), open_invoices, methods)
        if not confirm.is_valid():
            # No usable key or amount: never charge blind; show the summary (or the choice) again.
            if selection.is_valid() and selection.cleaned_data.get("payment_method") is not None:
                return self.render_summary(
                    selection, warning=_("Please check the amounts and confirm again. Nothing has been charged yet.")
                )
            return self.render_selection(selection, selected=set(selection.data.get("invoice_ids", [])), status=422)
        data = confirm.cleaned_data
        try:
            method = selectors.get_payment_method(org=self.org, public_id=data["method"])
        except (ObjectDoesNotExist, NotFound):
            only_error(selection).add_error("method", _("Choose one of your payment methods."))
            return self.render_selection(selection, selected=set(data["invoice_ids"]), status=422)
        try:
            result = pay.pay_invoices(
                org=self.org,
                invoice_ids=data["invoice_ids"],
                idempotency_key=data["idempotency_key"],
                actor=actor_from_request(request),
                method=method,
                amount=data["amount"],
                return_url=action_return_url(request, data["idempotency_key"]),
            )
        except KontoError as error:
            if "amount" in error.fields and not request.POST.get("is_partial"):
                # The whole open amount was asked for (the amount field is not shown): say it above the form.
                only_error(selection).add_error(None, str(error.message))
            else:
                add_service_error(only_error(selection), error)
            return self.render_selection(selection, selected=set(data["invoice_ids"]), status=error.status)
        payment = result.payment
        if payment.status == PaymentStatus.REQUIRES_ACTION and payment.action_url:
            return redirect(payment.action_url)
        if result.is_replay:
            messages.info(request, _("This payment had already been submitted. Nothing was charged twice."))
        return redirect("portal:payment_detail", public_id=payment.public_id)


class PaymentActionReturnView(PayMixin, View):
    """Where the 3-D Secure page returns (?key=<idempotency key>): ask the gateway how it ended, show the payment."""

    def get(self, request: HttpRequest) -> HttpResponseBase:
        key = str(request.GET.get("key", ""))[:255]
        payment = selectors.list_payments(org=self.org).filter(idempotency_key=key).first() if key else None
        if payment is None:
            raise Http404("Payment not found.")
        if payment.status == PaymentStatus.REQUIRES_ACTION:
            try:
                payment = pay.confirm_payment_action(org=self.org, payment=payment, actor=actor_from_request(request))
            except KontoError as error:
                messages.error(request, str(error.message))
        return redirect("portal:payment_detail", public_id=payment.public_id)


def payment_or_404(org: Org, public_id: str) -> Payment:
    try:
        return selectors.get_payment(org=org, public_id=public_id)
    except (ObjectDoesNotExist, NotFound):
        raise Http404("Payment not found.") from None


class PaymentDetailView(PayMixin, View):
    """One payment: what happened, to which invoices it went, what is still open."""

    def get(self, request: HttpRequest, public_id: str) -> HttpResponse:
        payment = payment_or_404(self.org, public_id)
        today = timezone.localdate()
        allocations = [
            (allocation, display_status(allocation.invoice, today=today)) for allocation in payment.allocations.all()
        ]
        context = {
            "payment": payment,
            "method_label": payment_method_label(payment),
            "allocations": allocations,
            "failure_reason": failure_reason(payment.failure_code, payment.kind)
            if payment.status == PaymentStatus.FAILED
            else "",
            "can_retry": payment.status == PaymentStatus.FAILED
            and any(invoice_status in ("open", "overdue") for _allocation, invoice_status in allocations),
            "retry_query": urlencode([("invoice", allocation.invoice.public_id) for allocation, _s in allocations]),
            "can_manage_methods": MANAGE_PAYMENT_METHODS in self.permissions,
        }
        response = render(request, "portal/payment/payments_detail.html", context)
        add_never_cache_headers(response)
        return response


class PaymentListView(PayMixin, View):
    """The org's payments, newest first, 25 per page."""

    def get(self, request: HttpRequest) -> HttpResponse:
        page = Paginator(selectors.list_payments(org=self.org), PAGE_SIZE).get_page(request.GET.get("page"))
        rows = [
            PaymentRow(
                payment,
                payment_method_label(payment),
                [allocation.invoice for allocation in payment.allocations.all()],
            )
            for payment in page.object_list
        ]
        context = {"rows": rows, "page": page, "payment_tab": "payments"}
        return render(request, "portal/payment/payments_list.html", context)
