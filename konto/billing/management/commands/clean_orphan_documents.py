"""manage.py clean_orphan_documents: delete document files no StoredDocument references (rolled-back issues)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from konto.billing.services.orphan_documents import delete_orphan_documents, find_orphan_documents


class Command(BaseCommand):
    help = (
        "Delete files in the documents folder of the storage that no stored document references and that are "
        "older than an hour (left behind by issuing transactions that rolled back). --dry-run only lists them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="list the orphan files, delete nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        orphans = find_orphan_documents(now=now)
        for orphan in orphans:
            self.stdout.write(f"{orphan.name}\t{orphan.size} bytes\t{orphan.modified_at.isoformat(timespec='seconds')}")
        total = sum(orphan.size for orphan in orphans)
        if options["dry_run"]:
            self.stdout.write(f"{len(orphans)} orphan file(s), {total} bytes; nothing deleted (dry run).")
            return
        deleted = delete_orphan_documents(orphans, now=now)
        self.stdout.write(f"{deleted} orphan file(s) deleted of {len(orphans)} found, {total} bytes.")
