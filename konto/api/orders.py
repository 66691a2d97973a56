"""POST /orders/preview, POST /orders, GET /orders, GET /orders/{id}: buying more on a contract.

The preview and the order call the same pricing as My Account's order flow;
an order is placed by `place_order`, which confirms it once per
`Idempotency-Key` and refuses a preview whose prices changed meanwhile.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from ninja import Query, Router, Status

from konto.accounts.actors import actor_from_request
from konto.accounts.models import Org
from konto.accounts.permissions import PURCHASE
from konto.api.auth import org_of, require_permission
from konto.api.errors import FIELDS_INVALID, PROBLEM_CONTENT_TYPE
from konto.api.pagination import PageParams, paginate_newest_first
from konto.api.schemas import (
    OrderIn,
    OrderOut,
    OrderPage,
    OrderPreviewOut,
    OrderSummaryOut,
    is_public_id,
    preview_json,
)
from konto.billing.services.invoices import invoice_purchase
from konto.contracts import selectors
from konto.contracts.models import Contract
from konto.contracts.services import orders as order_services
from konto.contracts.services.pricing import OrderItem, price_order
from konto.core.exceptions import InvalidInput, NotFound

router = Router(tags=["orders"])

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY_LENGTH = 255
LINE_MEMBERS = frozenset({"product", "quantity"})

_PROBLEM = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
_PREVIEW_CONFLICTS = (
    "The org may not buy this now: `org_overdue`, `contract_inactive`, `product_not_allowed`, `no_price`, "
    "`essentials_license_limit` (with `upgrade_available`)."
)
_ORDER_CONFLICTS = (
    _PREVIEW_CONFLICTS + " Or `price_changed` (the new preview in `preview`), or `idempotency_key_reused`."
)


def _conflicts(description: str) -> dict[str, Any]:
    """The answers an order can give beyond those every operation documents."""
    return {
        "responses": {
            404: {"description": "The body names no contract of the token's org (`not_found`).", "content": _PROBLEM},
            409: {"description": description, "content": _PROBLEM},
        }
    }


@router.post(
    "/orders/preview",
    response=OrderPreviewOut,
    summary="Price an order without placing it",
    openapi_extra=_conflicts(_PREVIEW_CONFLICTS),
)
def preview_order(request: HttpRequest, payload: OrderIn) -> dict[str, Any]:
    """What the order would cost, for today: nothing is saved. Needs the permission `purchase`.

    Per line: the current billing period, the days charged and the prorated
    net charged today, the amount on the next regular invoice and per period
    after the renewal, and the VAT category and rate. Totals (net, VAT per
    rate, gross) for today, the next regular invoice and the renewal. Send
    `fingerprint` back as `preview_fingerprint` when placing the order.
    `po_number` is accepted so the same body can be sent to both endpoints;
    it is checked when the order is placed.
    """
    require_permission(request, PURCHASE)
    org = org_of(request)
    contract = _contract_for(org, payload.contract)
    preview = price_order(org=org, contract=contract, items=_order_items(payload.lines), today=timezone.localdate())
    return preview_json(preview.as_json())


@router.post(
    "/orders",
    response={200: OrderOut, 201: OrderOut},
    summary="Place an order",
    openapi_extra={
        **_conflicts(_ORDER_CONFLICTS),
        "parameters": [
            {
                "in": "header",
                "name": IDEMPOTENCY_KEY_HEADER,
                "required": True,
                "description": "1 to 255 characters, one per order the client means to place (e.g. a UUID).",
                "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY_LENGTH},
            }
        ],
    },
)
def place_order(
    request: HttpRequest,
    payload: OrderIn,
    response: HttpResponse,
) -> Status[OrderOut]:
    """Buy the lines on the contract: the order, its contract lines and their charges, or nothing.

    Needs the permission `purchase` and the header `Idempotency-Key` (1 to 255
    characters, e.g. a UUID per order the client means to place). The same
    key with the same body answers the first order with 200 (the first time
    201) and buys nothing more; the same key with another body is refused
    with 409 `idempotency_key_reused`. With `preview_fingerprint`, an order
    whose prices or contract changed since that preview is refused with 409
    `price_changed` carrying the new preview in `preview`.
    """
    require_permission(request, PURCHASE)
    key = _idempotency_key(request)
    org = org_of(request)
    contract = _contract_for(org, payload.contract)
    try:
        placed = order_services.place_order(
            org=org,
            actor=actor_from_request(request),
            contract=contract,
            items=_order_items(payload.lines),
            idempotency_key=key,
            po_number=payload.po_number or "",
            expected_fingerprint=payload.preview_fingerprint,
            after_place=invoice_purchase,
        )
    except order_services.PriceChanged as changed:
        changed.extra["preview"] = preview_json(changed.preview.as_json())
        raise
    order = selectors.get_order(org=org, public_id=placed.order.public_id)
    response["Location"] = f"/api/v1/orders/{order.public_id}"
    return Status(201 if placed.created else 200, OrderOut.with_lines(order))


@router.get("/orders", response=OrderPage, summary="List the org's orders")
def list_orders(request: HttpRequest, page: Query[PageParams]) -> OrderPage:
    """The org's orders, newest first, with their totals; lines and the confirmed preview are in
    `GET /orders/{id}`. Paginated: `?limit=` (1 to 200, default 50) and `?cursor=`.
    """
    # The confirming user's email is part of every item: one join instead of a query per order.
    orders = selectors.org_orders(org=org_of(request)).select_related("confirmed_by")
    result = paginate_newest_first(orders, limit=page.limit, cursor=page.cursor, timestamp_field="created_at")
    return OrderPage(items=[OrderSummaryOut.of(order) for order in result.items], next_cursor=result.next_cursor)


@router.get("/orders/{order_id}", response=OrderOut, summary="One order with its lines and preview")
def get_order(request: HttpRequest, order_id: str) -> OrderOut:
    """One order by public id (`ord_…`): lines as priced, totals, who confirmed it and when, and the
    preview exactly as confirmed. Another org's order answers 404 exactly like a missing one.
    """
    if not is_public_id(order_id):
        raise NotFound(_("Order not found."))
    return OrderOut.with_lines(selectors.get_order(org=org_of(request), public_id=order_id))


# ---------------------------------------------------------------- input


def _idempotency_key(request: HttpRequest) -> str:
    key = request.headers.get(IDEMPOTENCY_KEY_HEADER)
    if (
        key is None
        or not key.strip()
        or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH
        or any(ord(character) < 32 for character in key)
    ):
        message = _("Send an Idempotency-Key of 1 to 255 characters with every order.")
        raise InvalidInput(message, code="idempotency_key_missing", fields={IDEMPOTENCY_KEY_HEADER: message})
    return key


def _contract_for(org: Org, contract_id: str | None) -> Contract:
    """The contract the body names, or the org's only active contract when it names none."""
    if contract_id is None:
        active = list(selectors.active_contracts(org=org)[:2])
        if len(active) == 1:
            return active[0]
        if active:
            message = _("Your org has several active contracts. Name the contract to add to.")
        else:
            message = _("Your org has no active contract to add to. Please contact us.")
        raise InvalidInput(message, code="contract_required", fields={"contract": message})
    message = _("Contract not found.")
    if not is_public_id(contract_id):
        raise NotFound(message, fields={"contract": message})
    try:
        return selectors.get_contract(org=org, public_id=contract_id)
    except NotFound as error:
        error.fields = {"contract": error.message}
        raise


def _order_items(raw: Any) -> list[OrderItem]:
    """The lines as the pricing service takes them; it checks products and quantities (any JSON)."""
    if not isinstance(raw, list):
        raise InvalidInput(FIELDS_INVALID, fields={"lines": gettext("Enter a list.")})
    errors: dict[str, str | Promise] = {}
    for index, line in enumerate(raw):
        if not isinstance(line, dict):
            errors[f"lines[{index}]"] = gettext("Enter an object.")
            continue
        for member in sorted(set(line) - LINE_MEMBERS):
            errors[f"lines[{index}].{member}"] = gettext("Unknown field.")
        product = line.get("product")
        if isinstance(product, str) and "\x00" in product:
            errors[f"lines[{index}].product"] = gettext("Null characters are not allowed.")
    if errors:
        raise InvalidInput(FIELDS_INVALID, fields=errors)
    for index, line in enumerate(raw):
        # The API's quantity is a JSON number: "2" is refused here, while the pricing service
        # (which also reads form input) would take it.
        if isinstance(line.get("quantity"), str):
            message = _("Enter the quantity as a whole number.")
            raise InvalidInput(message, code="invalid_quantity", fields={f"lines[{index}].quantity": message})
    return [OrderItem(product=line.get("product"), quantity=line.get("quantity")) for line in raw]
