"""The sandbox's server functions: setups, charges and refunds, one per idempotency key even when requests race."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
from django.db import connection

from konto.sandbox import server
from konto.sandbox.cards import TEST_CARDS, Behaviour, find_test_card, passes_luhn
from konto.sandbox.models import SandboxCard, SandboxCharge, SandboxRefund, SandboxSetup
from konto.sandbox.tests.helpers import ORG_REF, RETURN_URL

needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (set DATABASE_URL=postgres://…)"
)


def active_card(number: str = "4242424242424242") -> SandboxCard:
    setup = server.create_setup(org_ref=ORG_REF, customer_ref="", return_url=RETURN_URL)
    setup = server.submit_card(setup_ref=setup.ref, number=number, exp_month=12, exp_year=2030)
    assert setup.card is not None
    return setup.card


def create_charge(card: SandboxCard, key: str = "pay_1", amount: str = "119.00") -> SandboxCharge:
    return server.create_charge(
        card_token=card.token,
        customer_ref=card.customer_ref,
        amount=Decimal(amount),
        currency="EUR",
        idempotency_key=key,
        description="Konto RE-2026-000042",
        is_on_session=False,
        return_url="",
    )


def run_together(calls: list[Callable[[], Any]]) -> list[Any]:
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except Exception as error:
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


# ---------------------------------------------------------------- the card table


def test_every_test_card_passes_luhn_and_is_found():
    for card in TEST_CARDS:
        assert passes_luhn(card.number), card.number
        assert find_test_card(card.number) == card
    assert {card.behaviour for card in TEST_CARDS} == set(Behaviour.values)


def test_luhn_rejects_a_changed_digit():
    assert passes_luhn("4242424242424242")
    assert not passes_luhn("4242424242424241")
    assert find_test_card("4012888888881881") is None  # a valid number, but not a sandbox card


# ---------------------------------------------------------------- setups


@pytest.mark.django_db
def test_submit_card_keeps_no_number():
    card = active_card("5555555555554444")

    assert (card.brand, card.last4, card.behaviour, card.is_active) == ("mastercard", "4444", "succeeds", True)
    stored = " ".join(str(value) for value in SandboxCard.objects.values_list().get())
    assert "5555555555554444" not in stored


@pytest.mark.django_db
def test_submit_of_a_real_card_number_is_refused_and_stores_nothing():
    setup = server.create_setup(org_ref=ORG_REF, customer_ref="", return_url=RETURN_URL)

    with pytest.raises(server.SandboxRefused) as refused:
        server.submit_card(setup_ref=setup.ref, number="4012888888881881", exp_month=12, exp_year=2030)

    assert refused.value.code == "not_a_test_card"
    setup.refresh_from_db()
    assert setup.status == SandboxSetup.Status.PENDING
    assert SandboxCard.objects.count() == 0


@pytest.mark.django_db
def test_refs_are_long_and_unguessable():
    setup = server.create_setup(org_ref=ORG_REF, customer_ref="", return_url=RETURN_URL)

    assert len(setup.ref) == len("seti_sb_") + 24
    assert setup.ref != server.create_setup(org_ref=ORG_REF, customer_ref="", return_url=RETURN_URL).ref


# ---------------------------------------------------------------- charges


@pytest.mark.django_db
def test_same_key_returns_the_stored_charge():
    card = active_card()

    first = create_charge(card)
    second = create_charge(card)

    assert second.pk == first.pk
    assert SandboxCharge.objects.count() == 1


@pytest.mark.django_db
def test_same_key_with_another_amount_is_refused():
    card = active_card()
    create_charge(card)

    with pytest.raises(server.SandboxRefused) as refused:
        create_charge(card, amount="1.00")

    assert refused.value.code == "idempotency_key_reused"
    assert SandboxCharge.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(("amount", "currency"), [("0.00", "EUR"), ("-1.00", "EUR"), ("1.001", "EUR"), ("1.00", "USD")])
def test_bad_amounts_are_refused(amount, currency):
    card = active_card()

    with pytest.raises(server.SandboxRefused):
        server.create_charge(
            card_token=card.token,
            customer_ref="",
            amount=Decimal(amount),
            currency=currency,
            idempotency_key="pay_bad",
            description="",
            is_on_session=False,
            return_url="",
        )

    assert SandboxCharge.objects.count() == 0


@pytest.mark.postgres
@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_same_key_at_the_same_moment_charges_once():
    card = active_card()

    results = run_together([lambda: create_charge(card, key="pay_race")] * 8)

    assert all(isinstance(result, SandboxCharge) for result in results), results
    assert {result.pk for result in results} == {SandboxCharge.objects.get().pk}


@pytest.mark.postgres
@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_refunds_at_the_same_moment_never_exceed_the_charge():
    charge = create_charge(active_card(), key="pay_refund_race")

    refund = partial(server.create_refund, charge_ref=charge.ref, amount=Decimal("50.00"), currency="EUR")

    results = run_together([partial(refund, idempotency_key=f"ref_{index}") for index in range(6)])

    refunds = [result for result in results if isinstance(result, SandboxRefund)]
    refused = [result for result in results if isinstance(result, server.SandboxRefused)]
    assert (len(refunds), len(refused)) == (2, 4)
    assert {error.code for error in refused} == {"amount_too_large"}
    charge.refresh_from_db()
    assert charge.amount_refunded == Decimal("100.00")
