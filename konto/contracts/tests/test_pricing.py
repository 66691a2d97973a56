"""The order preview: prorated charge today, the next regular invoice, the renewal, VAT per rate on the sums."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from konto.catalog.models import PriceBookEntry
from konto.contracts.services.orders import place_order
from konto.contracts.services.pricing import OrderItem, price_order
from konto.core.periods import Period

from .conftest import TODAY, actor_of, add_contract

pytestmark = pytest.mark.django_db


def test_german_essentials_order_is_prorated_by_day_with_19_percent_vat_on_the_sum(essentials_org, essentials_contract):
    # Given a monthly contract whose period 2026-11-01..2026-12-01 has 30 days
    # When 2 Essentials licenses (25.00) and 1 Data Storage (125.00) are priced on 2026-11-27
    preview = price_order(
        org=essentials_org,
        contract=essentials_contract,
        items=[OrderItem("essentials", 2), OrderItem("data-storage", "1")],
        today=TODAY,
    )

    # Then 4 of 30 days are charged today: 2 × 25.00 × 4/30 = 6.67 and 125.00 × 4/30 = 16.67
    licenses, storage = preview.lines
    assert (licenses.product.code, licenses.quantity, licenses.unit_price) == ("essentials", 2, Decimal("25.0000"))
    assert (licenses.period, licenses.service_start, licenses.service_end) == (
        Period(date(2026, 11, 1), date(2026, 12, 1)),
        date(2026, 11, 27),
        date(2026, 12, 1),
    )
    assert (licenses.days_charged, licenses.days_in_period) == (4, 30)
    assert (licenses.prorated_net_amount, storage.prorated_net_amount) == (Decimal("6.67"), Decimal("16.67"))
    # VAT per rate on the sum: 23.34 × 19 % = 4.4346 → 4.43 (per line it would be 1.27 + 3.17 = 4.44)
    assert (preview.today.net_amount, preview.today.tax_amount, preview.today.gross_amount) == (
        Decimal("23.34"),
        Decimal("4.43"),
        Decimal("27.77"),
    )
    assert [(t.category, t.rate, t.net_amount, t.tax_amount) for t in preview.today.tax_lines] == [
        ("S", Decimal("19.00"), Decimal("23.34"), Decimal("4.43"))
    ]
    # The next regular invoice on 2026-12-01 carries a full month: 50.00 + 125.00
    assert preview.next_invoice_on == date(2026, 12, 1)
    assert (preview.next_invoice.net_amount, preview.next_invoice.tax_amount, preview.next_invoice.gross_amount) == (
        Decimal("175.00"),
        Decimal("33.25"),
        Decimal("208.25"),
    )
    # From the renewal on 2027-06-01: 175.00 per month at today's prices
    assert preview.renewal_on == date(2027, 6, 1)
    assert (preview.renewal.net_amount, preview.renewal.gross_amount) == (Decimal("175.00"), Decimal("208.25"))
    assert preview.currency == "EUR"
    assert preview.as_json()["today"] == {
        "net_amount": "23.34",
        "tax_amount": "4.43",
        "gross_amount": "27.77",
        "tax": [{"category": "S", "rate": "19.00", "net_amount": "23.34", "tax_amount": "4.43"}],
    }


def test_austrian_business_with_vat_id_is_reverse_charged_and_has_no_next_invoice_in_an_annual_term(
    austrian_org, austrian_contract
):
    preview = price_order(org=austrian_org, contract=austrian_contract, items=[OrderItem("enterprise", 2)], today=TODAY)

    # 94 of 365 days: 2 × 1,980.00 × 94/365 = 1,019.8356… → 1,019.84, reverse charge (AE, 0 %)
    (line,) = preview.lines
    assert (line.days_charged, line.days_in_period, line.prorated_net_amount) == (94, 365, Decimal("1019.84"))
    assert [(t.category, t.rate, t.tax_amount) for t in preview.today.tax_lines] == [
        ("AE", Decimal("0.00"), Decimal("0.00"))
    ]
    assert "Reverse charge" in preview.today.tax_lines[0].note
    assert preview.today.gross_amount == Decimal("1019.84")
    # The annual period ends with the term: no regular invoice before the renewal
    assert (preview.next_invoice_on, preview.next_invoice.net_amount) == (None, Decimal("0.00"))
    assert (preview.renewal_on, preview.renewal.net_amount) == (date(2027, 3, 1), Decimal("3960.00"))


def test_swiss_nonprofit_buys_in_chf_from_the_nonprofit_book_not_taxable_in_germany(swiss_nonprofit, swiss_contract):
    preview = price_order(org=swiss_nonprofit, contract=swiss_contract, items=[OrderItem("enterprise", 3)], today=TODAY)

    # Nonprofit CHF Enterprise: 44.50 × 12 = 534.00 per year; 35 of 365 days: 3 × 534 × 35/365 = 153.6164… → 153.62
    (line,) = preview.lines
    assert (line.unit_price, line.days_charged, line.prorated_net_amount) == (
        Decimal("534.0000"),
        35,
        Decimal("153.62"),
    )
    assert preview.currency == "CHF"
    assert [(t.category, t.rate, t.tax_amount) for t in preview.today.tax_lines] == [
        ("O", Decimal("0.00"), Decimal("0.00"))
    ]
    assert (preview.today.gross_amount, preview.renewal.net_amount) == (Decimal("153.62"), Decimal("1602.00"))


def test_buying_on_the_first_day_of_a_period_charges_the_whole_period(essentials_org, essentials_contract):
    preview = price_order(
        org=essentials_org, contract=essentials_contract, items=[OrderItem("essentials", 1)], today=date(2026, 12, 1)
    )

    (line,) = preview.lines
    assert (line.days_charged, line.days_in_period, line.prorated_net_amount) == (31, 31, Decimal("25.00"))


def test_buying_on_the_last_day_of_the_term_charges_one_day_and_has_no_next_invoice(
    essentials_org, essentials_contract
):
    preview = price_order(
        org=essentials_org, contract=essentials_contract, items=[OrderItem("essentials", 1)], today=date(2027, 5, 31)
    )

    # 1 of 31 days of May: 25.00 / 31 = 0.806… → 0.81
    (line,) = preview.lines
    assert (line.days_charged, line.days_in_period, line.prorated_net_amount) == (1, 31, Decimal("0.81"))
    assert (preview.next_invoice_on, preview.next_invoice.net_amount) == (None, Decimal("0.00"))


def test_a_term_ending_mid_period_prorates_preview_and_charge_alike(essentials_org, buyer, catalog):
    # Given a monthly contract anchored on the 15th that ends on 2026-12-01, inside the period 11-15..12-15
    contract = add_contract(
        essentials_org,
        catalog,
        start=date(2026, 10, 15),
        end=date(2026, 12, 1),
        frequency="monthly",
        lines=[("essentials", 1)],
    )

    # When one license is priced and bought on 2026-11-27
    preview = price_order(org=essentials_org, contract=contract, items=[OrderItem("essentials", 1)], today=TODAY)

    # Then 4 of the period's 30 days are charged: 25.00 × 4/30 = 3.33, the same amount the charge records
    (line,) = preview.lines
    assert (line.period, line.service_end) == (Period(date(2026, 11, 15), date(2026, 12, 15)), date(2026, 12, 1))
    assert (line.days_charged, line.days_in_period, line.prorated_net_amount) == (4, 30, Decimal("3.33"))
    assert preview.next_invoice_on is None
    placed = place_order(
        org=essentials_org,
        actor=actor_of(buyer),
        contract=contract,
        items=[OrderItem("essentials", 1)],
        idempotency_key="stub-1",
        expected_fingerprint=preview.fingerprint,
        today=TODAY,
    )
    (charge,) = placed.order.contract_lines.get().charges.all()
    assert (charge.days_charged, charge.days_in_period, charge.net_amount) == (4, 30, Decimal("3.33"))


def test_prices_come_from_the_contract_currency_even_after_the_org_switched(essentials_org, essentials_contract):
    # The org switches to CHF before its first invoice; its EUR contract still buys at EUR prices
    essentials_org.currency = "CHF"
    essentials_org.save(update_fields=["currency"])

    preview = price_order(
        org=essentials_org, contract=essentials_contract, items=[OrderItem("essentials", 1)], today=TODAY
    )

    assert (preview.currency, preview.lines[0].unit_price) == ("EUR", Decimal("25.0000"))


def test_fingerprint_is_stable_and_changes_with_a_new_line_or_a_new_price(
    essentials_org, essentials_contract, buyer, catalog
):
    items = [OrderItem("essentials", 1)]
    first = price_order(org=essentials_org, contract=essentials_contract, items=items, today=TODAY).fingerprint

    assert price_order(org=essentials_org, contract=essentials_contract, items=items, today=TODAY).fingerprint == first
    assert len(first) == 32

    # A price change in the price book changes it
    entry = PriceBookEntry.objects.get(
        price_book__segment="commercial",
        price_book__currency="EUR",
        product=catalog["essentials"],
        billing_frequency="monthly",
    )
    entry.unit_price = Decimal("26.0000")
    entry.save()
    repriced = price_order(org=essentials_org, contract=essentials_contract, items=items, today=TODAY).fingerprint
    assert repriced != first

    # A new line on the contract (someone else bought meanwhile) changes it
    place_order(
        org=essentials_org,
        actor=actor_of(buyer),
        contract=essentials_contract,
        items=[OrderItem("data-storage", 1)],
        idempotency_key="other-tab",
        today=TODAY,
    )
    after_purchase = price_order(org=essentials_org, contract=essentials_contract, items=items, today=TODAY)
    assert after_purchase.fingerprint not in {first, repriced}

    # Another day is another proration
    next_day = price_order(org=essentials_org, contract=essentials_contract, items=items, today=date(2026, 11, 28))
    assert next_day.fingerprint != after_purchase.fingerprint
