"""manage.py run_dunning: take every dunning step due today (or on --date); a summary on stdout."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from konto.payments.services.dunning import run_dunning


class Command(BaseCommand):
    help = "Send the payment reminders, final notices and suspensions due on a date; safe to run again."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", help="run date YYYY-MM-DD (default: today in the default time zone)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            today = date.fromisoformat(options["date"]) if options["date"] else timezone.localdate()
        except ValueError as error:
            raise CommandError(f"--date must be YYYY-MM-DD: {error}") from error
        result = run_dunning(today=today)
        counts = ", ".join(f"{count} {level}" for level, count in result.notices.items())
        self.stdout.write(
            f"Dunning run for {today.isoformat()}: {result.notices_sent} notices ({counts}); "
            f"{result.held_in_flight} invoices wait for a payment in flight; "
            f"{result.standings_changed} org statuses changed."
        )
