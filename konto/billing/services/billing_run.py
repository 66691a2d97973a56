"""The billing run: every org's due, uninvoiced charges invoiced and issued, in batches of orgs, in parallel.

Guarantees (docs/billing.md):

- idempotent: a charge is on one invoice only (unique InvoiceLine.charge), and an
  org is billed under its row lock with its charges read after the lock, so a
  second run — later or at the same time — finds nothing left to bill;
- resumable: each batch of orgs is one transaction with its invoice numbers, so
  a crash loses at most the open batch, numbers included: running again bills
  the rest, with no gap and nothing twice;
- one failing org is recorded (BillingRunError) and the run goes on;
- parallel on PostgreSQL: worker processes (services/workers.py; forked
  without documents, spawned when documents are rendered) claim batches of org
  rows with `SELECT … FOR UPDATE SKIP LOCKED`; a final pass waits for orgs that
  were locked by someone else (an order being placed) so none is skipped;
- a run whose process was killed stays "running" until the next run on
  PostgreSQL finds its liveness lock free and marks it "failed" with the
  counts it reached (`_mark_abandoned_runs`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from konto.accounts.models import Org
from konto.billing.models import BillingRun, BillingRunError, Invoice, InvoiceLine
from konto.billing.services.bulk_billing import bill_orgs_set_based, claim_orgs
from konto.billing.services.invoices import BatchResult, DocumentHook, bill_orgs, get_vendor
from konto.billing.services.workers import NumberQueue, RunLock, WorkerTask, run_workers
from konto.contracts.models import Charge

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000  # orgs per transaction on the set-based path (no documents): large statements, short locks
# Orgs per transaction when documents are rendered (~30 ms an invoice) under the batch's org locks: small enough
# that an order waits seconds at most for its org and that parallel workers share the work evenly.
DOCUMENT_BATCH_SIZE = 50


def _bill_orgs(**arguments: Any) -> BatchResult:
    """A batch's bulk insert path: set-based SQL on PostgreSQL without documents (bulk_billing), else the ORM path.

    With documents, rendering (~25 ms an invoice) dominates and the ORM path renders them before the numbers.
    """
    if connection.vendor == "postgresql" and not arguments["documents"] and arguments["render_documents"] is None:
        return bill_orgs_set_based(**{name: value for name, value in arguments.items() if name not in _ORM_ONLY})
    return bill_orgs(**arguments)


_ORM_ONLY = {"documents", "turn"}  # arguments of `bill_orgs` the set-based path has no use for


# Called in the coordinating process after every committed batch with (orgs done, orgs due at the start).
Progress = Callable[[int, int], None]


def due_orgs(*, billing_date: date, run_id: int | None = None) -> Any:
    """Orgs with at least one uninvoiced charge due on `billing_date`, except those this run failed on."""
    due = Charge.objects.filter(org_id=OuterRef("pk"), period_start__lte=billing_date, invoice_line__isnull=True)
    orgs = Org.objects.filter(Exists(due))
    if run_id is not None:
        orgs = orgs.exclude(pk__in=BillingRunError.objects.filter(run_id=run_id).values("org_id"))
    return orgs


def _claim(*, billing_date: date, run_id: int, after: int, limit: int, skip_locked: bool) -> list[int]:
    if connection.vendor == "postgresql":  # the same query, planned per org (bulk_billing.CLAIM)
        return claim_orgs(billing_date=billing_date, run_id=run_id, after=after, limit=limit, skip_locked=skip_locked)
    orgs = due_orgs(billing_date=billing_date, run_id=run_id).filter(pk__gt=after).order_by("pk")
    locked = orgs.select_for_update(skip_locked=skip_locked, of=("self",))
    return list(locked.values_list("pk", flat=True)[:limit])


def _record_failures(run_id: int, failures: dict[int, str]) -> None:
    BillingRunError.objects.bulk_create(
        BillingRunError(run_id=run_id, org_id=org_id, message=message[:2000]) for org_id, message in failures.items()
    )


def _bill_batch(
    *,
    run_id: int,
    billing_date: date,
    after: int,
    limit: int,
    skip_locked: bool,
    documents: bool,
    render: DocumentHook | None,
    turn: NumberQueue | None = None,
) -> tuple[list[int], BatchResult | None]:
    """Claim and bill one batch in one transaction; (claimed org ids, result) or result None when it failed."""
    vendor = get_vendor()
    with transaction.atomic(durable=True):
        org_ids = _claim(billing_date=billing_date, run_id=run_id, after=after, limit=limit, skip_locked=skip_locked)
        if not org_ids:
            return [], BatchResult()
        try:
            with transaction.atomic():
                result = _bill_orgs(
                    org_ids=org_ids,
                    billing_date=billing_date,
                    vendor=vendor,
                    now=timezone.now(),
                    run_id=run_id,
                    documents=documents,
                    render_documents=render,
                    turn=turn,
                )
        except Exception:  # a database or document error: retried org by org below to find the culprit
            return org_ids, None
        _record_failures(run_id, result.failures)
        return org_ids, result


def _bill_alone(*, run_id: int, billing_date: date, org_id: int, documents: bool, render: DocumentHook | None) -> None:
    """Bill one org in its own transaction; its error, whatever it is, is recorded and the run goes on."""
    try:
        with transaction.atomic(durable=True):
            claimed = _claim(billing_date=billing_date, run_id=run_id, after=org_id - 1, limit=1, skip_locked=False)
            if claimed != [org_id]:
                return
            result = _bill_orgs(
                org_ids=[org_id],
                billing_date=billing_date,
                vendor=get_vendor(),
                now=timezone.now(),
                run_id=run_id,
                documents=documents,
                render_documents=render,
            )
            _record_failures(run_id, result.failures)
    except Exception as error:
        _record_failures(run_id, {org_id: f"{type(error).__name__}: {error}"})


def _work(
    *,
    run_id: int,
    billing_date: date,
    batch_size: int,
    skip_locked: bool,
    report: Callable[[int], None],  # the number of orgs of each batch done
    documents: bool = True,
    render: DocumentHook | None = None,
    keep_going: Callable[[], bool] | None = None,
    turn: NumberQueue | None = None,
) -> None:
    """Bill batch after batch in ascending org id until no due org is left beyond the cursor.

    `keep_going` is asked before every batch (a worker: is its coordinator still alive?); `turn` orders the
    batches of parallel workers when they take their numbers.
    """
    after = 0
    while keep_going is None or keep_going():
        committed = False
        try:
            org_ids, result = _bill_batch(
                run_id=run_id,
                billing_date=billing_date,
                after=after,
                limit=batch_size,
                skip_locked=skip_locked,
                documents=documents,
                render=render,
                turn=turn,
            )
            committed = result is not None
        finally:
            if turn is not None:
                turn.finish(committed=committed)
        if not org_ids:
            return
        after = org_ids[-1]
        if result is None:
            for org_id in org_ids:
                _bill_alone(run_id=run_id, billing_date=billing_date, org_id=org_id, documents=documents, render=render)
        report(len(org_ids))


def run_billing(
    *,
    billing_date: date,
    workers: int = 1,
    batch_size: int | None = None,
    progress: Progress | None = None,
    documents: bool = True,
    render_documents: DocumentHook | None = None,
) -> BillingRun:
    """Invoice every org's due, uninvoiced charges on `billing_date`; returns the finished run record.

    `workers` > 1 starts that many worker processes on PostgreSQL (forked
    without documents, spawned with them: services/workers.py); SQLite runs,
    and runs with a `render_documents` hook, bill in this process. An
    exception raised by `progress` aborts the run like a crash: what was
    committed stays, and the next run bills the rest.

    With `documents` (the default, and the only mode for real invoices) every
    invoice's XML is validated and its PDF/A-3 and XML are stored in its
    batch's transaction: an invalid e-invoice rolls the batch back and the org
    is recorded as failed. `documents=False` exists for the benchmark, which
    measures the run and the documents (`documents.issue_documents`) apart.
    """
    if batch_size is None:
        batch_size = DOCUMENT_BATCH_SIZE if documents or render_documents else BATCH_SIZE
    if workers < 1:
        raise ValueError("workers must be at least 1")
    # SQLite serialises writers, so worker processes would only wait; a render hook lives in this process.
    parallel = workers > 1 and connection.vendor == "postgresql" and render_documents is None
    lock = RunLock() if connection.vendor == "postgresql" else None
    try:
        if lock is not None:
            _mark_abandoned_runs(lock)
        with transaction.atomic():
            run = BillingRun.objects.create(
                billing_date=billing_date,
                workers=workers if parallel else 1,
                started_at=timezone.now(),
                orgs_due=due_orgs(billing_date=billing_date).count(),
            )
            if lock is not None:
                lock.hold(run.pk)  # before the record is committed: nobody sees it running without its lock
        try:
            _bill_everything(
                run=run,
                workers=workers if parallel else 0,
                batch_size=batch_size,
                progress=progress,
                documents=documents,
                render=render_documents,
            )
        except BaseException:
            _finish(run, failed=True)
            raise
        _finish(run, failed=False)
    finally:
        if lock is not None:
            lock.close()
    return run


def _bill_everything(
    *,
    run: BillingRun,
    workers: int,
    batch_size: int,
    progress: Progress | None,
    documents: bool,
    render: DocumentHook | None,
) -> None:
    """Bill the run's due orgs with `workers` worker processes (0: in this process), then a final pass here."""
    done = 0

    def advance(orgs: int) -> None:
        nonlocal done
        done += orgs
        if progress is not None:
            progress(min(done, run.orgs_due), run.orgs_due)

    if workers:
        task = WorkerTask(run_id=run.pk, billing_date=run.billing_date, batch_size=batch_size, documents=documents)
        run_workers(task=task, workers=workers, advance=advance)  # errors are logged; the final pass bills the rest
    else:
        _work(
            run_id=run.pk,
            billing_date=run.billing_date,
            batch_size=batch_size,
            skip_locked=True,
            report=advance,
            documents=documents,
            render=render,
        )
    # Orgs skipped because someone else held their lock (an order being placed, another run): wait for them.
    _work(
        run_id=run.pk,
        billing_date=run.billing_date,
        batch_size=batch_size,
        skip_locked=False,
        report=advance,
        documents=documents,
        render=render,
    )


def _mark_abandoned_runs(lock: RunLock) -> None:
    """Mark "failed" every running run whose process is gone (its liveness lock is free), with what it committed.

    Its `finished_at` stays empty: when the process died is not known. A run
    still alive holds its lock and is left alone.
    """
    for abandoned in BillingRun.objects.filter(status=BillingRun.Status.RUNNING).order_by("pk"):
        if lock.take_if_free(abandoned.pk):
            try:
                _finish(abandoned, failed=True, abandoned=True)
            finally:
                lock.release(abandoned.pk)
            logger.warning("billing run %s: its process is gone; marked failed", abandoned.public_id)


def _finish(run: BillingRun, *, failed: bool, abandoned: bool = False) -> None:
    invoices = Invoice.objects.filter(billing_run=run)
    run.invoices_created = invoices.count()
    run.lines_created = InvoiceLine.objects.filter(invoice__billing_run=run).count()
    run.orgs_billed = invoices.values("org_id").distinct().count()
    run.orgs_failed = BillingRunError.objects.filter(run=run).values("org_id").distinct().count()
    if failed:
        run.status = BillingRun.Status.FAILED
    elif run.orgs_failed:
        run.status = BillingRun.Status.FINISHED_WITH_ERRORS
    else:
        run.status = BillingRun.Status.FINISHED
    run.finished_at = None if abandoned else timezone.now()
    run.save()
