"""Scenes of the bank-side tests: orgs paying by SEPA mandate or transfer, their invoices and collections."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Model

from konto.accounts.models import Org
from konto.billing.models import Invoice
from konto.billing.services.invoices import invoice_due_charges
from konto.billing.tests.helpers import add_contract, german_org
from konto.catalog.models import Product
from konto.core.audit import Actor
from konto.payments.models import Payment, PaymentMethod
from konto.payments.services.collection import collect_invoices
from konto.payments.services.methods import add_sepa_mandate

SYSTEM = Actor.system("test")
AUGUST = date(2026, 8, 1)  # billing date of the invoices; due 2026-08-15

# Debtors' accounts (valid IBANs of test banks).
BAECKEREI_IBAN = "DE02120300000000202051"
B_IBAN = "DE75512108001245126199"


def _contract(org: Org, catalog: dict[str, Product], *, price: str, payment: str) -> None:
    """Monthly, 2026-06-01 to 2027-06-01, one Professional license at `price` (Essentials is paid by card)."""
    add_contract(
        org,
        catalog,
        start=date(2026, 6, 1),
        end=date(2027, 6, 1),
        frequency="monthly",
        lines=[("professional", 1, Decimal(price))],
        payment=payment,
    )


def sepa_org(
    catalog: dict[str, Product], name: str, *, iban: str, bic: str = "", price: str = "10.05"
) -> tuple[Org, PaymentMethod]:
    """An org with a monthly SEPA contract (1 license at `price`) and a signed mandate of the vendor's bank."""
    org = german_org(name, edition="professional")
    mandate = add_sepa_mandate(
        org=org,
        actor=SYSTEM,
        account_holder=name,
        iban=iban,
        bic=bic,
        is_accepted=True,
        ip="203.0.113.7",
        user_agent="pytest",
    )
    _contract(org, catalog, price=price, payment="sepa_debit")
    return org, mandate


def transfer_org(catalog: dict[str, Product], name: str, *, price: str) -> Org:
    org = german_org(name, edition="professional")
    _contract(org, catalog, price=price, payment="bank_transfer")
    return org


def issue(org: Org, billing_date: date = AUGUST) -> Invoice:
    (invoice,) = invoice_due_charges(org=org, billing_date=billing_date)
    return invoice


def collect(invoice: Invoice, *, today: date, public_id: str = "") -> Payment:
    """The automatic collection of an issued invoice: pending until the pain.008 file is exported.

    Collecting is idempotent: where issuing already collected (after commit, in transactional tests),
    this finds that payment.
    """
    collect_invoices(invoice_ids=[invoice.pk], today=today)
    payment = Payment.objects.get(allocations__invoice=invoice, status="pending")
    if public_id:  # a fixed id, as a recorded bank statement quotes it
        Payment.objects.filter(pk=payment.pk).update(public_id=public_id)
        payment.refresh_from_db()
    return payment


def reload(obj: Model) -> Any:
    obj.refresh_from_db()
    return obj


def state(invoice: Invoice) -> tuple[str, Decimal]:
    invoice.refresh_from_db()
    return invoice.status, invoice.amount_paid
