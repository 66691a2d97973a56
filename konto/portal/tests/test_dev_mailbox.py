"""The development mailbox: emails of the file backend, newest first, only with DEBUG."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.mail import EmailMultiAlternatives, get_connection
from django.http import Http404
from django.test import RequestFactory
from django.urls import Resolver404, clear_url_caches, resolve, reverse

import konto.urls
from konto.portal.views.dev import mailbox, mailbox_messages

MAILBOX_PATH = "/dev/mail/"


@pytest.fixture
def debug_urls(settings) -> Iterator[None]:
    """The URL map as it is built with DEBUG=true (it is read when konto.urls is imported)."""
    settings.DEBUG = True
    importlib.reload(konto.urls)
    clear_url_caches()
    yield
    settings.DEBUG = False
    importlib.reload(konto.urls)
    clear_url_caches()


@pytest.fixture
def mail_dir(settings, tmp_path: Path) -> Path:
    settings.EMAIL_FILE_PATH = tmp_path
    return tmp_path


def _send(mail_dir: Path, subject: str, body: str, to: str, date: str, html: str = "") -> None:
    connection = get_connection("django.core.mail.backends.filebased.EmailBackend", file_path=str(mail_dir))
    message = EmailMultiAlternatives(subject, body, to=[to], connection=connection, headers={"Date": date})
    if html:
        message.attach_alternative(html, "text/html")
    message.send()


def test_mailbox_is_not_mounted_without_debug():
    with pytest.raises(Resolver404):
        resolve(MAILBOX_PATH)


def test_mailbox_answers_404_without_debug(client, db):
    assert client.get(MAILBOX_PATH).status_code == 404


def test_mailbox_view_refuses_to_answer_when_debug_is_off(settings, mail_dir):
    settings.DEBUG = False

    with pytest.raises(Http404):
        mailbox(RequestFactory().get(MAILBOX_PATH))


def test_mailbox_lists_messages_newest_first_with_clickable_links(client, db, debug_urls, mail_dir):
    _send(mail_dir, "Older invitation", "Hello", "old@test.example", "Mon, 05 Jan 2026 09:00:00 +0000")
    _send(
        mail_dir,
        "Einladung zu Mein Account",
        "Hallo Bea,\nbitte klicke: http://testserver/invitation/abc123/\n",
        "bea@test.example",
        "Tue, 06 Jan 2026 09:00:00 +0000",
        html="<p>Hallo</p>",
    )

    response = client.get(reverse("portal_dev:mailbox"))

    html = response.content.decode()
    assert response.status_code == 200
    assert html.index("Einladung zu Mein Account") < html.index("Older invitation")
    assert "bea@test.example" in html
    assert (
        '<a href="http://testserver/invitation/abc123/" rel="nofollow">http://testserver/invitation/abc123/</a>' in html
    )
    assert "06.01.2026, 10:00" in html  # Berlin time, German default locale


def test_mailbox_escapes_message_content(client, db, debug_urls, mail_dir):
    _send(mail_dir, "<b>Subject</b>", "<script>alert(1)</script>", "x@test.example", "Mon, 05 Jan 2026 09:00:00 +0000")

    html = client.get(reverse("portal_dev:mailbox")).content.decode()

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;Subject&lt;/b&gt;" in html


def test_mailbox_without_mails_says_what_will_appear(client, db, debug_urls, settings, tmp_path):
    settings.EMAIL_FILE_PATH = tmp_path / "not-created-yet"

    response = client.get(reverse("portal_dev:mailbox"), HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert "No emails yet" in response.content.decode()


def test_one_file_with_several_messages_yields_each_message(mail_dir):
    connection = get_connection("django.core.mail.backends.filebased.EmailBackend", file_path=str(mail_dir))
    messages = [
        EmailMultiAlternatives(
            f"Nachricht {n}",
            f"Text {n}",
            to=[f"p{n}@test.example"],
            headers={"Date": f"Mon, 0{n} Jan 2026 09:00:00 +0000"},
        )
        for n in (1, 2, 3)
    ]
    connection.send_messages(messages)

    parsed = mailbox_messages(mail_dir)

    assert len(list(mail_dir.iterdir())) == 1
    assert [m.subject for m in parsed] == ["Nachricht 3", "Nachricht 2", "Nachricht 1"]
    assert [m.body.strip() for m in parsed] == ["Text 3", "Text 2", "Text 1"]


def test_messages_without_date_or_zone_still_sort(mail_dir):
    _send(mail_dir, "Zone unknown", "a", "a@test.example", "Mon, 05 Jan 2026 09:00:00 -0000")
    _send(mail_dir, "No date", "b", "b@test.example", "not a date")

    parsed = mailbox_messages(mail_dir)

    assert sorted(m.subject for m in parsed) == ["No date", "Zone unknown"]
    assert all(m.sent_at is not None and m.sent_at.tzinfo is not None for m in parsed)
