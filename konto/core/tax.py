"""VAT treatment of an invoice line: one pure, table-driven, effective-dated function.

Rules (DESIGN.md §4), decided by where the service is taxed, then by the product's
tax category:

- buyer in the seller's country → domestic rate (S), or E for exempt products;
- EU seller, buyer in another EU country with a VAT ID → reverse charge (AE, 0 %);
- EU seller, buyer in another EU country without one → the destination country's
  rate (S; B2C electronic services, One-Stop-Shop);
- buyer outside the seller's VAT area (the EU; for a Swiss seller Switzerland and
  Liechtenstein) → not taxable in the seller's country (O, 0 %).

Rates are percentages with two decimals, kept as (valid_from, rate) tables; a rate
holds until the next row's date. The tables cover service dates from
RATES_KNOWN_FROM on and are updated when a country changes a rate.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from types import MappingProxyType

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from konto.core.countries import EU_COUNTRIES

# EN 16931 VAT category codes (UNCL 5305) used by Konto.
STANDARD_RATED = "S"
REVERSE_CHARGE = "AE"
NOT_SUBJECT_TO_VAT = "O"
EXEMPT = "E"
ZERO_RATED = "Z"

# Product tax categories, as catalog products store them.
TAX_CATEGORY_STANDARD = "standard"
TAX_CATEGORY_REDUCED = "reduced"
TAX_CATEGORY_EXEMPT = "exempt"
TAX_CATEGORIES = frozenset({TAX_CATEGORY_STANDARD, TAX_CATEGORY_REDUCED, TAX_CATEGORY_EXEMPT})

SELLER_COUNTRIES = frozenset({"DE", "AT", "CH"})
# Liechtenstein belongs to the Swiss VAT area (customs treaty): a Swiss seller taxes it as domestic.
SWISS_VAT_AREA = frozenset({"CH", "LI"})

RATES_KNOWN_FROM = date(2019, 1, 1)  # the first service date the tables cover

RateTable = tuple[tuple[date, Decimal], ...]  # (valid_from, percent), ascending


def _rates(*rows: tuple[date, str]) -> RateTable:
    return tuple((valid_from, Decimal(rate).quantize(Decimal("0.01"))) for valid_from, rate in rows)


def _constant(rate: str) -> RateTable:
    return _rates((RATES_KNOWN_FROM, rate))


STANDARD_RATES: Mapping[str, RateTable] = MappingProxyType(
    {
        "AT": _constant("20"),
        "BE": _constant("21"),
        "BG": _constant("20"),
        "CH": _rates((RATES_KNOWN_FROM, "7.7"), (date(2024, 1, 1), "8.1")),
        "CY": _constant("19"),
        "CZ": _constant("21"),
        # Temporary cut of the second Corona tax relief act, 1 July to 31 December 2020.
        "DE": _rates((RATES_KNOWN_FROM, "19"), (date(2020, 7, 1), "16"), (date(2021, 1, 1), "19")),
        "DK": _constant("25"),
        "EE": _rates((RATES_KNOWN_FROM, "20"), (date(2024, 1, 1), "22"), (date(2025, 7, 1), "24")),
        "ES": _constant("21"),
        "FI": _rates((RATES_KNOWN_FROM, "24"), (date(2024, 9, 1), "25.5")),
        "FR": _constant("20"),
        "GR": _constant("24"),
        "HR": _constant("25"),
        "HU": _constant("27"),
        # Temporary cut, 1 September 2020 to 28 February 2021.
        "IE": _rates((RATES_KNOWN_FROM, "23"), (date(2020, 9, 1), "21"), (date(2021, 3, 1), "23")),
        "IT": _constant("22"),
        "LT": _constant("21"),
        # Temporary cut for the calendar year 2023.
        "LU": _rates((RATES_KNOWN_FROM, "17"), (date(2023, 1, 1), "16"), (date(2024, 1, 1), "17")),
        "LV": _constant("21"),
        "MT": _constant("18"),
        "NL": _constant("21"),
        "PL": _constant("23"),
        "PT": _constant("23"),
        "RO": _rates((RATES_KNOWN_FROM, "19"), (date(2025, 8, 1), "21")),
        "SE": _constant("25"),
        "SI": _constant("22"),
        "SK": _rates((RATES_KNOWN_FROM, "20"), (date(2025, 1, 1), "23")),
    }
)

# Reduced rates where Konto sells reduced-rate products. Which reduced rate of another
# country a product gets depends on the product, so no other country is guessed.
REDUCED_RATES: Mapping[str, RateTable] = MappingProxyType(
    {
        "AT": _constant("10"),
        "CH": _rates((RATES_KNOWN_FROM, "2.5"), (date(2024, 1, 1), "2.6")),
        "DE": _rates((RATES_KNOWN_FROM, "7"), (date(2020, 7, 1), "5"), (date(2021, 1, 1), "7")),
    }
)

ZERO_RATE = Decimal("0.00")

# Invoice notes (§ 14a UStG and its Austrian and Swiss counterparts); German comes with the translations.
REVERSE_CHARGE_NOTE = _("Reverse charge: VAT is owed by the recipient of the service.")
NOT_TAXABLE_NOTE = _("Service not taxable in the seller's country.")
EXEMPT_NOTE = _("VAT-exempt service.")

# VAT exemption reason codes (CEF VATEX list) for e-invoices.
VATEX_REVERSE_CHARGE = "VATEX-EU-AE"
VATEX_NOT_SUBJECT = "VATEX-EU-O"


@dataclass(frozen=True)
class TaxTreatment:
    """How one invoice line is taxed."""

    category: str  # EN 16931 VAT category code: S, AE, O, E or Z
    rate: Decimal  # percent, 2 decimals (Decimal("19.00")); 0.00 for AE, O, E and Z
    note: str | Promise  # printed on the invoice, lazily translated; "" when none is needed
    exemption_reason_code: str = ""  # VATEX code for the e-invoice (BT-121); "" when none applies


def rate_on(table: RateTable, service_date: date, *, country: str = "") -> Decimal:
    """The rate of an effective-dated table in force on `service_date`."""
    position = bisect_right([valid_from for valid_from, _rate in table], service_date)
    if position == 0:
        raise ValueError(f"no VAT rate of {country or 'this table'} is known for {service_date.isoformat()}")
    return table[position - 1][1]


def determine_tax(
    *, seller_country: str, buyer_country: str, buyer_vat_id: str, tax_category: str, service_date: date
) -> TaxTreatment:
    """The VAT treatment of a line sold by a DE, AT or CH seller, on the rules in the module docstring.

    `buyer_vat_id` only needs to be present: its format and check digits are
    validated where it is entered (konto.core.vatid). Raises ValueError for an
    unknown seller country, tax category or buyer country code, and for a date
    or destination the rate tables do not cover.
    """
    if seller_country not in SELLER_COUNTRIES:
        raise ValueError(f"unsupported seller country {seller_country!r}; expected one of DE, AT, CH")
    if tax_category not in TAX_CATEGORIES:
        raise ValueError(f"unknown tax category {tax_category!r}; expected standard, reduced or exempt")
    _check_country_code(buyer_country)
    if isinstance(service_date, datetime) or not isinstance(service_date, date):
        raise TypeError("service_date must be a calendar date, not a timestamp")

    if seller_country == "CH":
        if buyer_country not in SWISS_VAT_AREA:
            return _not_taxable()
        return _domestic_or_destination("CH", tax_category, service_date)

    if buyer_country == seller_country:
        return _domestic_or_destination(seller_country, tax_category, service_date)
    if buyer_country not in EU_COUNTRIES:
        return _not_taxable()
    if buyer_vat_id.strip():
        return TaxTreatment(REVERSE_CHARGE, ZERO_RATE, REVERSE_CHARGE_NOTE, VATEX_REVERSE_CHARGE)
    return _domestic_or_destination(buyer_country, tax_category, service_date)


def _domestic_or_destination(country: str, tax_category: str, service_date: date) -> TaxTreatment:
    """The treatment of a line taxed in `country` at that country's rates."""
    if tax_category == TAX_CATEGORY_EXEMPT:
        return TaxTreatment(EXEMPT, ZERO_RATE, EXEMPT_NOTE)
    tables = STANDARD_RATES if tax_category == TAX_CATEGORY_STANDARD else REDUCED_RATES
    if country not in tables:
        raise ValueError(f"no {tax_category} VAT rate table for {country}")
    return TaxTreatment(STANDARD_RATED, rate_on(tables[country], service_date, country=country), "")


def _not_taxable() -> TaxTreatment:
    return TaxTreatment(NOT_SUBJECT_TO_VAT, ZERO_RATE, NOT_TAXABLE_NOTE, VATEX_NOT_SUBJECT)


def _check_country_code(code: str) -> None:
    # ISO 3166-1 alpha-2 only: "EL" is Greece's VAT prefix, not its country code, and would
    # otherwise pass as a country outside the EU (not taxable) instead of Greece.
    if code == "EL":
        raise ValueError("buyer country 'EL' is Greece's VAT prefix; the country code is GR")
    if not (len(code) == 2 and code.isascii() and code.isalpha() and code.isupper()):
        raise ValueError(f"buyer country {code!r} is not an ISO 3166-1 alpha-2 code")
