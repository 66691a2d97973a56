"""Leitweg-ID (German public-sector buyer reference): format and check digits."""

from __future__ import annotations

import re

from django.utils.translation import gettext_lazy as _

from konto.core.exceptions import InvalidInput

# Coarse address (2–12 digits), optional fine address (1–30 letters/digits), 2 check digits.
_PATTERN = re.compile(r"^(\d{2,12})(?:-([A-Za-z0-9]{1,30}))?-(\d{2})$")


def _mod97_check_digits(body: str) -> str:
    digits = "".join(str(int(char, 36)) for char in body.upper())
    return f"{98 - int(digits + '00') % 97:02d}"


def normalize_leitweg_id(value: str) -> str:
    """Return the Leitweg-ID in canonical form (upper case) or raise InvalidInput.

    The check digits follow ISO/IEC 7064 MOD 97-10 over the coarse and fine
    address, as the KoSIT specification requires. An empty value means none.
    """
    value = (value or "").strip()
    if not value:
        return ""
    match = _PATTERN.match(value)
    if match is None:
        message = _("The Leitweg-ID %(value)s has the wrong format. Format: 04011000-1234512345-06.") % {
            "value": value[:60]
        }
        raise InvalidInput(message, code="invalid_buyer_reference", fields={"buyer_reference": message})
    coarse, fine, check = match.groups()
    if _mod97_check_digits(coarse + (fine or "")) != check:
        message = _("The Leitweg-ID %(value)s has wrong check digits.") % {"value": value}
        raise InvalidInput(message, code="invalid_buyer_reference", fields={"buyer_reference": message})
    return value.upper()
