"""Concurrent confirmations on PostgreSQL: the org row lock makes orders idempotent and keeps the Essentials limit.

Each scenario starts its calls in threads released together by a barrier; every
thread has its own database connection and closes it. SQLite serialises writers
anyway, so these tests only run against PostgreSQL (DATABASE_URL=postgres://…).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from django.db import connection

from konto.accounts.models import LicensePool, LicenseType
from konto.contracts.exceptions import PurchaseRefused
from konto.contracts.models import Charge, ContractLine, Order, OrderLine
from konto.contracts.services.orders import PlacedOrder, place_order
from konto.contracts.services.pricing import OrderItem
from konto.core.models import AuditEvent

from .conftest import TODAY, actor_of, add_contract

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (set DATABASE_URL=postgres://…)"),
    # Committed data that the threads' own connections can see; the flush afterwards is followed by
    # post_migrate, which brings back the standard profiles (no serialized_rollback: its restore
    # collides with content types that an earlier transactional test's flush has recreated).
    pytest.mark.django_db(transaction=True),
]


def _run_together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in parallel threads; each result is the return value or the exception raised."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except Exception as error:  # the test inspects what each call raised
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a call did not finish"
    return results


def test_ten_confirmations_with_the_same_key_create_one_order(essentials_org, essentials_contract, buyer):
    # Given a contract with 5 Essentials licenses (12 monthly charges)
    def confirm() -> PlacedOrder:
        return place_order(
            org=essentials_org,
            actor=actor_of(buyer),
            contract=essentials_contract,
            items=[OrderItem("essentials", 2), OrderItem("data-storage", 1)],
            idempotency_key="double-click",
            today=TODAY,
        )

    # When the same order is confirmed 10 times at once
    results = _run_together([confirm] * 10)

    # Then there is one order, one set of lines and charges, and every call answers with it
    assert all(isinstance(result, PlacedOrder) for result in results), results
    order = Order.objects.get()
    assert {result.order.pk for result in results} == {order.pk}
    assert sorted(result.created for result in results) == [False] * 9 + [True]
    assert OrderLine.objects.count() == 2
    assert ContractLine.objects.filter(order=order).count() == 2
    assert Charge.objects.filter(line__order=order).count() == 14  # 2026-11 .. 2027-05 for 2 lines
    assert Charge.objects.count() == 12 + 14
    assert LicensePool.objects.get(org=essentials_org, license_type=LicenseType.FULL).purchased_seats == 7
    assert AuditEvent.objects.filter(action="order.placed").count() == 1


def test_ten_different_orders_let_exactly_the_licenses_that_fit_through(essentials_org, essentials_contract, buyer):
    # Given an Essentials org with 5 of its 10 Full licenses bought
    def buy_one(n: int) -> Callable[[], PlacedOrder]:
        return lambda: place_order(
            org=essentials_org,
            actor=actor_of(buyer),
            contract=essentials_contract,
            items=[OrderItem("essentials", 1)],
            idempotency_key=f"tab-{n}",
            today=TODAY,
        )

    # When 10 people each buy one more at the same moment
    results = _run_together([buy_one(n) for n in range(10)])

    # Then exactly 5 get through and 5 are refused for the limit
    placed = [result for result in results if isinstance(result, PlacedOrder)]
    refused = [result for result in results if isinstance(result, PurchaseRefused)]
    assert (len(placed), len(refused)) == (5, 5), results
    assert {error.code for error in refused} == {"essentials_license_limit"}
    assert [error.extra for error in refused] == [{"max": 10, "bought": 10, "upgrade_available": True}] * 5
    assert Order.objects.count() == 5
    assert sum(ContractLine.objects.filter(org=essentials_org).values_list("quantity", flat=True)) == 10
    assert LicensePool.objects.get(org=essentials_org, license_type=LicenseType.FULL).purchased_seats == 10


def test_the_essentials_limit_holds_across_two_contracts_of_one_org(
    essentials_org, essentials_contract, buyer, catalog
):
    # Given a second active contract of the same org: only the org row lock serialises orders on both
    second = add_contract(
        essentials_org,
        catalog,
        start=date(2026, 11, 1),
        end=date(2027, 11, 1),
        frequency="monthly",
        lines=[("inbox", 1)],
    )

    def buy_one(n: int) -> Callable[[], PlacedOrder]:
        return lambda: place_order(
            org=essentials_org,
            actor=actor_of(buyer),
            contract=essentials_contract if n % 2 else second,
            items=[OrderItem("essentials", 1)],
            idempotency_key=f"tab-{n}",
            today=TODAY,
        )

    results = _run_together([buy_one(n) for n in range(10)])

    placed = [result for result in results if isinstance(result, PlacedOrder)]
    refused = [result for result in results if isinstance(result, PurchaseRefused)]
    assert (len(placed), len(refused)) == (5, 5), results
    assert LicensePool.objects.get(org=essentials_org, license_type=LicenseType.FULL).purchased_seats == 10
