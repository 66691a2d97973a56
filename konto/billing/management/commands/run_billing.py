"""manage.py run_billing: invoice every due, uninvoiced charge; progress on stderr, a summary on stdout."""

from __future__ import annotations

import sys
import time
from datetime import date
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from konto.billing.services.billing_run import DOCUMENT_BATCH_SIZE, run_billing


class ProgressBar:
    """A one-line bar redrawn in place: "[#####.....]  50% 500/1000 orgs  1234 orgs/s"."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.started = time.monotonic()
        self.is_tty = stream.isatty()
        self.last_drawn = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last_drawn < (0.1 if self.is_tty else 2.0):
            return
        self.last_drawn = now
        share = done / total if total else 1.0
        filled = int(share * self.width)
        rate = done / max(now - self.started, 1e-9)
        bar = "#" * filled + "." * (self.width - filled)
        line = f"[{bar}] {share:4.0%} {done}/{total} orgs  {rate:,.0f} orgs/s"
        self.stream.write(("\r" + line) if self.is_tty else (line + "\n"))
        self.stream.flush()

    def close(self) -> None:
        if self.is_tty:
            self.stream.write("\n")
            self.stream.flush()


class Command(BaseCommand):
    help = "Invoice every due, uninvoiced charge (one invoice per org, contract and billing date)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", help="billing date YYYY-MM-DD (default: today in the default time zone)")
        parser.add_argument(
            "--workers",
            type=int,
            default=1,
            help="worker processes (PostgreSQL only; SQLite bills in this process; default 1)",
        )
        parser.add_argument("--batch-size", type=int, default=DOCUMENT_BATCH_SIZE, help="orgs per transaction")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            billing_date = date.fromisoformat(options["date"]) if options["date"] else timezone.localdate()
        except ValueError as error:
            raise CommandError(f"--date must be YYYY-MM-DD: {error}") from error
        if options["workers"] < 1 or options["batch_size"] < 1:
            raise CommandError("--workers and --batch-size must be at least 1")
        bar = None if options["no_progress"] else ProgressBar(sys.stderr)
        started = time.monotonic()
        try:
            run = run_billing(
                billing_date=billing_date, workers=options["workers"], batch_size=options["batch_size"], progress=bar
            )
        finally:
            if bar is not None:
                bar.close()
        seconds = time.monotonic() - started
        rate = run.invoices_created / seconds if seconds else 0.0
        self.stdout.write(
            f"Billing run {run.public_id} for {billing_date.isoformat()}: {run.status}; "
            f"{run.orgs_due} orgs due, {run.orgs_billed} billed, {run.orgs_failed} failed; "
            f"{run.invoices_created} invoices, {run.lines_created} lines in {seconds:.2f} s ({rate:,.0f} invoices/s)."
        )
        for failure in run.errors.order_by("id")[:20]:
            self.stdout.write(f"  org {failure.org_id}: {failure.message}")
