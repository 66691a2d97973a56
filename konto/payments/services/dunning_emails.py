"""The dunning emails: reminder, second reminder, final notice and suspension notice, with the invoice PDF attached.

Written in the org's language (its current one), amounts and dates formatted
for its locale. They go to the org's billing email and its invoice recipients
(Settings → Invoice recipients); an org with neither gets them at the
addresses of its active users who may pay invoices, so a reminder never goes
nowhere. Each notice is emailed once: the send is recorded in the audit trail
("invoice.dunning_notice_emailed") under the notice's row lock, and a second
run of the task finds that record and sends nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from babel.dates import format_date
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from stdnum import iban as iban_numbers

from konto.accounts.models import Org, User
from konto.accounts.permissions import PAY_INVOICES, has_permission
from konto.billing.models import DocumentKind, Invoice, InvoiceStatus, StoredDocument
from konto.billing.selectors import recipients_for
from konto.billing.services.documents import issue_documents
from konto.core.audit import Actor, record_event
from konto.core.countries import babel_locale
from konto.core.models import AuditEvent
from konto.core.money import format_money
from konto.payments.models import DunningLevel, DunningNotice
from konto.payments.services.standing import get_dunning_policy

logger = logging.getLogger(__name__)

ACTOR = Actor.system("dunning")
EMAILED = "invoice.dunning_notice_emailed"
LEVEL_HEADER = "X-Konto-Dunning-Level"

SUBJECTS: dict[str, Promise] = {
    DunningLevel.REMINDER: _("Payment reminder: invoice %(number)s"),
    DunningLevel.SECOND_REMINDER: _("Second reminder: invoice %(number)s"),
    DunningLevel.FINAL_NOTICE: _("Final notice: invoice %(number)s"),
    DunningLevel.SUSPENSION: _("Account suspended: invoice %(number)s is unpaid"),
}


def unique_addresses(*candidates: str) -> list[str]:
    """The non-empty addresses in order, each once (compared case-insensitively)."""
    seen: set[str] = set()
    addresses = []
    for address in candidates:
        if address and address.lower() not in seen:
            seen.add(address.lower())
            addresses.append(address)
    return addresses


def dunning_recipients(org: Org) -> list[str]:
    """The billing email and the invoice recipients (each address once); else the users who may pay invoices."""
    addresses = unique_addresses(org.billing_email, *recipients_for(org).values_list("email", flat=True))
    if addresses:
        return addresses
    users = User.objects.filter(org=org, is_active=True).select_related("profile").order_by("email")
    return unique_addresses(*(user.email for user in users if has_permission(user, PAY_INVOICES)))


def pay_url() -> str:
    """Where the customer pays in My Account: the payment page if it exists, else the invoice list."""
    try:
        path = reverse("portal:pay_invoices")
    except NoReverseMatch:
        path = reverse("portal:invoices")
    return settings.KONTO_BASE_URL.rstrip("/") + path


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes


def invoice_pdf(invoice: Invoice) -> Attachment | None:
    """The invoice's stored PDF/A-3 (rendered and stored now if it was issued without one); None if impossible."""
    document = StoredDocument.objects.filter(invoice=invoice, kind=DocumentKind.PDF).first()
    if document is None:
        try:
            document = issue_documents(invoice).pdf
        except Exception:
            logger.exception("dunning email for invoice %s goes without its PDF: it could not be rendered", invoice.pk)
            return None
    with document.file.open("rb") as file:
        return Attachment(filename=document.filename, content=file.read())


def _transfer_account(invoice: Invoice) -> dict[str, str]:
    """The vendor's account as printed on the invoice (a CHF invoice names the Swiss one where there is one)."""
    seller = invoice.seller
    swiss = seller.get("qr_bill_iban", "") if invoice.currency == "CHF" else ""
    account = swiss or seller.get("iban", "")
    if not account:
        return {}
    return {
        "iban": iban_numbers.format(account),
        "bic": "" if swiss else seller.get("bic", ""),
        "account_name": seller.get("name", ""),
    }


def email_context(*, notice: DunningNotice, today: date, locale: str) -> dict[str, Any]:
    invoice = notice.invoice
    policy = get_dunning_policy()
    return {
        "level": notice.level,
        "org_name": notice.org.legal_name,
        "seller_name": invoice.seller.get("name", ""),
        "number": invoice.number,
        "issue_date": format_date(invoice.issue_date, "medium", locale=locale),
        "due_date": format_date(invoice.due_date, "medium", locale=locale),
        "days_overdue": max((today - invoice.due_date).days, 0),
        "open_amount": format_money(invoice.open_amount, invoice.currency, locale),
        "final_notice_date": format_date(
            invoice.due_date + timedelta(days=policy.final_notice_days), "medium", locale=locale
        ),
        "suspension_date": format_date(
            invoice.due_date + timedelta(days=policy.suspension_days), "medium", locale=locale
        ),
        "pay_url": pay_url(),
        "transfer": _transfer_account(invoice),
        "product_name": settings.KONTO_PRODUCT_NAME,
    }


def send_dunning_notice_email(*, notice_id: int, today: date) -> list[str]:
    """Email one dunning notice once; returns the addresses it went to ([] when nothing was sent).

    Nothing is sent for an invoice that was paid (or voided) since the step
    was taken, nor a second time for the same notice.
    """
    with transaction.atomic():
        notices = DunningNotice.objects.select_for_update(of=("self",)).select_related("invoice", "org")
        notice = notices.get(pk=notice_id)
        invoice, org = notice.invoice, notice.org
        if AuditEvent.objects.filter(action=EMAILED, object_id=invoice.public_id, after__notice=notice.pk).exists():
            return []
        if invoice.status != InvoiceStatus.OPEN or invoice.open_amount <= 0:
            logger.info("dunning notice %s not emailed: invoice %s is %s", notice.pk, invoice.pk, invoice.status)
            return []
        addresses = dunning_recipients(org)
        if not addresses:
            logger.warning("dunning notice %s not emailed: org %s has no billing address", notice.pk, org.pk)
            return []
        attachment = invoice_pdf(invoice)
        language = org.language or settings.LANGUAGE_CODE
        with translation.override(language):
            context = email_context(notice=notice, today=today, locale=babel_locale(language, org.country))
            subject = str(SUBJECTS[notice.level]) % {"number": invoice.number}
            context.update(subject=subject, attachment=attachment.filename if attachment else "")
            body = render_to_string(f"payments/email/dunning_{notice.level}.txt", context)
            html = render_to_string(f"payments/email/dunning_{notice.level}.html", context)
        reply_to = invoice.seller.get("email", "")
        message = EmailMultiAlternatives(
            subject,
            body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=addresses,
            reply_to=[reply_to] if reply_to else None,
            headers={LEVEL_HEADER: notice.level},  # lets mail rules (and tests) tell dunning from invoices
        )
        message.attach_alternative(html, "text/html")
        if attachment:
            message.attach(attachment.filename, attachment.content, "application/pdf")
        message.send()
        record_event(
            actor=ACTOR,
            org_id=org.pk,
            action=EMAILED,
            object_type="invoice",
            object_id=invoice.public_id,
            after={
                "notice": notice.pk,
                "level": notice.level,
                "to": addresses,
                "attachment": attachment.filename if attachment else "",
                "language": language,
            },
        )
        return addresses
