"""Countries Konto can bill to, with names in the active language."""

from __future__ import annotations

import unicodedata

from babel import Locale
from django.utils import translation

EU_COUNTRIES = frozenset(
    {
        "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
        "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
    }
)  # fmt: skip
# Billable countries: the EU, the rest of DACH and the main non-EU markets.
COUNTRIES = tuple(sorted(EU_COUNTRIES | {"CH", "LI", "NO", "GB", "US"}))


def is_supported_country(code: str) -> bool:
    return code in COUNTRIES


def is_eu(code: str) -> bool:
    return code in EU_COUNTRIES


def country_name(code: str, language: str | None = None) -> str:
    """The country's name in `language` (default: the active language)."""
    locale = Locale.parse(language or translation.get_language() or "de", sep="-")
    return str(locale.territories.get(code, code))


def collation_key(text: str) -> str:
    """Sort key for names as a dictionary orders them: Ä with A, Ö with O (DIN 5007-1), case ignored."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def country_choices(language: str | None = None) -> list[tuple[str, str]]:
    """(code, name) pairs sorted by name in the given or active language ("Österreich" among the O's)."""
    return sorted(((code, country_name(code, language)) for code in COUNTRIES), key=lambda pair: collation_key(pair[1]))


def babel_locale(language: str, country: str) -> str:
    """The formatting locale for a UI language and an org's country.

    German follows the country (de_DE, de_AT, de_CH; de_DE elsewhere); English
    uses plain `en`, which formats like en_US but with ISO dates in forms.
    """
    if language == "de":
        return f"de_{country}" if country in {"DE", "AT", "CH"} else "de_DE"
    return "en"
