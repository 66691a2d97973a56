"""Development-only mailbox: the emails the file email backend wrote, newest first.

Mounted under /dev/ only when DEBUG is on (see konto/urls.py), and refuses to
answer otherwise, so invitation and password-reset links can be followed
locally without an SMTP server.
"""

from __future__ import annotations

import email.policy
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

# Django's file backend ends every message with a line of 79 dashes.
SEPARATOR = b"\n" + b"-" * 79 + b"\n"
MAX_MESSAGES = 200
_PARSER = BytesParser(_class=EmailMessage, policy=email.policy.default)


@dataclass(frozen=True)
class MailboxMessage:
    subject: str
    sender: str
    to: str
    sent_at: datetime | None
    body: str
    has_html: bool
    file_name: str


def _plain_body(message: EmailMessage) -> tuple[str, bool]:
    has_html = any(part.get_content_type() == "text/html" for part in message.walk())
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return "", has_html
    try:
        content = part.get_content()
    except (LookupError, KeyError, ValueError):
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return str(content), has_html


def _sent_at(message: EmailMessage, fallback: float) -> datetime | None:
    try:
        sent_at = parsedate_to_datetime(str(message["Date"]))
    except (TypeError, ValueError):
        return datetime.fromtimestamp(fallback, tz=timezone.get_current_timezone())
    # "-0000" means "zone unknown" and parses naive; treat it as UTC so messages still sort.
    return sent_at if timezone.is_aware(sent_at) else sent_at.replace(tzinfo=UTC)


def parse_mail_file(path: Path) -> list[MailboxMessage]:
    """All messages in one file of the file email backend (one file per connection)."""
    raw = path.read_bytes()
    mtime = path.stat().st_mtime
    messages = []
    for chunk in raw.split(SEPARATOR):
        if not chunk.strip():
            continue
        message = _PARSER.parsebytes(chunk)
        body, has_html = _plain_body(message)
        messages.append(
            MailboxMessage(
                subject=str(message.get("Subject", "")),
                sender=str(message.get("From", "")),
                to=", ".join(str(message.get(header, "")) for header in ("To", "Cc") if message.get(header)),
                sent_at=_sent_at(message, mtime),
                body=body,
                has_html=has_html,
                file_name=path.name,
            )
        )
    return messages


def mailbox_messages(directory: Path) -> list[MailboxMessage]:
    """Every message written to `directory`, newest first (at most MAX_MESSAGES)."""
    if not directory.is_dir():
        return []
    messages: list[MailboxMessage] = []
    for path in directory.iterdir():
        if path.is_file():
            messages.extend(parse_mail_file(path))
    oldest = datetime.min.replace(tzinfo=timezone.get_current_timezone())
    messages.sort(key=lambda m: (m.sent_at or oldest, m.file_name), reverse=True)
    return messages[:MAX_MESSAGES]


def mailbox(request: HttpRequest) -> HttpResponse:
    if not settings.DEBUG:
        raise Http404
    directory = Path(settings.EMAIL_FILE_PATH)
    context: dict[str, Any] = {
        "mail_messages": mailbox_messages(directory),
        "directory": directory,
        "hide_nav": True,
    }
    return render(request, "portal/dev/mailbox.html", context)
