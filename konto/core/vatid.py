"""VAT identification numbers: format and check digits per country (python-stdnum)."""

from __future__ import annotations

from types import ModuleType

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

# stdnum uses EL for Greece.
_VAT_PREFIX = {"GR": "EL"}


def _module_for(country: str) -> ModuleType | None:
    if country == "CH":
        return ch_vat
    if country in EU_COUNTRIES:
        return eu_vat
    return None


def expected_format(country: str) -> str:
    return str(VAT_ID_FORMATS.get(country, GENERIC_EU_FORMAT))


def normalize_vat_id(value: str, country: str) -> str:
    """Validate `value` as a VAT ID of `country` and return its compact form.

    Raises InvalidInput (code `invalid_vat_id`) naming the expected format when
    the number is malformed, has a wrong check digit or belongs to another
    country. An empty value means "no VAT ID" and returns "".
    """
    value = (value or "").strip()
    if not value:
        return ""
    module = _module_for(country)
    if module is None:
        raise InvalidInput(
            _("VAT IDs are only recorded for EU and Swiss addresses."),
            code="invalid_vat_id",
            fields={"vat_id": _("VAT IDs are only recorded for EU and Swiss addresses.")},
        )
    try:
        compact = module.compact(value)
    except stdnum_exceptions.ValidationError:
        compact = value.upper()
    prefix = _VAT_PREFIX.get(country, country)
    if country != "CH" and not compact.startswith(prefix):
        message = _("The VAT ID %(vat_id)s does not belong to the billing country. Format: %(format)s.") % {
            "vat_id": value,
            "format": expected_format(country),
        }
        raise InvalidInput(message, code="invalid_vat_id", fields={"vat_id": message})
    try:
        module.validate(compact)
    except stdnum_exceptions.InvalidChecksum:
        message = _("The VAT ID %(vat_id)s has a wrong check digit. Format: %(format)s.") % {
            "vat_id": value,
            "format": expected_format(country),
        }
        raise InvalidInput(message, code="invalid_vat_id", fields={"vat_id": message}) from None
    except stdnum_exceptions.ValidationError:
        message = _("The VAT ID %(vat_id)s is not valid. Format: %(format)s.") % {
            "vat_id": value,
            "format": expected_format(country),
        }
        raise InvalidInput(message, code="invalid_vat_id", fields={"vat_id": message}) from None
    if country == "CH":
        return str(ch_vat.format(compact))
    return str(compact)
