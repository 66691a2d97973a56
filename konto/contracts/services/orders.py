"""Placing an order: preview → confirm once, lines and charges in one transaction.

Idempotency: the org row is locked first, then the (org, idempotency_key)
pair is looked up; a repeated key with the same body returns the first order,
with another body it is refused (409). The unique constraint on the pair is
the database's own guarantee behind that check. A preview fingerprint that no
longer matches (price or contract changed meanwhile) is refused with the new
preview, so nothing is charged that the customer has not seen.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from konto.accounts.models import LicensePool, Org
from konto.accounts.services import seats
from konto.contracts.exceptions import Conflict, InvalidInput, NotFound
from konto.contracts.models import Contract, ContractLine, Order, OrderLine
from konto.contracts.services.charges import schedule_charges
from konto.contracts.services.pricing import OrderItem, OrderPreview, price_order
from konto.core.audit import Actor, record_event


@dataclass(frozen=True)
class PlacedOrder:
    order: Order
    created: bool  # False when an earlier submission with the same key is returned


class PriceChanged(Conflict):
    code = "price_changed"

    def __init__(self, preview: OrderPreview) -> None:
        super().__init__(
            _("Prices or your contract changed since the preview. Please check the new amounts and confirm again."),
            extra={"preview": preview.as_json()},
        )
        self.preview = preview


def request_hash(*, contract: Contract, items: Sequence[OrderItem], po_number: str) -> str:
    body = {
        "contract": contract.public_id,
        "lines": [[str(item.product), str(item.quantity)] for item in items],
        "po_number": po_number,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


MAX_IDEMPOTENCY_KEY_LENGTH = 255
MAX_PO_NUMBER_LENGTH = 35  # EN 16931 BT-13 as most ERP systems accept it


def _has_control_characters(text: str) -> bool:
    return any(ord(char) < 32 or ord(char) == 127 for char in text)


def _clean_idempotency_key(key: object) -> str:
    if (
        not isinstance(key, str)
        or not key.strip()
        or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH
        or _has_control_characters(key)
    ):
        message = _("Send an Idempotency-Key of 1 to 255 characters with every order.")
        raise InvalidInput(message, code="idempotency_key_missing", fields={"idempotency_key": message})
    return key.strip()


def _clean_po_number(po_number: object) -> str:
    if po_number is None:
        return ""
    if (
        not isinstance(po_number, str)
        or len(po_number.strip()) > MAX_PO_NUMBER_LENGTH
        or _has_control_characters(po_number)
    ):
        message = _("Enter a PO number of at most %(max)d characters, on one line.") % {"max": MAX_PO_NUMBER_LENGTH}
        raise InvalidInput(message, code="invalid_po_number", fields={"po_number": message})
    return po_number.strip()


@transaction.atomic(durable=True)
def place_order(
    *,
    org: Org,
    actor: Actor,
    contract: Contract,
    items: Sequence[OrderItem],
    idempotency_key: str,
    po_number: str = "",
    expected_fingerprint: str | None = None,
    today: date | None = None,
    after_place: Callable[[Order], object] | None = None,
) -> PlacedOrder:
    """Confirm an order: the order, its contract lines and their charges, or nothing.

    The same key and body return the first order (created=False); the same key
    with another body raises Conflict `idempotency_key_reused`. `after_place`
    runs inside this transaction once a new order is fulfilled (never for a
    repeated submission): layers above contracts hook in there, e.g. billing
    invoicing an Essentials purchase at once; if it raises, nothing is ordered.
    """
    key = _clean_idempotency_key(idempotency_key)
    po = _clean_po_number(po_number)
    org = Org.objects.select_for_update().get(pk=org.pk)
    body_hash = request_hash(contract=contract, items=items, po_number=po)
    existing = Order.objects.filter(org=org, idempotency_key=key).first()
    if existing is not None:
        if existing.request_hash != body_hash:
            raise Conflict(
                _("This Idempotency-Key was already used for a different order."), code="idempotency_key_reused"
            )
        return PlacedOrder(order=existing, created=False)
    locked = Contract.objects.select_for_update().filter(pk=contract.pk, org=org).first()
    if locked is None:
        raise NotFound(_("Contract not found."))
    contract = locked
    today = today or timezone.localdate()
    preview = price_order(org=org, contract=contract, items=items, today=today)
    if expected_fingerprint is not None and expected_fingerprint != preview.fingerprint:
        raise PriceChanged(preview)
    before = _contract_snapshot(org=org, contract=contract)
    now = timezone.now()
    order = Order.objects.create(
        org=org,
        contract=contract,
        status=Order.Status.CONFIRMED,
        idempotency_key=key,
        request_hash=body_hash,
        po_number=po,
        currency=preview.currency,
        ordered_on=today,
        today_net_amount=preview.today.net_amount,
        today_tax_amount=preview.today.tax_amount,
        today_gross_amount=preview.today.gross_amount,
        next_invoice_net_amount=preview.next_invoice.net_amount,
        renewal_net_amount=preview.renewal.net_amount,
        preview=preview.as_json(),
        confirmed_by_id=actor.user_id,
        confirmed_at=now,
    )
    OrderLine.objects.bulk_create(
        [
            OrderLine(
                org=org,
                order=order,
                product=line.product,
                quantity=line.quantity,
                unit_price=line.unit_price,
                period_start=line.period.start,
                period_end=line.period.end,
                days_charged=line.days_charged,
                days_in_period=line.days_in_period,
                prorated_net_amount=line.prorated_net_amount,
                tax_category=line.tax.category,
                tax_rate=line.tax.rate,
            )
            for line in preview.lines
        ]
    )
    contract_lines = [
        ContractLine.objects.create(
            org=org,
            contract=contract,
            product=line.product,
            order=order,
            quantity=line.quantity,
            unit_price=line.unit_price,
            start_date=today,
            end_date=contract.end_date,
        )
        for line in preview.lines
    ]
    schedule_charges(contract=contract, lines=contract_lines)
    for line in preview.lines:
        if line.product.grants_license_type:
            seats.add_purchased_seats(
                org=org,
                license_type=line.product.grants_license_type,
                seats=line.quantity * max(line.product.seats_per_unit, 1),
            )
    order.status = Order.Status.FULFILLED
    order.save(update_fields=["status"])
    record_event(
        actor=actor,
        org_id=org.pk,
        action="order.placed",
        object_type="order",
        object_id=order.public_id,
        before=before,
        after={
            **_contract_snapshot(org=org, contract=contract),
            "order": order.public_id,
            "ordered_lines": [[line.product.code, line.quantity, str(line.unit_price)] for line in preview.lines],
            "today_net_amount": str(preview.today.net_amount),
            "today_gross_amount": str(preview.today.gross_amount),
            "currency": preview.currency,
            "po_number": po,
        },
    )
    if after_place is not None:
        after_place(order)
    return PlacedOrder(order=order, created=True)


def _contract_snapshot(*, org: Org, contract: Contract) -> dict[str, object]:
    """The contract's lines and the org's bought seats, for the audit trail's before/after."""
    return {
        "contract": contract.public_id,
        "lines": [
            [code, quantity, str(unit_price), start.isoformat()]
            for code, quantity, unit_price, start in ContractLine.objects.filter(contract=contract)
            .order_by("id")
            .values_list("product__code", "quantity", "unit_price", "start_date")
        ],
        "purchased_seats": dict(
            LicensePool.objects.filter(org=org).order_by("license_type").values_list("license_type", "purchased_seats")
        ),
    }
