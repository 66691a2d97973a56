"""Catalog rules: what a price and a product must satisfy before they are saved."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from konto.catalog.services import validate_product, validate_unit_price
from konto.core.exceptions import InvalidInput


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", Decimal("0")),
        ("25", Decimal("25")),
        ("12.3456", Decimal("12.3456")),
        (Decimal("9999999999.9999"), Decimal("9999999999.9999")),
        (" 7.50 ", Decimal("7.50")),
    ],
)
def test_valid_prices_are_accepted(value, expected):
    assert validate_unit_price(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-0.01", "A price cannot be negative."),
        ("1.23456", "Use at most 4 decimal places."),
        ("10000000000", "The price can be at most 9999999999.9999."),
        ("NaN", "Enter the net price as a number, e.g. 25.00."),
        ("Infinity", "Enter the net price as a number, e.g. 25.00."),
        ("zwölf", "Enter the net price as a number, e.g. 25.00."),
        ("", "Enter the net price as a number, e.g. 25.00."),
        (None, "Enter the net price as a number, e.g. 25.00."),
    ],
)
def test_invalid_prices_are_refused_with_a_clear_message(value, message):
    with pytest.raises(InvalidInput) as refused:
        validate_unit_price(value)

    assert refused.value.code == "invalid_price"
    assert refused.value.fields == {"unit_price": message}


def _product(**changes: Any) -> dict[str, Any]:
    fields = {
        "kind": "add_on",
        "edition": "",
        "allowed_editions": ["unlimited", "essentials"],
        "grants_license_type": "",
        "seats_per_unit": 0,
    }
    return {**fields, **changes}


def test_allowed_editions_come_back_in_edition_order():
    assert validate_product(**_product()) == ["essentials", "unlimited"]


def test_edition_product_needs_its_edition():
    with pytest.raises(InvalidInput) as refused:
        validate_product(**_product(kind="edition", edition=""))

    assert refused.value.fields == {"edition": "An edition product needs its edition."}


def test_add_on_cannot_name_an_edition():
    with pytest.raises(InvalidInput) as refused:
        validate_product(**_product(edition="enterprise"))

    assert refused.value.fields == {"edition": "Only edition products have an edition; leave it empty."}


def test_unknown_editions_and_kinds_are_refused():
    with pytest.raises(InvalidInput) as refused:
        validate_product(**_product(kind="gift", allowed_editions=["essentials", "platinum"]))

    assert refused.value.fields == {
        "kind": "Choose edition, add-on or license pack.",
        "allowed_editions": "Unknown edition: platinum.",
    }


def test_license_grants_need_seats_and_seats_need_a_license_type():
    with pytest.raises(InvalidInput) as no_seats:
        validate_product(**_product(kind="license", grants_license_type="identity", seats_per_unit=0))
    with pytest.raises(InvalidInput) as no_type:
        validate_product(**_product(seats_per_unit=10))
    with pytest.raises(InvalidInput) as unknown_type:
        validate_product(**_product(grants_license_type="platinum", seats_per_unit=1))

    assert no_seats.value.fields == {
        "seats_per_unit": "A product that grants licenses grants at least one seat per unit."
    }
    assert no_type.value.fields == {
        "seats_per_unit": "Choose which licenses the seats are, or set seats per unit to 0."
    }
    assert unknown_type.value.fields == {"grants_license_type": "Choose Full, Identity or none."}
