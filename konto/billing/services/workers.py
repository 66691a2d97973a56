"""Processes of a billing run on PostgreSQL: the coordinator's liveness lock and the worker processes it starts.

Worker processes claim batches of orgs with `SELECT … FOR UPDATE SKIP LOCKED`
(`billing_run._work`), each batch in its own transaction, and report progress
to the coordinator through a queue. Runs without documents fork them: Django
is loaded already and the set-based path never touches the Schematron engine.
Runs that render documents spawn them: SaxonC (saxonche) crashes in a child
forked after the parent has used it, so each spawned worker starts a fresh
interpreter, sets Django up from the coordinator's resolved settings (its
database NAME included: under pytest the test database), opens its own
connection and compiles the Schematron once.

Numbers: a batch renders its documents with the numbers it expects and takes
the real ones last, under the counter's lock (invoices._issue_numbered). Two
workers reading the counter at once would expect the same numbers, and all
but one would render again under the lock: slower than one process. So the
workers of a run reserve their expected numbers in claim order from shared
memory (`NumberQueue`) and take the real ones in that order; a batch that
fails gives its reservation back, and any mismatch (an invoice issued
meanwhile by someone else) is still caught and rendered again.

A worker stops after its current batch when its coordinator is gone, so a
killed run leaves no process billing on its behalf.
"""

from __future__ import annotations

import copy
import logging
import multiprocessing
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from queue import Empty
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections

logger = logging.getLogger(__name__)

# Settings a caller may have changed at run time (a test, a benchmark) on which a worker's writes depend: where
# stored documents go, how mail and tasks are sent from on_commit hooks. The database is passed apart.
INHERITED_SETTINGS = ("MEDIA_ROOT", "STORAGES", "EMAIL_BACKEND", "TASKS")

# First key of a run's advisory lock (two int4 keys: this, the run id); "Kont" in ASCII.
_LOCK_NAMESPACE = 0x4B6F6E74

# Seconds a batch waits for the batches reserved before it to take their numbers. Only reached when one of them
# is stuck or its process died; the batch then takes its numbers anyway (and renders again if they differ).
TURN_PATIENCE = 120.0


@dataclass(frozen=True)
class WorkerTask:
    """What every worker of one run bills."""

    run_id: int
    billing_date: date
    batch_size: int  # orgs per transaction
    documents: bool  # render, validate and store the PDF/A-3 and XML of every invoice


@dataclass(frozen=True)
class DjangoSetup:
    """What a spawned worker needs to set Django up as its coordinator has it (picklable)."""

    settings_module: str
    database: dict[str, Any]  # the coordinator's resolved connection settings, NAME included
    settings: dict[str, Any] = field(default_factory=dict)  # INHERITED_SETTINGS as the coordinator sees them

    @classmethod
    def of_this_process(cls) -> DjangoSetup:
        from django.conf import settings

        return cls(  # SETTINGS_MODULE is None while settings are overridden (override_settings, pytest's fixture)
            settings_module=settings.SETTINGS_MODULE or os.environ["DJANGO_SETTINGS_MODULE"],
            database=copy.deepcopy(connections[DEFAULT_DB_ALIAS].settings_dict),
            settings={name: getattr(settings, name) for name in INHERITED_SETTINGS if hasattr(settings, name)},
        )

    def apply(self) -> None:
        """Configure this (fresh) process's settings and load the apps; call before anything touches the database."""
        os.environ["DJANGO_SETTINGS_MODULE"] = self.settings_module
        import django
        from django.conf import settings

        settings.DATABASES = {**settings.DATABASES, DEFAULT_DB_ALIAS: copy.deepcopy(self.database)}
        for name, value in self.settings.items():
            setattr(settings, name, value)
        django.setup()


class NumberQueue:
    """The order in which one run's workers take invoice numbers (invoices.NumberTurn), in shared memory.

    Made by the coordinator and handed to every worker when it starts; each
    process keeps its open batch's ticket in its own copy. Waiting never
    holds the number counter's lock, so it cannot deadlock with the database.
    """

    def __init__(self, context: Any) -> None:
        self._condition = context.Condition()
        self._reserved = context.Value("q", 0, lock=False)  # the last number expected by a batch so far
        self._next_ticket = context.Value("q", 0, lock=False)
        self._serving = context.Value("q", 0, lock=False)  # the ticket whose batch takes its numbers next
        self._ticket: int | None = None  # this process's open batch
        self._count = 0

    def reserve(self, *, last_taken: int, count: int) -> int:
        with self._condition:
            after = max(self._reserved.value, last_taken)
            self._reserved.value = after + count
            self._ticket, self._count = self._next_ticket.value, count
            self._next_ticket.value += 1
        return int(after)

    def wait(self) -> None:
        if self._ticket is not None:
            self._wait_for_turn(self._ticket)

    def finish(self, *, committed: bool) -> None:
        """The open batch's transaction has ended: the next batch's turn; a rolled-back batch gives its numbers back."""
        if self._ticket is None:
            return
        ticket, self._ticket = self._ticket, None
        self._wait_for_turn(ticket)  # at once if `wait` was reached; a batch that failed before waits its turn
        with self._condition:
            if not committed:
                self._reserved.value -= self._count
            self._serving.value = max(self._serving.value, ticket + 1)
            self._condition.notify_all()

    def _wait_for_turn(self, ticket: int) -> None:
        with self._condition:
            self._condition.wait_for(lambda: self._serving.value >= ticket, timeout=TURN_PATIENCE)


class RunLock:
    """Session advisory locks on a connection of their own, one per live run (PostgreSQL).

    The coordinator of a run holds its run's lock from the moment the run
    record is committed until it returns. The database drops the lock when the
    process dies, however it dies (SIGKILL, out of memory, a lost host), so a
    "running" run record whose lock can be taken belongs to a process that is
    gone. The connection is not Django's: closing Django's connections (before
    forking workers) does not release it.
    """

    def __init__(self) -> None:
        import psycopg

        self._connection = psycopg.connect(**connections[DEFAULT_DB_ALIAS].get_connection_params(), autocommit=True)

    def _call(self, function: str, run_id: int) -> Any:
        with self._connection.cursor() as cursor:  # the run id modulo 2³¹: an int4 key
            cursor.execute(f"SELECT {function}(%s::int4, %s::int4)", [_LOCK_NAMESPACE, run_id % 2**31])
            row = cursor.fetchone()
        return row[0] if row else None

    def hold(self, run_id: int) -> None:
        """Take the lock of `run_id`, waiting for it if another session holds it."""
        self._call("pg_advisory_lock", run_id)

    def take_if_free(self, run_id: int) -> bool:
        """Take the lock of `run_id` if no session holds it; True when taken."""
        return self._call("pg_try_advisory_lock", run_id) is True

    def release(self, run_id: int) -> None:
        self._call("pg_advisory_unlock", run_id)

    def close(self) -> None:
        """Release every lock of this connection."""
        self._connection.close()


def run_workers(*, task: WorkerTask, workers: int, advance: Callable[[int], None]) -> list[str]:
    """Start `workers` processes billing `task`'s batches; return when all are done or gone, with their errors.

    `advance(orgs)` is called in this process after every batch a worker
    committed. A worker that fails or dies leaves its open batch rolled back;
    the caller's final pass bills what the workers left.
    """
    coordinator = os.getpid()
    if task.documents:
        context: Any = multiprocessing.get_context("spawn")
        queue = context.Queue()
        setup, numbers = DjangoSetup.of_this_process(), NumberQueue(context)
        processes = [
            context.Process(target=_spawned_main, args=(setup, task, numbers, coordinator, queue), daemon=True)
            for _ in range(workers)
        ]
    else:
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        connections.close_all()  # never share a connection with a forked child
        processes = [
            context.Process(target=_forked_main, args=(task, None, coordinator, queue), daemon=True)
            for _ in range(workers)
        ]
    for process in processes:
        process.start()
    errors: list[str] = []
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
                if kind == "error":
                    errors.append(value)
                    logger.error("billing run %s: a worker stopped: %s", task.run_id, value)
    finally:
        for process in processes:
            process.join(timeout=60)
            if process.is_alive():
                process.terminate()
    died = [process.exitcode for process in processes if process.exitcode not in (0, None)]
    for code in died:
        errors.append(f"a worker exited with code {code}")
        logger.error("billing run %s: a worker exited with code %s", task.run_id, code)
    return errors


def _forked_main(task: WorkerTask, numbers: NumberQueue | None, coordinator: int, queue: Any) -> None:
    """Entry point of a forked worker: settings and apps loaded, connection opened afresh."""
    _bill(task, numbers, coordinator, queue)


def _spawned_main(setup: DjangoSetup, task: WorkerTask, numbers: NumberQueue, coordinator: int, queue: Any) -> None:
    """Entry point of a spawned worker: a fresh interpreter that sets Django up, then compiles the Schematron.

    Only runs that render documents spawn their workers (`run_workers`).
    """
    try:
        setup.apply()
        _compile_schematron()
    except BaseException as error:
        queue.put(("error", f"set-up failed: {type(error).__name__}: {error}"))
        return
    _bill(task, numbers, coordinator, queue)


def _compile_schematron() -> None:
    """Validate a sample e-invoice once, so the Schematron is compiled before any org is locked."""
    from konto.billing.documents import samples
    from konto.billing.documents.cii import build_cii
    from konto.billing.documents.validation import check_schematron

    factory, profile = samples.SAMPLES["de_domestic"]
    check_schematron(build_cii(factory(), profile=profile))  # type: ignore[arg-type]


def _bill(task: WorkerTask, numbers: NumberQueue | None, coordinator: int, queue: Any) -> None:
    from konto.billing.services import billing_run  # imports this module

    try:
        billing_run._work(
            run_id=task.run_id,
            billing_date=task.billing_date,
            batch_size=task.batch_size,
            skip_locked=True,
            report=lambda orgs: queue.put(("progress", orgs)),
            documents=task.documents,
            keep_going=lambda: os.getppid() == coordinator,
            turn=numbers,
        )
        queue.put(("done", ""))
    except BaseException as error:  # reported to the coordinator; the final pass bills what is left
        queue.put(("error", f"{type(error).__name__}: {error}"))
    finally:
        connections.close_all()
