"""VAT treatment: the DESIGN.md §4 table, effective-dated rates, reverse charge, not taxable, exempt."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from konto.core.countries import EU_COUNTRIES
from konto.core.tax import (
    RATES_KNOWN_FROM,
    REDUCED_RATES,
    STANDARD_RATES,
    TaxTreatment,
    determine_tax,
    rate_on,
)

TODAY = date(2026, 6, 15)
DE_VAT_ID = "DE136695976"
AT_VAT_ID = "ATU13585627"
FR_VAT_ID = "FR40303265045"
GR_VAT_ID = "EL094259216"
REVERSE_CHARGE_NOTE = "Reverse charge: VAT is owed by the recipient of the service."
NOT_TAXABLE_NOTE = "Service not taxable in the seller's country."
EXEMPT_NOTE = "VAT-exempt service."


def tax(seller: str, buyer: str, vat_id: str = "", category: str = "standard", on: date = TODAY) -> TaxTreatment:
    return determine_tax(
        seller_country=seller, buyer_country=buyer, buyer_vat_id=vat_id, tax_category=category, service_date=on
    )


def shown(treatment: TaxTreatment) -> tuple[str, str, str, str]:
    """The treatment as an invoice prints it in English: category, rate with its two decimals, note, VATEX code."""
    with translation.override("en"):
        return treatment.category, str(treatment.rate), str(treatment.note), treatment.exemption_reason_code


# DESIGN.md §4, row by row --------------------------------------------------------------------------


def test_de_seller_to_de_buyer_is_taxed_at_19_percent():
    assert shown(tax("DE", "DE")) == ("S", "19.00", "", "")
    assert shown(tax("DE", "DE", DE_VAT_ID)) == ("S", "19.00", "", "")  # a domestic VAT ID changes nothing


@pytest.mark.parametrize(("buyer", "vat_id"), [("AT", AT_VAT_ID), ("FR", FR_VAT_ID), ("GR", GR_VAT_ID)])
def test_de_seller_to_an_eu_business_with_vat_id_is_reverse_charge(buyer, vat_id):
    assert shown(tax("DE", buyer, vat_id)) == ("AE", "0.00", REVERSE_CHARGE_NOTE, "VATEX-EU-AE")


@pytest.mark.parametrize(
    ("buyer", "rate"),
    [("AT", "20.00"), ("FR", "20.00"), ("GR", "24.00"), ("HU", "27.00"), ("IT", "22.00"), ("NL", "21.00"),
     ("PL", "23.00"), ("DK", "25.00"), ("MT", "18.00"), ("CY", "19.00"), ("FI", "25.50"), ("SK", "23.00"),
     ("EE", "24.00"), ("RO", "21.00"), ("LU", "17.00"), ("IE", "23.00")],
)  # fmt: skip
def test_de_seller_to_an_eu_buyer_without_vat_id_charges_the_destination_rate(buyer, rate):
    assert shown(tax("DE", buyer)) == ("S", rate, "", "")


@pytest.mark.parametrize("buyer", ["CH", "LI", "NO", "GB", "US", "JP"])
def test_de_seller_to_a_buyer_outside_the_eu_is_not_taxable(buyer):
    expected = ("O", "0.00", NOT_TAXABLE_NOTE, "VATEX-EU-O")
    assert shown(tax("DE", buyer)) == expected
    assert shown(tax("DE", buyer, "CHE-116.281.710 MWST")) == expected  # a business or not


def test_at_seller_applies_the_same_logic_with_its_own_domestic_rate():
    assert shown(tax("AT", "AT")) == ("S", "20.00", "", "")
    assert shown(tax("AT", "DE", DE_VAT_ID)) == ("AE", "0.00", REVERSE_CHARGE_NOTE, "VATEX-EU-AE")
    assert shown(tax("AT", "DE")) == ("S", "19.00", "", "")
    assert shown(tax("AT", "CH")) == ("O", "0.00", NOT_TAXABLE_NOTE, "VATEX-EU-O")


def test_ch_seller_to_ch_buyer_switches_from_7_7_to_8_1_percent_on_1_january_2024():
    assert shown(tax("CH", "CH", on=date(2023, 12, 31))) == ("S", "7.70", "", "")
    assert shown(tax("CH", "CH", on=date(2024, 1, 1))) == ("S", "8.10", "", "")
    assert shown(tax("CH", "CH", "CHE-116.281.710 MWST", on=TODAY)) == ("S", "8.10", "", "")


def test_ch_seller_taxes_liechtenstein_as_part_of_the_swiss_vat_area():
    assert shown(tax("CH", "LI")) == ("S", "8.10", "", "")


@pytest.mark.parametrize(("buyer", "vat_id"), [("DE", DE_VAT_ID), ("DE", ""), ("AT", AT_VAT_ID), ("US", "")])
def test_ch_seller_to_a_buyer_outside_switzerland_is_not_taxable(buyer, vat_id):
    assert shown(tax("CH", buyer, vat_id)) == ("O", "0.00", NOT_TAXABLE_NOTE, "VATEX-EU-O")


# Effective dates ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("on", "standard", "reduced"),
    [
        (date(2020, 6, 30), "19.00", "7.00"),
        (date(2020, 7, 1), "16.00", "5.00"),  # temporary cut of the second Corona tax relief act
        (date(2020, 12, 31), "16.00", "5.00"),
        (date(2021, 1, 1), "19.00", "7.00"),
    ],
)
def test_germany_taxed_16_and_5_percent_in_the_second_half_of_2020(on, standard, reduced):
    assert shown(tax("DE", "DE", on=on)) == ("S", standard, "", "")
    assert shown(tax("DE", "DE", category="reduced", on=on)) == ("S", reduced, "", "")
    assert shown(tax("AT", "DE", on=on)) == ("S", standard, "", "")  # as a destination too


@pytest.mark.parametrize(
    ("buyer", "on", "rate"),
    [
        ("FI", date(2024, 8, 31), "24.00"),
        ("FI", date(2024, 9, 1), "25.50"),
        ("SK", date(2024, 12, 31), "20.00"),
        ("SK", date(2025, 1, 1), "23.00"),
        ("EE", date(2023, 12, 31), "20.00"),
        ("EE", date(2024, 1, 1), "22.00"),
        ("EE", date(2025, 6, 30), "22.00"),
        ("EE", date(2025, 7, 1), "24.00"),
        ("RO", date(2025, 7, 31), "19.00"),
        ("RO", date(2025, 8, 1), "21.00"),
        ("LU", date(2022, 12, 31), "17.00"),
        ("LU", date(2023, 1, 1), "16.00"),
        ("LU", date(2023, 12, 31), "16.00"),
        ("LU", date(2024, 1, 1), "17.00"),
        ("IE", date(2020, 8, 31), "23.00"),
        ("IE", date(2020, 9, 1), "21.00"),
        ("IE", date(2021, 2, 28), "21.00"),
        ("IE", date(2021, 3, 1), "23.00"),
        ("AT", RATES_KNOWN_FROM, "20.00"),
    ],
)
def test_destination_rates_follow_the_service_date(buyer, on, rate):
    assert shown(tax("DE", buyer, on=on)) == ("S", rate, "", "")


# Product tax categories ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seller", "buyer", "on", "rate"),
    [
        ("DE", "DE", TODAY, "7.00"),
        ("AT", "AT", TODAY, "10.00"),
        ("CH", "CH", date(2023, 12, 31), "2.50"),
        ("CH", "CH", date(2024, 1, 1), "2.60"),
        ("DE", "AT", TODAY, "10.00"),  # B2C: the destination's reduced rate
        ("AT", "DE", TODAY, "7.00"),
    ],
)
def test_reduced_rate_products(seller, buyer, on, rate):
    assert shown(tax(seller, buyer, category="reduced", on=on)) == ("S", rate, "", "")


def test_a_reduced_rate_destination_without_a_known_table_is_refused_rather_than_guessed():
    with pytest.raises(ValueError, match="no reduced VAT rate table for FR"):
        tax("DE", "FR", category="reduced")


def test_reduced_rate_products_follow_reverse_charge_and_not_taxable_like_any_other():
    assert shown(tax("DE", "FR", FR_VAT_ID, category="reduced")) == ("AE", "0.00", REVERSE_CHARGE_NOTE, "VATEX-EU-AE")
    assert shown(tax("DE", "CH", category="reduced")) == ("O", "0.00", NOT_TAXABLE_NOTE, "VATEX-EU-O")


@pytest.mark.parametrize(("seller", "buyer"), [("DE", "DE"), ("AT", "AT"), ("CH", "CH"), ("DE", "AT"), ("DE", "FR")])
def test_exempt_products_are_exempt_where_they_are_taxed(seller, buyer):
    assert shown(tax(seller, buyer, category="exempt")) == ("E", "0.00", EXEMPT_NOTE, "")


def test_exempt_products_keep_reverse_charge_and_not_taxable_where_the_place_of_supply_says_so():
    assert shown(tax("DE", "AT", AT_VAT_ID, category="exempt")) == ("AE", "0.00", REVERSE_CHARGE_NOTE, "VATEX-EU-AE")
    assert shown(tax("DE", "US", category="exempt")) == ("O", "0.00", NOT_TAXABLE_NOTE, "VATEX-EU-O")


# Inputs ---------------------------------------------------------------------------------------------


def test_a_blank_vat_id_is_no_vat_id():
    assert shown(tax("DE", "AT", "   ")) == ("S", "20.00", "", "")


def test_greece_is_gr_as_a_country_even_though_its_vat_ids_start_with_el():
    assert shown(tax("DE", "GR", GR_VAT_ID)) == ("AE", "0.00", REVERSE_CHARGE_NOTE, "VATEX-EU-AE")
    with pytest.raises(ValueError, match="Greece's VAT prefix"):
        tax("DE", "EL", GR_VAT_ID)


@pytest.mark.parametrize("seller", ["FR", "US", "LI", "de", "", "DEU"])
def test_an_unsupported_seller_country_is_refused(seller):
    with pytest.raises(ValueError, match="unsupported seller country"):
        tax(seller, "DE")


@pytest.mark.parametrize("category", ["", "Standard", "zero", "S", "super-reduced"])
def test_an_unknown_tax_category_is_refused(category):
    with pytest.raises(ValueError, match="unknown tax category"):
        tax("DE", "DE", category=category)


@pytest.mark.parametrize("buyer", ["", "de", "DEU", "D", "1A", "Ö1"])
def test_a_buyer_country_that_is_no_iso_code_is_refused(buyer):
    with pytest.raises(ValueError, match="not an ISO 3166-1 alpha-2 code"):
        tax("DE", buyer)


@pytest.mark.parametrize(("seller", "buyer"), [("DE", "DE"), ("CH", "CH"), ("DE", "FR")])
def test_a_service_date_before_the_rate_tables_is_refused(seller, buyer):
    with pytest.raises(ValueError, match="no VAT rate of"):
        tax(seller, buyer, on=RATES_KNOWN_FROM - timedelta(days=1))


def test_a_timestamp_is_not_a_service_date():
    with pytest.raises(TypeError, match="calendar date"):
        tax("DE", "DE", on=datetime(2026, 6, 15, 12, 0))  # noqa: DTZ001 - the wrong kind of value on purpose


def test_a_tax_treatment_cannot_be_changed():
    treatment = tax("DE", "DE")
    with pytest.raises(dataclasses.FrozenInstanceError):
        treatment.rate = Decimal("0.00")  # type: ignore[misc]


def test_notes_are_translated_lazily():
    note = tax("DE", "AT", AT_VAT_ID).note
    with translation.override("en"):
        assert str(note) == REVERSE_CHARGE_NOTE
    assert tax("DE", "AT", AT_VAT_ID) == tax("DE", "AT", AT_VAT_ID)


# The tables -----------------------------------------------------------------------------------------


def test_every_eu_country_and_switzerland_has_a_standard_rate_table():
    assert set(STANDARD_RATES) == EU_COUNTRIES | {"CH"}


@pytest.mark.parametrize(
    ("country", "table"),
    [
        *(("standard " + c, t) for c, t in STANDARD_RATES.items()),
        *(("reduced " + c, t) for c, t in REDUCED_RATES.items()),
    ],
)
def test_rate_tables_start_on_the_covered_date_ascend_and_carry_two_decimals(country, table):
    valid_froms = [valid_from for valid_from, _rate in table]
    assert valid_froms[0] == RATES_KNOWN_FROM
    assert valid_froms == sorted(set(valid_froms))
    assert all(rate.as_tuple().exponent == -2 and Decimal(0) < rate < Decimal(30) for _day, rate in table)


def test_rate_on_takes_the_last_row_in_force():
    table = STANDARD_RATES["DE"]
    assert rate_on(table, date(2020, 6, 30)) == Decimal("19.00")
    assert rate_on(table, date(2020, 7, 1)) == Decimal("16.00")
    assert rate_on(table, date(2099, 1, 1)) == Decimal("19.00")


# Property: whatever the inputs, a treatment is one of the consistent shapes ---------------------------

countries = st.sampled_from(sorted(EU_COUNTRIES | {"CH", "LI", "NO", "GB", "US"}))


@given(
    seller=st.sampled_from(["DE", "AT", "CH"]),
    buyer=countries,
    vat_id=st.sampled_from(["", "X123"]),
    category=st.sampled_from(["standard", "exempt"]),
    on=st.dates(min_value=RATES_KNOWN_FROM, max_value=date(2099, 12, 31)),
)
def test_every_treatment_is_consistent(seller, buyer, vat_id, category, on):
    treatment = tax(seller, buyer, vat_id, category, on)

    assert treatment.rate.as_tuple().exponent == -2
    if treatment.category == "S":
        assert treatment.rate > 0
        assert treatment.note == ""
        assert treatment.exemption_reason_code == ""
    else:
        assert treatment.rate == 0
        assert treatment.note != ""
    if treatment.category == "AE":
        assert seller != "CH"
        assert buyer in EU_COUNTRIES
        assert vat_id
    if seller != "CH" and buyer not in EU_COUNTRIES:
        assert treatment.category == "O"
