"""Sharing invoices: expiring share links, emailing an invoice to any addresses, and the org's invoice recipients.

A share link's secret exists only in the URL handed to the user once; the
database keeps its sha256. Every open of a link (page or download) is counted
with an F expression and written to the audit trail in the same transaction.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from babel.dates import format_date
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from konto.accounts.models import Org, User
from konto.billing.exceptions import Conflict, InvalidInput, KontoError, NotFound
from konto.billing.models import DocumentKind, Invoice, InvoiceRecipient, InvoiceStatus, ShareLink, StoredDocument
from konto.core.audit import Actor, record_event
from konto.core.countries import babel_locale
from konto.core.money import format_money

DEFAULT_SHARE_DAYS = 30
MAX_SHARE_DAYS = 90
MAX_EMAIL_ADDRESSES = 10
MAX_EMAIL_MESSAGE = 1000  # characters of the personal note
MAX_RECIPIENTS = 20
MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 150

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class ShareLinkInvalid(NotFound):
    """No link has this token: the page says only that the link is not valid."""

    code = "share_link_invalid"


class ShareLinkGone(KontoError):
    """The link existed but has expired or was revoked (HTTP 410); the page reveals nothing more."""

    code = "share_link_gone"
    status = 410


class DocumentNotStored(Conflict):
    """The invoice's document has not been rendered and stored yet."""

    code = "document_not_stored"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _lock_org(org: Org) -> Org:
    return Org.objects.select_for_update().get(pk=org.pk)


def _actor_user_id(actor: Actor) -> int | None:
    return actor.user_id if actor.user_id and User.objects.filter(pk=actor.user_id).exists() else None


# ---------------------------------------------------------------- share links


def parse_share_days(value: object) -> int:
    """Days until a share link expires: a whole number from 1 to 90, else InvalidInput on `expires_in_days`."""
    message = _("Choose how long the link works: a whole number of days from 1 to %(max)d.") % {"max": MAX_SHARE_DAYS}
    if isinstance(value, bool):
        raise InvalidInput(message, code="invalid_expiry", fields={"expires_in_days": message})
    if isinstance(value, str):
        value = value.strip()
        if not value.isdigit():
            raise InvalidInput(message, code="invalid_expiry", fields={"expires_in_days": message})
        value = int(value)
    if not isinstance(value, int) or not 1 <= value <= MAX_SHARE_DAYS:
        raise InvalidInput(message, code="invalid_expiry", fields={"expires_in_days": message})
    return value


@transaction.atomic(durable=True)
def create_share_link(
    *, invoice: Invoice, actor: Actor, expires_in_days: int | str = DEFAULT_SHARE_DAYS
) -> tuple[ShareLink, str]:
    """A read-only link to an issued invoice, valid for 1–90 days; returns the link and its token (shown once)."""
    days = parse_share_days(expires_in_days)
    if invoice.status == InvoiceStatus.DRAFT:
        raise NotFound(_("Invoice not found."))
    now = timezone.now()
    token = secrets.token_urlsafe(32)
    link = ShareLink.objects.create(
        org_id=invoice.org_id,
        invoice=invoice,
        token_hash=hash_token(token),
        created_by_id=_actor_user_id(actor),
        expires_at=now + timedelta(days=days),
    )
    record_event(
        actor=actor,
        org_id=invoice.org_id,
        action="invoice.share_link_created",
        object_type="invoice",
        object_id=invoice.public_id,
        after={"share_link": link.public_id, "expires_at": link.expires_at.isoformat(), "days": days},
    )
    return link, token


@transaction.atomic(durable=True)
def revoke_share_link(*, org: Org, actor: Actor, public_id: str) -> ShareLink:
    """Revoke one of `org`'s share links at once; revoking twice changes nothing. Another org's id is NotFound."""
    link = (
        ShareLink.objects.select_for_update().select_related("invoice").filter(org=org, public_id=public_id).first()
        if isinstance(public_id, str)
        else None
    )
    if link is None:
        raise NotFound(_("Share link not found."))
    if link.revoked_at is None:
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at"])
        record_event(
            actor=actor,
            org_id=org.pk,
            action="invoice.share_link_revoked",
            object_type="invoice",
            object_id=link.invoice.public_id,
            after={"share_link": link.public_id},
        )
    return link


@transaction.atomic(durable=True)
def open_share_link(*, token: str, actor: Actor, what: str = "page") -> ShareLink:
    """The link for `token` with its invoice, counting and auditing this open (`what`: "page" or "pdf").

    Unknown tokens raise ShareLinkInvalid, expired or revoked ones ShareLinkGone;
    neither is counted, since it opens nothing.
    """
    if not isinstance(token, str) or not token or len(token) > 100:
        raise ShareLinkInvalid(_("This link is not valid."))
    link = (
        ShareLink.objects.select_for_update()
        .select_related("invoice", "invoice__org")
        .filter(token_hash=hash_token(token))
        .first()
    )
    if link is None:
        raise ShareLinkInvalid(_("This link is not valid."))
    now = timezone.now()
    if link.revoked_at is not None or link.expires_at <= now or link.invoice.status == InvoiceStatus.DRAFT:
        raise ShareLinkGone(_("This link is no longer valid."))
    ShareLink.objects.filter(pk=link.pk).update(open_count=F("open_count") + 1, last_opened_at=now)
    link.refresh_from_db(fields=["open_count", "last_opened_at"])
    record_event(
        actor=actor,
        org_id=link.org_id,
        action="invoice.share_link_opened",
        object_type="invoice",
        object_id=link.invoice.public_id,
        after={"share_link": link.public_id, "what": what, "open_count": link.open_count},
    )
    return link


# ---------------------------------------------------------------- emailing an invoice


def split_addresses(text: str) -> list[str]:
    """Addresses typed one per line or separated by commas, semicolons or spaces."""
    return [part for part in re.split(r"[\s,;]+", text or "") if part]


def clean_addresses(addresses: Iterable[str]) -> list[str]:
    """1 to 10 distinct, valid email addresses (compared case-insensitively), else InvalidInput on `addresses`."""
    cleaned: list[str] = []
    seen: set[str] = set()
    for address in addresses:
        address = address.strip() if isinstance(address, str) else ""
        if not address:
            continue
        try:
            if len(address) > MAX_EMAIL_LENGTH or _CONTROL.search(address):
                raise ValidationError("invalid")
            validate_email(address)
        except ValidationError:
            message = _("“%(address)s” is not a valid email address. Expected: name@example.com.") % {
                "address": address[:80]
            }
            raise InvalidInput(message, code="invalid_email", fields={"addresses": message}) from None
        if address.lower() not in seen:
            seen.add(address.lower())
            cleaned.append(address)
    if not cleaned:
        message = _("Enter at least one email address.")
        raise InvalidInput(message, code="no_addresses", fields={"addresses": message})
    if len(cleaned) > MAX_EMAIL_ADDRESSES:
        message = _("Enter at most %(max)d email addresses; you entered %(count)d.") % {
            "max": MAX_EMAIL_ADDRESSES,
            "count": len(cleaned),
        }
        raise InvalidInput(message, code="too_many_addresses", fields={"addresses": message})
    return cleaned


def clean_message(message: str) -> str:
    message = message.strip() if isinstance(message, str) else ""
    if len(message) > MAX_EMAIL_MESSAGE or _CONTROL.search(message.replace("\t", " ")):
        text = _("The message can have at most %(max)d characters; it has %(count)d.") % {
            "max": MAX_EMAIL_MESSAGE,
            "count": len(message),
        }
        raise InvalidInput(text, code="invalid_message", fields={"message": text})
    return message


def is_xrechnung(invoice: Invoice) -> bool:
    """Invoices to buyers with a Leitweg-ID are XRechnung invoices: the XML is the invoice."""
    return bool(invoice.buyer_reference)


def sharing_document(invoice: Invoice) -> StoredDocument:
    """The document sent when sharing: the XRechnung XML for XRechnung invoices, else the PDF with embedded XML."""
    kind = DocumentKind.XML if is_xrechnung(invoice) else DocumentKind.PDF
    document = StoredDocument.objects.filter(invoice=invoice, kind=kind).first()
    if document is None:
        raise DocumentNotStored(
            _("The invoice document is still being prepared. Try again in a few minutes."), code="document_not_stored"
        )
    return document


@dataclass(frozen=True)
class _Email:
    invoice_id: int
    document_id: int
    addresses: tuple[str, ...]
    message: str
    sender_name: str
    reply_to: str


def _send_invoice_email(email: _Email) -> None:
    invoice = Invoice.objects.get(pk=email.invoice_id)
    document = StoredDocument.objects.get(pk=email.document_id)
    with document.file.open("rb") as file:
        content = file.read()
    language = invoice.language or "de"
    locale = babel_locale(language, invoice.buyer.get("country") or "DE")
    with translation.override(language):
        context = {
            "invoice": invoice,
            "amount": format_money(invoice.gross_amount, invoice.currency, locale),
            "issue_date": format_date(invoice.issue_date, "medium", locale=locale),
            "due_date": format_date(invoice.due_date, "medium", locale=locale),
            "seller_name": invoice.seller.get("name", ""),
            "buyer_name": invoice.buyer.get("name", ""),
            "message": email.message,
            "sender_name": email.sender_name,
            "filename": document.filename,
            "is_xml": document.kind == DocumentKind.XML,
        }
        subject = render_to_string("billing/email/invoice_subject.txt", context).strip()
        body = render_to_string("billing/email/invoice.txt", context)
        html = render_to_string("billing/email/invoice.html", context)
    message = EmailMultiAlternatives(
        subject,
        body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=list(email.addresses),
        reply_to=[email.reply_to] if email.reply_to else None,
    )
    message.attach_alternative(html, "text/html")
    mimetype = "application/xml" if document.kind == DocumentKind.XML else "application/pdf"
    message.attach(document.filename, content, mimetype)
    message.send()


@transaction.atomic(durable=True)
def email_invoice(*, invoice: Invoice, actor: Actor, addresses: Iterable[str], message: str = "") -> list[str]:
    """Send an issued invoice's document to 1–10 addresses with an optional note, once the transaction commits.

    Audited as "invoice.emailed" with the addresses and the attached file.
    Returns the addresses it is sent to.
    """
    cleaned = clean_addresses(addresses)
    note = clean_message(message)
    if invoice.status == InvoiceStatus.DRAFT:
        raise NotFound(_("Invoice not found."))
    document = sharing_document(invoice)
    user = User.objects.filter(pk=actor.user_id).first() if actor.user_id else None
    record_event(
        actor=actor,
        org_id=invoice.org_id,
        action="invoice.emailed",
        object_type="invoice",
        object_id=invoice.public_id,
        after={"to": cleaned, "attachment": document.filename, "with_message": bool(note)},
    )
    email = _Email(
        invoice_id=invoice.pk,
        document_id=document.pk,
        addresses=tuple(cleaned),
        message=note,
        sender_name=user.full_name if user else "",
        reply_to=user.email if user else "",
    )
    transaction.on_commit(lambda: _send_invoice_email(email))
    return cleaned


# ---------------------------------------------------------------- invoice recipients


@dataclass(frozen=True)
class RecipientInput:
    email: str
    name: str
    format: str


def _clean_recipient(*, email: str, name: str, format: str) -> RecipientInput:
    errors: dict[str, str] = {}
    email = email.strip() if isinstance(email, str) else ""
    name = name.strip() if isinstance(name, str) else ""
    try:
        if not email or len(email) > MAX_EMAIL_LENGTH or _CONTROL.search(email):
            raise ValidationError("invalid")
        validate_email(email)
    except ValidationError:
        errors["email"] = _("Enter a valid email address, e.g. invoices@example.com.")
    if len(name) > MAX_NAME_LENGTH or _CONTROL.search(name):
        errors["name"] = _("The name can have at most %(max)d characters.") % {"max": MAX_NAME_LENGTH}
    if format not in InvoiceRecipient.Format.values:
        errors["format"] = _("Choose PDF or XRechnung XML.")
    if errors:
        raise InvalidInput(next(iter(errors.values())), code="invalid_recipient", fields=dict(errors))
    local, _at, domain = email.rpartition("@")
    return RecipientInput(email=f"{local}@{domain.lower()}", name=name, format=format)


def _refuse_duplicate(org: Org, email: str, *, exclude_id: int | None = None) -> None:
    others = InvoiceRecipient.objects.filter(org=org, email__iexact=email)
    if exclude_id is not None:
        others = others.exclude(pk=exclude_id)
    if others.exists():
        message = _("%(email)s already receives invoices.") % {"email": email}
        raise InvalidInput(message, code="duplicate_recipient", fields={"email": message})


@transaction.atomic(durable=True)
def add_invoice_recipient(
    *, org: Org, actor: Actor, email: str, name: str = "", format: str = InvoiceRecipient.Format.PDF
) -> InvoiceRecipient:
    """Add a contact who receives the org's invoices by email; at most 20 per org, each address once."""
    data = _clean_recipient(email=email, name=name, format=format)
    org = _lock_org(org)  # serialises the count and duplicate checks of concurrent adds
    if InvoiceRecipient.objects.filter(org=org).count() >= MAX_RECIPIENTS:
        message = _("An organisation can have at most %(max)d invoice recipients. Remove one first.") % {
            "max": MAX_RECIPIENTS
        }
        raise InvalidInput(message, code="too_many_recipients")
    _refuse_duplicate(org, data.email)
    recipient = InvoiceRecipient.objects.create(org=org, email=data.email, name=data.name, format=data.format)
    record_event(
        actor=actor,
        org_id=org.pk,
        action="invoice_recipient.added",
        object_type="invoice_recipient",
        object_id=recipient.public_id,
        after={"email": data.email, "name": data.name, "format": data.format},
    )
    return recipient


@transaction.atomic(durable=True)
def update_invoice_recipient(
    *, org: Org, actor: Actor, public_id: str, email: str, name: str, format: str
) -> InvoiceRecipient:
    data = _clean_recipient(email=email, name=name, format=format)
    org = _lock_org(org)
    recipient = (
        InvoiceRecipient.objects.select_for_update().filter(org=org, public_id=public_id).first()
        if isinstance(public_id, str)
        else None
    )
    if recipient is None:
        raise NotFound(_("Invoice recipient not found."))
    _refuse_duplicate(org, data.email, exclude_id=recipient.pk)
    before = {"email": recipient.email, "name": recipient.name, "format": recipient.format}
    after = {"email": data.email, "name": data.name, "format": data.format}
    if before != after:
        recipient.email, recipient.name, recipient.format = data.email, data.name, data.format
        recipient.save(update_fields=["email", "name", "format"])
        record_event(
            actor=actor,
            org_id=org.pk,
            action="invoice_recipient.changed",
            object_type="invoice_recipient",
            object_id=recipient.public_id,
            before=before,
            after=after,
        )
    return recipient


@transaction.atomic(durable=True)
def remove_invoice_recipient(*, org: Org, actor: Actor, public_id: str) -> InvoiceRecipient:
    recipient = (
        InvoiceRecipient.objects.select_for_update().filter(org=org, public_id=public_id).first()
        if isinstance(public_id, str)
        else None
    )
    if recipient is None:
        raise NotFound(_("Invoice recipient not found."))
    record_event(
        actor=actor,
        org_id=org.pk,
        action="invoice_recipient.removed",
        object_type="invoice_recipient",
        object_id=recipient.public_id,
        before={"email": recipient.email, "name": recipient.name, "format": recipient.format},
    )
    recipient.delete()
    return recipient
