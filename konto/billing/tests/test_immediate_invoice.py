"""Essentials purchases are invoiced at once, in the order's transaction, with their documents; once only."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.test import Client
from django.utils import translation

from konto.accounts.testing import make_admin
from konto.api.tests.conftest import ApiClient, create_token
from konto.billing.models import Invoice, StoredDocument
from konto.billing.services.invoices import invoice_purchase
from konto.contracts.models import Order
from konto.contracts.services.orders import place_order
from konto.contracts.services.pricing import OrderItem
from konto.core.audit import Actor

from .helpers import add_contract, build_catalog, german_org, monthly_contract

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("test")
PURCHASE_DAY = date(2026, 7, 10)  # in the period 2026-07-01..08-01: 22 of 31 days left


@pytest.fixture(autouse=True)
def _media_and_language(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    with translation.override("en"):
        yield


@pytest.fixture
def catalog(db):
    return build_catalog()


def _buy(org, contract, *, key: str = "order-1", quantity: int = 2):
    return place_order(
        org=org,
        actor=SYSTEM,
        contract=contract,
        items=[OrderItem("essentials", quantity)],
        idempotency_key=key,
        today=PURCHASE_DAY,
        after_place=invoice_purchase,
    )


@time_machine.travel(PURCHASE_DAY, tick=False)
def test_an_essentials_purchase_is_invoiced_at_once_with_its_documents(catalog):
    org = german_org()
    contract = monthly_contract(org, catalog)

    placed = _buy(org, contract)

    (invoice,) = Invoice.objects.all()
    assert (invoice.order_id, invoice.number, invoice.status) == (placed.order.pk, "RE-2026-000001", "open")
    assert (invoice.issue_date, invoice.payment_method_kind) == (PURCHASE_DAY, "card")
    # 2 × 25.00 × 22 / 31 = 35.483… → 35.48 net; 19 % VAT 6.74; what the customer saw as today's charge
    assert (invoice.net_amount, invoice.tax_amount, invoice.gross_amount) == (
        Decimal("35.48"),
        Decimal("6.74"),
        Decimal("42.22"),
    )
    assert invoice.gross_amount == placed.order.today_gross_amount
    assert (invoice.period_start, invoice.period_end) == (PURCHASE_DAY, date(2026, 8, 1))
    assert sorted(StoredDocument.objects.filter(invoice=invoice).values_list("filename", flat=True)) == [
        "RE-2026-000001.pdf",
        "RE-2026-000001.xml",
    ]
    # The contract's own due charges (June, July) are left to the billing run
    assert invoice.lines.count() == 1


@time_machine.travel(PURCHASE_DAY, tick=False)
def test_a_repeated_submission_creates_no_second_invoice(catalog):
    org = german_org()
    contract = monthly_contract(org, catalog)
    first = _buy(org, contract)

    again = _buy(org, contract)

    assert (again.created, again.order.pk) == (False, first.order.pk)
    assert Invoice.objects.count() == 1
    assert StoredDocument.objects.count() == 2


@time_machine.travel(PURCHASE_DAY, tick=False)
def test_purchases_of_other_editions_wait_for_the_billing_run(catalog):
    org = german_org("Planung Test GmbH", edition="professional")
    contract = add_contract(
        org,
        catalog,
        start=date(2026, 6, 1),
        end=date(2027, 6, 1),
        frequency="monthly",
        lines=[("professional", 5)],
        payment="bank_transfer",
    )

    placed = place_order(
        org=org,
        actor=SYSTEM,
        contract=contract,
        items=[OrderItem("professional", 1)],
        idempotency_key="order-1",
        today=PURCHASE_DAY,
        after_place=invoice_purchase,
    )

    assert placed.created
    assert Invoice.objects.count() == 0


@time_machine.travel(PURCHASE_DAY, tick=False)
def test_an_api_purchase_of_an_essentials_org_is_invoiced_once(catalog):
    org = german_org()
    contract = monthly_contract(org, catalog)
    api = ApiClient(create_token(make_admin(org, "admin@baeckerei-test.example")))
    body = json.dumps({"contract": contract.public_id, "lines": [{"product": "essentials", "quantity": 2}]})
    headers = {**api.headers(None, None), "Idempotency-Key": "api-order-1"}
    client: Client = api.client

    first = client.post("/api/v1/orders", data=body, content_type="application/json", headers=headers)
    second = client.post("/api/v1/orders", data=body, content_type="application/json", headers=headers)

    assert (first.status_code, second.status_code) == (201, 200), first.content
    order = Order.objects.get()
    (invoice,) = Invoice.objects.all()
    assert (invoice.order_id, invoice.number, invoice.gross_amount) == (order.pk, "RE-2026-000001", Decimal("42.22"))
    assert StoredDocument.objects.filter(invoice=invoice).count() == 2
