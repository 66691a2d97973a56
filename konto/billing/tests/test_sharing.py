"""Sharing services: share links (hashed tokens, expiry, revocation, audited opens), emailing, invoice recipients."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.mail import EmailMultiAlternatives
from django.utils import translation

from konto.accounts.models import Org
from konto.accounts.testing import make_admin
from konto.billing.documents.samples import MUSTERSTADT_LEITWEG_ID
from konto.billing.exceptions import InvalidInput, NotFound
from konto.billing.models import Invoice, InvoiceRecipient, ShareLink, StoredDocument
from konto.billing.selectors import recipients_for
from konto.billing.services import sharing
from konto.billing.services.invoices import invoice_due_charges
from konto.core.audit import Actor
from konto.core.models import AuditEvent

from .helpers import add_contract, build_catalog, german_org, monthly_contract

pytestmark = pytest.mark.django_db
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 7, 1, 10, 0, tzinfo=BERLIN)
JULY = date(2026, 7, 1)


# ---------------------------------------------------------------- builders shared with the portal tests


def issued_invoice(org: Org, *, billing_date: date = JULY, documents: bool = True, **contract_fields: Any) -> Invoice:
    """A real invoice made by the billing services: 5 Essentials licenses at 25.00/month from 2026-06-01.

    With `documents`, its PDF/A-3 and XML are rendered, validated and stored as on every issue.
    """
    monthly_contract(org, build_catalog(), **contract_fields)
    (invoice,) = invoice_due_charges(org=org, billing_date=billing_date, documents=documents)
    return invoice


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def invoice(clock: time_machine.Traveller) -> Invoice:
    return issued_invoice(german_org())


@pytest.fixture
def user(invoice: Invoice):
    return make_admin(invoice.org, "anna@baeckerei.example", full_name="Anna Admin")


def actor(user) -> Actor:
    return Actor(user_id=user.pk, email=user.email, ip_address="203.0.113.7", user_agent="pytest-browser/1.0")


# ---------------------------------------------------------------- share links


def test_a_share_link_keeps_only_the_sha256_of_its_token(invoice, user):
    link, token = sharing.create_share_link(invoice=invoice, actor=actor(user))

    assert len(token) >= 40
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    stored = ShareLink.objects.values_list("token_hash", flat=True).get()
    assert token not in stored
    assert link.expires_at == NOW + timedelta(days=30)
    assert link.created_by_id == user.pk
    event = AuditEvent.objects.get(action="invoice.share_link_created")
    assert token not in str(event.after)
    assert event.after == {"share_link": link.public_id, "expires_at": link.expires_at.isoformat(), "days": 30}


@pytest.mark.parametrize("days", [0, 91, -1, "abc", "", "1.5", " ", True, None])
def test_a_share_link_expiry_outside_1_to_90_days_is_refused(invoice, user, days):
    with pytest.raises(InvalidInput) as refused:
        sharing.create_share_link(invoice=invoice, actor=actor(user), expires_in_days=days)

    assert refused.value.fields == {
        "expires_in_days": "Choose how long the link works: a whole number of days from 1 to 90."
    }
    assert not ShareLink.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="invoice.share_link").exists()


@pytest.mark.parametrize(("days", "expected"), [(1, timedelta(days=1)), ("90", timedelta(days=90))])
def test_a_share_link_lasts_the_chosen_days(invoice, user, days, expected):
    link, _token = sharing.create_share_link(invoice=invoice, actor=actor(user), expires_in_days=days)

    assert link.expires_at - NOW == expected


def test_every_open_is_counted_and_audited_with_ip_and_user_agent(invoice, user, clock):
    link, token = sharing.create_share_link(invoice=invoice, actor=actor(user), expires_in_days=7)
    visitor = Actor(user_id=None, email="anonymous", ip_address="198.51.100.4", user_agent="Mozilla/5.0 Test")

    sharing.open_share_link(token=token, actor=visitor)
    clock.shift(timedelta(hours=2))
    opened = sharing.open_share_link(token=token, actor=visitor, what="pdf")

    assert opened.invoice == invoice
    link.refresh_from_db()
    assert link.open_count == 2
    assert link.last_opened_at == NOW + timedelta(hours=2)
    events = list(AuditEvent.objects.filter(action="invoice.share_link_opened").order_by("id"))
    assert [(e.ip_address, e.user_agent, e.object_id, e.org_id) for e in events] == [
        ("198.51.100.4", "Mozilla/5.0 Test", invoice.public_id, invoice.org_id)
    ] * 2
    assert [e.after for e in events] == [
        {"share_link": link.public_id, "what": "page", "open_count": 1},
        {"share_link": link.public_id, "what": "pdf", "open_count": 2},
    ]


def test_a_share_link_stops_working_when_it_expires(invoice, user, clock):
    link, token = sharing.create_share_link(invoice=invoice, actor=actor(user), expires_in_days=1)
    visitor = Actor.system("anonymous")

    clock.shift(timedelta(days=1) - timedelta(seconds=1))
    sharing.open_share_link(token=token, actor=visitor)
    clock.shift(timedelta(seconds=1))
    with pytest.raises(sharing.ShareLinkGone):
        sharing.open_share_link(token=token, actor=visitor)

    link.refresh_from_db()
    assert link.open_count == 1
    assert AuditEvent.objects.filter(action="invoice.share_link_opened").count() == 1


def test_a_revoked_share_link_stops_working_at_once(invoice, user):
    link, token = sharing.create_share_link(invoice=invoice, actor=actor(user))

    sharing.revoke_share_link(org=invoice.org, actor=actor(user), public_id=link.public_id)
    sharing.revoke_share_link(org=invoice.org, actor=actor(user), public_id=link.public_id)  # twice: no change

    with pytest.raises(sharing.ShareLinkGone):
        sharing.open_share_link(token=token, actor=Actor.system("anonymous"))
    link.refresh_from_db()
    assert (link.revoked_at, link.open_count) == (NOW, 0)
    assert AuditEvent.objects.filter(action="invoice.share_link_revoked").count() == 1


@pytest.mark.parametrize("token", ["", "nope", "x" * 101, None, 42])
def test_unknown_tokens_open_nothing(invoice, user, token):
    sharing.create_share_link(invoice=invoice, actor=actor(user))

    with pytest.raises(sharing.ShareLinkInvalid):
        sharing.open_share_link(token=token, actor=Actor.system("anonymous"))
    assert ShareLink.objects.get().open_count == 0
    assert not AuditEvent.objects.filter(action="invoice.share_link_opened").exists()


def test_another_orgs_share_link_cannot_be_revoked(invoice, user):
    link, _token = sharing.create_share_link(invoice=invoice, actor=actor(user))
    stranger = german_org("Fremdfirma GmbH", vat_id="")

    with pytest.raises(NotFound):
        sharing.revoke_share_link(org=stranger, actor=actor(user), public_id=link.public_id)
    link.refresh_from_db()
    assert link.revoked_at is None


# ---------------------------------------------------------------- emailing


def test_emailing_sends_the_pdf_to_every_address_after_commit(
    invoice, user, mailoutbox, django_capture_on_commit_callbacks
):
    stored = StoredDocument.objects.get(invoice=invoice, kind="pdf")

    with django_capture_on_commit_callbacks(execute=True):
        sent = sharing.email_invoice(
            invoice=invoice,
            actor=actor(user),
            addresses=["ap@kunde.example", "AP@kunde.example", "chef@kunde.example"],
            message="Please pay by Friday.",
        )

    assert sent == ["ap@kunde.example", "chef@kunde.example"]
    (message,) = mailoutbox
    assert isinstance(message, EmailMultiAlternatives)
    assert message.to == ["ap@kunde.example", "chef@kunde.example"]
    assert message.reply_to == ["anna@baeckerei.example"]
    assert message.subject == "Rechnung RE-2026-000001 von Nimbus CRM GmbH"  # in the invoice's language
    assert "Please pay by Friday." in message.body
    assert "297,50\xa0€" in message.body  # the invoice's language is German: its amounts are formatted so
    ((filename, content, mimetype),) = message.attachments
    assert (filename, mimetype) == ("RE-2026-000001.pdf", "application/pdf")
    assert content[:5] == b"%PDF-"
    assert len(content) == stored.size
    event = AuditEvent.objects.get(action="invoice.emailed")
    assert event.after == {
        "to": ["ap@kunde.example", "chef@kunde.example"],
        "attachment": "RE-2026-000001.pdf",
        "with_message": True,
    }
    assert (event.actor_id, event.ip_address) == (user.pk, "203.0.113.7")


def test_an_xrechnung_invoice_is_emailed_as_xml(clock, mailoutbox, django_capture_on_commit_callbacks):
    org = german_org("Stadt Musterstadt", edition="enterprise")
    add_contract(
        org,
        build_catalog(),
        start=date(2026, 6, 1),
        end=date(2027, 6, 1),
        frequency="monthly",
        lines=[("enterprise", 2, Decimal("100.00"))],
        payment="bank_transfer",
        buyer_reference=MUSTERSTADT_LEITWEG_ID,
    )
    (invoice,) = invoice_due_charges(org=org, billing_date=JULY)
    user = make_admin(invoice.org, "anna@amt.example")

    with django_capture_on_commit_callbacks(execute=True):
        sharing.email_invoice(invoice=invoice, actor=actor(user), addresses=["erechnung@amt.example"])

    ((filename, content, mimetype),) = mailoutbox[0].attachments
    assert (filename, mimetype) == ("RE-2026-000001-xrechnung.xml", "application/xml")
    assert b"<ram:BuyerReference>%s</ram:BuyerReference>" % MUSTERSTADT_LEITWEG_ID.encode() in content


@pytest.mark.parametrize(
    ("addresses", "message", "field", "error"),
    [
        ([], "", "addresses", "Enter at least one email address."),
        (["  "], "", "addresses", "Enter at least one email address."),
        (
            [f"a{i}@kunde.example" for i in range(11)],
            "",
            "addresses",
            "Enter at most 10 email addresses; you entered 11.",
        ),
        (
            ["kein-at-zeichen"],
            "",
            "addresses",
            "“kein-at-zeichen” is not a valid email address. Expected: name@example.com.",
        ),
        (["a@b.example\n"], "x" * 1001, "message", "The message can have at most 1000 characters; it has 1001."),
    ],
)
def test_bad_email_input_is_refused_and_nothing_is_sent(
    invoice, user, mailoutbox, django_capture_on_commit_callbacks, addresses, message, field, error
):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(InvalidInput) as refused:
        sharing.email_invoice(invoice=invoice, actor=actor(user), addresses=addresses, message=message)

    assert refused.value.fields == {field: error}
    assert mailoutbox == []
    assert not AuditEvent.objects.filter(action="invoice.emailed").exists()


def test_an_invoice_without_a_stored_document_is_not_emailed(clock, mailoutbox):
    invoice = issued_invoice(german_org(), documents=False)
    user = make_admin(invoice.org, "anna@baeckerei.example")

    with pytest.raises(sharing.DocumentNotStored):
        sharing.email_invoice(invoice=invoice, actor=actor(user), addresses=["ap@kunde.example"])

    assert mailoutbox == []
    assert not AuditEvent.objects.filter(action="invoice.emailed").exists()


def test_split_addresses_takes_commas_semicolons_and_lines():
    assert sharing.split_addresses("a@x.example, b@x.example;c@x.example\n d@x.example") == [
        "a@x.example",
        "b@x.example",
        "c@x.example",
        "d@x.example",
    ]


# ---------------------------------------------------------------- invoice recipients


def test_recipients_are_added_changed_and_removed_with_audit(invoice, user):
    org = invoice.org
    added = sharing.add_invoice_recipient(
        org=org, actor=actor(user), email="AP@Kunde.EXAMPLE", name="Kreditoren", format="xrechnung"
    )
    assert (added.email, added.name, added.format) == ("AP@kunde.example", "Kreditoren", "xrechnung")

    sharing.update_invoice_recipient(
        org=org, actor=actor(user), public_id=added.public_id, email="ap@kunde.example", name="", format="pdf"
    )
    assert list(recipients_for(org).values_list("email", "name", "format")) == [("ap@kunde.example", "", "pdf")]

    sharing.remove_invoice_recipient(org=org, actor=actor(user), public_id=added.public_id)
    assert not recipients_for(org).exists()
    assert list(
        AuditEvent.objects.filter(object_type="invoice_recipient").order_by("id").values_list("action", flat=True)
    ) == [
        "invoice_recipient.added",
        "invoice_recipient.changed",
        "invoice_recipient.removed",
    ]


def test_a_duplicate_recipient_is_refused_case_insensitively(invoice, user):
    sharing.add_invoice_recipient(org=invoice.org, actor=actor(user), email="ap@kunde.example")

    with pytest.raises(InvalidInput) as refused:
        sharing.add_invoice_recipient(org=invoice.org, actor=actor(user), email="AP@kunde.example")

    assert refused.value.code == "duplicate_recipient"
    assert InvoiceRecipient.objects.count() == 1


def test_at_most_20_recipients(invoice, user):
    for i in range(20):
        sharing.add_invoice_recipient(org=invoice.org, actor=actor(user), email=f"r{i}@kunde.example")

    with pytest.raises(InvalidInput) as refused:
        sharing.add_invoice_recipient(org=invoice.org, actor=actor(user), email="r20@kunde.example")

    assert refused.value.code == "too_many_recipients"
    assert InvoiceRecipient.objects.count() == 20


@pytest.mark.parametrize(
    ("email", "name", "format", "field"),
    [
        ("", "", "pdf", "email"),
        ("no-at", "", "pdf", "email"),
        ("a@" + "b" * 250 + ".example", "", "pdf", "email"),
        ("ok@kunde.example", "n" * 151, "pdf", "name"),
        ("ok@kunde.example", "", "docx", "format"),
    ],
)
def test_bad_recipient_input_is_refused(invoice, user, email, name, format, field):
    with pytest.raises(InvalidInput) as refused:
        sharing.add_invoice_recipient(org=invoice.org, actor=actor(user), email=email, name=name, format=format)

    assert list(refused.value.fields) == [field]
    assert not InvoiceRecipient.objects.exists()
    assert not AuditEvent.objects.filter(object_type="invoice_recipient").exists()


def test_recipients_of_another_org_cannot_be_changed_or_removed(invoice, user):
    recipient = sharing.add_invoice_recipient(org=invoice.org, actor=actor(user), email="ap@kunde.example")
    stranger = german_org("Fremdfirma GmbH", vat_id="")

    with pytest.raises(NotFound):
        sharing.remove_invoice_recipient(org=stranger, actor=actor(user), public_id=recipient.public_id)
    with pytest.raises(NotFound):
        sharing.update_invoice_recipient(
            org=stranger, actor=actor(user), public_id=recipient.public_id, email="x@y.example", name="", format="pdf"
        )
    assert list(recipients_for(invoice.org).values_list("email", flat=True)) == ["ap@kunde.example"]
