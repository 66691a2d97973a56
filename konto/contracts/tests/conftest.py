"""Fixtures of the contracts tests: the demo catalog and price books, orgs with contracts made by the service."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.utils import translation

from konto.accounts.models import LicensePool, Org, User
from konto.accounts.testing import make_admin, make_org
from konto.backoffice.management.commands.seed_demo import Command as SeedDemo
from konto.catalog.models import Product
from konto.contracts.models import Charge, Contract, ContractLine, Order, OrderLine
from konto.contracts.services.contracts import InitialLine, create_contract
from konto.core.audit import Actor
from konto.core.models import AuditEvent

TODAY = date(2026, 11, 27)  # the demo's today; services take the date explicitly


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    # Messages are asserted in English, the source language, whatever the default language is.
    with translation.override("en"):
        yield


@pytest.fixture
def catalog(db: None) -> dict[str, Product]:
    return build_catalog()


def build_catalog() -> dict[str, Product]:
    """The demo vendor (DE), products and the four price books (monthly prices × 1, 3, 12)."""
    seed: Any = SeedDemo()
    seed.reset, seed.created, seed.updated = False, Counter(), Counter()
    seed.seed_vendor()
    products: dict[str, Product] = seed.seed_products()
    seed.seed_price_books(products)
    return products


def actor_of(user: User) -> Actor:
    return Actor(user_id=user.pk, email=user.email, ip_address="203.0.113.7")


def add_contract(
    org: Org,
    products: dict[str, Product],
    *,
    start: date,
    end: date,
    frequency: str,
    lines: Sequence[tuple[str, int] | tuple[str, int, Decimal]],
    payment: str = "card",
    **fields: Any,
) -> Contract:
    return create_contract(
        org=org,
        actor=Actor.system("test"),
        start_date=start,
        end_date=end,
        billing_frequency=frequency,
        payment_method_kind=payment,
        lines=[InitialLine(products[line[0]], line[1], line[2] if len(line) > 2 else None) for line in lines],
        **fields,
    )


@pytest.fixture
def essentials_org(catalog: dict[str, Product]) -> Org:
    """A German Essentials org (like Bäckerei Müller): no seats but those its contract sells."""
    return make_org(legal_name="Bäckerei Test GmbH", vat_id="DE295713867", full_seats=0)


@pytest.fixture
def essentials_contract(essentials_org: Org, catalog: dict[str, Product]) -> Contract:
    """Monthly, by card, 2026-06-01 to 2027-06-01, 5 Essentials licenses at 25.00 EUR per month."""
    return add_contract(
        essentials_org,
        catalog,
        start=date(2026, 6, 1),
        end=date(2027, 6, 1),
        frequency="monthly",
        lines=[("essentials", 5)],
    )


@pytest.fixture
def buyer(essentials_org: Org) -> User:
    return make_admin(essentials_org, "admin@baeckerei-test.example")


@pytest.fixture
def austrian_org(catalog: dict[str, Product]) -> Org:
    """An Austrian Enterprise org with a VAT ID (reverse charge), like Alpenblick."""
    return make_org(
        legal_name="Alpen Test GmbH",
        country="AT",
        vat_id="ATU13585627",
        city="Wien",
        postal_code="1060",
        edition="enterprise",
        full_seats=0,
    )


@pytest.fixture
def austrian_contract(austrian_org: Org, catalog: dict[str, Product]) -> Contract:
    """Annual, by bank transfer, 2026-03-01 to 2027-03-01, 40 Enterprise licenses at 1,980.00 EUR per year."""
    return add_contract(
        austrian_org,
        catalog,
        start=date(2026, 3, 1),
        end=date(2027, 3, 1),
        frequency="annual",
        lines=[("enterprise", 40)],
        payment="bank_transfer",
    )


@pytest.fixture
def swiss_nonprofit(catalog: dict[str, Product]) -> Org:
    return make_org(
        legal_name="Tierhilfe Test",
        country="CH",
        vat_id="CHE116281710MWST",
        city="Zürich",
        postal_code="8001",
        edition="enterprise",
        segment="nonprofit",
        full_seats=0,
    )


@pytest.fixture
def swiss_contract(swiss_nonprofit: Org, catalog: dict[str, Product]) -> Contract:
    """Annual, CHF, 2026-01-01 to 2027-01-01, 10 donated Enterprise licenses at 0.00."""
    return add_contract(
        swiss_nonprofit,
        catalog,
        start=date(2026, 1, 1),
        end=date(2027, 1, 1),
        frequency="annual",
        lines=[("enterprise", 10, Decimal("0.00"))],
        payment="bank_transfer",
    )


def db_state(org: Org) -> dict[str, Any]:
    """Everything an order or contract could change: compare before and after a refused call."""
    return {
        "orders": Order.objects.count(),
        "order_lines": OrderLine.objects.count(),
        "contracts": Contract.objects.count(),
        "contract_lines": ContractLine.objects.count(),
        "charges": Charge.objects.count(),
        "audit_events": AuditEvent.objects.count(),
        "seats": dict(
            LicensePool.objects.filter(org=org).values_list("license_type", "purchased_seats").order_by("license_type")
        ),
    }
