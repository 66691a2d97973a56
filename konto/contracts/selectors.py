"""Tenant-scoped reads of contracts, lines, charges and orders."""

from __future__ import annotations

from datetime import date

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext_lazy as _

from konto.accounts.models import Org
from konto.contracts.exceptions import NotFound
from konto.contracts.models import Charge, Contract, ContractLine, Order
from konto.core.periods import Period, period_containing


def org_contracts(*, org: Org) -> QuerySet[Contract]:
    return Contract.objects.filter(org=org).order_by("-start_date", "-id")


def active_contracts(*, org: Org) -> QuerySet[Contract]:
    return org_contracts(org=org).filter(status=Contract.Status.ACTIVE)


def get_contract(*, org: Org, public_id: str) -> Contract:
    """A contract of `org` with its lines and products; another org's id is NotFound."""
    lines = ContractLine.objects.select_related("product").order_by("start_date", "id")
    contract = (
        Contract.objects.filter(org=org, public_id=public_id)
        .prefetch_related(Prefetch("lines", queryset=lines))
        .first()
    )
    if contract is None:
        raise NotFound(_("Contract not found."))
    return contract


def current_period(contract: Contract, today: date) -> Period | None:
    """The billing period containing `today`, or None outside the term."""
    if not contract.start_date <= today < contract.end_date:
        return None
    period = period_containing(contract.start_date, contract.billing_frequency, today)
    return Period(period.start, min(period.end, contract.end_date))


def next_billing_date(contract: Contract, today: date) -> date | None:
    """The start of the next billing period within the term, or None."""
    if today < contract.start_date:
        return contract.start_date
    period = current_period(contract, today)
    if period is None or period.end >= contract.end_date:
        return None
    return period.end


def notice_deadline(contract: Contract) -> date:
    """The last day on which renewal changes or cancellation are accepted (end − notice period)."""
    from datetime import timedelta

    return contract.end_date - timedelta(days=contract.notice_period_days)


def contract_charges(*, org: Org, contract: Contract) -> QuerySet[Charge]:
    return Charge.objects.filter(org=org, contract=contract).select_related("line__product")


def org_orders(*, org: Org) -> QuerySet[Order]:
    return Order.objects.filter(org=org).select_related("contract").order_by("-created_at", "-id")


def get_order(*, org: Org, public_id: str) -> Order:
    order = (
        Order.objects.filter(org=org, public_id=public_id)
        .select_related("contract", "confirmed_by")
        .prefetch_related("lines__product")
        .first()
    )
    if order is None:
        raise NotFound(_("Order not found."))
    return order
