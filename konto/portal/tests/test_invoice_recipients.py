"""Settings → Invoice recipients: list, add, edit and remove; bad input, limits, tenant scoping, access, CSRF."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from konto.accounts.models import Org, User
from konto.accounts.testing import make_admin, make_user
from konto.billing.models import InvoiceRecipient
from konto.billing.services import sharing
from konto.core.audit import Actor
from konto.core.models import AuditEvent

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 7, 2, 9, 0, tzinfo=ZoneInfo("Europe/Berlin"))
RECIPIENTS = reverse("portal:invoice_recipients")
SYSTEM = Actor.system("test")


@pytest.fixture(autouse=True)
def _on_2_july_2026() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def english_client(**defaults: object) -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en", **defaults)  # type: ignore[arg-type]


@pytest.fixture
def admin(org: Org) -> User:
    return make_admin(org, "anna@baeckerei.example", full_name="Anna Admin", language="en")


@pytest.fixture
def client(admin: User) -> Client:
    client = english_client()
    client.force_login(admin)
    return client


def _edit(recipient: InvoiceRecipient) -> str:
    return reverse("portal:invoice_recipient_edit", kwargs={"public_id": recipient.public_id})


def _remove(recipient: InvoiceRecipient) -> str:
    return reverse("portal:invoice_recipient_remove", kwargs={"public_id": recipient.public_id})


def _state(org: Org) -> list[tuple[str, str, str]]:
    return list(InvoiceRecipient.objects.filter(org=org).order_by("email").values_list("email", "name", "format"))


def _add(org: Org, email: str, name: str = "", format: str = "pdf") -> InvoiceRecipient:
    return sharing.add_invoice_recipient(org=org, actor=SYSTEM, email=email, name=name, format=format)


def _field_error(html: str, field: str, message: str) -> bool:
    """The message sits in the field's own error block, right below its input."""
    return f'<div id="id_{field}_error"><p class="field-error">{escape(message)}</p></div>' in html


# ---------------------------------------------------------------- list


def test_empty_list_explains_what_recipients_are(client):
    response = client.get(RECIPIENTS)

    html = response.content.decode()
    assert response.status_code == 200
    assert 'aria-current="page">Invoice recipients</a>' in html
    assert '<h2 id="recipient-list-heading">0 recipients</h2>' in html
    assert "No invoice recipients yet" in html
    assert '<option value="pdf" selected>PDF with embedded XML (ZUGFeRD)</option>' in html
    assert '<option value="xrechnung">XRechnung XML</option>' in html


def test_list_shows_each_recipient_sorted_by_email_with_name_format_and_date(client, org, other_org):
    _add(org, "zentrale@kunde.example", "", "pdf")
    _add(org, "ap@kunde.example", "Accounts Payable", "xrechnung")
    _add(other_org, "fremd@other.example", "Fremd")

    html = client.get(RECIPIENTS).content.decode()

    assert '<h2 id="recipient-list-heading">2 recipients</h2>' in html
    rows = html.split("<tbody>")[1].split("</tbody>")[0].split("<tr>")[1:]
    assert len(rows) == 2
    assert '<th scope="row">ap@kunde.example</th>' in rows[0]
    assert '<td data-label="Name">Accounts Payable</td>' in rows[0]
    assert '<td data-label="Format">XRechnung XML</td>' in rows[0]
    assert '<td data-label="Added">Jul 2, 2026</td>' in rows[0]
    assert '<th scope="row">zentrale@kunde.example</th>' in rows[1]
    assert '<td data-label="Name">–</td>' in rows[1]  # no name
    assert '<td data-label="Format">PDF with embedded XML (ZUGFeRD)</td>' in rows[1]
    assert "fremd@other.example" not in html


# ---------------------------------------------------------------- add


def test_add_stores_exact_values_and_audits(client, org, admin):
    response = client.post(
        RECIPIENTS, {"email": "  Rechnung@Kunde.EXAMPLE ", "name": "  Buchhaltung  ", "format": "xrechnung"}
    )

    assert response.status_code == 302
    assert response["Location"] == RECIPIENTS
    assert _state(org) == [("Rechnung@kunde.example", "Buchhaltung", "xrechnung")]
    event = AuditEvent.objects.get(action="invoice_recipient.added")
    assert event.org_id == org.pk
    assert (event.actor_id, event.actor_email) == (admin.pk, "anna@baeckerei.example")
    assert event.after == {"email": "Rechnung@kunde.example", "name": "Buchhaltung", "format": "xrechnung"}
    page = client.get(RECIPIENTS).content.decode()
    assert "Rechnung@kunde.example now receives invoices." in page
    assert '<td data-label="Format">XRechnung XML</td>' in page


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"email": "not-an-email", "name": "", "format": "pdf"}, "email"),
        ({"email": "", "name": "", "format": "pdf"}, "email"),
        ({"email": "a@" + "b" * 250 + ".de", "name": "", "format": "pdf"}, "email"),
        ({"email": "ok@kunde.example", "name": "N" * 151, "format": "pdf"}, "name"),
        ({"email": "ok@kunde.example", "name": "", "format": "docx"}, "format"),
        ({"email": "ok@kunde.example", "name": "", "format": ""}, "format"),
    ],
    ids=["invalid-email", "empty-email", "overlong-email", "name-151-chars", "unknown-format", "no-format"],
)
def test_bad_input_is_shown_next_to_its_field_and_nothing_is_added(client, org, data, field):
    _add(org, "bestand@kunde.example", "Bestand")
    expected = {
        "email": "Enter a valid email address, e.g. invoices@example.com.",
        "name": "The name can have at most 150 characters.",
        "format": "Choose PDF or XRechnung XML.",
    }[field]

    response = client.post(RECIPIENTS, data)

    html = response.content.decode()
    assert response.status_code == 422
    assert _field_error(html, field, expected)
    assert html.count('class="field-error"') == 1
    assert 'aria-invalid="true"' in html
    if data["email"]:
        assert f'value="{escape(data["email"])}"' in html  # the form keeps what was typed
    assert _state(org) == [("bestand@kunde.example", "Bestand", "pdf")]
    assert not AuditEvent.objects.filter(action="invoice_recipient.added", after__email=data["email"]).exists()


@pytest.mark.parametrize("typed", ["ap@kunde.example", "AP@KUNDE.EXAMPLE", "Ap@Kunde.Example"])
def test_a_duplicate_email_in_any_case_is_refused(client, org, typed):
    _add(org, "ap@kunde.example", "AP")

    response = client.post(RECIPIENTS, {"email": typed, "name": "Zweiter", "format": "xrechnung"})

    html = response.content.decode()
    assert response.status_code == 422
    assert _field_error(html, "email", f"{typed.rsplit('@', 1)[0]}@kunde.example already receives invoices.")
    assert _state(org) == [("ap@kunde.example", "AP", "pdf")]


def test_the_21st_recipient_is_refused_and_the_form_is_replaced_by_a_note(client, org):
    for index in range(sharing.MAX_RECIPIENTS):
        _add(org, f"r{index:02d}@kunde.example")
    before = _state(org)

    page = client.get(RECIPIENTS).content.decode()
    response = client.post(RECIPIENTS, {"email": "r20@kunde.example", "name": "", "format": "pdf"})

    assert '<h2 id="recipient-list-heading">20 recipients</h2>' in page
    assert "Your organisation has 20 recipients, the most possible. Remove one to add another." in page
    assert 'name="email"' not in page  # no add form while full
    html = response.content.decode()
    assert response.status_code == 422
    assert (
        '<p class="field-error">An organisation can have at most 20 invoice recipients. Remove one first.</p>' in html
    )
    assert _state(org) == before
    assert InvoiceRecipient.objects.filter(org=org).count() == 20


def test_another_orgs_recipients_do_not_count_towards_the_limit_or_duplicates(client, org, other_org):
    for index in range(sharing.MAX_RECIPIENTS):
        _add(other_org, f"r{index:02d}@kunde.example")

    response = client.post(RECIPIENTS, {"email": "r00@kunde.example", "name": "", "format": "pdf"})

    assert response.status_code == 302
    assert _state(org) == [("r00@kunde.example", "", "pdf")]


# ---------------------------------------------------------------- edit


def test_edit_form_shows_the_current_values(client, org):
    recipient = _add(org, "ap@kunde.example", "Accounts Payable", "xrechnung")

    response = client.get(_edit(recipient))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Edit ap@kunde.example" in html
    assert 'value="ap@kunde.example"' in html
    assert 'value="Accounts Payable"' in html
    assert '<option value="xrechnung" selected>XRechnung XML</option>' in html


def test_edit_saves_exact_values_and_audits_before_and_after(client, org):
    recipient = _add(org, "ap@kunde.example", "Accounts Payable", "pdf")
    _add(org, "zentrale@kunde.example")

    response = client.post(
        _edit(recipient), {"email": "Kreditoren@Kunde.example", "name": "Kreditoren", "format": "xrechnung"}
    )

    assert response.status_code == 302
    assert response["Location"] == RECIPIENTS
    recipient.refresh_from_db()
    assert (recipient.email, recipient.name, recipient.format) == (
        "Kreditoren@kunde.example",
        "Kreditoren",
        "xrechnung",
    )
    assert _state(org) == [
        ("Kreditoren@kunde.example", "Kreditoren", "xrechnung"),
        ("zentrale@kunde.example", "", "pdf"),
    ]
    event = AuditEvent.objects.get(action="invoice_recipient.changed")
    assert event.object_id == recipient.public_id
    assert event.before == {"email": "ap@kunde.example", "name": "Accounts Payable", "format": "pdf"}
    assert event.after == {"email": "Kreditoren@kunde.example", "name": "Kreditoren", "format": "xrechnung"}
    assert "The invoice recipient has been saved." in client.get(RECIPIENTS).content.decode()


def test_changing_only_the_case_of_ones_own_email_is_allowed(client, org):
    recipient = _add(org, "ap@kunde.example", "AP")

    response = client.post(_edit(recipient), {"email": "AP@kunde.example", "name": "AP", "format": "pdf"})

    assert response.status_code == 302
    assert _state(org) == [("AP@kunde.example", "AP", "pdf")]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"email": "kaputt@", "name": "AP", "format": "pdf"},
            "email",
            "Enter a valid email address, e.g. invoices@example.com.",
        ),
        (
            {"email": "ap@kunde.example", "name": "x" * 151, "format": "pdf"},
            "name",
            "The name can have at most 150 characters.",
        ),
        ({"email": "ap@kunde.example", "name": "AP", "format": "zip"}, "format", "Choose PDF or XRechnung XML."),
        (
            {"email": "ZENTRALE@kunde.example", "name": "AP", "format": "pdf"},
            "email",
            "ZENTRALE@kunde.example already receives invoices.",
        ),
    ],
    ids=["invalid-email", "name-151-chars", "unknown-format", "duplicate-of-another"],
)
def test_bad_edits_are_shown_next_to_the_field_and_change_nothing(client, org, data, field, message):
    recipient = _add(org, "ap@kunde.example", "AP", "pdf")
    _add(org, "zentrale@kunde.example", "Zentrale")
    before = _state(org)

    response = client.post(_edit(recipient), data)

    html = response.content.decode()
    assert response.status_code == 422
    assert _field_error(html, field, message)
    assert html.count('class="field-error"') == 1
    assert _state(org) == before
    assert not AuditEvent.objects.filter(action="invoice_recipient.changed").exists()


# ---------------------------------------------------------------- remove


def test_remove_deletes_only_that_recipient_and_audits(client, org):
    keep = _add(org, "zentrale@kunde.example")
    gone = _add(org, "ap@kunde.example", "AP", "xrechnung")

    response = client.post(_remove(gone))

    assert response.status_code == 302
    assert response["Location"] == RECIPIENTS
    assert _state(org) == [("zentrale@kunde.example", "", "pdf")]
    assert InvoiceRecipient.objects.filter(pk=keep.pk).exists()
    event = AuditEvent.objects.get(action="invoice_recipient.removed")
    assert event.object_id == gone.public_id
    assert event.before == {"email": "ap@kunde.example", "name": "AP", "format": "xrechnung"}
    assert "ap@kunde.example no longer receives invoices." in client.get(RECIPIENTS).content.decode()


def test_remove_answers_only_post(client, org):
    recipient = _add(org, "ap@kunde.example")

    assert client.get(_remove(recipient)).status_code == 405
    assert _state(org) == [("ap@kunde.example", "", "pdf")]


# ---------------------------------------------------------------- tenant scoping


def test_another_orgs_recipient_is_404_for_edit_save_and_remove(client, org, other_org):
    foreign = _add(other_org, "fremd@other.example", "Fremd", "pdf")

    assert client.get(_edit(foreign)).status_code == 404
    saved = client.post(_edit(foreign), {"email": "mine@kunde.example", "name": "Mine", "format": "xrechnung"})
    removed = client.post(_remove(foreign))

    assert saved.status_code == 404
    assert removed.status_code == 404
    assert _state(other_org) == [("fremd@other.example", "Fremd", "pdf")]
    assert _state(org) == []
    assert not AuditEvent.objects.filter(action__startswith="invoice_recipient.", org_id=org.pk).exists()


def test_an_unknown_recipient_id_is_404(client):
    assert client.get(reverse("portal:invoice_recipient_edit", kwargs={"public_id": "rcp_nope"})).status_code == 404
    assert client.post(reverse("portal:invoice_recipient_remove", kwargs={"public_id": "rcp_nope"})).status_code == 404


# ---------------------------------------------------------------- access


@pytest.fixture
def invoice_viewer(org: Org) -> User:
    return make_user(org, "viewer@kunde.example", permission_sets=("invoice_viewer",), language="en")


def test_a_user_without_manage_billing_contacts_gets_403_everywhere(org, invoice_viewer):
    recipient = _add(org, "ap@kunde.example", "AP")
    client = english_client()
    client.force_login(invoice_viewer)

    pages = [
        client.get(RECIPIENTS),
        client.post(RECIPIENTS, {"email": "neu@kunde.example", "name": "", "format": "pdf"}),
        client.get(_edit(recipient)),
        client.post(_edit(recipient), {"email": "x@kunde.example", "name": "X", "format": "xrechnung"}),
        client.post(_remove(recipient)),
    ]

    assert [page.status_code for page in pages] == [403] * 5
    html = pages[0].content.decode()
    assert "This page needs the permission <strong>Manage billing contacts</strong>." in html
    assert "ap@kunde.example" not in html
    assert _state(org) == [("ap@kunde.example", "AP", "pdf")]
    # and the Invoices page they may use does not link to the recipients
    invoices = client.get(reverse("portal:invoices"))
    assert invoices.status_code == 200
    assert RECIPIENTS not in invoices.content.decode()


def test_an_anonymous_visitor_is_sent_to_the_login(org):
    recipient = _add(org, "ap@kunde.example")
    client = english_client()

    response = client.post(_remove(recipient))

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert _state(org) == [("ap@kunde.example", "", "pdf")]


# ---------------------------------------------------------------- CSRF


def test_every_change_needs_the_csrf_token(org, admin):
    recipient = _add(org, "ap@kunde.example", "AP")
    client = english_client(enforce_csrf_checks=True)
    client.force_login(admin)

    refused = [
        client.post(RECIPIENTS, {"email": "neu@kunde.example", "name": "", "format": "pdf"}),
        client.post(_edit(recipient), {"email": "x@kunde.example", "name": "X", "format": "xrechnung"}),
        client.post(_remove(recipient)),
    ]
    assert [response.status_code for response in refused] == [403, 403, 403]
    assert _state(org) == [("ap@kunde.example", "AP", "pdf")]

    client.get(RECIPIENTS)
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    added = client.post(
        RECIPIENTS, {"email": "neu@kunde.example", "name": "", "format": "pdf", "csrfmiddlewaretoken": token}
    )
    assert added.status_code == 302
    assert _state(org) == [("ap@kunde.example", "AP", "pdf"), ("neu@kunde.example", "", "pdf")]
