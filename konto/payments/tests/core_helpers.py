"""Scenes of the payments-core tests: orgs with cards (through the sandbox's card page), mandates, open invoices.

Cards are added the way a customer adds them: `start_card_setup`, then the
sandbox's hosted card page receives the number (`sandbox.server.submit_card`,
the gateway's side of the world), then `add_card` with the setup ref.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from konto.accounts.models import Org, User
from konto.billing.models import Invoice
from konto.billing.services.invoices import invoice_due_charges
from konto.billing.tests.helpers import add_contract, build_catalog, german_org
from konto.catalog.models import Product
from konto.core.audit import Actor
from konto.payments.models import Payment, PaymentMethod
from konto.payments.services.methods import add_card, add_sepa_mandate, start_card_setup
from konto.sandbox import server
from konto.sandbox.models import SandboxCharge

__all__ = ["build_catalog", "german_org"]

RETURN_URL = "http://testserver/my-account/payment-methods/card/return"
PAY_RETURN_URL = "http://testserver/my-account/payments/return"

VISA = "4242424242424242"
MASTERCARD = "5555555555554444"
CHALLENGE = "4000002500003155"
DECLINED = "4000000000000002"
INSUFFICIENT_FUNDS = "4000000000009995"
EXPIRED = "4000000000000069"
PROCESSING_ERROR = "4000000000000119"
TIMEOUT = "4000000000003220"

DEBTOR_IBAN = "DE02120300000000202051"  # a valid IBAN of a test bank (Deutsche Kreditbank)
DEBTOR_BIC = "BYLADEM1001"


def actor_of(user: User) -> Actor:
    return Actor(user_id=user.pk, email=user.email, ip_address="203.0.113.7", user_agent="pytest")


def add_test_card(
    org: Org, number: str = VISA, *, actor: Actor | None = None, exp: tuple[int, int] = (12, 2030), **options: Any
) -> PaymentMethod:
    """A card added through the sandbox's card page (a challenge card's 3-D Secure is confirmed)."""
    actor = actor or Actor.system("test")
    start = start_card_setup(org=org, actor=actor, return_url=RETURN_URL)
    setup = server.submit_card(setup_ref=start.setup_ref, number=number, exp_month=exp[0], exp_year=exp[1])
    if setup.status == "requires_action":
        server.answer_setup_challenge(setup_ref=start.setup_ref, is_confirmed=True)
    return add_card(org=org, actor=actor, setup_ref=start.setup_ref, **options)


def add_mandate(org: Org, *, actor: Actor | None = None, iban: str = DEBTOR_IBAN, **options: Any) -> PaymentMethod:
    return add_sepa_mandate(
        org=org,
        actor=actor or Actor.system("test"),
        account_holder=org.legal_name,
        iban=iban,
        bic=options.pop("bic", DEBTOR_BIC),
        is_accepted=True,
        ip="203.0.113.7",
        user_agent="Mozilla/5.0 (pytest)",
        **options,
    )


def card_org(catalog: dict[str, Product], name: str = "Bäckerei Test GmbH", **fields: Any) -> Org:
    """A German Professional org (free to pay by card, mandate or transfer) with a monthly card contract from
    2026-06-01: 5 licenses at 25.00 a month (148.75 gross)."""
    fields.setdefault("edition", "professional")
    org = german_org(name, **fields)
    add_contract(
        org,
        catalog,
        start=date(2026, 6, 1),
        end=date(2027, 6, 1),
        frequency="monthly",
        lines=[(org.edition, 5, Decimal("25.00"))],  # the edition's licenses
        payment="card",
    )
    return org


def issue(org: Org, billing_date: date) -> Invoice:
    """The org's one invoice for `billing_date` (every due charge up to it), issued with its documents."""
    (invoice,) = invoice_due_charges(org=org, billing_date=billing_date)
    return invoice


def sandbox_charges() -> int:
    return SandboxCharge.objects.count()


def state(*invoices: Invoice) -> list[tuple[str, Decimal]]:
    """(status, amount paid) of each invoice as stored now."""
    result = []
    for invoice in invoices:
        invoice.refresh_from_db()
        result.append((invoice.status, invoice.amount_paid))
    return result


def payment_rows() -> list[tuple[str, str, Decimal]]:
    return [(p.status, p.origin, p.amount) for p in Payment.objects.order_by("id")]
