"""Billable countries: names in German and English, order, EU membership, formatting locales."""

from __future__ import annotations

import pytest
from django.utils import translation

from konto.core.countries import (
    COUNTRIES,
    EU_COUNTRIES,
    babel_locale,
    country_choices,
    country_name,
    is_eu,
    is_supported_country,
)


@pytest.mark.parametrize(
    ("code", "german", "english"),
    [
        ("DE", "Deutschland", "Germany"),
        ("AT", "Österreich", "Austria"),
        ("CH", "Schweiz", "Switzerland"),
        ("LI", "Liechtenstein", "Liechtenstein"),
        ("GR", "Griechenland", "Greece"),
        ("GB", "Vereinigtes Königreich", "United Kingdom"),
        ("US", "Vereinigte Staaten", "United States"),
    ],
)
def test_country_names_in_german_and_english(code, german, english):
    assert country_name(code, "de") == german
    assert country_name(code, "en") == english


def test_country_name_follows_the_active_language():
    with translation.override("de"):
        assert country_name("CH") == "Schweiz"
    with translation.override("en"):
        assert country_name("CH") == "Switzerland"


def test_an_unknown_code_is_shown_as_it_is():
    assert country_name("XX", "de") == "XX"


def test_the_billable_countries_are_the_eu_and_five_more():
    assert len(EU_COUNTRIES) == 27
    assert set(COUNTRIES) == EU_COUNTRIES | {"CH", "LI", "NO", "GB", "US"}
    assert len(COUNTRIES) == 32


@pytest.mark.parametrize(("code", "supported"), [("DE", True), ("CH", True), ("de", False), ("XX", False), ("", False)])
def test_is_supported_country_takes_upper_case_iso_codes(code, supported):
    assert is_supported_country(code) is supported


@pytest.mark.parametrize(("code", "eu"), [("DE", True), ("AT", True), ("GR", True), ("CH", False), ("GB", False)])
def test_is_eu(code, eu):
    assert is_eu(code) is eu


def test_german_choices_are_sorted_like_a_dictionary():
    names = [name for _code, name in country_choices("de")]
    # Umlauts sort with their base letter: Dänemark before Deutschland, Österreich among the O's
    assert names[:5] == ["Belgien", "Bulgarien", "Dänemark", "Deutschland", "Estland"]
    assert names.index("Österreich") == names.index("Norwegen") + 1
    assert names[-1] == "Zypern"
    assert len(names) == 32


def test_english_choices_are_sorted_by_english_name():
    choices = country_choices("en")
    assert choices[:3] == [("AT", "Austria"), ("BE", "Belgium"), ("BG", "Bulgaria")]
    assert choices[-1] == ("US", "United States")


@pytest.mark.parametrize(
    ("language", "country", "locale"),
    [
        ("de", "DE", "de_DE"),
        ("de", "AT", "de_AT"),
        ("de", "CH", "de_CH"),
        ("de", "FR", "de_DE"),
        ("de", "LI", "de_DE"),
        ("en", "DE", "en"),
        ("en", "CH", "en"),
    ],
)
def test_babel_locale_for_language_and_org_country(language, country, locale):
    assert babel_locale(language, country) == locale
