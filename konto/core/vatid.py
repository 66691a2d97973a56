"""VAT identification numbers: format and check digits per country (python-stdnum)."""

from __future__ import annotations

from types import ModuleType

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from stdnum import exceptions as stdnum_exceptions
from stdnum.ch import vat as ch_vat
from stdnum.eu import vat as eu_vat

from konto.core.countries import EU_COUNTRIES
from konto.core.exceptions import InvalidInput

# Expected format shown to people, per country of the org.
VAT_ID_FORMATS = {
    "DE": _("DE + 9 digits, e.g. DE123456788"),
    "AT": _("ATU + 8 digits, e.g. ATU13585627"),
    "CH": _("CHE-123.456.789 MWST (or TVA / IVA)"),
}
GENERIC_EU_FORMAT = _("country prefix + national number, e.g. FR40303265045")
# One valid number per other EU country, for the format named in messages and help texts.
VAT_ID_EXAMPLES = {
    "BE": "BE0403019261",
    "BG": "BG175074752",
    "CY": "CY10259033P",
    "CZ": "CZ25123891",
    "DK": "DK13585628",
    "EE": "EE100931558",
    "ES": "ESB58378431",
    "FI": "FI20774740",
    "FR": "FR40303265045",
    "GR": "EL094259216",
    "HR": "HR33392005961",
    "HU": "HU12892312",
    "IE": "IE6433435F",
    "IT": "IT00743110157",
    "LT": "LT119511515",
    "LU": "LU15027442",
    "LV": "LV40003521600",
    "MT": "MT11679112",
    "NL": "NL004495445B01",
    "PL": "PL8567346215",
    "PT": "PT501964843",
    "RO": "RO18547290",
    "SE": "SE123456789701",
    "SI": "SI50223054",
    "SK": "SK2022749619",
}

# The prefix a VAT ID of the country starts with: stdnum and VIES use EL for Greece.
_VAT_PREFIX = {"GR": "EL", "CH": "CHE"}
_ECHO_LIMIT = 40  # characters of the entered value repeated in a message


def _module_for(country: str) -> ModuleType | None:
    if country == "CH":
        return ch_vat
    if country in EU_COUNTRIES:
        return eu_vat
    return None


def vat_prefix(country: str) -> str:
    return _VAT_PREFIX.get(country, country)


def expected_format(country: str) -> str:
    """How a VAT ID of `country` is written, for messages and help texts."""
    if country in VAT_ID_FORMATS:
        return str(VAT_ID_FORMATS[country])
    if country in VAT_ID_EXAMPLES:
        return str(
            _("%(prefix)s + national VAT number, e.g. %(example)s")
            % {"prefix": vat_prefix(country), "example": VAT_ID_EXAMPLES[country]}
        )
    return str(GENERIC_EU_FORMAT)


def _refuse(message: str | Promise) -> InvalidInput:
    return InvalidInput(message, code="invalid_vat_id", fields={"vat_id": message})


def normalize_vat_id(value: str, country: str) -> str:
    """Validate `value` as a VAT ID of `country` and return its compact form.

    Raises InvalidInput (code `invalid_vat_id`) naming the expected format when
    the number is malformed, has a wrong check digit or belongs to another
    country. An empty value means "no VAT ID" and returns "". Swiss numbers are
    returned in their official form (CHE-123.456.789 MWST), Greek ones with EL.
    """
    value = (value or "").strip()
    if not value:
        return ""
    module = _module_for(country)
    if module is None:
        raise _refuse(_("VAT IDs are only recorded for EU and Swiss addresses."))
    try:
        compact = str(module.compact(value))
    except stdnum_exceptions.ValidationError:
        compact = value.upper()
    if country == "GR" and compact.startswith("GR"):
        compact = "EL" + compact[2:]
    shown = value if len(value) <= _ECHO_LIMIT else value[:_ECHO_LIMIT] + "…"
    values = {"vat_id": shown, "format": expected_format(country)}
    prefix = vat_prefix(country)
    if not compact.startswith(prefix):
        if compact[:2].isalpha() and compact[:2].isascii():
            raise _refuse(
                _("The VAT ID %(vat_id)s does not belong to the billing country. Format: %(format)s.") % values
            )
        raise _refuse(_("The VAT ID %(vat_id)s is not valid. Format: %(format)s.") % values)
    try:
        module.validate(compact)
    except stdnum_exceptions.InvalidChecksum:
        raise _refuse(_("The VAT ID %(vat_id)s has a wrong check digit. Format: %(format)s.") % values) from None
    except stdnum_exceptions.ValidationError:
        raise _refuse(_("The VAT ID %(vat_id)s is not valid. Format: %(format)s.") % values) from None
    if country == "CH":
        return str(ch_vat.format(compact))
    return compact
