"""The bank side under concurrency on PostgreSQL: two exports or two imports at once move money once.

Threads are released together by a barrier; each has its own connection and
closes it. SQLite serialises writers anyway, so these run on PostgreSQL only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from lxml import etree

from konto.billing.models import Invoice
from konto.billing.tests.helpers import build_catalog
from konto.core.audit import Actor
from konto.payments.models import BankStatement, BankStatementLine, Payment, PaymentStatus, SepaExport
from konto.payments.services.camt import DuplicateStatement, import_bank_statement
from konto.payments.services.sepa_export import export_sepa_collections
from konto.payments.tests.bank_helpers import BAECKEREI_IBAN, collect, issue, sepa_org, transfer_org

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (set DATABASE_URL=postgres://…)"),
    pytest.mark.django_db(transaction=True),
]
STAFF = Actor(user_id=None, email="ops@vendor.example")
EUR_STATEMENT = Path(__file__).parent / "camt" / "statement_eur_2026-08-04.xml"


@pytest.fixture(autouse=True)
def _clock(time_machine: Any) -> None:
    time_machine.move_to("2026-08-03T07:00:00Z", tick=False)


def _run_together(calls: list[Callable[[], Any]]) -> list[Any]:
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except Exception as error:
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads), "a call did not finish"
    return results


def test_two_exports_at_once_put_every_collection_in_one_file():
    catalog = build_catalog()
    payments = []
    for number in range(6):
        org, _mandate = sepa_org(catalog, f"Firma {number} GmbH", iban=BAECKEREI_IBAN)
        payments.append(collect(issue(org), today=date(2026, 8, 3)))

    def export() -> SepaExport | None:
        return export_sepa_collections(collection_date_until=date(2026, 8, 31), actor=STAFF, now=timezone.now())

    results = _run_together([export, export])

    assert not any(isinstance(result, Exception) for result in results), results
    files = list(SepaExport.objects.all())
    end_to_end = [
        element.text for file in files for element in etree.fromstring(bytes(file.content)).iter("{*}EndToEndId")
    ]
    assert sorted(end_to_end) == sorted(payment.public_id.replace("_", "-") for payment in payments)
    assert sum(file.payments_count for file in files) == 6
    assert set(Payment.objects.values_list("status", flat=True)) == {PaymentStatus.SUCCEEDED}
    assert set(Invoice.objects.values_list("status", flat=True)) == {"paid"}


def test_the_same_statement_uploaded_twice_at_once_is_imported_once():
    catalog = build_catalog()
    for name, price in [("Bäckerei Test GmbH", "10.05"), ("B GmbH", "40.00")]:
        issue(transfer_org(catalog, name, price=price))
    content = EUR_STATEMENT.read_bytes()

    results = _run_together([lambda: import_bank_statement(content=content, actor=STAFF)] * 2)

    assert sorted(type(result).__name__ for result in results) == ["BankStatement", "DuplicateStatement"]
    assert all(isinstance(result, BankStatement | DuplicateStatement) for result in results)
    assert BankStatement.objects.count() == 1
    assert BankStatementLine.objects.count() == 4
    assert sorted(Payment.objects.values_list("amount", flat=True)) == [Decimal("35.88"), Decimal("100.00")]
