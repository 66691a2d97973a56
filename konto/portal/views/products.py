"""Buying in My Account: what the org can buy, the priced preview, and the one confirmation.

The preview is rendered with a fresh idempotency key and the preview's
fingerprint; the confirmation passes both to `place_order`, so a repeated
submission returns the first order and a price or contract change since the
preview shows the new preview instead of charging.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View

from konto.accounts.actors import actor_from_request
from konto.accounts.models import Org
from konto.accounts.permissions import PURCHASE
from konto.billing.services.invoices import invoice_purchase
from konto.catalog.models import Product
from konto.catalog.selectors import OrgProduct, products_for_org
from konto.contracts import selectors
from konto.contracts.documents import period_label
from konto.contracts.exceptions import NotFound
from konto.contracts.models import Contract
from konto.contracts.recommendations import recommend_products
from konto.contracts.services.orders import MAX_PO_NUMBER_LENGTH, PriceChanged, place_order
from konto.contracts.services.pricing import OrderItem, OrderPreview, price_order
from konto.core.exceptions import KontoError
from konto.portal.access import MyAccountMixin
from konto.portal.forms.orders import ConfirmOrderForm, OrderForm

KIND_ORDER: dict[str, int] = {Product.Kind.EDITION: 0, Product.Kind.ADD_ON: 1, Product.Kind.LICENSE: 2}


@dataclass(frozen=True)
class Offer:
    """A product as the products page shows it, priced for the chosen contract's billing frequency."""

    item: OrgProduct
    unit_price: Decimal | None  # net, per billing period of the contract; None without a price

    @property
    def product(self) -> Product:
        return self.item.product

    @property
    def is_available(self) -> bool:
        return self.item.may_buy and self.unit_price is not None


class PurchaseMixin(MyAccountMixin):
    """Pages of the buying flow: they need the Purchase permission."""

    required_permission = PURCHASE

    def active_contracts(self) -> list[Contract]:
        return list(selectors.active_contracts(org=self.org))

    def chosen_contract(self, public_id: str | None) -> Contract | None:
        """The contract bought on: the one named (of this org, active), else the newest active one."""
        contracts = self.active_contracts()
        if public_id:
            return next((contract for contract in contracts if contract.public_id == public_id), None)
        return contracts[0] if contracts else None

    def render_products(
        self,
        request: HttpRequest,
        *,
        contract_id: str | None = None,
        form: OrderForm | None = None,
        error: KontoError | None = None,
    ) -> HttpResponse:
        org = self.org
        contracts = self.active_contracts()
        contract = next((c for c in contracts if c.public_id == contract_id), contracts[0] if contracts else None)
        items = products_for_org(org=org)
        frequency = contract.billing_frequency if contract else ""
        offers = [
            Offer(item, item.prices.get(frequency))
            for item in items
            if item.product.kind != Product.Kind.EDITION or item.product.edition == org.edition
        ]
        offers.sort(key=lambda offer: (not offer.is_available, KIND_ORDER.get(offer.product.kind, 9)))
        by_code = {offer.product.code: offer for offer in offers}
        recommended = [
            (by_code[rec.product.product.code], rec.reason)
            for rec in recommend_products(org=org, products=items)
            if rec.product.product.code in by_code and by_code[rec.product.product.code].is_available
        ]
        context = {
            "org": org,
            "contracts": contracts,
            "contract": contract,
            "per": period_label(frequency) if contract else "",
            "offers": offers,
            "recommended": recommended,
            "is_paused": org.status != Org.Status.ACTIVE,
            "is_overdue": org.status == Org.Status.OVERDUE,
            "form": form,
            "error": error,
            "upgrade_offer": error is not None and error.code == "essentials_license_limit",
            "account_executive": org.account_executive,
        }
        return render(request, "portal/products/list.html", context)


class ProductListView(PurchaseMixin, View):
    """Buy new products: the catalog for this org, recommendations, one buy form per product."""

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.render_products(request, contract_id=request.GET.get("contract"))


def render_preview(
    request: HttpRequest,
    preview: OrderPreview,
    form_data: dict[str, Any],
    *,
    warning: str = "",
    po_error: str = "",
) -> HttpResponse:
    """The summary step: every amount, its date, and one confirm button labelled with today's gross."""
    context = {
        "preview": preview,
        "contract": preview.contract,
        "per": period_label(preview.contract.billing_frequency),
        "product": form_data["product"],
        "quantity": form_data["quantity"],
        # A new key per rendered preview: a double click or a retry of this page buys once.
        "idempotency_key": uuid.uuid4().hex,
        "warning": warning,
        # The order's PO number (printed on its invoices); the contract's PO number is the default.
        "po_number": form_data.get("po_number", preview.contract.po_number),
        "po_error": po_error,
        "notes": sorted({line.note for line in preview.today.tax_lines if line.note}),
    }
    return render(request, "portal/products/preview.html", context)


class OrderPreviewView(PurchaseMixin, View):
    """POST product and quantity → the priced preview, or the products page with what is wrong."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        form = OrderForm(request.POST)
        contract_id = str(request.POST.get("contract", ""))[:40] or None
        if not form.is_valid():
            return self.render_products(request, contract_id=contract_id, form=form)
        contract = self.chosen_contract(form.cleaned_data["contract"] or None)
        try:
            if contract is None:
                raise NotFound(_("Choose one of your active contracts."), code="contract_not_found")
            preview = price_order(
                org=self.org,
                contract=contract,
                items=[OrderItem(form.cleaned_data["product"], form.cleaned_data["quantity"])],
                today=timezone.localdate(),
            )
        except KontoError as error:
            form.add_service_error(error)
            return self.render_products(request, contract_id=contract_id, form=form, error=error)
        return render_preview(request, preview, form.cleaned_data)


class OrderConfirmView(PurchaseMixin, View):
    """POST the preview's confirmation → the order (once per key), a new preview, or the refusal."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ConfirmOrderForm(request.POST)
        contract_id = str(request.POST.get("contract", ""))[:40] or None
        form.is_valid()
        if not form.has_valid_order():
            return self.render_products(request, contract_id=contract_id, form=form)
        data = form.order_data()
        contract = self.chosen_contract(data["contract"] or None)
        items = [OrderItem(data["product"], data["quantity"])]
        try:
            if contract is None:
                raise NotFound(_("Choose one of your active contracts."), code="contract_not_found")
            if set(form.errors) == {"po_number"}:
                preview = price_order(org=self.org, contract=contract, items=items, today=timezone.localdate())
                return render_preview(
                    request,
                    preview,
                    data,
                    po_error=_("Enter a PO number of at most %(max)d characters, on one line.")
                    % {"max": MAX_PO_NUMBER_LENGTH},
                )
            if form.errors:
                # No usable fingerprint or key: never charge blind, show the amounts again.
                preview = price_order(org=self.org, contract=contract, items=items, today=timezone.localdate())
                warning = _("Please check the amounts and confirm again. Nothing has been ordered yet.")
                return render_preview(request, preview, data, warning=warning)
            placed = place_order(
                org=self.org,
                actor=actor_from_request(request),
                contract=contract,
                items=items,
                idempotency_key=form.cleaned_data["idempotency_key"],
                expected_fingerprint=form.cleaned_data["fingerprint"],
                po_number=data["po_number"],
                after_place=invoice_purchase,
            )
        except PriceChanged as changed:
            warning = _(
                "Prices or your contract changed since you saw the preview, so nothing was ordered. "
                "Please check the new amounts and confirm again."
            )
            return render_preview(request, changed.preview, data, warning=warning)
        except KontoError as error:
            if "po_number" in error.fields and contract is not None:
                preview = price_order(org=self.org, contract=contract, items=items, today=timezone.localdate())
                return render_preview(request, preview, data, po_error=str(error.fields["po_number"]))
            form.add_service_error(error)
            return self.render_products(request, contract_id=contract_id, form=form, error=error)
        if placed.created:
            messages.success(request, _("Thank you, your order has been placed."))
        else:
            messages.info(request, _("This order had already been placed. Nothing was ordered or charged twice."))
        return redirect("portal:order_detail", public_id=placed.order.public_id)
