"""Emails about payments: the receipt of a succeeded payment and the notice of a returned SEPA debit.

Written in the org's language with amounts and dates for its locale. A
receipt goes to the org's user who paid (if any) and the org's billing email;
a return notice — and a receipt with neither address — to the billing
contacts (billing email and invoice recipients, else the users who may pay
invoices, as dunning notices).
They show the card as brand and last 4 digits and the IBAN masked, never more.
"""

from __future__ import annotations

from typing import Any

from babel.dates import format_date
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import timezone, translation

from konto.billing.documents.model import card_label
from konto.core.countries import babel_locale
from konto.core.money import format_money
from konto.payments.models import MethodKind, Payment
from konto.payments.services.dunning_emails import dunning_recipients, unique_addresses
from konto.payments.services.pay import sepa_return_reason


def method_label(payment: Payment) -> str:
    """How the payment was made, as people may see it: "Visa •••• 4242", "SEPA Direct Debit DE89 •••• 3000"."""
    method = payment.method
    if method is not None and method.kind == MethodKind.CARD:
        return card_label(method.card_brand, method.card_last4)
    if method is not None and method.kind == MethodKind.SEPA_DEBIT:
        return f"{MethodKind.SEPA_DEBIT.label} {method.masked_iban}"
    return str(MethodKind.BANK_TRANSFER.label)


def _context(payment: Payment) -> dict[str, Any]:
    org = payment.org
    locale = babel_locale(org.language, org.country)
    allocations = list(payment.allocations.select_related("invoice").order_by("id"))
    return {
        "org_name": org.legal_name,
        "amount": format_money(payment.amount, payment.currency, locale),
        "date": format_date(timezone.localdate(payment.status_changed_at or timezone.now()), "medium", locale=locale),
        "method": method_label(payment),
        "reference": payment.public_id,
        "invoices": [
            {"number": allocation.invoice.number, "amount": format_money(allocation.amount, payment.currency, locale)}
            for allocation in allocations
        ],
        "failure_code": payment.failure_code,
        "failure_message": sepa_return_reason(payment.failure_code) if payment.failure_code else "",
        "my_account_url": str(settings.KONTO_BASE_URL).rstrip("/") + "/",
    }


def _send(*, template: str, payment: Payment, to: list[str]) -> list[str]:
    if not to:
        return []
    with translation.override(payment.org.language or "de"):
        context = _context(payment)
        subject = render_to_string(f"payments/email/{template}_subject.txt", context).strip()
        body = render_to_string(f"payments/email/{template}.txt", context)
        html = render_to_string(f"payments/email/{template}.html", context)
    message = EmailMultiAlternatives(subject, body, from_email=settings.DEFAULT_FROM_EMAIL, to=to)
    message.attach_alternative(html, "text/html")
    message.send()
    return to


def send_payment_receipt(*, payment_id: int) -> list[str]:
    """Email the receipt of a succeeded payment; returns the addresses ([] for a payment that did not succeed).

    To the org's user who paid (not staff booking a transfer) and the billing
    email; an org with neither gets it at its billing contacts' addresses.
    """
    payment = Payment.objects.select_related("org", "method", "initiated_by").get(pk=payment_id)
    if payment.status != Payment.Status.SUCCEEDED:
        return []
    payer = payment.initiated_by
    payer_email = payer.email if payer is not None and payer.org_id == payment.org_id else ""
    to = unique_addresses(payer_email, payment.org.billing_email) or dunning_recipients(payment.org)
    return _send(template="receipt", payment=payment, to=to)


def send_sepa_return_notice(*, payment_id: int) -> list[str]:
    """Tell the billing contact that a SEPA debit came back and the invoices are open again."""
    payment = Payment.objects.select_related("org", "method", "initiated_by").get(pk=payment_id)
    if payment.status != Payment.Status.FAILED:
        return []
    return _send(template="sepa_return", payment=payment, to=dunning_recipients(payment.org))
