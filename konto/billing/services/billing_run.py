"""The billing run: every org's due, uninvoiced charges invoiced and issued, in batches of orgs, in parallel.

Guarantees (docs/billing.md):

- idempotent: a charge is on one invoice only (unique InvoiceLine.charge), and an
  org is billed under its row lock with its charges read after the lock, so a
  second run — later or at the same time — finds nothing left to bill;
- resumable: each batch of orgs is one transaction with its invoice numbers, so
  a crash loses at most the open batch, numbers included: running again bills
  the rest, with no gap and nothing twice;
- one failing org is recorded (BillingRunError) and the run goes on;
- parallel on PostgreSQL: worker processes claim batches of org rows with
  `SELECT … FOR UPDATE SKIP LOCKED`; a final pass waits for orgs that were
  locked by someone else (an order being placed) so none is skipped.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from queue import Empty
from typing import Any

from django.db import connection, connections, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from konto.accounts.models import Org
from konto.billing.models import BillingRun, BillingRunError, Invoice, InvoiceLine
from konto.billing.services.bulk_billing import bill_orgs_set_based, claim_orgs
from konto.billing.services.invoices import BatchResult, DocumentHook, bill_orgs, get_vendor
from konto.contracts.models import Charge

BATCH_SIZE = 1000  # orgs per transaction on the set-based path (no documents): large statements, short locks
DOCUMENT_BATCH_SIZE = 200  # orgs per transaction when documents are rendered (~30 ms each) under the batch's locks


def _bill_orgs(**arguments: Any) -> BatchResult:
    """A batch's bulk insert path: set-based SQL on PostgreSQL without documents (bulk_billing), else the ORM path.

    With documents, rendering (~25 ms an invoice) dominates and the ORM path renders them before the numbers.
    """
    if connection.vendor == "postgresql" and not arguments["documents"] and arguments["render_documents"] is None:
        return bill_orgs_set_based(**{name: value for name, value in arguments.items() if name != "documents"})
    return bill_orgs(**arguments)


# Called in the coordinating process after every committed batch with (orgs done, orgs due at the start).
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class _Report:
    orgs: int
    invoices: int
    lines: int


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
                )
        except Exception:  # a database or document error: retried org by org below to find the culprit
            return org_ids, None
        _record_failures(run_id, result.failures)
        return org_ids, result


def _bill_alone(
    *, run_id: int, billing_date: date, org_id: int, documents: bool, render: DocumentHook | None
) -> BatchResult:
    """Bill one org in its own transaction; its error, whatever it is, is recorded and the run goes on."""
    try:
        with transaction.atomic(durable=True):
            claimed = _claim(billing_date=billing_date, run_id=run_id, after=org_id - 1, limit=1, skip_locked=False)
            if claimed != [org_id]:
                return BatchResult()
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
            return result
    except Exception as error:
        _record_failures(run_id, {org_id: f"{type(error).__name__}: {error}"})
        return BatchResult(failures={org_id: str(error)})


def _work(
    *,
    run_id: int,
    billing_date: date,
    batch_size: int,
    skip_locked: bool,
    report: Callable[[_Report], None],
    documents: bool = True,
    render: DocumentHook | None = None,
) -> None:
    """Bill batch after batch in ascending org id until no due org is left beyond the cursor."""
    after = 0
    while True:
        org_ids, result = _bill_batch(
            run_id=run_id,
            billing_date=billing_date,
            after=after,
            limit=batch_size,
            skip_locked=skip_locked,
            documents=documents,
            render=render,
        )
        if not org_ids:
            return
        after = org_ids[-1]
        if result is None:
            results = [
                _bill_alone(run_id=run_id, billing_date=billing_date, org_id=org_id, documents=documents, render=render)
                for org_id in org_ids
            ]
        else:
            results = [result]
        report(
            _Report(
                orgs=len(org_ids),
                invoices=sum(len(item.invoices) for item in results),
                lines=sum(item.lines_created for item in results),
            )
        )


def _worker_main(run_id: int, billing_date: date, batch_size: int, documents: bool, queue: Any) -> None:
    """Entry point of a worker process (forked: settings and apps loaded, connection opened afresh)."""
    try:
        _work(
            run_id=run_id,
            billing_date=billing_date,
            batch_size=batch_size,
            skip_locked=True,
            report=lambda report: queue.put(("progress", report.orgs)),
            documents=documents,
        )
        queue.put(("done", ""))
    except BaseException as error:  # reported to the coordinator; the final pass bills what is left
        queue.put(("error", f"{type(error).__name__}: {error}"))
    finally:
        connections.close_all()


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

    `workers` > 1 forks that many processes on PostgreSQL for runs without
    documents (SQLite, and runs that render documents, run in this process).
    An exception raised by `progress` aborts the run like a crash: what was
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
    # Worker processes are forked. The Schematron engine (SaxonC) does not survive a fork once the parent
    # has used it, so runs that render documents stay in this process until workers are spawned instead.
    parallel = workers > 1 and connection.vendor == "postgresql" and render_documents is None and not documents
    run = BillingRun.objects.create(
        billing_date=billing_date,
        workers=workers if parallel else 1,
        started_at=timezone.now(),
        orgs_due=due_orgs(billing_date=billing_date).count(),
    )
    done = 0

    def advance(orgs: int) -> None:
        nonlocal done
        done += orgs
        if progress is not None:
            progress(min(done, run.orgs_due), run.orgs_due)

    try:
        if parallel:
            _run_workers(run=run, workers=workers, batch_size=batch_size, documents=documents, advance=advance)
        else:
            _work(
                run_id=run.pk,
                billing_date=billing_date,
                batch_size=batch_size,
                skip_locked=True,
                report=lambda report: advance(report.orgs),
                documents=documents,
                render=render_documents,
            )
        # Orgs skipped because someone else held their lock (an order being placed, another run): wait for them.
        _work(
            run_id=run.pk,
            billing_date=billing_date,
            batch_size=batch_size,
            skip_locked=False,
            report=lambda report: advance(report.orgs),
            documents=documents,
            render=render_documents,
        )
    except BaseException:
        _finish(run, failed=True)
        raise
    _finish(run, failed=False)
    return run


def _run_workers(
    *, run: BillingRun, workers: int, batch_size: int, documents: bool, advance: Callable[[int], None]
) -> None:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    connections.close_all()  # never share a connection with a forked child
    processes = [
        context.Process(target=_worker_main, args=(run.pk, run.billing_date, batch_size, documents, queue), daemon=True)
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    try:
        finished = 0
        while finished < workers:
            try:
                kind, value = queue.get(timeout=1)
            except Empty:
                if not any(process.is_alive() for process in processes):
                    break  # a worker died without a word: the final pass bills what it left
                continue
            if kind == "progress":
                advance(int(value))
            else:
                finished += 1
    finally:
        for process in processes:
            process.join(timeout=60)
            if process.is_alive():
                process.terminate()


def _finish(run: BillingRun, *, failed: bool) -> None:
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
    run.finished_at = timezone.now()
    run.save()
