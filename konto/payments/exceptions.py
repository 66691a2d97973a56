"""Errors refused by payment services, each with a stable code (the API returns it as problem+json `code`)."""

from __future__ import annotations

from konto.core.exceptions import Conflict, InvalidInput, KontoError, NotFound

__all__ = [
    "AlreadyBeingPaid",
    "AmountMismatch",
    "CardSetupFailed",
    "Conflict",
    "IdempotencyKeyMissing",
    "IdempotencyKeyReused",
    "InvalidAmount",
    "InvalidBic",
    "InvalidIban",
    "InvalidInput",
    "InvalidPaymentTransition",
    "InvoiceNotPayable",
    "KontoError",
    "MandateNotAccepted",
    "MethodInUse",
    "MethodUnusable",
    "NoCreditorId",
    "NotFound",
    "PaymentError",
    "PaymentNotRefundable",
]


class PaymentError(KontoError):
    """Base of every refused payment operation."""

    code = "payment_error"
    status = 400


class InvoiceNotPayable(PaymentError):
    """Not this org's, not open, nothing left to pay — another org's invoice answers exactly like a missing one."""

    code = "invoice_not_payable"
    status = 422


class AlreadyBeingPaid(PaymentError):
    """An invoice of the selection already has a payment on its way (pending, awaiting confirmation, unknown)."""

    code = "already_being_paid"
    status = 409


class AmountMismatch(PaymentError):
    """The amount is more than the open total of the selected invoices."""

    code = "amount_mismatch"
    status = 422


class InvalidAmount(PaymentError):
    """Not a positive amount in cents."""

    code = "invalid_amount"
    status = 422


class MethodUnusable(PaymentError):
    """The payment method cannot pay this (expired card, removed, bank transfer, another currency, none)."""

    code = "method_unusable"
    status = 422


class IdempotencyKeyReused(PaymentError):
    """The same Idempotency-Key was sent before with a different request."""

    code = "idempotency_key_reused"
    status = 409


class IdempotencyKeyMissing(PaymentError):
    code = "idempotency_key_missing"
    status = 422


class InvalidIban(PaymentError):
    code = "invalid_iban"
    status = 422


class InvalidBic(PaymentError):
    code = "invalid_bic"
    status = 422


class MandateNotAccepted(PaymentError):
    code = "mandate_not_accepted"
    status = 422


class MethodInUse(PaymentError):
    """The method pays an active contract (a replacement is needed) or has a payment on its way."""

    code = "method_in_use"
    status = 409


class NoCreditorId(PaymentError):
    """The vendor has no SEPA creditor ID, so no mandate can be signed."""

    code = "no_creditor_id"
    status = 409


class CardSetupFailed(PaymentError):
    code = "card_setup_failed"
    status = 422


class PaymentNotRefundable(PaymentError):
    code = "payment_not_refundable"
    status = 409


class InvalidPaymentTransition(PaymentError):
    """The payment's status does not allow this change (see PAYMENT_TRANSITIONS)."""

    code = "invalid_status_transition"
    status = 409
