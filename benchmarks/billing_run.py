"""Benchmark: the billing run on PostgreSQL against the physical limit (COPY) and a naive one-at-a-time loop.

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
       python benchmarks/billing_run.py --orgs 1000 [--orgs 100000 …] [--workers 1 --workers 2] [--lines 2]
       [--documents]

DATABASE_URL is only the maintenance connection: for each --orgs N the
benchmark creates its own throwaway database `konto_bench_<pid>`, migrates it,
seeds N orgs (one active monthly contract with --lines lines each; every 10th
org Austrian with a VAT id, i.e. reverse charge, and English) with set-based
SQL, then measures in that database:

  copy      PostgreSQL COPY of as many invoice, line and VAT rows as the run writes,
            into scratch tables with the same columns and indexes (no triggers,
            no foreign keys): the physical limit of writing those rows;
  naive     one org at a time through `invoice_due_charges` (the ORM path, one
            transaction per invoice) for min(N, --naive-sample) orgs, extrapolated;
  run ×W    `run_billing(documents=False)` with W worker processes, on the
            whole N (the billing tables are emptied between measurements);
  docs ×W   with --documents, instead of the three above: `run_billing()` as
            `manage.py run_billing` runs it, every invoice's PDF/A-3 and XML
            rendered, validated and stored, with W worker processes (spawned).

Each measurement runs in a fresh child process so its peak memory
(`ru_maxrss` of the process and of its worker processes) is its own. It
prints invoices/s, rows/s, the ratio to COPY, µs per invoice, peak memory,
and, with several N, the flatness ratio of the cost per invoice (largest N /
smallest N). The database is dropped at the end, also after an error; the
developer's own database is never written to (the child refuses to start on
a database not named konto_bench_*), and stored documents go to a throwaway
KONTO_VAR_DIR, removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
BILLING_DATE = date(2026, 6, 1)  # contracts start 2026-06-01: one monthly period per line is due
PREFIX = "konto_bench_"


# ---------------------------------------------------------------- parent: databases and reporting


def _url_for(maintenance_url: str, database: str) -> str:
    parts = urlsplit(maintenance_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def _admin(maintenance_url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(maintenance_url, autocommit=True) as connection:
        connection.execute(statement)


def _child(step: str, url: str, **options: Any) -> dict[str, Any]:
    """Run one step in a fresh Python process against the bench database; returns its JSON report."""
    env = dict(os.environ, DATABASE_URL=url, DJANGO_SETTINGS_MODULE="konto.settings")
    env.setdefault("KONTO_INSECURE_DEV_KEY", "true")
    env["KONTO_VAR_DIR"] = _var_dir()  # never the developer's media: documents runs store files
    arguments = [sys.executable, str(Path(__file__).resolve()), "--step", step, "--options", json.dumps(options)]
    completed = subprocess.run(arguments, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if completed.returncode != 0:
        sys.stderr.write(completed.stdout + completed.stderr)
        raise SystemExit(f"step {step} failed")
    report: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return report


def _var_dir() -> str:
    return f"/tmp/{PREFIX}{os.getpid()}"  # noqa: S108 - throwaway files of this run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, action="append", help="orgs to bill (repeatable); default 1000")
    parser.add_argument("--workers", type=int, action="append", help="worker processes (repeatable); default 1, 2")
    parser.add_argument("--lines", type=int, default=2, help="contract lines (invoice lines) per org")
    parser.add_argument("--naive-sample", type=int, default=1000, help="orgs billed one at a time")
    parser.add_argument("--batch-size", type=int, default=None, help="orgs per transaction (run_billing default)")
    parser.add_argument("--documents", action="store_true", help="measure runs that render documents (docs ×W)")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--options", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        return _run_step(args.step, json.loads(args.options))

    maintenance = os.environ.get("DATABASE_URL", "")
    if not maintenance.startswith(("postgres://", "postgresql://")):
        raise SystemExit(
            "set DATABASE_URL to a PostgreSQL maintenance connection, e.g. postgres://postgres@127.0.0.1/postgres"
        )
    sizes = sorted(set(args.orgs or [1000]))
    workers = sorted(set(args.workers or [1, 2]))
    database = f"{PREFIX}{os.getpid()}"
    url = _url_for(maintenance, database)
    per_invoice: dict[str, dict[int, float]] = {}
    print(f"billing run benchmark: {os.cpu_count()} CPUs, {_server_version(maintenance)}, {args.lines} lines per org")
    for size in sizes:
        _admin(maintenance, f'DROP DATABASE IF EXISTS "{database}"')
        _admin(maintenance, f'CREATE DATABASE "{database}"')
        try:
            seeded = _child("seed", url, orgs=size, lines=args.lines)
            print(
                f"\n{size:,} orgs: {seeded['charges']:,} due charges, seeded in {seeded['seconds']:.1f} s "
                f"(migrate {seeded['migrate_seconds']:.1f} s)"
            )
            if args.documents:
                results = []
            else:
                results = [_child("copy", url)]
                results.append(_child("naive", url, sample=min(size, args.naive_sample)))
            for count in workers:
                results.append(_child("run", url, workers=count, batch_size=args.batch_size, documents=args.documents))
        finally:
            _admin(maintenance, f'DROP DATABASE IF EXISTS "{database}"')
            shutil.rmtree(_var_dir(), ignore_errors=True)
        copy_rate = results[0]["rows"] / results[0]["seconds"] if results[0]["name"] == "copy" else None
        print(f"  {'':10} {'invoices/s':>11} {'rows/s':>10} {'× COPY':>7} {'µs/invoice':>11} {'peak MiB':>9}")
        for result in results:
            invoices_per_second = result["invoices"] / result["seconds"]
            rows_per_second = result["rows"] / result["seconds"]
            micro = 1e6 * result["seconds"] / result["invoices"]
            per_invoice.setdefault(result["name"], {})[size] = micro
            memory = f"{result['peak_kib'] / 1024:9.0f}" if result.get("peak_kib") else f"{'':>9}"
            print(
                f"  {result['name']:10} {invoices_per_second:11,.{1 if invoices_per_second < 100 else 0}f} "
                f"{rows_per_second:10,.0f} "
                + (f"{copy_rate / rows_per_second:7.1f}" if copy_rate else f"{'':>7}")
                + f" {micro:11.0f} {memory}"
                + (f"   ({result['note']})" if result.get("note") else "")
            )
    if len(sizes) > 1:
        print(f"\ncost per invoice, {sizes[-1]:,} vs {sizes[0]:,} orgs (flat = 1.0; target ≤ 1.3 for the run):")
        for name, costs in per_invoice.items():
            print(f"  {name:10} {costs[sizes[-1]] / costs[sizes[0]]:.2f}")
    return 0


def _server_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return f"PostgreSQL {row[0] if row else '?'}"


# ---------------------------------------------------------------- child steps (Django set up on the bench database)


def _run_step(step: str, options: dict[str, Any]) -> int:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    name = connection.settings_dict["NAME"]
    if connection.vendor != "postgresql" or not str(name).startswith(PREFIX):
        raise SystemExit(f"refusing to run against {connection.vendor} database {name!r}: not a {PREFIX}* database")
    steps: dict[str, Callable[..., dict[str, Any]]] = {"seed": _seed, "copy": _copy, "naive": _naive, "run": _run}
    report = steps[step](**options)
    print(json.dumps(report))
    return 0


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished worker processes (not the database server's)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _peak_kib() -> int:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children)


def _clone(table: str, copies: int, cloned: dict[str, tuple[int, list[int]]]) -> None:
    """Insert `copies` copies of every row of `table` (the template org's rows), with fresh ids and references.

    Copy g of row r gets id base + (g - 1) × rows + position of r; a reference
    to a cloned table is remapped the same way; unique public ids are made from
    the new id. `cloned` collects (base, template ids) per table for later tables.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {table} ORDER BY id")  # noqa: S608 - fixed table names
        ids = [row[0] for row in cursor.fetchall()]
        cursor.execute(f"SELECT max(id) FROM {table}")  # noqa: S608
        base = int(cursor.fetchone()[0])
        cursor.execute(
            "SELECT a.attname, f.relname FROM pg_attribute a "
            "JOIN pg_class t ON t.oid = a.attrelid "
            "LEFT JOIN pg_constraint c ON c.conrelid = t.oid AND c.contype = 'f' AND c.conkey = ARRAY[a.attnum] "
            "LEFT JOIN pg_class f ON f.oid = c.confrelid "
            "WHERE t.relname = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            [table],
        )
        columns = cursor.fetchall()
        new_id = f"({base} + (g - 1) * {len(ids)} + array_position(ARRAY{ids}::bigint[], t.id))"
        expressions = []
        for column, target in columns:
            if column == "id":
                expressions.append(new_id)
            elif column == "public_id":
                expressions.append(f"split_part(t.public_id, '_', 1) || '_b' || lpad(({new_id})::text, 15, '0')")
            elif target in cloned:
                target_base, target_ids = cloned[target]
                expressions.append(
                    f"({target_base} + (g - 1) * {len(target_ids)} "
                    f"+ array_position(ARRAY{target_ids}::bigint[], t.{column}))"
                )
            else:
                expressions.append(f"t.{column}")
        names = ", ".join(f'"{column}"' for column, _target in columns)
        cursor.execute(
            f"INSERT INTO {table} ({names}) SELECT {', '.join(expressions)} "  # noqa: S608 - built from the catalog
            f"FROM {table} t CROSS JOIN generate_series(1, %s) g WHERE t.id = ANY(%s)",
            [copies, ids],
        )
        cursor.execute(f"SELECT setval(pg_get_serial_sequence(%s, 'id'), (SELECT max(id) FROM {table}))", [table])  # noqa: S608
    cloned[table] = (base, ids)


def _seed(*, orgs: int, lines: int) -> dict[str, Any]:
    from django.core.management import call_command
    from django.db import connection, transaction

    from konto.accounts.testing import make_org
    from konto.contracts.models import Charge
    from konto.contracts.tests.conftest import add_contract, build_catalog

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    migrated = time.perf_counter()
    catalog = build_catalog()
    products = [code for code in ("essentials", "identity-pack", "storage", "sms-pack") if code in catalog]
    if len(products) < lines:
        products = (products * lines)[:lines]
    template = make_org(legal_name="Bench GmbH", vat_id="DE295713867", full_seats=0)
    add_contract(  # through the service (durable transaction of its own): the template org's contract and charges
        template,
        catalog,
        start=BILLING_DATE,
        end=date(2027, 6, 1),
        frequency="monthly",
        lines=[(code, index + 1) for index, code in enumerate(products[:lines])],
    )
    with transaction.atomic():
        cloned: dict[str, tuple[int, list[int]]] = {}
        for table in ("accounts_org", "contracts_contract", "contracts_contractline", "contracts_charge"):
            _clone_only_template(table, orgs - 1, cloned, template.pk)
        with connection.cursor() as cursor:
            # every 10th org: Austrian B2B (reverse charge), English documents
            cursor.execute(
                "UPDATE accounts_org SET country = 'AT', vat_id = 'ATU13585627', language = 'en', city = 'Wien', "
                "postal_code = '1010' WHERE id %% 10 = 0 AND id <> %s",
                [template.pk],
            )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    due = Charge.objects.filter(period_start__lte=BILLING_DATE).count()
    return {
        "charges": due,
        "seconds": time.perf_counter() - started,
        "migrate_seconds": migrated - started,
    }


def _clone_only_template(table: str, copies: int, cloned: dict[str, tuple[int, list[int]]], org_id: int) -> None:
    from django.db import connection

    if copies < 1:
        return
    # _clone copies every row of the table: the template org's rows are the only org rows at this point
    # except for the vendor/catalog tables, which are not cloned.
    with connection.cursor() as cursor:
        column = "id" if table == "accounts_org" else "org_id"
        cursor.execute(f"SELECT count(*) FROM {table} WHERE {column} <> %s", [org_id])  # noqa: S608
        others = cursor.fetchone()[0]
    if others:
        raise RuntimeError(f"{table} holds rows of other orgs; the bench database must be fresh")
    _clone(table, copies, cloned)


# What the run writes, as scratch tables with the same columns and indexes, no triggers, no foreign keys.
_SCRATCH = ("billing_invoice", "billing_invoiceline", "billing_invoicetax")


def _copy() -> dict[str, Any]:
    """COPY as many invoice, line and VAT rows as the run writes, with realistic values; the physical limit."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.org_id, c.contract_id, c.id, c.net_amount FROM contracts_charge c "
            "WHERE c.period_start <= %s ORDER BY c.contract_id, c.id",
            [BILLING_DATE],
        )
        charges = cursor.fetchall()
        for table in _SCRATCH:
            cursor.execute(
                f"CREATE TABLE scratch_{table} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
                "INCLUDING INDEXES)"
            )
    contracts: dict[int, list[Any]] = {}
    for row in charges:
        contracts.setdefault(row[1], []).append(row)
    seller = json.dumps(
        {"name": "Konto GmbH", "street": "Hauptstraße 1", "city": "Berlin", "iban": "DE89370400440532013000"}
    )
    buyer = json.dumps({"name": "Bench GmbH", "street": "Teststraße 1", "postal_code": "10115", "city": "Berlin"})
    invoices, lines, taxes = StringIO(), StringIO(), StringIO()
    invoice_id = line_id = 0
    for contract_id, rows in contracts.items():
        invoice_id += 1
        net = sum(row[3] for row in rows)
        tax = round(net * 19 / 100, 2)
        invoices.write(
            "\t".join(
                [
                    str(invoice_id),
                    f"inv_b{invoice_id:015}",
                    str(rows[0][0]),
                    str(contract_id),
                    r"\N",
                    r"\N",
                    f"RE-2026-{invoice_id:06}",
                    "open",
                    "2026-06-01",
                    "2026-06-01",
                    "2026-06-15",
                    "2026-06-01",
                    "2026-07-01",
                    "EUR",
                    "de",
                    "card",
                    "14",
                    str(net),
                    str(tax),
                    str(net + tax),
                    "0",
                    "0",
                    seller,
                    buyer,
                    "",
                    "",
                    "V-1001",
                    "[]",
                    "2026-06-01 00:00:00+00",
                    "2026-06-01 00:00:00+00",
                    "2026-06-01 00:00:00+00",
                    "{}",
                ]
            )
            + "\n"
        )
        for position, row in enumerate(rows, start=1):
            line_id += 1
            lines.write(
                f"{line_id}\t{row[0]}\t{invoice_id}\t{row[2]}\t{position}\tKonto Essentials\tuser\t1.00\t"
                f"{row[3]}\t{row[3]}\t30\t30\tS\t19.00\t2026-06-01\t2026-07-01\n"
            )
        taxes.write(f"{invoice_id}\t{rows[0][0]}\t{invoice_id}\tS\t19.00\t{net}\t{tax}\t\t\n")
    columns = {}
    with connection.cursor() as cursor:
        for table in _SCRATCH:
            cursor.execute(
                "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                [table],
            )
            columns[table] = cursor.fetchone()[0]
    raw = connection.connection
    started = time.perf_counter()
    with raw.cursor() as cursor:
        for table, data in zip(_SCRATCH, (invoices, lines, taxes), strict=True):
            with cursor.copy(f"COPY scratch_{table} ({_column_order(table, columns[table])}) FROM STDIN") as copy:
                copy.write(data.getvalue())
    raw.commit()
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        for table in _SCRATCH:
            cursor.execute(f"DROP TABLE scratch_{table}")
    return {
        "name": "copy",
        "invoices": invoice_id,
        "rows": invoice_id * 2 + line_id,
        "seconds": seconds,
        "note": "physical limit: same rows and indexes, no triggers, no FKs",
    }


_COLUMN_ORDER = {
    "billing_invoice": (
        "id, public_id, org_id, contract_id, order_id, billing_run_id, number, status, billing_date, issue_date, "
        "due_date, period_start, period_end, currency, language, payment_method_kind, payment_terms_days, "
        "net_amount, tax_amount, gross_amount, amount_paid, amount_credited, seller, buyer, po_number, "
        "buyer_reference, contract_number, notes, issued_at, status_changed_at, created_at, payment_details"
    ),
    "billing_invoiceline": (
        'id, org_id, invoice_id, charge_id, "position", description, unit, quantity, unit_price, net_amount, '
        "days_charged, days_in_period, tax_category, tax_rate, period_start, period_end"
    ),
    "billing_invoicetax": (
        "id, org_id, invoice_id, tax_category, tax_rate, taxable_amount, tax_amount, note, exemption_reason_code"
    ),
}


def _column_order(table: str, actual: str) -> str:
    """The COPY column list; checks the model still has exactly these columns."""
    wanted = _COLUMN_ORDER[table]
    if sorted(wanted.replace('"', "").split(", ")) != sorted(actual.replace('"', "").split(", ")):
        raise RuntimeError(f"{table} columns changed: {actual}")
    return wanted


def _empty_billing_tables() -> None:
    from django.db import connection

    with connection.cursor() as cursor:  # TRUNCATE fires no row triggers: issued invoices go too
        cursor.execute(
            "TRUNCATE billing_invoicetax, billing_invoiceline, billing_invoice, billing_numbercounter, "
            "billing_billingrunerror, billing_billingrun CASCADE"
        )
        cursor.execute("VACUUM ANALYZE")


def _naive(*, sample: int) -> dict[str, Any]:
    """One org, one transaction, one invoice at a time through the ORM service, for `sample` orgs."""
    from konto.accounts.models import Org
    from konto.billing.models import InvoiceLine
    from konto.billing.services.invoices import invoice_due_charges

    orgs = list(Org.objects.order_by("id")[:sample])
    started = time.perf_counter()
    invoices = sum(len(invoice_due_charges(org=org, billing_date=BILLING_DATE, documents=False)) for org in orgs)
    seconds = time.perf_counter() - started
    lines = InvoiceLine.objects.count()
    _empty_billing_tables()
    return {
        "name": "naive",
        "invoices": invoices,
        "rows": invoices * 2 + lines,
        "seconds": seconds,
        "peak_kib": _peak_kib(),
        "note": f"{invoices:,} orgs one at a time, extrapolated",
    }


def _run(*, workers: int, batch_size: int | None, documents: bool = False) -> dict[str, Any]:
    from konto.billing.models import Invoice, InvoiceLine, InvoiceTax, StoredDocument
    from konto.billing.services.billing_run import run_billing
    from konto.contracts.models import Charge

    extra: dict[str, Any] = {"batch_size": batch_size} if batch_size else {}
    due = Charge.objects.filter(period_start__lte=BILLING_DATE).count()
    started, cpu = time.perf_counter(), _cpu_seconds()
    run = run_billing(billing_date=BILLING_DATE, workers=workers, documents=documents, **extra)
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    invoices, lines, taxes = Invoice.objects.count(), InvoiceLine.objects.count(), InvoiceTax.objects.count()
    numbers = sorted(int(str(number).rsplit("-", 1)[1]) for number in Invoice.objects.values_list("number", flat=True))
    if run.status != "finished" or lines != due or numbers != list(range(1, invoices + 1)):
        raise RuntimeError(f"run incomplete: {run.status}, {lines} of {due} charges, numbers gapless: {numbers[:3]}…")
    stored = StoredDocument.objects.filter(invoice__isnull=False).count()
    if stored != (2 * invoices if documents else 0):
        raise RuntimeError(f"{stored} stored documents for {invoices} invoices")
    peak = _peak_kib()
    _empty_billing_tables()
    return {
        "name": f"{'docs' if documents else 'run'} ×{workers}",
        # Python CPU per wall second: how many cores the run's processes got (on a shared machine, less than W)
        "note": f"Python CPU {cpu:.1f} s, {cpu / seconds:.2f} cores, {1000 * cpu / invoices:.0f} ms/invoice",
        "invoices": invoices,
        "rows": invoices + lines + taxes,
        "seconds": seconds,
        "peak_kib": peak,
    }


if __name__ == "__main__":
    sys.exit(main())
