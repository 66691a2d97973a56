"""VAT IDs: compact forms, check digits, foreign numbers, and messages naming the format."""

from __future__ import annotations

import pytest
from django.utils import translation

from konto.core.exceptions import InvalidInput
from konto.core.vatid import VAT_ID_EXAMPLES, expected_format, normalize_vat_id


@pytest.mark.parametrize(
    ("country", "value", "stored"),
    [
        ("DE", "DE136695976", "DE136695976"),
        ("DE", " de 136 695 976 ", "DE136695976"),
        ("DE", "DE-136.695.976", "DE136695976"),
        ("DE", "DE123456788", "DE123456788"),
        ("AT", "ATU13585627", "ATU13585627"),
        ("AT", "atu 135 856 27", "ATU13585627"),
        ("CH", "CHE-116.281.710 MWST", "CHE-116.281.710 MWST"),
        ("CH", "che116281710mwst", "CHE-116.281.710 MWST"),
        ("CH", "CHE-116.281.710 TVA", "CHE-116.281.710 TVA"),
        ("CH", "CHE 116 281 710 IVA", "CHE-116.281.710 IVA"),
        ("FR", "FR40303265045", "FR40303265045"),
        ("FR", "fr 40 303 265 045", "FR40303265045"),
        ("GR", "EL094259216", "EL094259216"),
        ("GR", "GR094259216", "EL094259216"),  # the ISO code is accepted, the VIES prefix is stored
        ("DE", "", ""),
        ("DE", "   ", ""),
        ("US", "", ""),  # no VAT ID is fine anywhere
    ],
)
def test_a_valid_vat_id_is_stored_in_its_compact_form(country, value, stored):
    assert normalize_vat_id(value, country) == stored


@pytest.mark.parametrize(
    ("country", "value", "message"),
    [
        (
            "DE",
            "DE136695975",
            "The VAT ID DE136695975 has a wrong check digit. Format: DE + 9 digits, e.g. DE123456788.",
        ),
        (
            "DE",
            "DE123456789",
            "The VAT ID DE123456789 has a wrong check digit. Format: DE + 9 digits, e.g. DE123456788.",
        ),
        ("DE", "DE13669597", "The VAT ID DE13669597 is not valid. Format: DE + 9 digits, e.g. DE123456788."),
        ("DE", "DEX36695976", "The VAT ID DEX36695976 is not valid. Format: DE + 9 digits, e.g. DE123456788."),
        ("DE", "136695976", "The VAT ID 136695976 is not valid. Format: DE + 9 digits, e.g. DE123456788."),
        (
            "DE",
            "ATU13585627",
            "The VAT ID ATU13585627 does not belong to the billing country. Format: DE + 9 digits, e.g. DE123456788.",
        ),
        (
            "AT",
            "ATU13585626",
            "The VAT ID ATU13585626 has a wrong check digit. Format: ATU + 8 digits, e.g. ATU13585627.",
        ),
        ("AT", "AT13585627", "The VAT ID AT13585627 is not valid. Format: ATU + 8 digits, e.g. ATU13585627."),
        (
            "AT",
            "DE136695976",
            "The VAT ID DE136695976 does not belong to the billing country. Format: ATU + 8 digits, e.g. ATU13585627.",
        ),
        (
            "CH",
            "CHE-116.281.711 MWST",
            "The VAT ID CHE-116.281.711 MWST has a wrong check digit. Format: CHE-123.456.789 MWST (or TVA / IVA).",
        ),
        (
            "CH",
            "CHE-116.281.710",
            "The VAT ID CHE-116.281.710 is not valid. Format: CHE-123.456.789 MWST (or TVA / IVA).",
        ),
        (
            "CH",
            "DE136695976",
            (
                "The VAT ID DE136695976 does not belong to the billing country. "
                "Format: CHE-123.456.789 MWST (or TVA / IVA)."
            ),
        ),
        (
            "FR",
            "FR41303265045",
            "The VAT ID FR41303265045 has a wrong check digit. Format: FR + national VAT number, e.g. FR40303265045.",
        ),
        (
            "GR",
            "EL094259217",
            "The VAT ID EL094259217 has a wrong check digit. Format: EL + national VAT number, e.g. EL094259216.",
        ),
        (
            "GR",
            "DE136695976",
            (
                "The VAT ID DE136695976 does not belong to the billing country. "
                "Format: EL + national VAT number, e.g. EL094259216."
            ),
        ),
        ("US", "US123456789", "VAT IDs are only recorded for EU and Swiss addresses."),
        ("GB", "GB980780684", "VAT IDs are only recorded for EU and Swiss addresses."),
        (
            "DE",
            "DE" + "1" * 60,
            "The VAT ID " + "DE" + "1" * 38 + "… is not valid. Format: DE + 9 digits, e.g. DE123456788.",
        ),
        ("DE", "DE13669597\x00", "The VAT ID DE13669597\x00 is not valid. Format: DE + 9 digits, e.g. DE123456788."),
    ],
)
def test_a_bad_vat_id_is_refused_with_a_message_naming_the_format(country, value, message):
    with translation.override("en"):
        with pytest.raises(InvalidInput) as refused:
            normalize_vat_id(value, country)
        # Lazy messages are rendered in the active language, so they are read inside the override.
        assert str(refused.value.message) == message
        assert {key: str(text) for key, text in refused.value.fields.items()} == {"vat_id": message}
    assert refused.value.code == "invalid_vat_id"
    assert refused.value.status == 422


def test_expected_formats_of_the_dach_countries():
    with translation.override("en"):
        assert [expected_format(country) for country in ["DE", "AT", "CH"]] == [
            "DE + 9 digits, e.g. DE123456788",
            "ATU + 8 digits, e.g. ATU13585627",
            "CHE-123.456.789 MWST (or TVA / IVA)",
        ]


def test_every_other_eu_country_has_a_valid_example():
    # Given the examples shown in messages, each is itself accepted unchanged
    assert len(VAT_ID_EXAMPLES) == 25
    for country, example in VAT_ID_EXAMPLES.items():
        assert normalize_vat_id(example, country) == example
