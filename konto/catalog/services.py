"""Catalog writes: the rules a product and a price must satisfy before they are saved.

The back office edits products and price book entries through model forms
that call these checks; the demo seed calls them too, so no product or price
exists that the rules would refuse.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

from konto.accounts.models import LicenseType
from konto.catalog.models import Product
from konto.core.editions import Edition
from konto.core.exceptions import InvalidInput
from konto.core.money import UNIT_PRICE_QUANTUM

MAX_UNIT_PRICE = Decimal("9999999999.9999")  # 14 digits, 4 of them decimals (the column's size)


def validate_unit_price(value: Any) -> Decimal:
    """A net unit price: a finite number >= 0 with at most 4 decimals. Returns it as Decimal."""
    try:
        price = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        price = Decimal("NaN")
    if not price.is_finite():
        message = _("Enter the net price as a number, e.g. 25.00.")
        raise InvalidInput(message, code="invalid_price", fields={"unit_price": message})
    if price < 0:
        message = _("A price cannot be negative.")
        raise InvalidInput(message, code="invalid_price", fields={"unit_price": message})
    if price != price.quantize(UNIT_PRICE_QUANTUM):
        message = _("Use at most 4 decimal places.")
        raise InvalidInput(message, code="invalid_price", fields={"unit_price": message})
    if price > MAX_UNIT_PRICE:
        message = _("The price can be at most %(max)s.") % {"max": MAX_UNIT_PRICE}
        raise InvalidInput(message, code="invalid_price", fields={"unit_price": message})
    return price


def validate_product(
    *,
    kind: str,
    edition: str,
    allowed_editions: Iterable[str],
    grants_license_type: str,
    seats_per_unit: int,
) -> list[str]:
    """Check how a product's fields fit together; returns the allowed editions in edition order.

    An edition product names its edition; other products name none. Allowed
    editions are known edition codes. A product that grants licenses grants at
    least one seat per unit, and seats per unit need a license type.
    """
    errors: dict[str, str] = {}
    if kind not in Product.Kind.values:
        errors["kind"] = _("Choose edition, add-on or license pack.")
    if kind == Product.Kind.EDITION and edition not in Edition.values:
        errors["edition"] = _("An edition product needs its edition.")
    elif kind != Product.Kind.EDITION and edition:
        errors["edition"] = _("Only edition products have an edition; leave it empty.")
    allowed = set(allowed_editions)
    unknown = sorted(allowed - set(Edition.values))
    if unknown:
        errors["allowed_editions"] = _("Unknown edition: %(codes)s.") % {"codes": ", ".join(unknown)}
    if grants_license_type not in ("", *LicenseType.values):
        errors["grants_license_type"] = _("Choose Full, Identity or none.")
    elif grants_license_type and seats_per_unit < 1:
        errors["seats_per_unit"] = _("A product that grants licenses grants at least one seat per unit.")
    elif not grants_license_type and seats_per_unit:
        errors["seats_per_unit"] = _("Choose which licenses the seats are, or set seats per unit to 0.")
    if errors:
        raise InvalidInput(_("Please correct the marked fields."), fields=dict(errors))
    return [e.value for e in Edition if e.value in allowed]
