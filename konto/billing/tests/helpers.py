"""Builders for the billing tests: the demo catalog and vendor, orgs with contracts made by the services."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from konto.accounts.models import Org
from konto.accounts.testing import make_org
from konto.catalog.models import Product
from konto.contracts.models import Contract
from konto.contracts.tests.conftest import add_contract, build_catalog

__all__ = ["add_contract", "build_catalog", "german_org", "monthly_contract"]


def german_org(name: str = "Bäckerei Test GmbH", **fields: Any) -> Org:
    fields.setdefault("vat_id", "DE295713867")
    return make_org(legal_name=name, full_seats=0, **fields)


def monthly_contract(
    org: Org, catalog: dict[str, Product], *, quantity: int = 5, price: str = "25.00", **fields: Any
) -> Contract:
    """Monthly by card, 2026-06-01 to 2027-06-01: `quantity` Essentials licenses at `price` per month."""
    return add_contract(
        org,
        catalog,
        start=date(2026, 6, 1),
        end=date(2027, 6, 1),
        frequency="monthly",
        lines=[("essentials", quantity, Decimal(price))],
        **fields,
    )
