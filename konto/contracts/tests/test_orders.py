"""Placing an order: one transaction, idempotent, priced as previewed; every refusal changes nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from konto.accounts.models import LicensePool, LicenseType, Org, User
from konto.catalog.models import PriceBookEntry, Product
from konto.contracts.exceptions import Conflict, InvalidInput, NotFound, PurchaseRefused
from konto.contracts.models import Charge, Contract, ContractLine, Order, OrderLine
from konto.contracts.services.orders import PlacedOrder, PriceChanged, place_order
from konto.contracts.services.pricing import OrderItem, price_order
from konto.core.models import AuditEvent

from .conftest import TODAY, actor_of, db_state

pytestmark = pytest.mark.django_db


def _place(
    org: Org, user: User, contract: Contract, items: list[OrderItem], key: Any = "key-1", **kwargs: Any
) -> PlacedOrder:
    return place_order(
        org=org, actor=actor_of(user), contract=contract, items=items, idempotency_key=key, today=TODAY, **kwargs
    )


def _full_seats(org: Org) -> int:
    return LicensePool.objects.get(org=org, license_type=LicenseType.FULL).purchased_seats


def test_order_writes_order_lines_contract_lines_charges_seats_and_an_audit_event(
    essentials_org, essentials_contract, buyer
):
    preview = price_order(
        org=essentials_org,
        contract=essentials_contract,
        items=[OrderItem("essentials", 2), OrderItem("data-storage", 1)],
        today=TODAY,
    )

    placed = _place(
        essentials_org,
        buyer,
        essentials_contract,
        [OrderItem("essentials", 2), OrderItem("data-storage", 1)],
        po_number=" PO-4711 ",
        expected_fingerprint=preview.fingerprint,
    )

    order = placed.order
    assert placed.created is True
    assert (order.status, order.org_id, order.contract_id, order.currency, order.ordered_on) == (
        Order.Status.FULFILLED,
        essentials_org.pk,
        essentials_contract.pk,
        "EUR",
        TODAY,
    )
    assert (order.today_net_amount, order.today_tax_amount, order.today_gross_amount) == (
        Decimal("23.34"),
        Decimal("4.43"),
        Decimal("27.77"),
    )
    assert (order.next_invoice_net_amount, order.renewal_net_amount) == (Decimal("175.00"), Decimal("175.00"))
    assert (order.po_number, order.idempotency_key, order.confirmed_by_id) == ("PO-4711", "key-1", buyer.pk)
    assert order.preview == preview.as_json()
    assert [
        (ln.product.code, ln.quantity, ln.days_charged, ln.prorated_net_amount, ln.tax_category, ln.tax_rate)
        for ln in order.lines.order_by("id")
    ] == [
        ("essentials", 2, 4, Decimal("6.67"), "S", Decimal("19.00")),
        ("data-storage", 1, 4, Decimal("16.67"), "S", Decimal("19.00")),
    ]
    lines = list(order.contract_lines.order_by("id"))
    assert [(ln.product.code, ln.quantity, ln.unit_price, ln.start_date, ln.end_date) for ln in lines] == [
        ("essentials", 2, Decimal("25.0000"), TODAY, date(2027, 6, 1)),
        ("data-storage", 1, Decimal("125.0000"), TODAY, date(2027, 6, 1)),
    ]
    # 2026-11 prorated, then 2026-12 .. 2027-05 in full: 7 charges per line
    assert [Charge.objects.filter(line=line).count() for line in lines] == [7, 7]
    assert Charge.objects.filter(line=lines[0]).order_by("period_start")[0].net_amount == Decimal("6.67")
    assert _full_seats(essentials_org) == 7
    event = AuditEvent.objects.get(action="order.placed")
    assert event.after is not None
    assert (event.org_id, event.actor_id, event.actor_email, event.object_type, event.object_id) == (
        essentials_org.pk,
        buyer.pk,
        buyer.email,
        "order",
        order.public_id,
    )
    assert event.ip_address == "203.0.113.7"
    assert event.before == {
        "contract": essentials_contract.public_id,
        "lines": [["essentials", 5, "25.0000", "2026-06-01"]],
        "purchased_seats": {"full": 5, "identity": 0},
    }
    assert event.after["lines"] == [
        ["essentials", 5, "25.0000", "2026-06-01"],
        ["essentials", 2, "25.0000", "2026-11-27"],
        ["data-storage", 1, "125.0000", "2026-11-27"],
    ]
    assert event.after["purchased_seats"] == {"full": 7, "identity": 0}
    assert (event.after["today_gross_amount"], event.after["po_number"]) == ("27.77", "PO-4711")


def test_same_key_and_body_returns_the_first_order(essentials_org, essentials_contract, buyer):
    first = _place(essentials_org, buyer, essentials_contract, [OrderItem("essentials", 1)])
    state = db_state(essentials_org)

    again = _place(essentials_org, buyer, essentials_contract, [OrderItem("essentials", "1")])

    assert (again.created, again.order.pk) == (False, first.order.pk)
    assert db_state(essentials_org) == state
    assert _full_seats(essentials_org) == 6


def test_same_key_with_another_body_is_refused(essentials_org, essentials_contract, buyer):
    _place(essentials_org, buyer, essentials_contract, [OrderItem("essentials", 1)])
    state = db_state(essentials_org)

    for items, po in [([OrderItem("essentials", 2)], ""), ([OrderItem("essentials", 1)], "PO-1")]:
        with pytest.raises(Conflict) as refused:
            _place(essentials_org, buyer, essentials_contract, items, po_number=po)
        assert (refused.value.code, refused.value.status) == ("idempotency_key_reused", 409)

    assert db_state(essentials_org) == state


def test_the_same_key_in_another_org_is_another_order(
    essentials_org, essentials_contract, buyer, austrian_org, austrian_contract
):
    from konto.accounts.testing import make_admin

    other_buyer = make_admin(austrian_org, "admin@alpen-test.example")
    first = _place(essentials_org, buyer, essentials_contract, [OrderItem("essentials", 1)])

    other = _place(austrian_org, other_buyer, austrian_contract, [OrderItem("enterprise", 1)])

    assert other.created is True
    assert other.order.pk != first.order.pk


def test_a_stale_fingerprint_is_refused_with_the_new_preview_and_nothing_written(
    essentials_org, essentials_contract, buyer
):
    state = db_state(essentials_org)

    with pytest.raises(PriceChanged) as refused:
        _place(essentials_org, buyer, essentials_contract, [OrderItem("essentials", 1)], expected_fingerprint="stale")

    assert (refused.value.code, refused.value.status) == ("price_changed", 409)
    assert refused.value.preview.today.net_amount == Decimal("3.33")
    assert refused.value.extra["preview"]["fingerprint"] == refused.value.preview.fingerprint
    assert db_state(essentials_org) == state


def test_a_price_change_between_preview_and_confirmation_is_shown_not_charged(
    essentials_org, essentials_contract, buyer, catalog
):
    preview = price_order(
        org=essentials_org, contract=essentials_contract, items=[OrderItem("essentials", 3)], today=TODAY
    )
    PriceBookEntry.objects.filter(
        price_book__segment="commercial",
        price_book__currency="EUR",
        product=catalog["essentials"],
        billing_frequency="monthly",
    ).update(unit_price=Decimal("30.0000"))
    state = db_state(essentials_org)

    with pytest.raises(PriceChanged) as refused:
        _place(
            essentials_org,
            buyer,
            essentials_contract,
            [OrderItem("essentials", 3)],
            expected_fingerprint=preview.fingerprint,
        )

    # 3 × 30.00 × 4/30 = 12.00 instead of 3 × 25.00 × 4/30 = 10.00
    assert (preview.today.net_amount, refused.value.preview.today.net_amount) == (Decimal("10.00"), Decimal("12.00"))
    assert db_state(essentials_org) == state


# ---------------------------------------------------------------- bad input and limits


@pytest.mark.parametrize(
    "quantity", [0, -1, "1.5", "abc", 1001, 10**30, True, False, None, 1.0, "", " ", "--1", "²", "1e3", "9" * 5000]
)
def test_quantity_must_be_a_whole_number_from_1_to_1000(essentials_org, essentials_contract, buyer, quantity):
    state = db_state(essentials_org)

    with pytest.raises(InvalidInput) as refused:
        _place(essentials_org, buyer, essentials_contract, [OrderItem("essentials", quantity)])

    assert (refused.value.code, refused.value.status) == ("invalid_quantity", 422)
    assert list(refused.value.fields) == ["lines[0].quantity"]
    assert db_state(essentials_org) == state


@pytest.mark.parametrize(
    ("product", "code"),
    [
        ("nope", "unknown_product"),
        ("", "unknown_product"),
        (None, "unknown_product"),
        (42, "unknown_product"),
        ("x" * 51, "unknown_product"),
        ("analytics", "product_not_allowed"),  # from Professional on
        ("enterprise", "product_not_allowed"),  # another edition's seats
        ("retired", "unknown_product"),  # no longer on sale
    ],
)
def test_unknown_forbidden_and_retired_products_are_refused(
    essentials_org, essentials_contract, buyer, catalog, product, code
):
    Product.objects.create(code="retired", name_de="Alt", name_en="Old", kind="add_on", unit="user", is_active=False)
    state = db_state(essentials_org)

    with pytest.raises((InvalidInput, PurchaseRefused)) as refused:
        _place(essentials_org, buyer, essentials_contract, [OrderItem(product, 1)])

    assert refused.value.code == code
    assert list(refused.value.fields) == ["lines[0].product"]
    assert db_state(essentials_org) == state


def test_a_product_twice_in_one_order_is_refused(essentials_org, essentials_contract, buyer):
    state = db_state(essentials_org)

    with pytest.raises(InvalidInput) as refused:
        _place(essentials_org, buyer, essentials_contract, [OrderItem("inbox", 1), OrderItem(" inbox ", 2)])

    assert (refused.value.code, list(refused.value.fields)) == ("duplicate_product", ["lines[1].product"])
    assert db_state(essentials_org) == state


def test_the_eleventh_essentials_license_is_refused_with_the_upgrade_offer(essentials_org, essentials_contract, buyer):
    # Given 5 bought, 5 more fit
    _place(essentials_org, buyer, essentials_contract, [OrderItem("essentials", 5)], key="up-to-ten")
    assert _full_seats(essentials_org) == 10
    state = db_state(essentials_org)

    # When the 11th is ordered (with an add-on beside it)
    with pytest.raises(PurchaseRefused) as refused:
        _place(
            essentials_org,
            buyer,
            essentials_contract,
            [OrderItem("data-storage", 1), OrderItem("essentials", 1)],
            key="eleventh",
        )

    # Then the whole order is refused and the upgrade is offered
    assert (refused.value.code, refused.value.status) == ("essentials_license_limit", 409)
    assert refused.value.extra == {"max": 10, "bought": 10, "upgrade_available": True}
    assert "at most 10 Full licenses" in str(refused.value)
    assert "upgrade" in str(refused.value)
    assert db_state(essentials_org) == state


def test_six_more_on_five_bought_is_refused_and_says_five_fit(essentials_org, essentials_contract, buyer):
    with pytest.raises(PurchaseRefused) as refused:
        _place(essentials_org, buyer, essentials_contract, [OrderItem("essentials", 6)])

    assert refused.value.extra == {"max": 10, "bought": 5, "upgrade_available": True}
    assert "You have 5, so you can add 5 more." in str(refused.value)


def test_enterprise_has_no_license_limit(austrian_org, austrian_contract):
    from konto.accounts.testing import make_admin

    placed = _place(
        austrian_org, make_admin(austrian_org, "a@alpen.example"), austrian_contract, [OrderItem("enterprise", 1000)]
    )

    assert _full_seats(austrian_org) == 1040
    assert placed.order.lines.get().quantity == 1000


@pytest.mark.parametrize("status", ["overdue", "suspended", "closed"])
def test_an_org_that_is_not_in_good_standing_cannot_buy(essentials_org, essentials_contract, buyer, status):
    essentials_org.status = status
    essentials_org.save(update_fields=["status"])
    state = db_state(essentials_org)

    with pytest.raises(PurchaseRefused) as refused:
        _place(essentials_org, buyer, essentials_contract, [OrderItem("essentials", 1)])

    assert refused.value.code == "org_overdue"
    assert db_state(essentials_org) == state


def test_the_org_status_is_read_fresh_under_the_lock(essentials_org, essentials_contract, buyer):
    # The caller's org object is stale: the account became overdue after it was loaded
    type(essentials_org).objects.filter(pk=essentials_org.pk).update(status="overdue")

    with pytest.raises(PurchaseRefused) as refused:
        _place(essentials_org, buyer, essentials_contract, [OrderItem("essentials", 1)])

    assert refused.value.code == "org_overdue"
    assert Order.objects.count() == 0


def test_another_orgs_contract_is_not_found(essentials_org, buyer, austrian_contract):
    state = db_state(essentials_org)

    with pytest.raises(NotFound):
        _place(essentials_org, buyer, austrian_contract, [OrderItem("essentials", 1)])
    with pytest.raises(NotFound):
        price_order(org=essentials_org, contract=austrian_contract, items=[OrderItem("essentials", 1)], today=TODAY)

    assert db_state(essentials_org) == state


@pytest.mark.parametrize(
    ("status", "today"),
    [
        (Contract.Status.CANCELLED, TODAY),
        (Contract.Status.EXPIRED, TODAY),
        (Contract.Status.ACTIVE, date(2027, 6, 1)),  # the end date is no longer covered
        (Contract.Status.ACTIVE, date(2026, 5, 31)),  # before the start
    ],
)
def test_an_inactive_contract_or_a_date_outside_the_term_is_refused(
    essentials_org, essentials_contract, buyer, status, today
):
    Contract.objects.filter(pk=essentials_contract.pk).update(status=status)
    state = db_state(essentials_org)

    with pytest.raises(PurchaseRefused) as refused:
        place_order(
            org=essentials_org,
            actor=actor_of(buyer),
            contract=essentials_contract,
            items=[OrderItem("essentials", 1)],
            idempotency_key="k",
            today=today,
        )

    assert refused.value.code == "contract_inactive"
    assert db_state(essentials_org) == state


@pytest.mark.parametrize(
    ("items", "code"),
    [
        ([], "empty_order"),
        ([OrderItem(f"product-{n}", 1) for n in range(21)], "too_many_lines"),
    ],
)
def test_empty_and_oversized_orders_are_refused(essentials_org, essentials_contract, buyer, items, code):
    state = db_state(essentials_org)

    with pytest.raises(InvalidInput) as refused:
        _place(essentials_org, buyer, essentials_contract, items)

    assert (refused.value.code, list(refused.value.fields)) == (code, ["lines"])
    assert db_state(essentials_org) == state


@pytest.mark.parametrize("key", ["", "   ", None, 17, "k" * 256, "line\nbreak", "tab\there"])
def test_a_missing_or_malformed_idempotency_key_is_refused(essentials_org, essentials_contract, buyer, key):
    state = db_state(essentials_org)

    with pytest.raises(InvalidInput) as refused:
        _place(essentials_org, buyer, essentials_contract, [OrderItem("essentials", 1)], key=key)

    assert (refused.value.code, list(refused.value.fields)) == ("idempotency_key_missing", ["idempotency_key"])
    assert db_state(essentials_org) == state


def test_an_idempotency_key_of_255_characters_is_accepted(essentials_org, essentials_contract, buyer):
    placed = _place(essentials_org, buyer, essentials_contract, [OrderItem("essentials", 1)], key="k" * 255)

    assert placed.order.idempotency_key == "k" * 255


@pytest.mark.parametrize("po_number", ["P" * 36, "PO\n1", "PO\x001", "PO\x7f", 4711])
def test_a_po_number_too_long_or_with_control_characters_is_refused(
    essentials_org, essentials_contract, buyer, po_number
):
    state = db_state(essentials_org)

    with pytest.raises(InvalidInput) as refused:
        _place(essentials_org, buyer, essentials_contract, [OrderItem("essentials", 1)], po_number=po_number)

    assert (refused.value.code, list(refused.value.fields)) == ("invalid_po_number", ["po_number"])
    assert db_state(essentials_org) == state


def test_a_product_without_a_price_for_the_frequency_is_refused(essentials_org, essentials_contract, buyer, catalog):
    PriceBookEntry.objects.filter(product=catalog["inbox"], billing_frequency="monthly").delete()

    with pytest.raises(PurchaseRefused) as refused:
        _place(essentials_org, buyer, essentials_contract, [OrderItem("inbox", 1)])

    assert (refused.value.code, list(refused.value.fields)) == ("no_price", ["lines[0].product"])
    assert (Order.objects.count(), OrderLine.objects.count(), ContractLine.objects.count()) == (0, 0, 1)
