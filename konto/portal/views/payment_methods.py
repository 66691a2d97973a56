"""Payment methods in My Account: cards, SEPA Direct Debit mandates and bank transfer, the default, removal.

Every change goes through `payments.services.methods`; this module only asks,
shows and redirects. Card numbers never reach Konto: adding or replacing a
card sends the browser to the gateway's card page (the sandbox's own page or
Stripe's), which returns to `CardSetupReturnView`. Which setup a return
belongs to is kept in the session under a random attempt key, so two tabs
cannot mix up their cards and a card can replace only a method of this org.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views import View
from stdnum import iban as iban_numbers

from konto.accounts.actors import actor_from_request, client_ip
from konto.accounts.models import Org, User, Vendor
from konto.accounts.permissions import (
    BILLING_PERMISSIONS,
    MANAGE_PAYMENT_METHODS,
    PAY_INVOICES,
    effective_permissions,
)
from konto.billing.services.delivery import CARD_BRANDS
from konto.billing.services.invoices import VendorMissing, get_vendor
from konto.core.countries import country_name
from konto.core.exceptions import KontoError
from konto.core.forms import add_service_error
from konto.payments import selectors
from konto.payments.gateways import get_gateway
from konto.payments.gateways.sandbox import TEST_CARDS
from konto.payments.models import MethodKind, PaymentMethod
from konto.payments.services import methods
from konto.payments.services.ledger import is_card_expired
from konto.portal.access import MyAccountMixin, forbidden_response
from konto.portal.forms.payment_methods import PaymentMethodRemoveForm, SepaMandateForm

# Whoever may see the payment page; only MANAGE_PAYMENT_METHODS may change anything on it.
PAGE_PERMISSIONS = frozenset({MANAGE_PAYMENT_METHODS, PAY_INVOICES})
CARD_SETUPS_SESSION_KEY = "konto_card_setups"  # attempt key -> {"setup_ref": …, "replaces": public id or ""}
MAX_PENDING_CARD_SETUPS = 5  # older unfinished attempts are forgotten
USER_AGENT_MAX_LENGTH = 400  # PaymentMethod.mandate_user_agent


def card_brand_name(brand: str) -> str:
    """ "visa" → "Visa"; an unknown brand as the gateway names it, capitalised."""
    return CARD_BRANDS.get(brand.lower(), brand.title() or _("Card"))


def method_label(method: PaymentMethod) -> str:
    """How a payment method is named anywhere in My Account: never a card number or a full IBAN."""
    if method.kind == MethodKind.CARD:
        return f"{card_brand_name(method.card_brand)} •••• {method.card_last4}"
    if method.kind == MethodKind.SEPA_DEBIT:
        return _("SEPA Direct Debit %(iban)s") % {"iban": method.masked_iban}
    return _("Bank transfer")


def card_expiry_status(method: PaymentMethod, today: date) -> str:
    """ "expired" after the card's expiry month, "expiring" in that month and the one before, else ""."""
    if method.kind != MethodKind.CARD or not method.card_exp_month or not method.card_exp_year:
        return ""
    if is_card_expired(method, today):
        return "expired"
    next_month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    return "expiring" if (method.card_exp_year, method.card_exp_month) <= next_month else ""


@dataclass(frozen=True)
class MethodRow:
    method: PaymentMethod
    label: str
    expiry_status: str  # "" | "expiring" | "expired"


@dataclass(frozen=True)
class TransferAccount:
    """The vendor's account an org pays into by bank transfer."""

    account_name: str
    iban: str  # spaced for reading
    bic: str
    bank_name: str


@dataclass(frozen=True)
class CardAlert:
    """An overview banner about the default card's expiry (same fields as the overview's own alerts)."""

    level: str
    title: str
    text: str
    link_url: str
    link_text: str


def transfer_account(org: Org) -> TransferAccount | None:
    try:
        vendor: Vendor = get_vendor()
    except VendorMissing:
        return None
    # CHF invoices are paid into the Swiss account printed on their QR-bill, when the vendor has one; the
    # vendor's BIC and bank name belong to its main account (as on the invoice email and the dunning letters).
    if org.currency == "CHF" and vendor.qr_bill_iban:
        return TransferAccount(vendor.legal_name, iban_numbers.format(vendor.qr_bill_iban), "", "")
    if not vendor.iban:
        return None
    return TransferAccount(vendor.legal_name, iban_numbers.format(vendor.iban), vendor.bic, vendor.bank_name)


def edition_refusal(org: Org, kind: str) -> str:
    """The service's reason why the org's edition cannot pay with `kind` (Essentials: card only), or ""."""
    try:
        methods.check_edition_allows(org, kind)
    except KontoError as refused:
        return str(refused.message)
    return ""


def sepa_unavailable_reason(org: Org) -> str:
    """Why this org cannot give a SEPA mandate now ("" when it can), so the form is not offered in vain.

    The service refuses the same cases (`no_creditor_id`, `method_unusable`) whatever the page shows.
    """
    refusal = edition_refusal(org, MethodKind.SEPA_DEBIT)
    if refusal:
        return refusal
    try:
        vendor = get_vendor()
    except VendorMissing:
        vendor = None
    if vendor is None or not vendor.sepa_creditor_id:
        return _("SEPA Direct Debit is not available yet. Please choose another payment method.")
    if org.currency != methods.SEPA_CURRENCY:
        return _("SEPA Direct Debit is available for accounts billed in EUR only.")
    return ""


def can_see_payment_page(permissions: frozenset[str]) -> bool:
    return bool(permissions & PAGE_PERMISSIONS)


def card_expiry_alerts(*, org: Org, permissions: frozenset[str], today: date) -> list[CardAlert]:
    """A banner for the overview when the org's default card has expired or expires this or next month."""
    if not can_see_payment_page(permissions):
        return []
    method = selectors.default_payment_method(org=org)
    if method is None:
        return []
    status = card_expiry_status(method, today)
    if not status:
        return []
    values = {"card": method_label(method), "month": f"{method.card_exp_month:02d}/{method.card_exp_year}"}
    can_manage = MANAGE_PAYMENT_METHODS in permissions
    if status == "expired":
        alert = CardAlert(
            "danger",
            _("Card expired"),
            _("Your card %(card)s expired at the end of %(month)s. Automatic payments will fail until you replace it.")
            % values,
            reverse("portal:payment"),
            _("Replace card") if can_manage else _("Payment methods"),
        )
    else:
        alert = CardAlert(
            "warn",
            _("Card expiring"),
            _("Your card %(card)s expires at the end of %(month)s. Replace it to keep automatic payments working.")
            % values,
            reverse("portal:payment"),
            _("Replace card") if can_manage else _("Payment methods"),
        )
    return [alert]


class PaymentPageMixin(MyAccountMixin):
    """The payment area: visible with Manage payment methods or Pay invoices; changes need the former."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        if isinstance(user, User) and user.is_authenticated and user.org is not None:
            permissions = effective_permissions(user)
            # Users without any billing permission get MyAccountMixin's page that names Manage Billing.
            if permissions & BILLING_PERMISSIONS and not can_see_payment_page(permissions):
                return forbidden_response(request, user, user.org, MANAGE_PAYMENT_METHODS)
        return super().dispatch(request, *args, **kwargs)

    def method_or_404(self, public_id: str) -> PaymentMethod:
        try:
            return selectors.get_payment_method(org=self.org, public_id=public_id)
        except ObjectDoesNotExist:
            raise Http404("Payment method not found.") from None


class PaymentMethodListView(PaymentPageMixin, View):
    """The org's payment methods with their details and actions, how to pay by transfer, the sandbox's test cards."""

    template_name = "portal/payment/methods.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        today = timezone.localdate()
        rows = [
            MethodRow(method, method_label(method), card_expiry_status(method, today))
            for method in selectors.list_payment_methods(org=self.org)
        ]
        gateway = get_gateway()
        context = {
            "rows": rows,
            "can_manage": MANAGE_PAYMENT_METHODS in self.permissions,
            "has_bank_transfer": any(row.method.kind == MethodKind.BANK_TRANSFER for row in rows),
            "transfer_account": transfer_account(self.org),
            "is_sandbox": gateway.name == "sandbox",
            "test_cards": [(number, outcome, card_brand_name(brand)) for number, outcome, brand in TEST_CARDS],
            # Essentials orgs pay by card only: the other kinds are not offered, the reason is said once.
            "card_only_reason": edition_refusal(self.org, MethodKind.SEPA_DEBIT),
            "sepa_unavailable": sepa_unavailable_reason(self.org),
            "bank_transfer_unavailable": edition_refusal(self.org, MethodKind.BANK_TRANSFER),
            "payment_tab": "methods",
        }
        return render(request, self.template_name, context)


class CardSetupStartView(PaymentPageMixin, View):
    """Start adding (or replacing) a card: the browser goes to the gateway's card page."""

    required_permission = MANAGE_PAYMENT_METHODS
    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponseBase:
        replaces = request.POST.get("replaces", "")
        if replaces:
            self.method_or_404(replaces)  # another org's id: 404 before anything starts
        attempt = secrets.token_urlsafe(16)
        return_url = request.build_absolute_uri(reverse("portal:card_setup_return") + f"?attempt={attempt}")
        try:
            start = methods.start_card_setup(org=self.org, actor=actor_from_request(request), return_url=return_url)
        except KontoError as error:
            messages.error(request, str(error.message))
            return redirect("portal:payment")
        pending: dict[str, dict[str, str]] = dict(request.session.get(CARD_SETUPS_SESSION_KEY, {}))
        while len(pending) >= MAX_PENDING_CARD_SETUPS:
            pending.pop(next(iter(pending)))
        pending[attempt] = {"setup_ref": start.setup_ref, "replaces": replaces}
        request.session[CARD_SETUPS_SESSION_KEY] = pending
        return redirect(start.redirect_url)


class CardSetupReturnView(PaymentPageMixin, View):
    """Where the gateway's card page returns: the card is saved (replacing the old one), or the reason shown.

    The gateway adds `?setup=<ref>` when a card was entered and returns without it when the customer
    cancelled. The attempt stays in the session, so a reload keeps the same card (the service returns
    the card of a setup it has already kept).
    """

    required_permission = MANAGE_PAYMENT_METHODS
    template_name = "portal/payment/card_result.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        pending: dict[str, dict[str, str]] = request.session.get(CARD_SETUPS_SESSION_KEY, {})
        attempt = pending.get(request.GET.get("attempt", ""))
        if attempt is None:
            return self.result(_("This card entry has expired. Please start again."), status=400)
        if "setup" not in request.GET:
            messages.info(request, _("No card was added."))
            return redirect("portal:payment")
        replaces = self.active_method(attempt["replaces"])
        try:
            method = methods.add_card(
                org=self.org, actor=actor_from_request(request), setup_ref=attempt["setup_ref"], replaces=replaces
            )
        except KontoError as error:
            return self.result(str(error.message), status=422, replaces=replaces)
        if replaces is not None:
            text = _("%(new)s has replaced %(old)s.") % {"new": method_label(method), "old": method_label(replaces)}
        else:
            text = _("%(card)s has been added.") % {"card": method_label(method)}
        messages.success(request, text)
        return redirect("portal:payment")

    def active_method(self, public_id: str) -> PaymentMethod | None:
        """The method to replace; None when there is none or it is gone (replaced already, on a reload)."""
        if not public_id:
            return None
        try:
            return selectors.get_payment_method(org=self.org, public_id=public_id)
        except ObjectDoesNotExist:
            return None

    def result(self, error: str, *, status: int, replaces: PaymentMethod | None = None) -> HttpResponse:
        context = {"error": error, "replaces": replaces, "payment_tab": "methods"}
        response = render(self.request, self.template_name, context, status=status)
        add_never_cache_headers(response)
        return response


class SepaMandateView(PaymentPageMixin, View):
    """Set up a SEPA Direct Debit mandate: account holder, IBAN, BIC and the accepted mandate text."""

    required_permission = MANAGE_PAYMENT_METHODS
    template_name = "portal/payment/sepa_mandate.html"

    def render_form(self, form: SepaMandateForm, status: int = 200) -> HttpResponse:
        unavailable = sepa_unavailable_reason(self.org)
        # The text shown is the text the service stores with the mandate: same org, vendor and language.
        text = (
            ""
            if unavailable
            else methods.mandate_text(org=self.org, vendor=get_vendor(), language=translation.get_language())
        )
        context = {"form": form, "mandate_text": text, "sepa_unavailable": unavailable, "payment_tab": "methods"}
        return render(self.request, self.template_name, context, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.render_form(SepaMandateForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = SepaMandateForm(request.POST)
        form.is_valid()
        data = form.cleaned_data
        try:
            method = methods.add_sepa_mandate(
                org=self.org,
                actor=actor_from_request(request),
                account_holder=data.get("account_holder", ""),
                iban=data.get("iban", ""),
                bic=data.get("bic", ""),
                is_accepted=bool(data.get("is_accepted")),
                ip=client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX_LENGTH],
            )
        except KontoError as error:
            add_service_error(form, error)
            return self.render_form(form, status=error.status)
        messages.success(
            request,
            _("The SEPA Direct Debit mandate %(reference)s for %(iban)s has been set up.")
            % {"reference": method.mandate_reference, "iban": method.masked_iban},
        )
        return redirect("portal:payment")


class SepaMandatePrintView(PaymentPageMixin, View):
    """The mandate as accepted, to print or save as PDF: creditor, reference, debtor, masked IBAN, text, date."""

    template_name = "portal/payment/mandate_print.html"

    def get(self, request: HttpRequest, public_id: str) -> HttpResponse:
        method = self.method_or_404(public_id)
        if method.kind != MethodKind.SEPA_DEBIT:
            raise Http404("Not a SEPA Direct Debit mandate.")
        try:
            vendor: Vendor | None = get_vendor()
        except VendorMissing:
            vendor = None
        context = {
            "method": method,
            "vendor": vendor,
            "vendor_country": country_name(vendor.country) if vendor else "",
            "org": self.org,
            "org_country": country_name(self.org.country),
            "hide_nav": True,
        }
        return render(request, self.template_name, context)


class BankTransferChooseView(PaymentPageMixin, View):
    """Pay by bank transfer from now on."""

    required_permission = MANAGE_PAYMENT_METHODS
    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        try:
            methods.choose_bank_transfer(org=self.org, actor=actor_from_request(request))
        except KontoError as error:
            messages.error(request, str(error.message))
            return redirect("portal:payment")
        messages.success(request, _("Bank transfer is now your default payment method."))
        return redirect("portal:payment")


class PaymentMethodDefaultView(PaymentPageMixin, View):
    """Make one of the org's payment methods the default."""

    required_permission = MANAGE_PAYMENT_METHODS
    http_method_names = ["post"]

    def post(self, request: HttpRequest, public_id: str) -> HttpResponse:
        method = self.method_or_404(public_id)
        try:
            methods.set_default_payment_method(org=self.org, method=method, actor=actor_from_request(request))
        except KontoError as error:
            messages.error(request, str(error.message))
            return redirect("portal:payment")
        messages.success(
            request, _("%(method)s is now your default payment method.") % {"method": method_label(method)}
        )
        return redirect("portal:payment")


class PaymentMethodRemoveView(PaymentPageMixin, View):
    """Remove a payment method after a confirmation; one that pays an active contract needs a replacement."""

    required_permission = MANAGE_PAYMENT_METHODS
    template_name = "portal/payment/remove_confirm.html"

    def others(self, method: PaymentMethod) -> list[PaymentMethod]:
        return [other for other in selectors.list_payment_methods(org=self.org) if other.pk != method.pk]

    def render_form(
        self, method: PaymentMethod, others: list[PaymentMethod], form: PaymentMethodRemoveForm, status: int = 200
    ) -> HttpResponse:
        context = {
            "method": method,
            "label": method_label(method),
            "has_others": bool(others),
            "form": form,
            "payment_tab": "methods",
        }
        return render(self.request, self.template_name, context, status=status)

    def form(self, others: list[PaymentMethod], data: Any = None) -> PaymentMethodRemoveForm:
        return PaymentMethodRemoveForm(data, choices=[(other.public_id, method_label(other)) for other in others])

    def get(self, request: HttpRequest, public_id: str) -> HttpResponse:
        method = self.method_or_404(public_id)
        others = self.others(method)
        return self.render_form(method, others, self.form(others))

    def post(self, request: HttpRequest, public_id: str) -> HttpResponse:
        method = self.method_or_404(public_id)
        others = self.others(method)
        form = self.form(others, request.POST)
        if not form.is_valid():
            return self.render_form(method, others, form, status=422)
        chosen = form.cleaned_data.get("replacement", "")
        replacement = next((other for other in others if other.public_id == chosen), None)
        try:
            methods.remove_payment_method(
                org=self.org, method=method, actor=actor_from_request(request), replacement=replacement
            )
        except KontoError as error:
            # "Pays your active contracts, choose a replacement" belongs next to the replacement choice.
            if error.code == "method_in_use" and replacement is None and method.is_default and others:
                form.add_error("replacement", str(error.message))
            else:
                add_service_error(form, error)
            return self.render_form(method, others, form, status=422)
        messages.success(request, _("%(method)s has been removed.") % {"method": method_label(method)})
        return redirect("portal:payment")
