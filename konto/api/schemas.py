"""The wire shapes of the API: what each resource looks like in JSON.

Ids are public ids (`usr_…`, `org_…`), never database ids. Money is a string
with 2 to 4 decimals, never a float. Text fields that are not set are null.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from ninja import Field, Schema
from pydantic import AfterValidator, BaseModel, ConfigDict, StrictStr
from pydantic_core import PydanticCustomError

from konto.accounts.models import Org, PermissionSet, Profile, User
from konto.accounts.permissions import effective_permissions
from konto.accounts.selectors import LicenseUsage
from konto.catalog.selectors import OrgProduct
from konto.core.money import UNIT_PRICE_QUANTUM

MONEY_PATTERN = r"^-?\d+\.\d{2,4}$"
PUBLIC_ID = re.compile(r"[a-z]{2,8}_[0-9a-z]{1,24}")


def is_public_id(value: str) -> bool:
    """Whether `value` has the shape of a public id; anything else cannot name an object."""
    return PUBLIC_ID.fullmatch(value) is not None


def _no_null_characters(value: str) -> str:
    # PostgreSQL cannot store NUL in text; refuse it as input instead of failing later.
    if "\x00" in value:
        raise PydanticCustomError("null_character", "Null characters are not allowed.")
    return value


# Text input: a JSON string (no numbers or booleans coerced) without NUL characters.
Text = Annotated[StrictStr, AfterValidator(_no_null_characters)]


def decimal_string(amount: Decimal) -> str:
    """A unit price as a string with 2 to 4 decimals: 25 → "25.00", 1.2345 → "1.2345"."""
    text = f"{amount.quantize(UNIT_PRICE_QUANTUM, rounding=ROUND_HALF_UP):f}"
    whole, _, decimals = text.partition(".")
    return f"{whole}.{decimals.rstrip('0').ljust(2, '0')}"


def _or_none(value: str) -> str | None:
    return value or None


# ---------------------------------------------------------------- problems (documentation only)


class FieldError(Schema):
    field: str = Field(description="The input at fault, as the API names it, e.g. `address.city` or `limit`.")
    message: str = Field(description="What is wrong, in the request's language.")


class Problem(Schema):
    """An error (RFC 9457); the body of every 4xx/5xx answer, as application/problem+json.

    Some problems add extension members, e.g. `missing_permission` with `permission_denied`.
    """

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="`https://konto.dev/problems/<code>`.")
    title: str
    status: int
    detail: str = Field(description="What happened, translated per Accept-Language.")
    code: str = Field(description="Stable machine-readable code, e.g. `invalid_vat_id`.")
    errors: list[FieldError] | None = Field(None, description="Field errors, where an input is at fault.")


# ---------------------------------------------------------------- users


class NamedCode(Schema):
    code: str = Field(description="Stable code.")
    name: str = Field(description="Name in the request's language.")

    @classmethod
    def of(cls, obj: Profile | PermissionSet) -> NamedCode:
        return cls(code=obj.code, name=str(obj))


class UserOut(Schema):
    id: str = Field(description="Public id, `usr_…`.")
    email: str
    full_name: str
    license_type: str = Field(description="`full` or `identity`.")
    profile: NamedCode | None
    permission_sets: list[NamedCode]
    permissions: list[str] = Field(description="Effective permissions: profile and permission sets combined, sorted.")
    language: str | None = Field(description="`de` or `en`; null means the org's language.")
    can_use_product: bool = Field(description="False for Identity users: they reach My Account only.")
    is_active: bool
    joined_at: datetime
    deactivated_at: datetime | None
    org_id: str = Field(description="Public id of the user's org, `org_…`.")

    @classmethod
    def of(cls, user: User) -> UserOut:
        """Serialise a user loaded through an accounts selector (profile and sets prefetched)."""
        if user.org is None:
            raise ValueError("Vendor staff are not org users.")
        return cls(
            id=user.public_id,
            email=user.email,
            full_name=user.full_name,
            license_type=user.license_type,
            profile=NamedCode.of(user.profile) if user.profile else None,
            permission_sets=[NamedCode.of(ps) for ps in user.permission_sets.all()],
            permissions=sorted(effective_permissions(user)),
            language=_or_none(user.language),
            can_use_product=user.can_use_product,
            is_active=user.is_active,
            joined_at=user.date_joined,
            deactivated_at=user.deactivated_at,
            org_id=user.org.public_id,
        )


class UserPage(Schema):
    items: list[UserOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


# ---------------------------------------------------------------- org


class AddressOut(Schema):
    street: str
    line2: str | None
    postal_code: str
    city: str
    country: str = Field(description="ISO 3166-1 alpha-2, e.g. `DE`.")


class OrgOut(Schema):
    id: str = Field(description="Public id, `org_…`.")
    legal_name: str
    address: AddressOut
    vat_id: str | None = Field(description="Compact form, e.g. `DE123456788`; Swiss ids formatted `CHE-…`.")
    billing_email: str | None
    currency: str = Field(description="`EUR` or `CHF`.")
    language: str = Field(description="`de` or `en`: the language of invoices and emails.")
    segment: str = Field(description="`commercial` or `nonprofit`.")
    edition: str = Field(description="`essentials`, `professional`, `enterprise` or `unlimited`.")
    status: str = Field(description="`active`, `overdue`, `suspended` or `closed`.")

    @classmethod
    def of(cls, org: Org) -> OrgOut:
        return cls(
            id=org.public_id,
            legal_name=org.legal_name,
            address=AddressOut(
                street=org.street,
                line2=_or_none(org.address_line2),
                postal_code=org.postal_code,
                city=org.city,
                country=org.country,
            ),
            vat_id=_or_none(org.vat_id),
            billing_email=_or_none(org.billing_email),
            currency=org.currency,
            language=org.language,
            segment=org.segment,
            edition=org.edition,
            status=org.status,
        )


def _patch_field(*, extra: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """An optional PATCH member: absent means unchanged (so the docs show no `default`)."""

    def schema_extra(schema: dict[str, Any]) -> None:
        schema.pop("default", None)
        schema.update(extra or {})

    return Field(None, json_schema_extra=schema_extra, **kwargs)


# Types, nulls and unknown members are checked here; values (lengths, country,
# VAT ID, currency, language) by the service, which reports all of them at once.


class AddressPatch(BaseModel):
    """Any subset of the address; members left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    street: Text = _patch_field(extra={"maxLength": 200})
    line2: Text | None = _patch_field(extra={"maxLength": 200}, description="Empty or null clears it.")
    postal_code: Text = _patch_field(extra={"maxLength": 20})
    city: Text = _patch_field(extra={"maxLength": 100})
    country: Text = _patch_field(description="ISO 3166-1 alpha-2 code of a billable country, e.g. `AT`.")


class OrgPatch(BaseModel):
    """Any subset of the billing profile; members left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    legal_name: Text = _patch_field(extra={"maxLength": 200})
    address: AddressPatch = _patch_field()
    vat_id: Text | None = _patch_field(
        description="Checked (format and check digits) against the billing country; empty or null clears it."
    )
    billing_email: Text | None = _patch_field(description="Empty or null clears it.")
    currency: Text = _patch_field(extra={"enum": ["EUR", "CHF"]})
    language: Text = _patch_field(extra={"enum": ["de", "en"]})


# ---------------------------------------------------------------- licenses


class LicenseOut(Schema):
    type: str = Field(description="`full` or `identity`.")
    name: str = Field(description="Name in the request's language.")
    bought: int = Field(description="Seats the org may assign: bought plus included (e.g. 100 free Identity).")
    assigned: int = Field(description="Active users holding this license type.")
    free: int = Field(description="Seats still free to assign.")

    @classmethod
    def of(cls, usage: LicenseUsage) -> LicenseOut:
        return cls(
            type=usage.license_type,
            name=usage.label,
            bought=usage.total,
            assigned=usage.assigned,
            free=usage.available,
        )


class LicenseList(Schema):
    items: list[LicenseOut]


# ---------------------------------------------------------------- products


class PriceOut(Schema):
    billing_frequency: str = Field(description="`monthly`, `quarterly` or `annual`.")
    unit_price: str = Field(
        pattern=MONEY_PATTERN, description="Net price per unit and billing period, 2 to 4 decimals, e.g. `25.00`."
    )
    currency: str


class ProductOut(Schema):
    code: str = Field(description="Stable product code.")
    name: str = Field(description="Name in the request's language.")
    description: str | None
    kind: str = Field(description="`edition`, `add_on` or `license`.")
    unit: str = Field(description="What one unit is: `user`, `10gb`, `inbox`, `dialer_seat`, `pack_10`.")
    edition: str | None = Field(description="For editions: which edition a seat of this product is.")
    may_buy: bool = Field(description="Whether the org's edition may buy it.")
    prices: list[PriceOut] = Field(description="The org's prices (its segment's price book, its currency).")

    @classmethod
    def of(cls, offer: OrgProduct) -> ProductOut:
        product = offer.product
        return cls(
            code=product.code,
            name=product.name,
            description=_or_none(product.description),
            kind=product.kind,
            unit=product.unit,
            edition=_or_none(product.edition),
            may_buy=offer.may_buy,
            prices=[
                PriceOut(billing_frequency=frequency, unit_price=decimal_string(price), currency=offer.currency)
                for frequency, price in offer.prices.items()
            ],
        )


class ProductList(Schema):
    items: list[ProductOut]
