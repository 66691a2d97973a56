"""Creating contracts: term, frequency, payment method, buyer reference and lines checked before anything is written."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from konto.accounts.models import LicensePool, LicenseType, Org
from konto.catalog.models import Product
from konto.contracts.exceptions import InvalidInput, PurchaseRefused
from konto.contracts.models import Contract
from konto.contracts.services.contracts import InitialLine, create_contract
from konto.core.audit import Actor
from konto.core.models import AuditEvent

from .conftest import add_contract, db_state

pytestmark = pytest.mark.django_db

TERM = {"start": date(2026, 6, 1), "end": date(2027, 6, 1), "frequency": "monthly"}


def _create(org: Org, catalog: dict[str, Product], **overrides: Any) -> Contract:
    values: dict[str, Any] = {
        "org": org,
        "actor": Actor(user_id=None, email="ops@vendor.example"),
        "start_date": date(2026, 6, 1),
        "end_date": date(2027, 6, 1),
        "billing_frequency": "monthly",
        "payment_method_kind": "card",
        "lines": [InitialLine(catalog["essentials"], 5)],
    }
    values.update(overrides)
    return create_contract(**values)


def test_contract_gets_its_terms_lines_seats_and_an_audit_event(austrian_org, catalog):
    contract = add_contract(
        austrian_org,
        catalog,
        start=date(2026, 3, 1),
        end=date(2027, 3, 1),
        frequency="annual",
        lines=[("enterprise", 40), ("data-storage", 2)],
        payment="bank_transfer",
        payment_terms_days=30,
        notice_period_days=90,
        po_number="PO-2026-0815",
        buyer_reference="04011000-1234512345-06",
        auto_renew=False,
    )

    assert (contract.number, contract.status, contract.currency, contract.payment_terms_days) == (
        "V-2026-001",
        "active",
        "EUR",
        30,
    )
    assert (contract.auto_renew, contract.notice_period_days, contract.po_number, contract.buyer_reference) == (
        False,
        90,
        "PO-2026-0815",
        "04011000-1234512345-06",
    )
    assert [
        (ln.product.code, ln.quantity, ln.unit_price, ln.start_date, ln.end_date)
        for ln in contract.lines.order_by("id")
    ] == [
        ("enterprise", 40, Decimal("1980.0000"), date(2026, 3, 1), date(2027, 3, 1)),
        ("data-storage", 2, Decimal("1500.0000"), date(2026, 3, 1), date(2027, 3, 1)),
    ]
    assert LicensePool.objects.get(org=austrian_org, license_type=LicenseType.FULL).purchased_seats == 40
    event = AuditEvent.objects.get(action="contract.created")
    assert (event.org_id, event.actor_email, event.object_type, event.object_id, event.before) == (
        austrian_org.pk,
        "test",
        "contract",
        contract.public_id,
        None,
    )
    assert event.after == {
        "number": "V-2026-001",
        "start_date": "2026-03-01",
        "end_date": "2027-03-01",
        "billing_frequency": "annual",
        "currency": "EUR",
        "payment_method_kind": "bank_transfer",
        "payment_terms_days": 30,
        "auto_renew": False,
        "notice_period_days": 90,
        "po_number": "PO-2026-0815",
        "buyer_reference": "04011000-1234512345-06",
        "lines": [["enterprise", 40, "1980.0000"], ["data-storage", 2, "1500.0000"]],
    }


def test_payment_terms_default_to_the_vendors_and_numbers_count_per_org(essentials_org, catalog):
    first = _create(essentials_org, catalog)
    second = _create(
        essentials_org,
        catalog,
        start_date=date(2027, 6, 1),
        end_date=date(2028, 6, 1),
        lines=[InitialLine(catalog["inbox"], 1)],
    )

    assert (first.number, first.payment_terms_days) == ("V-2026-001", 14)
    assert second.number == "V-2027-002"


@pytest.mark.parametrize("reference", ["04011000-1234512345-06", "991-33333TEST-33", "991-33333test-33", ""])
def test_valid_leitweg_ids_are_kept_in_canonical_form(essentials_org, catalog, reference):
    contract = _create(essentials_org, catalog, buyer_reference=f" {reference} ")

    assert contract.buyer_reference == reference.upper()


@pytest.mark.parametrize(
    "reference",
    [
        "04011000-1234512345-07",  # wrong check digits
        "991-33333TEST-34",
        "04011000-1234512345",  # no check digits
        "0401100012345123456",  # no separators
        "1-1234512345-06",  # coarse address too short
        "04011000-12345_12345-06",  # not a letter or digit
        "04011000-1234512345-06-06",
    ],
)
def test_bad_leitweg_ids_are_refused_and_nothing_is_written(essentials_org, catalog, reference):
    state = db_state(essentials_org)

    with pytest.raises(InvalidInput) as refused:
        _create(essentials_org, catalog, buyer_reference=reference)

    assert (refused.value.code, list(refused.value.fields)) == ("invalid_buyer_reference", ["buyer_reference"])
    assert db_state(essentials_org) == state


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"end_date": date(2026, 6, 1)}, "invalid_term", "end_date"),
        ({"end_date": date(2026, 5, 31)}, "invalid_term", "end_date"),
        ({"end_date": date(2031, 6, 2)}, "invalid_term", "end_date"),  # more than 5 years
        ({"start_date": datetime(2026, 6, 1, 12, 0)}, "invalid_term", "start_date"),  # noqa: DTZ001
        ({"billing_frequency": "weekly"}, "invalid_billing_frequency", "billing_frequency"),
        ({"payment_method_kind": "cash"}, "invalid_payment_method", "payment_method_kind"),
        ({"payment_method_kind": "bank_transfer"}, "payment_method_not_allowed", "payment_method_kind"),
        ({"payment_terms_days": -1}, "invalid_payment_terms", "payment_terms_days"),
        ({"payment_terms_days": 121}, "invalid_payment_terms", "payment_terms_days"),
        ({"notice_period_days": 365}, "invalid_notice_period", "notice_period_days"),  # the term has 365 days
        ({"notice_period_days": -5}, "invalid_notice_period", "notice_period_days"),
        ({"notice_period_days": "30"}, "invalid_notice_period", "notice_period_days"),
        ({"auto_renew": "yes"}, "invalid_auto_renew", "auto_renew"),
        ({"po_number": "P" * 36}, "invalid_po_number", "po_number"),
        ({"lines": []}, "empty_contract", "lines"),
    ],
)
def test_bad_terms_are_refused_and_nothing_is_written(essentials_org, catalog, overrides, code, field):
    state = db_state(essentials_org)

    with pytest.raises(InvalidInput) as refused:
        _create(essentials_org, catalog, **overrides)

    assert (refused.value.code, list(refused.value.fields)) == (code, [field])
    assert db_state(essentials_org) == state


def test_a_five_year_term_is_accepted(essentials_org, catalog):
    contract = _create(essentials_org, catalog, end_date=date(2031, 6, 1))

    assert contract.lines.get().charges.count() == 60


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (("essentials", 0, None), "invalid_quantity"),
        (("essentials", 1001, None), "invalid_quantity"),
        (("essentials", 5, Decimal("-1")), "invalid_unit_price"),
        (("essentials", 5, Decimal("0.00001")), "invalid_unit_price"),
        (("essentials", 5, Decimal("NaN")), "invalid_unit_price"),
        (("essentials", 5, 1.5), "invalid_unit_price"),
        (("essentials", 11, None), "essentials_license_limit"),
        (("analytics", 1, None), "product_not_allowed"),
        (("enterprise", 1, None), "product_not_allowed"),
    ],
)
def test_bad_lines_are_refused_and_nothing_is_written(essentials_org, catalog, line, code):
    code_of_product, quantity, price = line
    state = db_state(essentials_org)

    with pytest.raises((InvalidInput, PurchaseRefused)) as refused:
        _create(essentials_org, catalog, lines=[InitialLine(catalog[code_of_product], quantity, price)])

    assert refused.value.code == code
    assert db_state(essentials_org) == state


def test_a_product_twice_is_refused(essentials_org, catalog):
    with pytest.raises(InvalidInput) as refused:
        _create(essentials_org, catalog, lines=[InitialLine(catalog["inbox"], 1), InitialLine(catalog["inbox"], 2)])

    assert (refused.value.code, list(refused.value.fields)) == ("duplicate_product", ["lines[1].product"])
    assert Contract.objects.count() == 0


def test_donated_licenses_are_bought_seats_at_zero(swiss_nonprofit, swiss_contract):
    line = swiss_contract.lines.get()

    assert (line.product.code, line.quantity, line.unit_price, swiss_contract.currency) == (
        "enterprise",
        10,
        Decimal("0.0000"),
        "CHF",
    )
    pool = LicensePool.objects.get(org=swiss_nonprofit, license_type=LicenseType.FULL)
    assert (pool.free_seats, pool.purchased_seats) == (0, 10)
