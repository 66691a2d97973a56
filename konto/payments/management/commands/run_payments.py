"""manage.py run_payments: the daily payment jobs (cron), each safe to run twice; a summary on stdout."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from konto.payments.services.collection import reconcile_unknown_payments, retry_failed_collections


class Command(BaseCommand):
    help = (
        "Retry failed automatic collections due today, ask the gateway about payments of unknown outcome, "
        "and take the dunning steps due today."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", help="the day to run for, YYYY-MM-DD (default: today in the default time zone)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            today = date.fromisoformat(options["date"]) if options["date"] else timezone.localdate()
        except ValueError as error:
            raise CommandError(f"--date must be YYYY-MM-DD: {error}") from error

        # 1. payments-core: retries on the dunning schedule's retry days, then reconciliation.
        retried = retry_failed_collections(today=today)
        reconciled = reconcile_unknown_payments(now=timezone.now())
        self.stdout.write(f"{today.isoformat()}: {retried} collection(s) retried, {reconciled} payment(s) reconciled")

        # 2. dunning (owner: helper "dunning"): add the dunning step here, after the payments above, so a
        #    collection that succeeded today is applied before reminders are decided.
        # ---------------------------------------------------------------- dunning step
        # ---------------------------------------------------------------- end of dunning step
