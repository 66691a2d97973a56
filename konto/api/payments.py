"""/payment-methods and /payments: how the org pays, and paying its open invoices.

The same services as My Account's payment pages: a card is added through the
gateway's own card page (the API starts the setup and keeps the card the
browser came back with), a SEPA mandate is signed with the text the API
returns, and `POST /payments` pays once per `Idempotency-Key`. No response
ever holds a card number, a CVC or a full IBAN.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema, Status
from pydantic import BaseModel, ConfigDict

from konto.accounts.actors import actor_from_request
from konto.accounts.models import Org
from konto.accounts.permissions import MANAGE_PAYMENT_METHODS, PAY_INVOICES, VIEW_INVOICES, effective_permissions
from konto.api.auth import org_of, permission_denied, require_permission, user_of
from konto.api.errors import BODY_NOT_JSON, BODY_NOT_OBJECT, FIELDS_INVALID, PROBLEM_CONTENT_TYPE
from konto.api.pagination import PageParams, paginate_newest_first
from konto.api.schemas import MONEY_PATTERN, is_public_id, money_string
from konto.billing.services.invoices import VendorMissing, get_vendor
from konto.core.exceptions import InvalidInput, NotFound
from konto.payments import selectors
from konto.payments.models import MethodKind, Payment, PaymentMethod, PaymentStatus
from konto.payments.services import methods as method_services
from konto.payments.services import pay as pay_services
from konto.payments.services.ledger import is_card_expired

router = Router(tags=["payments"])

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
PAY_MEMBERS = frozenset({"invoices", "payment_method", "amount"})
METHOD_MEMBERS: dict[str, frozenset[str]] = {
    MethodKind.CARD: frozenset({"type", "setup", "replaces", "make_default"}),
    MethodKind.SEPA_DEBIT: frozenset({"type", "account_holder", "iban", "bic", "mandate_accepted", "make_default"}),
    MethodKind.BANK_TRANSFER: frozenset({"type"}),
}

_PROBLEM = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}


# ---------------------------------------------------------------- schemas


class CardOut(Schema):
    brand: str = Field(description="`visa`, `mastercard`, `amex`, …")
    last4: str
    exp_month: int | None
    exp_year: int | None
    is_expired: bool


class MandateOut(Schema):
    account_holder: str
    iban: str = Field(description="Masked: country, check digits and the last 4 characters.")
    bic: str | None
    reference: str = Field(description="Mandate reference, quoted on every collection.")
    creditor_id: str = Field(description="The vendor's SEPA creditor identifier.")
    signed_at: datetime | None


class PaymentMethodOut(Schema):
    id: str = Field(description="Public id, `pm_…`.")
    type: str = Field(description="`card`, `sepa_debit` or `bank_transfer`.")
    is_default: bool = Field(description="Pays new invoices and the org's active contracts.")
    card: CardOut | None = Field(description="For `card`: brand, last 4 digits and expiry; never the number.")
    sepa_debit: MandateOut | None = Field(description="For `sepa_debit`: the mandate, IBAN masked.")
    created_at: datetime

    @classmethod
    def of(cls, method: PaymentMethod, *, today: date) -> PaymentMethodOut:
        card = None
        if method.kind == MethodKind.CARD:
            card = CardOut(
                brand=method.card_brand,
                last4=method.card_last4,
                exp_month=method.card_exp_month,
                exp_year=method.card_exp_year,
                is_expired=is_card_expired(method, today),
            )
        mandate = None
        if method.kind == MethodKind.SEPA_DEBIT:
            mandate = MandateOut(
                account_holder=method.account_holder,
                iban=method.masked_iban,
                bic=method.bic or None,
                reference=method.mandate_reference,
                creditor_id=method.creditor_id,
                signed_at=method.mandate_signed_at,
            )
        return cls(
            id=method.public_id,
            type=method.kind,
            is_default=method.is_default,
            card=card,
            sepa_debit=mandate,
            created_at=method.created_at,
        )


class PaymentMethodPage(Schema):
    items: list[PaymentMethodOut]
    next_cursor: str | None


class CardSetupOut(Schema):
    setup: str = Field(description="Send it back as `setup` in `POST /payment-methods` once the card page returned.")
    redirect_url: str = Field(description="Open it in the customer's browser: the gateway's card page.")


class CardSetupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    return_url: str = Field(
        min_length=1, max_length=500, description="Where the card page sends the browser back (https:// or http://)."
    )


class MandateTextOut(Schema):
    language: str
    text: str = Field(description="The SEPA Direct Debit mandate the customer accepts with `mandate_accepted: true`.")


class AllocationOut(Schema):
    invoice: str = Field(description="Public id, `inv_…`.")
    invoice_number: str
    amount: str = Field(pattern=MONEY_PATTERN)


class PaymentOut(Schema):
    id: str = Field(description="Public id, `pay_…`.")
    status: str = Field(
        description="`pending`, `requires_action` (open `action_url` in the customer's browser), `succeeded`, "
        "`failed`, `unknown` (the gateway did not answer; Konto asks again and nothing is charged twice meanwhile), "
        "`partially_refunded` or `refunded`."
    )
    type: str = Field(description="`card`, `sepa_debit` or `bank_transfer`.")
    origin: str = Field(description="`customer`, `automatic`, `retry`, `bank_transfer` or `staff`.")
    amount: str = Field(pattern=MONEY_PATTERN)
    refunded_amount: str = Field(pattern=MONEY_PATTERN)
    currency: str
    payment_method: str | None = Field(description="Public id of the method, `pm_…`; none for a bank transfer.")
    action_url: str | None = Field(description="With `requires_action`: where the customer confirms (3-D Secure).")
    failure_code: str | None = Field(
        description="With `failed`: e.g. `card_declined`, `insufficient_funds`, `expired_card`, a SEPA reason code."
    )
    failure_message: str | None
    collection_date: str | None = Field(description="SEPA: the announced debit date (ISO).")
    allocations: list[AllocationOut] = Field(description="The invoices it pays, oldest first.")
    created_at: datetime

    @classmethod
    def of(cls, payment: Payment) -> PaymentOut:
        return cls(
            id=payment.public_id,
            status=payment.status,
            type=payment.kind,
            origin=payment.origin,
            amount=money_string(payment.amount),
            refunded_amount=money_string(payment.amount_refunded),
            currency=payment.currency,
            payment_method=payment.method.public_id if payment.method is not None else None,
            action_url=(payment.action_url or None) if payment.status == PaymentStatus.REQUIRES_ACTION else None,
            failure_code=payment.failure_code or None,
            failure_message=payment.failure_message or None,
            collection_date=payment.collection_date.isoformat() if payment.collection_date else None,
            allocations=[
                AllocationOut(
                    invoice=allocation.invoice.public_id,
                    invoice_number=allocation.invoice.number or "",
                    amount=money_string(allocation.amount),
                )
                for allocation in payment.allocations.all()
            ],
            created_at=payment.created_at,
        )


class PaymentPage(Schema):
    items: list[PaymentOut]
    next_cursor: str | None


class PaymentFilters(PageParams):
    status: PaymentStatus | None = Field(None, description="Only payments in this status.")


# ---------------------------------------------------------------- payment methods


def _require_any_permission(request: HttpRequest, *codes: str) -> None:
    """Refuse with 403 `permission_denied` (naming the first permission) unless the caller has one of `codes`."""
    if not set(codes) & effective_permissions(user_of(request)):
        raise permission_denied(codes[0])


def _may_see_methods(request: HttpRequest) -> None:
    """Reading methods needs `manage_payment_methods` or `pay_invoices` (who pays chooses among them)."""
    _require_any_permission(request, MANAGE_PAYMENT_METHODS, PAY_INVOICES)


def _method_of(org: Org, method_id: object, *, field: str | None = None) -> PaymentMethod:
    message = _("Payment method not found.")
    fields: dict[str, str | Promise] | None = {field: message} if field else None
    if not isinstance(method_id, str) or not is_public_id(method_id):
        raise NotFound(message, fields=fields)
    try:
        return selectors.get_payment_method(org=org, public_id=method_id)
    except PaymentMethod.DoesNotExist:
        raise NotFound(message, fields=fields) from None


@router.get("/payment-methods", response=PaymentMethodPage, summary="List the org's payment methods")
def list_payment_methods(request: HttpRequest, page: Query[PageParams]) -> PaymentMethodPage:
    """The org's active payment methods, newest first; `is_default` marks the one that pays.

    Needs `manage_payment_methods` or `pay_invoices`. Cards show brand, last 4
    digits and expiry; mandates a masked IBAN.
    """
    _may_see_methods(request)
    result = paginate_newest_first(
        selectors.list_payment_methods(org=org_of(request)),
        limit=page.limit,
        cursor=page.cursor,
        timestamp_field="created_at",
    )
    today = timezone.localdate()
    return PaymentMethodPage(
        items=[PaymentMethodOut.of(method, today=today) for method in result.items], next_cursor=result.next_cursor
    )


@router.get(
    "/payment-methods/mandate-text", response=MandateTextOut, summary="The SEPA mandate text to show and accept"
)
def get_mandate_text(request: HttpRequest) -> MandateTextOut:
    """The SEPA Direct Debit mandate text for the org, in the request's language; needs `manage_payment_methods`."""
    require_permission(request, MANAGE_PAYMENT_METHODS)
    unavailable = _("SEPA Direct Debit is not available yet. Please choose another payment method.")
    try:
        vendor = get_vendor()
    except VendorMissing:
        raise NotFound(unavailable, code="no_creditor_id") from None
    if not vendor.sepa_creditor_id:
        raise NotFound(unavailable, code="no_creditor_id")
    language = translation.get_language() or org_of(request).language
    language = "de" if language.startswith("de") else "en"
    return MandateTextOut(
        language=language, text=method_services.mandate_text(org=org_of(request), vendor=vendor, language=language)
    )


@router.post(
    "/payment-methods/card-setups",
    response={201: CardSetupOut},
    summary="Start adding a card on the gateway's card page",
)
def start_card_setup(request: HttpRequest, payload: CardSetupIn) -> Status[CardSetupOut]:
    """The card number is entered on the gateway's own page, never sent to Konto.

    Open `redirect_url` in the customer's browser; the page sends it back to
    `return_url`. Then `POST /payment-methods` with `{"type": "card", "setup": …}`.
    Needs `manage_payment_methods`.
    """
    require_permission(request, MANAGE_PAYMENT_METHODS)
    if not payload.return_url.startswith(("https://", "http://")):
        message = gettext("Enter an http:// or https:// URL.")
        raise InvalidInput(FIELDS_INVALID, fields={"return_url": message})
    started = method_services.start_card_setup(
        org=org_of(request), actor=actor_from_request(request), return_url=payload.return_url
    )
    return Status(201, CardSetupOut(setup=started.setup_ref, redirect_url=started.redirect_url))


@router.post(
    "/payment-methods",
    response={201: PaymentMethodOut},
    summary="Add a card, sign a SEPA mandate or choose bank transfer",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["type"],
                        "properties": {
                            "type": {"type": "string", "enum": ["card", "sepa_debit", "bank_transfer"]},
                            "setup": {"type": "string", "description": "card: the setup whose card page returned"},
                            "replaces": {"type": "string", "description": "card: the card it replaces (`pm_…`)"},
                            "account_holder": {"type": "string", "description": "sepa_debit"},
                            "iban": {"type": "string", "description": "sepa_debit; spaces allowed"},
                            "bic": {"type": "string", "description": "sepa_debit; optional"},
                            "mandate_accepted": {
                                "type": "boolean",
                                "description": "sepa_debit: the customer accepted the text of "
                                "`GET /payment-methods/mandate-text`",
                            },
                            "make_default": {"type": "boolean", "default": True},
                        },
                    }
                }
            },
        },
        "responses": {409: {"description": "`no_creditor_id`, `method_in_use`.", "content": _PROBLEM}},
    },
)
def add_payment_method(request: HttpRequest, response: HttpResponse) -> Status[PaymentMethodOut]:
    """Add a payment method; with `make_default` (default true) it pays from now on.

    `card`: `setup` from `POST /payment-methods/card-setups` after the card
    page returned (a failed or foreign setup: 422 `card_setup_failed`; an
    expired card: 422 `method_unusable`). `sepa_debit`: account holder, IBAN
    (check digits verified: 422 `invalid_iban`), BIC (optional, 422
    `invalid_bic`), `mandate_accepted: true` (422 `mandate_not_accepted`);
    the caller's IP address and user agent are recorded with the mandate.
    `bank_transfer`: the org pays invoices by transfer. Needs
    `manage_payment_methods`.
    """
    require_permission(request, MANAGE_PAYMENT_METHODS)
    body = _json_object(request)
    kind = body.get("type")
    if kind not in METHOD_MEMBERS:
        message = gettext("Choose card, sepa_debit or bank_transfer.")
        raise InvalidInput(FIELDS_INVALID, fields={"type": message})
    unknown = sorted(set(body) - METHOD_MEMBERS[kind])
    if unknown:
        raise InvalidInput(FIELDS_INVALID, fields={name: gettext("Unknown field.") for name in unknown})
    make_default = body.get("make_default", True)
    if not isinstance(make_default, bool):
        raise InvalidInput(FIELDS_INVALID, fields={"make_default": gettext("Enter true or false.")})
    org = org_of(request)
    actor = actor_from_request(request)
    method: PaymentMethod
    if kind == MethodKind.CARD:
        setup = body.get("setup")
        if not isinstance(setup, str) or not setup.strip() or len(setup) > 255:
            raise InvalidInput(FIELDS_INVALID, fields={"setup": gettext("Enter the setup id of the card page.")})
        replaces = _method_of(org, body["replaces"], field="replaces") if body.get("replaces") is not None else None
        method = method_services.add_card(
            org=org, actor=actor, setup_ref=setup.strip(), replaces=replaces, make_default=make_default
        )
    elif kind == MethodKind.SEPA_DEBIT:
        texts = {name: body.get(name, "") for name in ("account_holder", "iban", "bic")}
        wrong: dict[str, str | Promise] = {
            name: gettext("Enter text.") for name, value in texts.items() if not isinstance(value, str)
        }
        if wrong:
            raise InvalidInput(FIELDS_INVALID, fields=wrong)
        method = method_services.add_sepa_mandate(
            org=org,
            actor=actor,
            account_holder=texts["account_holder"],
            iban=texts["iban"],
            bic=texts["bic"],
            is_accepted=body.get("mandate_accepted") is True,
            ip=request.META.get("REMOTE_ADDR"),
            user_agent=request.headers.get("User-Agent", "")[:400],
            make_default=make_default,
        )
    else:
        method = method_services.choose_bank_transfer(org=org, actor=actor)
    response["Location"] = f"/api/v1/payment-methods/{method.public_id}"
    return Status(201, PaymentMethodOut.of(method, today=timezone.localdate()))


@router.get("/payment-methods/{method_id}", response=PaymentMethodOut, summary="One payment method")
def get_payment_method(request: HttpRequest, method_id: str) -> PaymentMethodOut:
    """An active method by public id (`pm_…`); another org's or a removed one answers 404."""
    _may_see_methods(request)
    return PaymentMethodOut.of(_method_of(org_of(request), method_id), today=timezone.localdate())


@router.post(
    "/payment-methods/{method_id}/default",
    response=PaymentMethodOut,
    summary="Make a payment method the default",
)
def make_default_payment_method(request: HttpRequest, method_id: str) -> PaymentMethodOut:
    """The method pays from now on (the org's active contracts follow); an expired card: 422 `method_unusable`."""
    require_permission(request, MANAGE_PAYMENT_METHODS)
    org = org_of(request)
    method = method_services.set_default_payment_method(
        org=org, method=_method_of(org, method_id), actor=actor_from_request(request)
    )
    return PaymentMethodOut.of(method, today=timezone.localdate())


class RemoveParams(Schema):
    replacement: str | None = Field(
        None, max_length=64, description="Removing the default method: the method (`pm_…`) that pays instead."
    )


@router.delete(
    "/payment-methods/{method_id}",
    response={204: None},
    summary="Remove a payment method",
    openapi_extra={
        "responses": {
            409: {
                "description": "`method_in_use`: name a `replacement`, or a payment is on its way.",
                "content": _PROBLEM,
            }
        }
    },
)
def remove_payment_method(request: HttpRequest, method_id: str, params: Query[RemoveParams]) -> Status[None]:
    """Remove a method. The default pays the org's contracts, so removing it needs `?replacement=pm_…`."""
    require_permission(request, MANAGE_PAYMENT_METHODS)
    org = org_of(request)
    method = _method_of(org, method_id)
    replacement = _method_of(org, params.replacement, field="replacement") if params.replacement else None
    method_services.remove_payment_method(
        org=org, method=method, actor=actor_from_request(request), replacement=replacement
    )
    return Status(204, None)


# ---------------------------------------------------------------- payments


@router.post(
    "/payments",
    response={200: PaymentOut, 201: PaymentOut},
    summary="Pay open invoices",
    openapi_extra={
        "parameters": [
            {
                "in": "header",
                "name": IDEMPOTENCY_KEY_HEADER,
                "required": True,
                "description": "1 to 255 characters, one per payment the client means to make (e.g. a UUID).",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["invoices"],
                        "properties": {
                            "invoices": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                            "payment_method": {"type": "string", "description": "`pm_…`; default: the default method"},
                            "amount": {
                                "type": "string",
                                "pattern": r"^\d+(\.\d{1,2})?$",
                                "description": "A partial payment, at most the open total; oldest invoices first",
                            },
                        },
                    }
                }
            },
        },
        "responses": {
            409: {
                "description": "`already_being_paid` (a payment for one of the invoices is on its way) or "
                "`idempotency_key_reused` (the key came before with another body).",
                "content": _PROBLEM,
            }
        },
    },
)
def pay_invoices(request: HttpRequest, response: HttpResponse) -> Status[PaymentOut]:
    """Pay one or several open invoices with a card or SEPA mandate of the org; needs `pay_invoices`.

    Refused with nothing charged: an invoice that is not the org's, not open or
    fully paid (422 `invoice_not_payable`; another org's id like a missing
    one), an amount that is not positive cents (422 `invalid_amount`) or
    more than the open total (422 `amount_mismatch`), an unusable method (422
    `method_unusable`: expired, removed, bank transfer). The same key with the
    same body answers the first payment with 200 (the first time 201) and
    charges nothing more. A card that needs 3-D Secure answers
    `requires_action` with `action_url`.
    """
    require_permission(request, PAY_INVOICES)
    key = pay_services.clean_idempotency_key(request.headers.get(IDEMPOTENCY_KEY_HEADER))
    body = _json_object(request)
    unknown = sorted(set(body) - PAY_MEMBERS)
    if unknown:
        raise InvalidInput(FIELDS_INVALID, fields={name: gettext("Unknown field.") for name in unknown})
    invoices = body.get("invoices")
    if not isinstance(invoices, list) or not all(isinstance(value, str) for value in invoices):
        raise InvalidInput(FIELDS_INVALID, fields={"invoices": gettext("Enter a list of invoice ids.")})
    amount = body.get("amount")
    if amount is not None and not isinstance(amount, str):
        # A JSON number would go through a float; money is a decimal string.
        raise InvalidInput(FIELDS_INVALID, fields={"amount": gettext('Enter the amount as a string, e.g. "49.50".')})
    org = org_of(request)
    method = None
    if body.get("payment_method") is not None:
        method = _method_of(org, body["payment_method"], field="payment_method")
    result = pay_services.pay_invoices(
        org=org,
        invoice_ids=invoices,
        idempotency_key=key,
        actor=actor_from_request(request),
        method=method,
        amount=pay_services.clean_amount(amount),
        return_url=request.build_absolute_uri("/account/payment/"),
    )
    payment = selectors.get_payment(org=org, public_id=result.payment.public_id)
    response["Location"] = f"/api/v1/payments/{payment.public_id}"
    return Status(200 if result.is_replay else 201, PaymentOut.of(payment))


@router.get("/payments", response=PaymentPage, summary="List the org's payments")
def list_payments(request: HttpRequest, filters: Query[PaymentFilters]) -> PaymentPage:
    """The org's payments, newest first, with the invoices each one pays; `?status=` filters.

    Needs `pay_invoices` or `view_invoices` (payments are part of the invoices' history).
    """
    _may_see_payments(request)
    result = paginate_newest_first(
        selectors.list_payments(org=org_of(request), status=filters.status),
        limit=filters.limit,
        cursor=filters.cursor,
        timestamp_field="created_at",
    )
    return PaymentPage(items=[PaymentOut.of(payment) for payment in result.items], next_cursor=result.next_cursor)


@router.get("/payments/{payment_id}", response=PaymentOut, summary="One payment")
def get_payment(request: HttpRequest, payment_id: str) -> PaymentOut:
    """A payment by public id (`pay_…`) with its status and the invoices it pays; another org's answers 404."""
    _may_see_payments(request)
    message = _("Payment not found.")
    if not is_public_id(payment_id):
        raise NotFound(message)
    try:
        return PaymentOut.of(selectors.get_payment(org=org_of(request), public_id=payment_id))
    except Payment.DoesNotExist:
        raise NotFound(message) from None


# ---------------------------------------------------------------- input


def _may_see_payments(request: HttpRequest) -> None:
    _require_any_permission(request, PAY_INVOICES, VIEW_INVOICES)


def _json_object(request: HttpRequest) -> dict[str, Any]:
    """The request body as a JSON object (any member types: the services check them)."""
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput(BODY_NOT_JSON) from None
    if not isinstance(body, dict):
        raise InvalidInput(BODY_NOT_OBJECT)
    return body
