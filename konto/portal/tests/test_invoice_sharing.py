"""Sharing from My Account: email form, share links (create, list, revoke) and the public /share/<token>/ page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from konto.accounts.testing import make_admin
from konto.billing.models import Invoice, ShareLink
from konto.billing.tests.helpers import german_org
from konto.billing.tests.test_sharing import issued_invoice
from konto.core.models import AuditEvent

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 7, 2, 9, 0, tzinfo=ZoneInfo("Europe/Berlin"))


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def setup(clock, client):
    invoice = issued_invoice(german_org(), billing_date=date(2026, 7, 1))
    admin = make_admin(invoice.org, "anna@baeckerei.example", full_name="Anna Admin", language="en")
    client.force_login(admin)
    return invoice, admin


def _share(client: Client, invoice: Invoice, days: str = "30") -> Any:
    return client.post(
        reverse("portal:invoice_share", kwargs={"public_id": invoice.public_id}), {"expires_in_days": days}
    )


def _share_url(html: str) -> str:
    """The share link's URL, shown once in the read-only field of the result page."""
    match = re.search(r'value="(http://testserver/share/[^"]+/)"', html)
    assert match is not None
    return match.group(1)


def test_share_link_lifecycle_through_the_pages(client, setup, clock):
    invoice, admin = setup
    response = _share(client, invoice, "7")
    assert response.status_code == 200
    url = _share_url(response.content.decode())
    token = url.rstrip("/").rsplit("/", 1)[1]
    assert not ShareLink.objects.filter(token_hash__contains=token).exists()

    client.logout()
    page = client.get(url, HTTP_USER_AGENT="Visitor/1.0", REMOTE_ADDR="198.51.100.9")
    assert page.status_code == 200
    html = page.content.decode()
    assert "RE-2026-000001" in html
    assert re.search(r"297[.,]50", html)
    assert page["X-Robots-Tag"] == "noindex, nofollow"
    pdf = client.get(f"/share/{token}/download/")
    assert pdf.status_code == 200
    assert b"".join(pdf.streaming_content)[:5] == b"%PDF-"
    link = ShareLink.objects.get()
    assert link.open_count == 2
    events = AuditEvent.objects.filter(action="invoice.share_link_opened").order_by("id")
    assert [(e.ip_address, e.user_agent) for e in events] == [("198.51.100.9", "Visitor/1.0"), ("127.0.0.1", "")]
    assert events.count() == 2

    client.force_login(admin)
    detail = client.get(reverse("portal:invoice_detail", kwargs={"public_id": invoice.public_id})).content.decode()
    assert '<td class="num">2</td>' in detail
    assert "Active" in detail
    revoke = reverse("portal:share_link_revoke", kwargs={"public_id": invoice.public_id, "link_id": link.public_id})
    assert client.post(revoke).status_code == 302
    client.logout()
    gone = client.get(url)
    assert gone.status_code == 410
    assert "RE-2026-000001" not in gone.content.decode()
    assert ShareLink.objects.get().open_count == 2


def test_an_expired_link_answers_410_and_an_unknown_one_404(client, setup, clock):
    invoice, _admin = setup
    html = _share(client, invoice, "1").content.decode()
    url = _share_url(html)
    client.logout()

    clock.shift(timedelta(days=1))
    assert client.get(url).status_code == 410
    unknown = client.get("/share/not-a-real-token/", HTTP_ACCEPT_LANGUAGE="en")
    assert unknown.status_code == 404
    assert "This link is not valid" in unknown.content.decode()
    assert not AuditEvent.objects.filter(action="invoice.share_link_opened").exists()


@pytest.mark.parametrize("days", ["0", "91", "abc", "-1", ""])
def test_bad_expiry_is_refused_and_nothing_is_created(client, setup, days):
    invoice, _admin = setup
    response = _share(client, invoice, days)

    assert response.status_code == 422
    assert "a whole number of days from 1 to 90" in response.content.decode()
    assert not ShareLink.objects.exists()


@pytest.mark.parametrize(
    ("addresses", "message", "error"),
    [
        ("", "", "Enter at least one email address."),
        (", ".join(f"a{i}@k.example" for i in range(11)), "", "Enter at most 10 email addresses; you entered 11."),
        ("not-an-email", "", "is not a valid email address"),
        ("a@k.example", "x" * 1001, "The message can have at most 1000 characters; it has 1001."),
    ],
)
def test_bad_email_input_is_refused(client, setup, mailoutbox, addresses, message, error):
    invoice, _admin = setup
    response = client.post(
        reverse("portal:invoice_email", kwargs={"public_id": invoice.public_id}),
        {"addresses": addresses, "message": message},
    )

    assert response.status_code == 422
    assert error in response.content.decode().replace("&#x27;", "'")
    assert mailoutbox == []
    assert not AuditEvent.objects.filter(action="invoice.emailed").exists()


def test_email_form_sends_the_invoice(client, setup, mailoutbox, django_capture_on_commit_callbacks):
    invoice, _admin = setup
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("portal:invoice_email", kwargs={"public_id": invoice.public_id}),
            {"addresses": "ap@kunde.example\nchef@kunde.example", "message": "FYI"},
        )
    assert response.status_code == 302
    assert mailoutbox[0].to == ["ap@kunde.example", "chef@kunde.example"]


def test_another_org_cannot_share_or_revoke(client, setup):
    invoice, _admin = setup
    _share(client, invoice)
    link = ShareLink.objects.get()
    stranger = make_admin(german_org("Fremd GmbH", vat_id=""), "otto@fremd.example")
    client.force_login(stranger)

    assert _share(client, invoice).status_code == 404
    revoke = reverse("portal:share_link_revoke", kwargs={"public_id": invoice.public_id, "link_id": link.public_id})
    assert client.post(revoke).status_code == 404
    assert ShareLink.objects.get().revoked_at is None


def _tampered(token: str) -> list[str]:
    """The real token with one character changed (first, middle, last), and cut short."""

    def changed(position: int) -> str:
        replacement = "A" if token[position] != "A" else "B"
        return token[:position] + replacement + token[position + 1 :]

    return [changed(0), changed(len(token) // 2), changed(len(token) - 1), token[:-1], token[: len(token) // 2]]


def test_a_tampered_or_truncated_link_is_refused_and_audits_no_open(client, setup):
    invoice, _admin = setup
    url = _share_url(_share(client, invoice).content.decode())
    token = url.rstrip("/").rsplit("/", 1)[1]
    client.logout()

    for forged in _tampered(token):
        assert forged != token
        page = client.get(f"/share/{forged}/", HTTP_ACCEPT_LANGUAGE="en")
        assert page.status_code == 404, forged
        assert "This link is not valid" in page.content.decode()
        assert "RE-2026-000001" not in page.content.decode()
        assert client.get(f"/share/{forged}/download/").status_code == 404, forged

    assert not AuditEvent.objects.filter(action="invoice.share_link_opened").exists()
    assert ShareLink.objects.get().open_count == 0
    # The untouched link still opens: the refusals above were the tampering, not a broken link
    assert client.get(url).status_code == 200
    assert AuditEvent.objects.filter(action="invoice.share_link_opened").count() == 1


def test_another_orgs_invoice_id_is_404_on_every_invoice_url(client, setup, mailoutbox):
    invoice, _admin = setup
    _share(client, invoice)
    link = ShareLink.objects.get()
    other_org = german_org("Fremd GmbH", vat_id="")
    stranger = make_admin(other_org, "otto@fremd.example", language="en")
    own = issued_invoice(other_org, billing_date=date(2026, 7, 1))
    client.force_login(stranger)
    events_before = AuditEvent.objects.count()

    def urls(target: Invoice) -> list[tuple[str, str, dict[str, str]]]:
        public_id = target.public_id
        return [
            ("get", reverse("portal:invoice_detail", kwargs={"public_id": public_id}), {}),
            ("get", reverse("portal:invoice_download", kwargs={"public_id": public_id, "kind": "pdf"}), {}),
            ("get", reverse("portal:invoice_download", kwargs={"public_id": public_id, "kind": "xml"}), {}),
            ("post", reverse("portal:invoice_email", kwargs={"public_id": public_id}), {"addresses": "x@k.example"}),
            ("post", reverse("portal:invoice_share", kwargs={"public_id": public_id}), {"expires_in_days": "30"}),
            (
                "post",
                reverse("portal:share_link_revoke", kwargs={"public_id": public_id, "link_id": link.public_id}),
                {},
            ),
        ]

    for method, url, data in urls(invoice):
        assert getattr(client, method)(url, data).status_code == 404, url
    assert AuditEvent.objects.count() == events_before
    assert mailoutbox == []
    assert (ShareLink.objects.count(), ShareLink.objects.get().revoked_at) == (1, None)
    # The same URLs with the stranger's own invoice answer (so the 404s above are about the org, not the URLs)
    own_urls = urls(own)
    assert [client.get(url).status_code for method, url, _data in own_urls if method == "get"] == [200, 200, 200]
