"""Errors refused by contract and order services, each with a stable code."""

from __future__ import annotations

from konto.core.exceptions import Conflict, InvalidInput, KontoError, NotFound

__all__ = ["Conflict", "InvalidInput", "KontoError", "NotFound", "PurchaseRefused"]


class PurchaseRefused(KontoError):
    """The org may not buy this now (edition rules, limits, overdue account)."""

    code = "purchase_refused"
    status = 409
