"""Billing runs with worker processes: spawned on PostgreSQL when documents are rendered, none on SQLite.

The spawned workers set Django up themselves from the coordinator's resolved
settings; under pytest that means the test database and the test's
MEDIA_ROOT, which these tests check by reading what the workers wrote.
Worker processes need committed data, hence transactional tests.
"""

from __future__ import annotations

import copy
import multiprocessing
import threading
from datetime import date
from io import BytesIO
from pathlib import Path

import pikepdf
import pytest
from django.db import connection
from django.utils import timezone

from konto.billing.documents.validation import validation_errors
from konto.billing.models import BillingRun, Invoice, InvoiceLine, StoredDocument
from konto.billing.services.billing_run import run_billing
from konto.billing.services.workers import NumberQueue, WorkerTask, run_workers
from konto.contracts.models import Charge

from .helpers import build_catalog, german_org, monthly_contract

JULY = date(2026, 7, 1)


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> Path:
    media_root: Path = tmp_path / "media"
    settings.MEDIA_ROOT = media_root
    return media_root


def _orgs(count: int) -> list[int]:
    catalog = build_catalog()
    orgs = [german_org(f"Firma {index} GmbH") for index in range(count)]
    for org in orgs:
        monthly_contract(org, catalog, quantity=1)  # 2 due charges each on 1 July: June and July
    return sorted(org.pk for org in orgs)


def _read(document: StoredDocument) -> bytes:
    with document.file.open("rb") as handle:
        data: bytes = handle.read()
    return data


def _embedded(pdf: bytes) -> dict[str, bytes]:
    with pikepdf.open(BytesIO(pdf)) as document:
        return {name: spec.get_file().read_bytes() for name, spec in document.attachments.items()}


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (set DATABASE_URL=postgres://…)")
@pytest.mark.django_db(transaction=True)
def test_a_document_run_with_two_workers_issues_every_invoice_once_with_valid_documents(media):
    orgs = _orgs(8)

    run = run_billing(billing_date=JULY, workers=2, batch_size=2)

    assert (run.status, run.workers, run.orgs_due, run.orgs_billed, run.orgs_failed, run.invoices_created) == (
        "finished",
        2,
        8,
        8,
        0,
        8,
    )
    invoices = list(Invoice.objects.order_by("number"))
    assert [invoice.number for invoice in invoices] == [f"RE-2026-{seq:06}" for seq in range(1, 9)]
    assert sorted(invoice.org_id for invoice in invoices) == orgs
    assert {invoice.billing_run_id for invoice in invoices} == {run.pk}
    assert InvoiceLine.objects.count() == Charge.objects.filter(period_start__lte=JULY).count() == 16
    for invoice in invoices:
        documents = {document.kind: document for document in StoredDocument.objects.filter(invoice=invoice)}
        assert sorted(documents) == ["pdf", "xml"]
        assert (documents["pdf"].filename, documents["xml"].filename) == (
            f"{invoice.number}.pdf",
            f"{invoice.number}.xml",
        )
        assert Path(documents["pdf"].file.path).is_relative_to(media)
        xml = _read(documents["xml"])
        assert f"<ram:ID>{invoice.number}</ram:ID>".encode() in xml
        assert validation_errors(xml, "factur-x") == []
        assert _embedded(_read(documents["pdf"])) == {"factur-x.xml": xml}


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (set DATABASE_URL=postgres://…)")
@pytest.mark.django_db(transaction=True)
def test_spawned_workers_bill_in_the_test_database_with_the_tests_settings(media):
    # Given a run record and six due orgs
    orgs = _orgs(6)
    run = BillingRun.objects.create(billing_date=JULY, workers=2, started_at=timezone.now(), orgs_due=6)
    progress: list[int] = []

    # When only the workers bill (no final pass in this process)
    errors = run_workers(
        task=WorkerTask(run_id=run.pk, billing_date=JULY, batch_size=1, documents=True),
        workers=2,
        advance=progress.append,
    )

    # Then they billed every org in this test database, stored the documents under this test's MEDIA_ROOT,
    # and reported each batch of one org
    assert errors == []
    assert progress == [1] * 6
    assert sorted(Invoice.objects.filter(billing_run=run).values_list("org_id", flat=True)) == orgs
    assert sorted(str(number) for number in Invoice.objects.values_list("number", flat=True)) == [
        f"RE-2026-{seq:06}" for seq in range(1, 7)
    ]
    documents = list(StoredDocument.objects.all())
    assert len(documents) == 12
    assert all(Path(document.file.path).is_relative_to(media) for document in documents)
    assert all(Path(document.file.path).is_file() for document in documents)


@pytest.mark.skipif(connection.vendor == "postgresql", reason="about SQLite")
@pytest.mark.django_db
def test_on_sqlite_a_run_asked_for_workers_bills_in_this_process():
    orgs = _orgs(3)

    run = run_billing(billing_date=JULY, workers=2, batch_size=1)

    assert (run.status, run.workers, run.invoices_created) == ("finished", 1, 3)
    assert sorted(Invoice.objects.values_list("org_id", flat=True)) == orgs
    assert StoredDocument.objects.count() == 6


def test_workers_expect_numbers_in_claim_order_and_take_them_in_that_order():
    # Given one run's number queue as two worker processes see it (shared memory, a ticket each)
    first = NumberQueue(multiprocessing.get_context("spawn"))
    second = copy.copy(first)

    # When the first reserves 3 numbers with the counter at 10, then the second 2
    assert first.reserve(last_taken=10, count=3) == 10  # expects 11..13
    assert second.reserve(last_taken=10, count=2) == 13  # expects 14..15, not 11..12

    # Then the second takes its numbers only once the first's transaction has ended
    order: list[str] = []

    def take_numbers() -> None:
        second.wait()
        order.append("second takes its numbers")

    waiting = threading.Thread(target=take_numbers)
    waiting.start()
    waiting.join(timeout=0.2)
    assert waiting.is_alive()
    order.append("first commits")
    first.finish(committed=True)
    waiting.join(timeout=30)
    assert order == ["first commits", "second takes its numbers"]


def test_a_rolled_back_batch_gives_its_expected_numbers_back():
    first = NumberQueue(multiprocessing.get_context("spawn"))
    second = copy.copy(first)
    assert first.reserve(last_taken=0, count=4) == 0
    first.finish(committed=False)  # its numbers were never taken

    assert second.reserve(last_taken=0, count=2) == 0  # expects 1..2 again
    second.wait()  # its turn at once
    second.finish(committed=True)
    # An invoice issued meanwhile by someone else (counter at 5) moves the expectation on
    assert first.reserve(last_taken=5, count=1) == 5
