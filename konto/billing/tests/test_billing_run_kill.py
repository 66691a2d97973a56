"""A billing run killed with SIGKILL mid-way and run again: no duplicate, no number gap, run records told apart.

The run is a real process (`manage.py run_billing`, or a small Python
process) against this test database, killed with SIGKILL once some invoices
are committed. To make sure the kill lands mid-run however fast the machine,
the test holds the row lock of the last org while it waits: the run skips it
and then waits for it, so it cannot finish before the kill. The test then
waits until PostgreSQL has dropped every session of the killed run (its open
transaction rolled back; its worker processes, which stop after their batch
once their coordinator is gone, exited) before billing again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from konto.accounts.models import Org
from konto.billing.models import BillingRun, Invoice, InvoiceLine, StoredDocument
from konto.billing.services.billing_run import run_billing
from konto.billing.services.workers import RunLock
from konto.contracts.models import Charge

from .helpers import build_catalog, german_org, monthly_contract

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (set DATABASE_URL=postgres://…)"),
    pytest.mark.django_db(transaction=True),
]
JULY = date(2026, 7, 1)
ROOT = Path(django_settings.BASE_DIR)
PATIENCE = 300.0  # seconds a wait may take before the test gives up (a hang, not a speed requirement)

SET_BASED_RUN = """
import django
django.setup()
from datetime import date
from konto.billing.services.billing_run import run_billing
run_billing(billing_date=date(2026, 7, 1), batch_size=1, documents=False)
"""


@pytest.fixture
def var_dir(settings, tmp_path) -> Path:
    """The subprocess's KONTO_VAR_DIR; this process stores documents under the same MEDIA_ROOT."""
    var: Path = tmp_path / "var"
    settings.MEDIA_ROOT = var / "media"
    return var


def _orgs(count: int) -> list[int]:
    catalog = build_catalog()
    orgs = [german_org(f"Firma {index:03} GmbH") for index in range(count)]
    for org in orgs:
        monthly_contract(org, catalog, quantity=1)  # 2 due charges each on 1 July: June and July
    return sorted(org.pk for org in orgs)


def _database_url() -> str:
    """This test database as a DATABASE_URL: the NAME pytest created, not the one DATABASE_URL names."""
    database = connection.settings_dict
    credentials = quote(database["USER"] or "", safe="")
    if database["PASSWORD"]:
        credentials += ":" + quote(database["PASSWORD"], safe="")
    host = database["HOST"] or "127.0.0.1"
    port = database["PORT"] or 5432
    return f"postgres://{credentials}@{host}:{port}/{quote(database['NAME'], safe='')}"


@pytest.fixture
def start(var_dir) -> Iterator[Callable[[list[str]], subprocess.Popen[bytes]]]:
    """Start `python <arguments>` on this test database, its output in run.log; killed at the end if still alive."""
    started: list[subprocess.Popen[bytes]] = []

    def start(arguments: list[str]) -> subprocess.Popen[bytes]:
        environment = dict(
            os.environ,
            DATABASE_URL=_database_url(),
            DJANGO_SETTINGS_MODULE="konto.settings",
            KONTO_VAR_DIR=str(var_dir),
            KONTO_INSECURE_DEV_KEY="true",
            KONTO_TASKS="immediate",
            EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        )
        with (var_dir.parent / "run.log").open("wb") as output:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter, manage.py or a fixed script
                [sys.executable, *arguments], cwd=ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT
            )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def _wait_for(condition: Callable[[], bool], what: str, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if process is not None and process.poll() is not None:
            pytest.fail(f"the run exited ({process.returncode}) before {what}; see its run.log")
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


@contextmanager
def _org_locked(org_id: int) -> Iterator[psycopg.Connection[Any]]:
    """Hold the row lock of one org from a connection of its own, as an order being placed would."""
    with psycopg.connect(**connection.get_connection_params()) as holder:
        holder.execute(f"SELECT id FROM {Org._meta.db_table} WHERE id = %s FOR UPDATE", [org_id])  # noqa: S608
        yield holder
        holder.rollback()


def _other_sessions(*, besides: psycopg.Connection[Any]) -> int:
    """Sessions on this test database other than this process's two."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND pid <> %s",
            [besides.info.backend_pid],
        )
        return int(cursor.fetchone()[0])


def _kill_mid_run(process: subprocess.Popen[bytes], *, orgs: list[int]) -> int:
    """Wait for a first committed invoice, SIGKILL the run, wait until its sessions are gone; invoices left."""
    with _org_locked(orgs[-1]) as holder:
        _wait_for(lambda: Invoice.objects.exists(), "a first committed invoice", process)
        process.send_signal(signal.SIGKILL)
        assert process.wait() == -signal.SIGKILL
        _wait_for(lambda: _other_sessions(besides=holder) == 0, "the killed run's sessions to end")
        committed = Invoice.objects.count()
        assert 0 < committed < len(orgs)  # mid-run: the last org at least is still due
        # The killed run's record is still "running": nobody has looked at it yet
        assert list(BillingRun.objects.values_list("status", flat=True)) == ["running"]
    return committed


def _assert_every_charge_invoiced_once(orgs: list[int]) -> None:
    due = Charge.objects.filter(period_start__lte=JULY)
    assert due.filter(invoice_line__isnull=True).count() == 0
    assert InvoiceLine.objects.count() == due.count() == 2 * len(orgs)
    assert sorted(Invoice.objects.values_list("org_id", flat=True)) == orgs  # one contract each: one invoice
    assert sorted(str(number) for number in Invoice.objects.values_list("number", flat=True)) == [
        f"RE-2026-{seq:06}" for seq in range(1, len(orgs) + 1)
    ]


def _assert_runs(*, committed: int, total: int) -> tuple[BillingRun, BillingRun]:
    killed, again = BillingRun.objects.order_by("pk")
    assert (killed.status, killed.finished_at, killed.invoices_created, killed.orgs_billed) == (
        "failed",
        None,
        committed,
        committed,
    )
    assert (again.status, again.orgs_due, again.invoices_created, again.orgs_failed) == (
        "finished",
        total - committed,
        total - committed,
        0,
    )
    assert again.finished_at is not None
    # The killed run's numbers are 1..committed: its open transaction took its numbers with it
    killed_numbers = sorted(str(n) for n in Invoice.objects.filter(billing_run=killed).values_list("number", flat=True))
    assert killed_numbers == [f"RE-2026-{seq:06}" for seq in range(1, committed + 1)]
    return killed, again


def test_a_document_run_killed_mid_way_resumes_without_duplicate_or_gap(start):
    # Given 24 orgs due and `manage.py run_billing` with two spawned workers rendering documents
    orgs = _orgs(24)
    process = start(
        ["manage.py", "run_billing", "--date", "2026-07-01", "--workers", "2", "--batch-size", "2", "--no-progress"]
    )

    # When it is killed with SIGKILL once invoices are committed, and the billing run runs again
    committed = _kill_mid_run(process, orgs=orgs)
    run_billing(billing_date=JULY, workers=2, batch_size=2)

    # Then every due charge is on exactly one invoice, numbered 1..24 without gap, each with its two documents
    _assert_every_charge_invoiced_once(orgs)
    _assert_runs(committed=committed, total=24)
    assert StoredDocument.objects.count() == 48
    assert sorted(StoredDocument.objects.values_list("invoice_id", "kind")) == sorted(
        (invoice_id, kind) for invoice_id in Invoice.objects.values_list("pk", flat=True) for kind in ("pdf", "xml")
    )


def test_a_set_based_run_killed_mid_batch_resumes_without_duplicate_or_gap(start):
    # Given 300 orgs due and a run without documents billing one org per transaction
    orgs = _orgs(300)
    process = start(["-c", SET_BASED_RUN])

    # When it is killed with SIGKILL once invoices are committed, and the billing run runs again
    committed = _kill_mid_run(process, orgs=orgs)
    run_billing(billing_date=JULY, batch_size=7, documents=False)

    # Then every due charge is on exactly one invoice, numbered 1..300 without gap
    _assert_every_charge_invoiced_once(orgs)
    _assert_runs(committed=committed, total=300)


def test_a_running_run_whose_process_lives_is_left_alone_and_marked_failed_once_it_is_gone():
    # Given a run record whose coordinator is alive (it holds the run's liveness lock)
    orgs = _orgs(2)
    alive = BillingRun.objects.create(billing_date=JULY, started_at=timezone.now(), orgs_due=2)
    coordinator = RunLock()
    coordinator.hold(alive.pk)

    # When another run bills meanwhile
    other = run_billing(billing_date=JULY, documents=False)

    # Then the live run is left running
    alive.refresh_from_db()
    assert (alive.status, alive.finished_at) == ("running", None)
    assert (other.status, other.invoices_created) == ("finished", 2)
    assert sorted(Invoice.objects.values_list("org_id", flat=True)) == orgs

    # When its process is gone (its lock released) and the next run starts
    coordinator.close()
    later = run_billing(billing_date=JULY, documents=False)

    # Then it is marked failed with what it committed (nothing), and the later run finishes with nothing due
    alive.refresh_from_db()
    assert (alive.status, alive.finished_at, alive.invoices_created, alive.orgs_billed) == ("failed", None, 0, 0)
    assert (later.status, later.orgs_due, later.invoices_created) == ("finished", 0, 0)
    other.refresh_from_db()
    assert other.status == "finished"
