"""Contracts in My Account: the list, one contract with its lines and orders, its PDF summary, one order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views import View

from konto.accounts.permissions import PURCHASE
from konto.contracts import selectors
from konto.contracts.documents import period_label, render_contract_summary
from konto.contracts.exceptions import NotFound
from konto.contracts.models import Contract, ContractLine, Order
from konto.core.money import round_money
from konto.portal.access import MyAccountMixin


@dataclass(frozen=True)
class ContractTerm:
    """A contract as the pages show it: the term with its inclusive last day, and the next dates."""

    contract: Contract
    today: date

    @property
    def last_day(self) -> date:
        return self.contract.end_date - timedelta(days=1)  # end_date is exclusive

    @property
    def renewal_date(self) -> date:
        return self.contract.end_date

    @property
    def next_billing_date(self) -> date | None:
        return selectors.next_billing_date(self.contract, self.today)

    @property
    def notice_deadline(self) -> date:
        return selectors.notice_deadline(self.contract)

    @property
    def is_notice_passed(self) -> bool:
        return self.today > self.notice_deadline

    @property
    def per(self) -> str:
        return period_label(self.contract.billing_frequency)


@dataclass(frozen=True)
class LineRow:
    line: ContractLine

    @property
    def period_amount(self) -> Decimal:  # net, per billing period
        return round_money(self.line.unit_price * self.line.quantity)


def contract_or_404(org: Any, public_id: str) -> Contract:
    try:
        return selectors.get_contract(org=org, public_id=public_id)
    except NotFound:
        raise Http404("Contract not found.") from None


class ContractListView(MyAccountMixin, View):
    """The org's contracts with term, billing, payment method, status and the next dates; constant queries."""

    template_name = "portal/contracts/list.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        today = timezone.localdate()
        contracts = [ContractTerm(contract, today) for contract in selectors.org_contracts(org=self.org)]
        context = {"contracts": contracts, "can_purchase": PURCHASE in self.permissions}
        return render(request, self.template_name, context)


class ContractDetailView(MyAccountMixin, View):
    """One contract: its lines (every purchase its own line), totals per period, terms and orders."""

    template_name = "portal/contracts/detail.html"

    def get(self, request: HttpRequest, public_id: str) -> HttpResponse:
        contract = contract_or_404(self.org, public_id)
        today = timezone.localdate()
        rows = [LineRow(line) for line in contract.lines.all()]
        period = selectors.current_period(contract, today)
        orders = selectors.org_orders(org=self.org).filter(contract=contract).select_related("confirmed_by")
        context = {
            "contract": contract,
            "term": ContractTerm(contract, today),
            "current_period": period,
            "period_last_day": period.end - timedelta(days=1) if period else None,
            "rows": rows,
            "period_net_amount": sum((row.period_amount for row in rows), Decimal("0.00")),
            "orders": orders,
            "can_purchase": PURCHASE in self.permissions and contract.status == Contract.Status.ACTIVE,
        }
        return render(request, self.template_name, context)


class ContractSummaryPdfView(MyAccountMixin, View):
    """The contract summary (order form) as a PDF download."""

    def get(self, request: HttpRequest, public_id: str) -> HttpResponse:
        contract = contract_or_404(self.org, public_id)
        pdf = render_contract_summary(contract)
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="contract-{contract.number}.pdf"'
        return response


class OrderDetailView(MyAccountMixin, View):
    """One order: what was bought on which contract, the prorated charge, and the amounts from then on."""

    template_name = "portal/contracts/order_detail.html"

    def get(self, request: HttpRequest, public_id: str) -> HttpResponse:
        try:
            order: Order = selectors.get_order(org=self.org, public_id=public_id)
        except NotFound:
            raise Http404("Order not found.") from None
        preview = order.preview if isinstance(order.preview, dict) else {}
        context = {
            "order": order,
            "lines": list(order.lines.all()),
            "tax_lines": preview.get("today", {}).get("tax", []),
            "next_invoice_on": _iso_date(preview.get("next_invoice_on")),
            "next_invoice": preview.get("next_invoice", {}),
            "renewal_on": _iso_date(preview.get("renewal_on")),
            "renewal": preview.get("renewal", {}),
            "per": period_label(order.contract.billing_frequency),
        }
        return render(request, self.template_name, context)


def _iso_date(value: object) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None
