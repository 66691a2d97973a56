"""Errors refused by billing services, each with a stable code."""

from __future__ import annotations

from konto.core.exceptions import Conflict, InvalidInput, KontoError, NotFound

__all__ = [
    "Conflict",
    "InvalidInput",
    "InvalidTransition",
    "InvoiceImmutable",
    "KontoError",
    "NotFound",
    "NothingToInvoice",
]


class InvalidTransition(Conflict):
    """The invoice's status does not allow this change (see INVOICE_TRANSITIONS)."""

    code = "invalid_status_transition"


class InvoiceImmutable(Conflict):
    """An issued invoice is never edited; a credit note corrects it."""

    code = "invoice_immutable"


class NothingToInvoice(Conflict):
    code = "nothing_to_invoice"


class TaxUndetermined(InvalidInput):
    """The tax engine cannot decide the VAT of a line (unsupported country, date or category)."""

    code = "tax_undetermined"
