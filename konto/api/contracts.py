"""GET /contracts and GET /contracts/{id}: the org's contracts with their lines and billing periods."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Query, Router

from konto.api.auth import org_of
from konto.api.pagination import PageParams, paginate_newest_first
from konto.api.schemas import ContractOut, ContractPage, ContractSummaryOut, is_public_id
from konto.contracts import selectors
from konto.core.exceptions import NotFound

router = Router(tags=["contracts"])


@router.get("/contracts", response=ContractPage, summary="List the org's contracts")
def list_contracts(request: HttpRequest, page: Query[PageParams]) -> ContractPage:
    """The org's contracts, newest first (by when they were created), active, expired and cancelled.

    Each with its term (`end_date` exclusive), billing frequency, payment terms,
    renewal settings, the current billing period and the next billing date; the
    lines are in `GET /contracts/{id}`. Paginated: `?limit=` (1 to 200, default
    50) and `?cursor=` (the `next_cursor` of the previous page).
    """
    today = timezone.localdate()
    result = paginate_newest_first(
        selectors.org_contracts(org=org_of(request)), limit=page.limit, cursor=page.cursor, timestamp_field="created_at"
    )
    return ContractPage(
        items=[ContractSummaryOut.of(contract, today=today) for contract in result.items],
        next_cursor=result.next_cursor,
    )


@router.get("/contracts/{contract_id}", response=ContractOut, summary="One contract with its lines")
def get_contract(request: HttpRequest, contract_id: str) -> ContractOut:
    """One contract by public id (`ctr_…`) with every line: product, quantity, unit and period price, dates.

    Lines are never edited: buying more adds a line that starts on the order
    date and ends with the contract (co-termed); `order` names the order that
    added it. Another org's contract answers 404 exactly like an id that does
    not exist.
    """
    org = org_of(request)
    if not is_public_id(contract_id):
        raise NotFound(_("Contract not found."))
    contract = selectors.get_contract(org=org, public_id=contract_id)
    order_pks = {line.order_id for line in contract.lines.all() if line.order_id is not None}
    order_ids = (
        dict(selectors.org_orders(org=org).filter(pk__in=order_pks).values_list("pk", "public_id")) if order_pks else {}
    )
    return ContractOut.with_lines(contract, today=timezone.localdate(), order_ids=order_ids)
