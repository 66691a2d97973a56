"""What billing needs from the layer above it (payments) without importing it: two small registries.

Billing sits below payments, so it cannot ask payments how an org pays or tell
it that invoices were issued. Payments registers the answers in
`PaymentsConfig.ready()`:

- a payment details provider, asked while invoices are issued for the way each
  org pays (card brand and last 4 digits, or the SEPA mandate data), which is
  stored on the invoice (`Invoice.payment_details`) and printed on it;
- "invoices issued" listeners, called once the issuing transaction has
  committed (`transaction.on_commit`) with the ids of the issued invoices, e.g.
  to charge card and SEPA orgs at once.

Without a registration billing issues invoices exactly as before: no payment
details (transfer instructions), nobody told.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

from django.db import transaction

# fn(org ids, issue date) -> {org id: details}; orgs without a card or mandate are left out.
PaymentDetailsProvider = Callable[[Sequence[int], date], dict[int, dict[str, Any]]]
IssuedListener = Callable[[list[int]], None]

# Which details go with which contract payment method kind: the key that marks them.
_DETAILS_MARKER = {"card": "card_last4", "sepa_debit": "mandate_reference"}

_provider: PaymentDetailsProvider | None = None
_listeners: list[IssuedListener] = []


def set_payment_details_provider(fn: PaymentDetailsProvider | None) -> None:
    global _provider
    _provider = fn


def add_issued_listener(fn: IssuedListener) -> None:
    """Register `fn`; registering the same function again changes nothing."""
    if fn not in _listeners:
        _listeners.append(fn)


def payment_details_by_org(org_ids: Sequence[int], issue_date: date) -> dict[int, dict[str, Any]]:
    """The provider's answer for these orgs ({} without a provider)."""
    if _provider is None or not org_ids:
        return {}
    return _provider(list(org_ids), issue_date)


def invoice_payment_details(details: dict[str, Any] | None, *, kind: str, due_date: date) -> dict[str, Any]:
    """The details stored on one invoice paid by `kind` (the contract's payment method kind at issue).

    Only details of that kind are kept (a card's for a card invoice, a mandate's
    for a direct debit invoice); anything else stores {} and the invoice carries
    transfer instructions. A direct debit is never collected before the due
    date: the provider's `collection_date` is the earliest possible one (the
    pre-notification period), the invoice announces the later of the two, on a
    weekday (Saturday and Sunday move to Monday; the bank file moves a bank
    holiday to the next business day).
    """
    marker = _DETAILS_MARKER.get(kind)
    if not details or marker is None or not details.get(marker):
        return {}
    stored = dict(details)
    earliest = stored.get("collection_date")
    if earliest:
        announced = max(date.fromisoformat(earliest), due_date)
        if announced.weekday() >= 5:
            announced += timedelta(days=7 - announced.weekday())
        stored["collection_date"] = announced.isoformat()
    return stored


def announce_issued(invoice_ids: Sequence[int]) -> None:
    """Tell the listeners about these invoices once the current transaction commits (never if it rolls back)."""
    if not _listeners or not invoice_ids:
        return
    ids = list(invoice_ids)
    for listener in list(_listeners):
        transaction.on_commit(lambda listener=listener: listener(ids))  # type: ignore[misc]  # bound per listener
