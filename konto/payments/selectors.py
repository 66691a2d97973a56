"""Reads of payment methods, payments and what an org owes, always scoped to one org."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import DecimalField, ExpressionWrapper, F, QuerySet, Sum

from konto.accounts.models import Org
from konto.billing.models import Invoice, InvoiceStatus
from konto.core.money import ZERO
from konto.payments.models import Payment, PaymentAllocation, PaymentMethod, PaymentStatus

_OPEN_AMOUNT = ExpressionWrapper(
    F("gross_amount") - F("amount_paid") - F("amount_credited"),
    output_field=DecimalField(max_digits=14, decimal_places=2),
)


def list_payment_methods(*, org: Org) -> QuerySet[PaymentMethod]:
    """The org's active methods, the default first, then the newest."""
    return PaymentMethod.objects.filter(org=org, status=PaymentMethod.Status.ACTIVE).order_by(
        "-is_default", "-created_at", "-id"
    )


def get_payment_method(*, org: Org, public_id: str) -> PaymentMethod:
    """The org's active method; PaymentMethod.DoesNotExist for another org's id, a removed or a missing one."""
    return list_payment_methods(org=org).get(public_id=public_id)


def default_payment_method(*, org: Org) -> PaymentMethod | None:
    return list_payment_methods(org=org).filter(is_default=True).first()


def list_payments(*, org: Org, status: str | None = None) -> QuerySet[Payment]:
    """The org's payments, newest first, with their method and allocated invoices loaded."""
    payments = (
        Payment.objects.filter(org=org)
        .select_related("method")
        .prefetch_related("allocations__invoice")
        .order_by("-created_at", "-id")
    )
    if status is not None:
        payments = payments.filter(status=status)
    return payments


def get_payment(*, org: Org, public_id: str) -> Payment:
    """The org's payment; Payment.DoesNotExist for another org's id or a missing one."""
    return list_payments(org=org).get(public_id=public_id)


def open_invoices(*, org: Org) -> QuerySet[Invoice]:
    """The org's open invoices with something left to pay, oldest due first (the order partial payments pay)."""
    return (
        Invoice.objects.filter(org=org, status=InvoiceStatus.OPEN)
        .annotate(open_total=_OPEN_AMOUNT)
        .filter(open_total__gt=0)
        .order_by("due_date", "issue_date", "number", "id")
    )


def open_balance(*, org: Org) -> dict[str, Decimal]:
    """What the org owes on open invoices, per currency ({} when nothing is open)."""
    rows = open_invoices(org=org).order_by().values("currency").annotate(total=Sum(_OPEN_AMOUNT))
    return {row["currency"]: row["total"] or ZERO for row in rows}


def latest_failed_collection(*, org: Org) -> Payment | None:
    """The org's most recent automatic collection if it failed and its invoice is still open (the "declined" banner).

    None once a later collection or payment of that invoice is on its way or
    succeeded, or the invoice is no longer open.
    """
    latest = (
        Payment.objects.filter(org=org, origin__in=[Payment.Origin.AUTOMATIC, Payment.Origin.RETRY])
        .select_related("method")
        .order_by("-created_at", "-id")
        .first()
    )
    if latest is None or latest.status != PaymentStatus.FAILED:
        return None
    invoice_ids = list(latest.allocations.values_list("invoice_id", flat=True))
    still_open = Invoice.objects.filter(pk__in=invoice_ids, status=InvoiceStatus.OPEN).exists()
    later = Payment.objects.filter(
        org=org,
        allocations__invoice_id__in=invoice_ids,
        created_at__gt=latest.created_at,
        status__in=[
            PaymentStatus.PENDING,
            PaymentStatus.REQUIRES_ACTION,
            PaymentStatus.UNKNOWN,
            PaymentStatus.SUCCEEDED,
        ],
    ).exists()
    return latest if still_open and not later else None


# ---------------------------------------------------------------- the invoice page in My Account (added by portal-pay)


def list_invoice_allocations(*, org: Org, invoice: Invoice) -> QuerySet[PaymentAllocation]:
    """What each payment of `org` gave (or tried to give) one invoice, newest first, with payment and method loaded."""
    return (
        PaymentAllocation.objects.filter(org=org, invoice=invoice)
        .select_related("payment", "payment__method")
        .order_by("-payment__created_at", "-payment_id")
    )
