"""The wire shapes of the API: what each resource looks like in JSON.

Ids are public ids (`usr_…`, `org_…`), never database ids. Money is a string
with 2 to 4 decimals, never a float. Text fields that are not set are null.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from ninja import Field, Schema
from pydantic import AfterValidator, BaseModel, ConfigDict, StrictInt, StrictStr
from pydantic_core import PydanticCustomError

from konto.accounts.models import Org, PermissionSet, Profile, User
from konto.accounts.permissions import effective_permissions
from konto.accounts.selectors import LicenseUsage
from konto.billing.models import (
    CreditNote,
    CreditNoteLine,
    CreditNoteTax,
    Invoice,
    InvoiceLine,
    InvoiceTax,
    StoredDocument,
)
from konto.catalog.selectors import OrgProduct
from konto.contracts.models import Contract, Order
from konto.contracts.selectors import current_period, next_billing_date, notice_deadline
from konto.core.money import UNIT_PRICE_QUANTUM, round_money

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


# ---------------------------------------------------------------- contracts


def money_string(amount: Decimal) -> str:
    """A line amount or total, rounded half-up to the minor unit: 50 → "50.00"."""
    return f"{round_money(amount):f}"


class BillingPeriodOut(Schema):
    start: date
    end: date = Field(description="Exclusive: the first day of the next billing period.")


class ContractLineOut(Schema):
    id: str = Field(description="Public id, `cln_…`.")
    product: str = Field(description="Product code.")
    name: str = Field(description="Product name in the request's language.")
    quantity: int
    unit_price: str = Field(pattern=MONEY_PATTERN, description="Net per unit and billing period, frozen when bought.")
    period_amount: str = Field(
        pattern=MONEY_PATTERN, description="Net per billing period: unit price × quantity, rounded half-up."
    )
    start_date: date
    end_date: date = Field(description="Exclusive; the contract's end (lines are co-termed).")
    order: str | None = Field(description="Public id of the order that added the line (`ord_…`); null for the start.")


class ContractSummaryOut(Schema):
    id: str = Field(description="Public id, `ctr_…`.")
    number: str = Field(description="Contract number, e.g. `V-2026-001`.")
    start_date: date
    end_date: date = Field(description="Exclusive: the first day no longer covered.")
    billing_frequency: str = Field(description="`monthly`, `quarterly` or `annual`.")
    currency: str = Field(description="`EUR` or `CHF`.")
    payment_terms_days: int
    payment_method_kind: str = Field(description="`card`, `sepa_debit` or `bank_transfer`.")
    auto_renew: bool
    notice_period_days: int
    notice_deadline: date = Field(description="Last day to change the renewal or cancel: end − notice period.")
    po_number: str | None
    buyer_reference: str | None = Field(description="Leitweg-ID of German public-sector buyers.")
    status: str = Field(description="`active`, `expired` or `cancelled`.")
    current_billing_period: BillingPeriodOut | None = Field(
        description="The billing period containing today (cut at the contract end); null outside the term."
    )
    next_billing_date: date | None = Field(description="Start of the next billing period within the term, or null.")

    @classmethod
    def fields_of(cls, contract: Contract, *, today: date) -> dict[str, Any]:
        period = current_period(contract, today)
        return {
            "id": contract.public_id,
            "number": contract.number,
            "start_date": contract.start_date,
            "end_date": contract.end_date,
            "billing_frequency": contract.billing_frequency,
            "currency": contract.currency,
            "payment_terms_days": contract.payment_terms_days,
            "payment_method_kind": contract.payment_method_kind,
            "auto_renew": contract.auto_renew,
            "notice_period_days": contract.notice_period_days,
            "notice_deadline": notice_deadline(contract),
            "po_number": _or_none(contract.po_number),
            "buyer_reference": _or_none(contract.buyer_reference),
            "status": contract.status,
            "current_billing_period": BillingPeriodOut(start=period.start, end=period.end) if period else None,
            "next_billing_date": next_billing_date(contract, today),
        }

    @classmethod
    def of(cls, contract: Contract, *, today: date) -> ContractSummaryOut:
        return cls(**cls.fields_of(contract, today=today))


class ContractOut(ContractSummaryOut):
    lines: list[ContractLineOut] = Field(description="Every line ever added, oldest first; lines are never edited.")

    @classmethod
    def with_lines(cls, contract: Contract, *, today: date, order_ids: Mapping[int, str]) -> ContractOut:
        """A contract from `get_contract` (lines and products loaded); `order_ids` maps order pk → public id."""
        return cls(
            **cls.fields_of(contract, today=today),
            lines=[
                ContractLineOut(
                    id=line.public_id,
                    product=line.product.code,
                    name=line.product.name,
                    quantity=line.quantity,
                    unit_price=decimal_string(line.unit_price),
                    period_amount=money_string(line.unit_price * line.quantity),
                    start_date=line.start_date,
                    end_date=line.end_date,
                    order=order_ids.get(line.order_id) if line.order_id else None,
                )
                for line in contract.lines.all()
            ],
        )


class ContractPage(Schema):
    items: list[ContractSummaryOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


# ---------------------------------------------------------------- orders


class OrderIn(BaseModel):
    """An order or its preview: products and quantities to add to a contract."""

    # Types of `contract`, `po_number` and `preview_fingerprint` are checked here. `lines` takes any
    # JSON: konto.api.orders checks its shape and the pricing service its values, so their codes
    # (`invalid_quantity`, `unknown_product`, …) reach the client with fields named `lines[0].quantity`.
    model_config = ConfigDict(extra="forbid")

    contract: Text | None = Field(
        None, description="Public id `ctr_…`; may be left out when the org has exactly one active contract."
    )
    lines: Any = Field(
        json_schema_extra={
            "type": "array",
            "minItems": 1,
            "maxItems": 20,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["product", "quantity"],
                "properties": {
                    "product": {"type": "string", "description": "Product code, e.g. `essentials`."},
                    "quantity": {"type": "integer", "minimum": 1, "maximum": 1000},
                },
            },
        },
        description="1 to 20 lines, each product once.",
    )
    po_number: Text | None = Field(None, description="Up to 35 characters; printed on the invoices of this order.")
    preview_fingerprint: Text | None = Field(
        None,
        description="The `fingerprint` of the preview the customer saw; if prices or the contract changed "
        "since, the order is refused with 409 `price_changed` and the new preview.",
    )


class PreviewTaxOut(Schema):
    category: str = Field(description="EN 16931 VAT category: `S`, `AE`, `O`, `E` or `Z`.")
    rate: str = Field(description="Percent, e.g. `19.00`.")
    net_amount: str = Field(pattern=MONEY_PATTERN)
    tax_amount: str = Field(pattern=MONEY_PATTERN)


class PreviewTotalsOut(Schema):
    net_amount: str = Field(pattern=MONEY_PATTERN)
    tax_amount: str = Field(pattern=MONEY_PATTERN)
    gross_amount: str = Field(pattern=MONEY_PATTERN)
    tax: list[PreviewTaxOut] = Field(description="VAT per category and rate, on the sum of the nets of that rate.")


class PreviewLineOut(Schema):
    product: str = Field(description="Product code.")
    quantity: int
    unit_price: str = Field(pattern=MONEY_PATTERN, description="Net per unit and billing period.")
    period_start: date = Field(description="The current billing period, in which today's charge falls.")
    period_end: date = Field(description="Exclusive.")
    service_start: date = Field(description="The order date: the first day charged.")
    service_end: date = Field(description="Exclusive end of the charged days: the period end, or the contract end.")
    days_charged: int = Field(description="Days from the order date to the end of the current period.")
    days_in_period: int
    prorated_net_amount: str = Field(
        pattern=MONEY_PATTERN,
        description="Charged today: unit price × quantity × days charged / days in period, rounded half-up.",
    )
    next_period_net_amount: str = Field(
        pattern=MONEY_PATTERN, description="On the next regular invoice; 0.00 when the term ends first."
    )
    renewal_unit_price: str = Field(pattern=MONEY_PATTERN)
    renewal_net_amount: str = Field(pattern=MONEY_PATTERN, description="Per billing period after the renewal.")
    tax_category: str = Field(description="EN 16931 VAT category of the line.")
    tax_rate: str = Field(description="Percent, e.g. `19.00`.")


class OrderPreviewOut(Schema):
    contract: str = Field(description="Public id of the contract, `ctr_…`.")
    ordered_on: date = Field(description="The org-local date prices and proration refer to.")
    currency: str
    lines: list[PreviewLineOut]
    today: PreviewTotalsOut = Field(description="Charged for the current billing period on confirmation.")
    next_invoice_on: date | None = Field(description="Date of the next regular invoice; null when the term ends first.")
    next_invoice: PreviewTotalsOut = Field(description="What these lines add to the next regular invoice.")
    renewal_on: date = Field(description="The contract end, when the renewal starts.")
    renewal: PreviewTotalsOut = Field(description="What these lines cost per billing period after the renewal.")
    fingerprint: str = Field(description="Send as `preview_fingerprint` with the order to refuse changed prices.")


def preview_json(preview: Mapping[str, Any]) -> dict[str, Any]:
    """A preview as `OrderPreview.as_json()` made (or stored), with unit prices as 2 to 4 decimals."""
    lines = [
        {
            **line,
            "unit_price": decimal_string(Decimal(line["unit_price"])),
            "renewal_unit_price": decimal_string(Decimal(line["renewal_unit_price"])),
        }
        for line in preview["lines"]
    ]
    return {**preview, "lines": lines}


class OrderLineOut(Schema):
    product: str = Field(description="Product code.")
    name: str = Field(description="Product name in the request's language.")
    quantity: int
    unit_price: str = Field(pattern=MONEY_PATTERN, description="Net per unit and billing period.")
    period_start: date
    period_end: date = Field(description="Exclusive.")
    days_charged: int
    days_in_period: int
    prorated_net_amount: str = Field(pattern=MONEY_PATTERN, description="Charged for the current billing period.")
    tax_category: str
    tax_rate: str = Field(description="Percent, e.g. `19.00`.")


class OrderTotalsOut(Schema):
    today_net_amount: str = Field(pattern=MONEY_PATTERN, description="Charged for the current billing period.")
    today_tax_amount: str = Field(pattern=MONEY_PATTERN)
    today_gross_amount: str = Field(pattern=MONEY_PATTERN)
    next_invoice_net_amount: str = Field(pattern=MONEY_PATTERN, description="Added to the next regular invoice.")
    renewal_net_amount: str = Field(pattern=MONEY_PATTERN, description="Per billing period after the renewal.")


class OrderSummaryOut(Schema):
    id: str = Field(description="Public id, `ord_…`.")
    status: str = Field(description="`draft`, `confirmed`, `fulfilled` or `failed`.")
    contract: str = Field(description="Public id of the contract, `ctr_…`.")
    po_number: str | None
    currency: str
    ordered_on: date = Field(description="The org-local date prices and proration refer to.")
    totals: OrderTotalsOut
    confirmed_at: datetime | None
    confirmed_by: str | None = Field(description="Email of the user who confirmed it; null if since deleted.")
    created_at: datetime

    @classmethod
    def fields_of(cls, order: Order) -> dict[str, Any]:
        """An order from `org_orders`/`get_order` (contract and confirming user loaded)."""
        return {
            "id": order.public_id,
            "status": order.status,
            "contract": order.contract.public_id,
            "po_number": _or_none(order.po_number),
            "currency": order.currency,
            "ordered_on": order.ordered_on,
            "totals": OrderTotalsOut(
                today_net_amount=money_string(order.today_net_amount),
                today_tax_amount=money_string(order.today_tax_amount),
                today_gross_amount=money_string(order.today_gross_amount),
                next_invoice_net_amount=money_string(order.next_invoice_net_amount),
                renewal_net_amount=money_string(order.renewal_net_amount),
            ),
            "confirmed_at": order.confirmed_at,
            "confirmed_by": order.confirmed_by.email if order.confirmed_by else None,
            "created_at": order.created_at,
        }

    @classmethod
    def of(cls, order: Order) -> OrderSummaryOut:
        return cls(**cls.fields_of(order))


class OrderOut(OrderSummaryOut):
    lines: list[OrderLineOut]
    preview: OrderPreviewOut = Field(description="The priced preview exactly as confirmed.")

    @classmethod
    def with_lines(cls, order: Order) -> OrderOut:
        """An order from `get_order` (lines and their products loaded)."""
        return cls(
            **cls.fields_of(order),
            lines=[
                OrderLineOut(
                    product=line.product.code,
                    name=line.product.name,
                    quantity=line.quantity,
                    unit_price=decimal_string(line.unit_price),
                    period_start=line.period_start,
                    period_end=line.period_end,
                    days_charged=line.days_charged,
                    days_in_period=line.days_in_period,
                    prorated_net_amount=money_string(line.prorated_net_amount),
                    tax_category=line.tax_category,
                    tax_rate=f"{line.tax_rate:f}",
                )
                for line in sorted(order.lines.all(), key=lambda line: line.pk)
            ],
            preview=OrderPreviewOut.model_validate(preview_json(order.preview)),
        )


class OrderPage(Schema):
    items: list[OrderSummaryOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


# ---------------------------------------------------------------- invoices and credit notes


class PeriodOut(Schema):
    start: date
    end: date = Field(description="Exclusive: the first day no longer covered.")


class DocumentOut(Schema):
    kind: str = Field(description="`pdf` (PDF/A-3 with the XML embedded) or `xml` (the EN 16931 CII XML alone).")
    profile: str = Field(description="`factur-x` (Factur-X / ZUGFeRD EN 16931) or `xrechnung`.")
    filename: str
    size: int = Field(description="Bytes.")
    sha256: str = Field(description="Hex SHA-256 of the file.")
    url: str = Field(description="Where to download it.")


class DocumentTaxOut(Schema):
    category: str = Field(description="EN 16931 VAT category: `S`, `AE`, `O`, `E` or `Z`.")
    rate: str = Field(description="Percent, e.g. `19.00`.")
    net_amount: str = Field(pattern=MONEY_PATTERN, description="Sum of the line nets of this category and rate.")
    tax_amount: str = Field(pattern=MONEY_PATTERN, description="VAT on that sum, rounded half-up.")
    note: str | None = Field(description="The exemption or reverse-charge note as printed; null for none.")
    exemption_reason_code: str | None = Field(description="VATEX code, e.g. `VATEX-EU-AE`; null for none.")


class DocumentLineOut(Schema):
    position: int
    description: str = Field(description="Product name as printed, in the document's language.")
    unit: str = Field(description="`user`, `10gb`, `inbox`, `dialer_seat` or `pack_10`.")
    quantity: str = Field(description="Decimal string, e.g. `5.00`.")
    unit_price: str = Field(pattern=MONEY_PATTERN, description="Net per unit and billing period.")
    net_amount: str = Field(pattern=MONEY_PATTERN, description="Net of the line, prorated where it applies.")
    tax_category: str
    tax_rate: str = Field(description="Percent, e.g. `19.00`.")
    period: PeriodOut = Field(description="The service period of the line; `end` is exclusive.")


class InvoiceLineOut(DocumentLineOut):
    days_charged: int
    days_in_period: int


class InvoiceSummaryOut(Schema):
    id: str = Field(description="Public id, `inv_…`.")
    number: str = Field(description="Invoice number, e.g. `RE-2026-000001`.")
    status: str = Field(description="`open`, `paid`, `void` or `uncollectible`.")
    is_overdue: bool = Field(description="Open and past its due date (the org's local date).")
    issue_date: date
    due_date: date
    period: PeriodOut = Field(description="The service period of all lines; `end` is exclusive.")
    currency: str = Field(description="`EUR` or `CHF`.")
    net_amount: str = Field(pattern=MONEY_PATTERN)
    tax_amount: str = Field(pattern=MONEY_PATTERN)
    gross_amount: str = Field(pattern=MONEY_PATTERN)
    paid_amount: str = Field(pattern=MONEY_PATTERN, description="Gross received so far.")
    credited_amount: str = Field(pattern=MONEY_PATTERN, description="Gross of the invoice's credit notes.")
    open_amount: str = Field(pattern=MONEY_PATTERN, description="Gross − paid − credited: what is still to pay.")
    contract: str = Field(description="Public id of the contract, `ctr_…`.")
    contract_number: str
    po_number: str | None
    buyer_reference: str | None = Field(description="Leitweg-ID; such invoices come as XRechnung.")
    issued_at: datetime | None

    @classmethod
    def fields_of(cls, invoice: Invoice, *, today: date) -> dict[str, Any]:
        """An issued invoice from `list_invoices`/`get_invoice` (contract loaded)."""
        return {
            "id": invoice.public_id,
            "number": invoice.number or "",
            "status": invoice.status,
            "is_overdue": invoice.status == "open" and invoice.due_date < today,
            "issue_date": invoice.issue_date,
            "due_date": invoice.due_date,
            "period": PeriodOut(start=invoice.period_start, end=invoice.period_end),
            "currency": invoice.currency,
            "net_amount": money_string(invoice.net_amount),
            "tax_amount": money_string(invoice.tax_amount),
            "gross_amount": money_string(invoice.gross_amount),
            "paid_amount": money_string(invoice.amount_paid),
            "credited_amount": money_string(invoice.amount_credited),
            "open_amount": money_string(invoice.open_amount),
            "contract": invoice.contract.public_id,
            "contract_number": invoice.contract_number,
            "po_number": _or_none(invoice.po_number),
            "buyer_reference": _or_none(invoice.buyer_reference),
            "issued_at": invoice.issued_at,
        }

    @classmethod
    def of(cls, invoice: Invoice, *, today: date) -> InvoiceSummaryOut:
        return cls(**cls.fields_of(invoice, today=today))


def document_tax_out(tax: InvoiceTax | CreditNoteTax) -> DocumentTaxOut:
    return DocumentTaxOut(
        category=tax.tax_category,
        rate=f"{tax.tax_rate:f}",
        net_amount=money_string(tax.taxable_amount),
        tax_amount=money_string(tax.tax_amount),
        note=_or_none(tax.note),
        exemption_reason_code=_or_none(tax.exemption_reason_code),
    )


def document_line_fields(line: InvoiceLine | CreditNoteLine) -> dict[str, Any]:
    return {
        "position": line.position,
        "description": line.description,
        "unit": line.unit,
        "quantity": f"{line.quantity:f}",
        "unit_price": decimal_string(line.unit_price),
        "net_amount": money_string(line.net_amount),
        "tax_category": line.tax_category,
        "tax_rate": f"{line.tax_rate:f}",
        "period": PeriodOut(start=line.period_start, end=line.period_end),
    }


def documents_out(documents: Iterable[StoredDocument], *, base_url: str) -> list[DocumentOut]:
    """Stored documents, PDF first; `base_url` is the record's API path."""
    return [
        DocumentOut(
            kind=document.kind,
            profile=document.profile,
            filename=document.filename,
            size=document.size,
            sha256=document.sha256,
            url=f"{base_url}/{document.kind}",
        )
        for document in sorted(documents, key=lambda document: document.kind != "pdf")
    ]


class InvoiceOut(InvoiceSummaryOut):
    lines: list[InvoiceLineOut] = Field(description="In printed order.")
    tax: list[DocumentTaxOut] = Field(description="VAT per category and rate, on the sum of the nets of that rate.")
    credit_notes: list[str] = Field(description="Public ids of the invoice's credit notes (`crn_…`), oldest first.")
    documents: list[DocumentOut] = Field(description="The stored documents; empty until they are rendered.")

    @classmethod
    def with_lines(cls, invoice: Invoice, *, today: date) -> InvoiceOut:
        """An invoice from `get_invoice` (lines, taxes, credit notes, documents and contract loaded)."""
        return cls(
            **cls.fields_of(invoice, today=today),
            lines=[
                InvoiceLineOut(
                    **document_line_fields(line), days_charged=line.days_charged, days_in_period=line.days_in_period
                )
                for line in invoice.lines.all()
            ],
            tax=[document_tax_out(tax) for tax in invoice.taxes.all()],
            credit_notes=[note.public_id for note in sorted(invoice.credit_notes.all(), key=lambda note: note.pk)],
            documents=documents_out(invoice.documents.all(), base_url=f"/api/v1/invoices/{invoice.public_id}"),
        )


class InvoicePage(Schema):
    items: list[InvoiceSummaryOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class CreditNoteSummaryOut(Schema):
    id: str = Field(description="Public id, `crn_…`.")
    number: str = Field(description="Credit note number, e.g. `GS-2026-000001`.")
    invoice: str = Field(description="Public id of the credited invoice, `inv_…`.")
    invoice_number: str
    is_full: bool = Field(description="True when it credits every remaining line (it cancels the invoice).")
    reason: str
    issue_date: date
    currency: str
    net_amount: str = Field(pattern=MONEY_PATTERN, description="Credited net (positive).")
    tax_amount: str = Field(pattern=MONEY_PATTERN)
    gross_amount: str = Field(pattern=MONEY_PATTERN)
    created_at: datetime

    @classmethod
    def fields_of(cls, credit_note: CreditNote) -> dict[str, Any]:
        """A credit note from `list_credit_notes`/`get_credit_note` (invoice loaded)."""
        return {
            "id": credit_note.public_id,
            "number": credit_note.number,
            "invoice": credit_note.invoice.public_id,
            "invoice_number": credit_note.invoice.number or "",
            "is_full": credit_note.is_full,
            "reason": credit_note.reason,
            "issue_date": credit_note.issue_date,
            "currency": credit_note.currency,
            "net_amount": money_string(credit_note.net_amount),
            "tax_amount": money_string(credit_note.tax_amount),
            "gross_amount": money_string(credit_note.gross_amount),
            "created_at": credit_note.created_at,
        }

    @classmethod
    def of(cls, credit_note: CreditNote) -> CreditNoteSummaryOut:
        return cls(**cls.fields_of(credit_note))


class CreditNoteOut(CreditNoteSummaryOut):
    lines: list[DocumentLineOut] = Field(description="The credited invoice lines, in printed order.")
    tax: list[DocumentTaxOut]
    documents: list[DocumentOut] = Field(description="The stored documents; empty until they are rendered.")

    @classmethod
    def with_lines(cls, credit_note: CreditNote) -> CreditNoteOut:
        return cls(
            **cls.fields_of(credit_note),
            lines=[
                DocumentLineOut(**document_line_fields(line))
                for line in sorted(credit_note.lines.all(), key=lambda line: line.position)
            ],
            tax=[document_tax_out(tax) for tax in credit_note.taxes.all()],
            documents=documents_out(
                credit_note.documents.all(), base_url=f"/api/v1/credit-notes/{credit_note.public_id}"
            ),
        )


class CreditNotePage(Schema):
    items: list[CreditNoteSummaryOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class ShareLinkIn(BaseModel):
    """A new share link; everything is optional."""

    model_config = ConfigDict(extra="forbid")

    # The range (1 to 90) is checked by the sharing service (`invalid_expiry`); the type here.
    expires_in_days: StrictInt = Field(30, description="Days until the link expires, 1 to 90 (default 30).")


class ShareLinkOut(Schema):
    id: str = Field(description="Public id, `shl_…`.")
    invoice: str = Field(description="Public id of the invoice, `inv_…`.")
    url: str | None = Field(description="The link to hand out; only in the answer that creates it, else null.")
    created_at: datetime
    created_by: str | None = Field(description="Email of the user who created it; null if since deleted.")
    expires_at: datetime
    revoked_at: datetime | None
    is_active: bool = Field(description="Neither expired nor revoked.")
    open_count: int = Field(description="How often the link was opened.")
    last_opened_at: datetime | None


class ShareLinkList(Schema):
    items: list[ShareLinkOut]
