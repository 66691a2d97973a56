"""The org's billing profile: one validation for My Account, the API and new orgs, and the audited change."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from konto.accounts.exceptions import CurrencyLocked, InvalidInput
from konto.accounts.models import Org
from konto.accounts.services._common import _clean_email, _has_control_characters, _lock_org
from konto.core.audit import Actor, record_event
from konto.core.countries import is_supported_country
from konto.core.money import Currency
from konto.core.vatid import normalize_vat_id

BILLING_PROFILE_FIELDS = (
    "legal_name",
    "street",
    "address_line2",
    "postal_code",
    "city",
    "country",
    "vat_id",
    "billing_email",
    "currency",
    "language",
)
_MAX_LENGTHS = {
    "legal_name": 200,
    "street": 200,
    "address_line2": 200,
    "postal_code": 20,
    "city": 100,
    "billing_email": 254,
}
_REQUIRED = {"legal_name", "street", "postal_code", "city", "country"}


def _profile_snapshot(org: Org) -> dict[str, Any]:
    return {field: getattr(org, field) for field in BILLING_PROFILE_FIELDS}


def clean_billing_profile(changes: Mapping[str, Any], *, current: Org | None) -> dict[str, Any]:
    """Validate billing-profile fields; return them cleaned or raise InvalidInput with every error.

    With `current` the changes are partial edits of that org; without it they
    describe a new org, so the required fields must be present and currency and
    language default to EUR and German. The VAT ID is checked against the (new)
    country with python-stdnum and returned in compact form.
    """
    if not isinstance(changes, Mapping):
        raise InvalidInput(_("Send the billing profile fields to change."), code="invalid_input")
    unknown = {str(field) for field in changes} - set(BILLING_PROFILE_FIELDS)
    if unknown:
        message = _("Unknown field: %(fields)s.") % {"fields": ", ".join(sorted(unknown))}
        raise InvalidInput(message, code="unknown_field", fields=dict.fromkeys(sorted(unknown), message))
    if current is None:
        changes = (
            dict.fromkeys(BILLING_PROFILE_FIELDS, "")
            | {"currency": "EUR", "language": "de"}
            | {field: value for field, value in changes.items() if value not in (None, "")}
        )
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    for field, value in changes.items():
        if value is None:
            value = ""
        if not isinstance(value, str):
            errors[field] = _("Enter text.")
            continue
        value = value.strip()
        if field in _REQUIRED and not value:
            errors[field] = _("This field is required.")
        elif field in _MAX_LENGTHS and len(value) > _MAX_LENGTHS[field]:
            errors[field] = _("Use at most %(max)d characters.") % {"max": _MAX_LENGTHS[field]}
        elif _has_control_characters(value):
            errors[field] = _("Remove line breaks and control characters.")
        cleaned[field] = value
    if "country" in cleaned and "country" not in errors:
        cleaned["country"] = cleaned["country"].upper()
        if not is_supported_country(cleaned["country"]):
            errors["country"] = _("Choose a country from the list.")
    if "billing_email" in cleaned and cleaned["billing_email"] and "billing_email" not in errors:
        try:
            cleaned["billing_email"] = _clean_email(cleaned["billing_email"])
        except InvalidInput:
            errors["billing_email"] = _("Enter a valid email address, e.g. name@example.com.")
    if "currency" in cleaned and "currency" not in errors:
        cleaned["currency"] = cleaned["currency"].upper()
        if cleaned["currency"] not in Currency.values:
            errors["currency"] = _("Choose EUR or CHF.")
        elif current is not None and cleaned["currency"] != current.currency and current.is_currency_locked:
            errors["currency"] = str(
                CurrencyLocked(_("The currency cannot change once invoices have been issued.")).message
            )
    if "language" in cleaned and "language" not in errors and cleaned["language"] not in ("de", "en"):
        errors["language"] = _("Choose German or English.")
    current_country = current.country if current is not None else ""
    current_vat_id = current.vat_id if current is not None else ""
    country = cleaned.get("country", current_country) if "country" not in errors else current_country
    if ("vat_id" in cleaned or "country" in cleaned) and "vat_id" not in errors and "country" not in errors:
        try:
            cleaned["vat_id"] = normalize_vat_id(cleaned.get("vat_id", current_vat_id), country)
        except InvalidInput as error:
            errors["vat_id"] = str(error.fields.get("vat_id", error.message))
    if errors:
        code = "invalid_vat_id" if set(errors) == {"vat_id"} else "invalid_input"
        raise InvalidInput(_("Please correct the marked fields."), code=code, fields=dict(errors))
    return cleaned


@transaction.atomic(durable=True)
def update_billing_profile(*, org: Org, actor: Actor, changes: dict[str, Any]) -> Org:
    """Change the org's billing profile; every field is validated before anything is saved.

    Raises InvalidInput with all field errors at once (see clean_billing_profile).
    Only changed fields are saved and audited; an unchanged submission writes nothing.
    """
    org = _lock_org(org)
    cleaned = clean_billing_profile(changes, current=org)
    before = _profile_snapshot(org)
    for field, value in cleaned.items():
        setattr(org, field, value)
    after = _profile_snapshot(org)
    if before != after:
        org.save(update_fields=[*(field for field in after if after[field] != before[field]), "updated_at"])
        record_event(
            actor=actor,
            org_id=org.pk,
            action="org.billing_profile_changed",
            object_type="org",
            object_id=org.public_id,
            before={k: v for k, v in before.items() if after[k] != v},
            after={k: v for k, v in after.items() if before[k] != v},
        )
    return org
