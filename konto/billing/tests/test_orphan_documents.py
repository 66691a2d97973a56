"""Document files of rolled-back issues: content-addressed names, found and deleted by clean_orphan_documents."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import date, datetime, timedelta
from io import StringIO
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.files.storage import default_storage
from django.core.management import call_command

from konto.billing.models import StoredDocument
from konto.billing.services.invoices import create_draft_invoices, invoice_due_charges, issue_invoice
from konto.core.audit import Actor

from .helpers import build_catalog, german_org, monthly_contract

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("test")
JULY = date(2026, 7, 1)
NINE_AM = datetime(2026, 7, 1, 9, 0, tzinfo=ZoneInfo("Europe/Berlin"))


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def _files() -> list[str]:
    """Every file below documents/ in the storage."""
    found: list[str] = []

    def walk(folder: str) -> None:
        directories, files = default_storage.listdir(folder)
        found.extend(f"{folder}/{name}" for name in files)
        for directory in directories:
            walk(f"{folder}/{directory}")

    if default_storage.exists("documents"):
        walk("documents")
    return sorted(found)


def _fail(invoices: Any) -> None:
    raise RuntimeError("a later step of the issue failed")


def _clean(*arguments: str) -> str:
    out = StringIO()
    call_command("clean_orphan_documents", *arguments, stdout=out)
    return out.getvalue()


def _rolled_back_issue() -> list[str]:
    """Issue a draft whose transaction rolls back after its documents were written; the files it left."""
    org = german_org("Verworfen GmbH")
    monthly_contract(org, build_catalog())
    (draft,) = create_draft_invoices(org=org, billing_date=JULY)
    before = set(_files())
    with pytest.raises(RuntimeError):
        issue_invoice(invoice=draft, actor=SYSTEM, render_documents=_fail)
    return sorted(set(_files()) - before)


def test_documents_are_stored_under_their_content_hash(db):
    org = german_org()
    monthly_contract(org, build_catalog())

    (invoice,) = invoice_due_charges(org=org, billing_date=JULY)

    for document in StoredDocument.objects.filter(invoice=invoice):
        with document.file.open("rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
        assert document.file.name == f"documents/{digest[:2]}/{digest}.{document.kind}"
        assert document.sha256 == digest
    assert sorted(StoredDocument.objects.values_list("filename", flat=True)) == [
        "RE-2026-000001.pdf",
        "RE-2026-000001.xml",
    ]


def test_a_rolled_back_issue_leaves_files_the_command_removes_after_an_hour(db):
    # Given an issued invoice (referenced files) and an issue that rolled back (orphan files)
    kept = german_org("Bleibt GmbH")
    monthly_contract(kept, build_catalog())
    with time_machine.travel(NINE_AM, tick=False):
        invoice_due_charges(org=kept, billing_date=JULY)
    referenced = sorted(StoredDocument.objects.values_list("file", flat=True))
    orphans = _rolled_back_issue()
    assert sorted(name.rsplit(".", 1)[1] for name in orphans) == ["pdf", "xml"]
    assert StoredDocument.objects.count() == 2
    written_at = max(default_storage.get_modified_time(name) for name in orphans + referenced)

    # When the command runs within the hour, it finds nothing: the files may belong to a running issue
    with time_machine.travel(written_at + timedelta(minutes=59), tick=False):
        assert _clean() == "0 orphan file(s) deleted of 0 found, 0 bytes.\n"
    assert _files() == sorted(orphans + referenced)

    # When it runs later as a dry run, it lists the orphans and deletes nothing
    sizes = {name: default_storage.size(name) for name in orphans}
    with time_machine.travel(written_at + timedelta(minutes=61), tick=False):
        listed = _clean("--dry-run")
    lines = listed.splitlines()
    assert [line.split("\t")[:2] for line in lines[:-1]] == [[name, f"{sizes[name]} bytes"] for name in orphans]
    assert lines[-1] == f"2 orphan file(s), {sum(sizes.values())} bytes; nothing deleted (dry run)."
    assert _files() == sorted(orphans + referenced)

    # And for real: the orphans go, the referenced files stay and still open
    with time_machine.travel(written_at + timedelta(minutes=61), tick=False):
        assert _clean().splitlines()[-1] == f"2 orphan file(s) deleted of 2 found, {sum(sizes.values())} bytes."
    assert _files() == referenced
    for document in StoredDocument.objects.all():
        with document.file.open("rb") as handle:
            assert hashlib.sha256(handle.read()).hexdigest() == document.sha256


def test_reissuing_with_the_same_bytes_as_an_old_orphan_writes_it_afresh(db):
    # Given an issue that rolled back at a frozen clock, leaving its files, which then lay there two hours
    with time_machine.travel(NINE_AM, tick=False):
        org = german_org()
        monthly_contract(org, build_catalog())
        (draft,) = create_draft_invoices(org=org, billing_date=JULY)
        with pytest.raises(RuntimeError):
            issue_invoice(invoice=draft, actor=SYSTEM, render_documents=_fail)
    orphans = _files()
    assert len(orphans) == 2
    two_hours_ago = time.time() - 7200
    for name in orphans:
        os.utime(default_storage.path(name), (two_hours_ago, two_hours_ago))

    # When the same invoice is issued again at the same instant: the same number, the same bytes, the same names
    with time_machine.travel(NINE_AM, tick=False):
        issue_invoice(invoice=draft, actor=SYSTEM)

    # Then the rows use those names, the files were written again (young: no cleaner could take them mid-issue)
    assert sorted(StoredDocument.objects.values_list("file", flat=True)) == orphans
    assert _files() == orphans
    for name in orphans:
        assert os.path.getmtime(default_storage.path(name)) > two_hours_ago + 3600
    assert _clean() == "0 orphan file(s) deleted of 0 found, 0 bytes.\n"
    assert _files() == orphans


def test_the_command_handles_a_storage_without_documents(db):
    assert _clean("--dry-run") == "0 orphan file(s), 0 bytes; nothing deleted (dry run).\n"
