"""Builders shared by the dunning, standing and vendor-event tests: real invoices, a fake clock, a webhook receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import time_machine
from django.db import transaction

from konto.accounts.models import Org
from konto.billing.models import Invoice
from konto.billing.services.invoices import invoice_due_charges, record_invoice_payment
from konto.billing.tests.helpers import add_contract, build_catalog, german_org
from konto.core.audit import Actor
from konto.core.models import AuditEvent
from konto.payments.services.dunning import DunningRunResult, run_dunning
from konto.payments.services.standing import refresh_org_standing

BERLIN = ZoneInfo("Europe/Berlin")
ISSUED_ON = date(2026, 7, 1)  # the July invoice of a monthly contract started 2026-06-01
DUE_ON = date(2026, 7, 15)  # 14 days' payment terms
GROSS = "297.50"  # June and July: 2 × 5 licenses at 25.00, + 19 % VAT
ACTOR = Actor.system("test")


def recorded(action: str) -> dict[str, Any]:
    """The `after` of the one audit event of `action`."""
    after = AuditEvent.objects.get(action=action).after
    assert isinstance(after, dict)
    return after


def at(day: date, hour: int = 6) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=BERLIN)


def after_due(days: int) -> date:
    return DUE_ON + timedelta(days=days)


def customer(name: str = "Bäckerei Test GmbH", **fields: Any) -> Org:
    """A German Professional org (Essentials orgs pay by card only; dunning is about transfers)."""
    fields.setdefault("edition", "professional")
    return german_org(name, **fields)


def issued_invoice(org: Org, *, documents: bool = False, **contract_fields: Any) -> Invoice:
    """The org's first invoice (297.50 EUR, due 2026-07-15), issued by the billing services; paid by transfer.

    Monthly from 2026-06-01, 5 Professional licenses at 25.00 a month: June and July billed on 2026-07-01.
    """
    contract_fields.setdefault("payment", "bank_transfer")
    with time_machine.travel(at(ISSUED_ON, 10), tick=False):
        add_contract(
            org,
            build_catalog(),
            start=date(2026, 6, 1),
            end=date(2027, 6, 1),
            frequency="monthly",
            lines=[("professional", 5, Decimal("25.00"))],
            **contract_fields,
        )
        (invoice,) = invoice_due_charges(org=org, billing_date=ISSUED_ON, documents=documents)
    assert (invoice.issue_date, invoice.due_date, str(invoice.gross_amount)) == (ISSUED_ON, DUE_ON, GROSS)
    return invoice


CaptureOnCommit = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]


def run_on(day: date, capture: CaptureOnCommit) -> DunningRunResult:
    """The dunning run of `day` at 06:00 Berlin, its after-commit work (emails, webhooks) done as on a worker."""
    with time_machine.travel(at(day), tick=False), capture(execute=True):
        return run_dunning(today=day)


def pay(invoice: Invoice, amount: str, *, day: date, capture: CaptureOnCommit) -> None:
    """A payment booked on `day`: the invoice's amount paid, then the org's standing in the next transaction."""
    with time_machine.travel(at(day, 12), tick=False), capture(execute=True):
        record_invoice_payment(invoice=invoice, amount=Decimal(amount), actor=ACTOR)
        with transaction.atomic():
            refresh_org_standing(org=invoice.org, today=day, actor=ACTOR)


# ---------------------------------------------------------------- a webhook receiver on a local port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """An HTTP server in a thread that records every POST and answers with the next queued status (else 204)."""

    url: str
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)


def webhook_receiver() -> Iterator[WebhookReceiver]:
    state = WebhookReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            state.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            status = state.statuses.pop(0) if state.statuses else 204
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/konto?token=abc"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
