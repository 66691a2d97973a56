"""Back-office use cases of vendor staff: creating orgs, their commercial terms, license pools, staff roles.

Each function that changes an org is one durable transaction that locks the
org row and writes an audit event. Billing-profile changes of an existing org
go through `accounts.services.billing_profile.update_billing_profile`, like in
My Account.
"""

from __future__ import annotations

import string
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils.translation import gettext as _

from konto.accounts.models import LicensePool, LicenseType, Org, Segment, User, Vendor
from konto.accounts.services.billing_profile import BILLING_PROFILE_FIELDS, clean_billing_profile
from konto.backoffice.roles import GROUP_NAMES, sync_staff_groups
from konto.core.audit import Actor, record_event
from konto.core.editions import Edition
from konto.core.exceptions import InvalidInput

PROFILE_FIELDS = BILLING_PROFILE_FIELDS
TERMS_FIELDS = ("segment", "edition", "status", "account_executive")


# ---------------------------------------------------------------- validation


def clean_org_profile(values: dict[str, Any]) -> dict[str, Any]:
    """Validate a new org's billing profile with the same rules as `update_billing_profile`."""
    return clean_billing_profile(values, current=None)


def clean_org_terms(values: dict[str, Any]) -> dict[str, Any]:
    """Validate segment, edition, status and account executive (active vendor staff in the AE role)."""
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    choices = {"segment": Segment.values, "edition": Edition.values, "status": Org.Status.values}
    for field, allowed in choices.items():
        if field in values:
            if values[field] not in allowed:
                errors[field] = _("Choose one of the listed values.")
            else:
                cleaned[field] = values[field]
    if "account_executive" in values:
        executive = values["account_executive"]
        if executive is not None and not (
            isinstance(executive, User)
            and executive.is_active
            and executive.is_staff
            and executive.org_id is None
            and executive.staff_role == User.StaffRole.ACCOUNT_EXECUTIVE
        ):
            errors["account_executive"] = _("Choose an active account executive of the vendor.")
        else:
            cleaned["account_executive"] = executive
    if errors:
        raise InvalidInput(_("Please correct the marked fields."), fields=dict(errors))
    return cleaned


def _terms_snapshot(org: Org) -> dict[str, Any]:
    executive = org.account_executive
    return {
        "segment": org.segment,
        "edition": org.edition,
        "status": org.status,
        "account_executive": executive.email if executive else None,
    }


# ---------------------------------------------------------------- orgs


@transaction.atomic(durable=True)
def create_org(*, actor: Actor, profile: dict[str, Any], terms: dict[str, Any]) -> Org:
    """Create a customer org with its license pools: no Full seats yet, the free Identity licenses.

    Full seats come from what the org buys (or are set by staff on the org);
    every org gets KONTO_IDENTITY_FREE_LICENSES Identity licenses for free.
    """
    cleaned_profile = clean_org_profile(profile)
    cleaned_terms = clean_org_terms(terms)
    org = Org.objects.create(**cleaned_profile, **cleaned_terms)
    LicensePool.objects.create(org=org, license_type=LicenseType.FULL)
    LicensePool.objects.create(
        org=org, license_type=LicenseType.IDENTITY, free_seats=settings.KONTO_IDENTITY_FREE_LICENSES
    )
    record_event(
        actor=actor,
        org_id=org.pk,
        action="org.created",
        object_type="org",
        object_id=org.public_id,
        after={**cleaned_profile, **_terms_snapshot(org)},
    )
    return org


@transaction.atomic(durable=True)
def change_org_terms(*, org: Org, actor: Actor, changes: dict[str, Any]) -> Org:
    """Change what the vendor decides about an org: segment, edition, status, account executive."""
    unknown = sorted(set(changes) - set(TERMS_FIELDS))
    if unknown:
        message = _("Unknown field: %(fields)s.") % {"fields": ", ".join(unknown)}
        raise InvalidInput(message, code="unknown_field", fields=dict.fromkeys(unknown, message))
    cleaned = clean_org_terms(changes)
    org = Org.objects.select_for_update(of=("self",)).select_related("account_executive").get(pk=org.pk)
    before = _terms_snapshot(org)
    for field, value in cleaned.items():
        setattr(org, field, value)
    org.save(update_fields=[*cleaned, "updated_at"])
    after = _terms_snapshot(org)
    if before != after:
        record_event(
            actor=actor,
            org_id=org.pk,
            action="org.terms_changed",
            object_type="org",
            object_id=org.public_id,
            before={k: v for k, v in before.items() if after[k] != v},
            after={k: v for k, v in after.items() if before[k] != v},
        )
    return org


def assigned_licenses(*, org: Org, license_type: str) -> int:
    """Active users of the org holding this license type."""
    return User.objects.filter(org=org, license_type=license_type, is_active=True).count()


def check_license_seats(*, org: Org, license_type: str, free_seats: int, purchased_seats: int) -> None:
    """Refuse seat numbers below zero or below the licenses assigned right now."""
    if license_type not in LicenseType.values:
        message = _("Choose a license type: Full or Identity.")
        raise InvalidInput(message, code="invalid_license_type", fields={"license_type": message})
    if free_seats < 0 or purchased_seats < 0:
        message = _("Seats cannot be negative.")
        raise InvalidInput(message, code="invalid_seats", fields={"free_seats": message})
    assigned = assigned_licenses(org=org, license_type=license_type)
    if free_seats + purchased_seats < assigned:
        message = _(
            "%(assigned)d users hold a %(type)s license; free and bought seats together cannot be fewer. "
            "Deactivate users first."
        ) % {"assigned": assigned, "type": LicenseType(license_type).label}
        raise InvalidInput(message, code="seats_below_assigned", fields={"free_seats": message})


@transaction.atomic(durable=True)
def set_license_seats(
    *, org: Org, actor: Actor, license_type: str, free_seats: int, purchased_seats: int
) -> LicensePool:
    """Set an org's free and bought seats of one license type (a correction by vendor staff)."""
    org = Org.objects.select_for_update().get(pk=org.pk)
    check_license_seats(org=org, license_type=license_type, free_seats=free_seats, purchased_seats=purchased_seats)
    pool, created = LicensePool.objects.get_or_create(org=org, license_type=license_type)
    before = {"free_seats": pool.free_seats, "purchased_seats": pool.purchased_seats}
    after = {"free_seats": free_seats, "purchased_seats": purchased_seats}
    if created or before != after:
        pool.free_seats = free_seats
        pool.purchased_seats = purchased_seats
        pool.save(update_fields=["free_seats", "purchased_seats"])
        record_event(
            actor=actor,
            org_id=org.pk,
            action="license_pool.changed",
            object_type="org",
            object_id=org.public_id,
            before={"license_type": license_type, **before},
            after={"license_type": license_type, **after},
        )
    return pool


# ---------------------------------------------------------------- staff


def assign_role_group(user: User) -> None:
    """Put vendor staff into the group of their staff role and out of the other role groups."""
    wanted_name = GROUP_NAMES.get(user.staff_role) if user.is_staff and user.org_id is None else None
    if wanted_name is not None and not Group.objects.filter(name=wanted_name).exists():
        sync_staff_groups()
    role_groups = list(Group.objects.filter(name__in=GROUP_NAMES.values()))
    user.groups.remove(*[g for g in role_groups if g.name != wanted_name])
    user.groups.add(*[g for g in role_groups if g.name == wanted_name])


# ---------------------------------------------------------------- number formats

NUMBER_FORMAT_FIELDS = {"invoice": "invoice_number_format", "credit_note": "credit_note_number_format"}
MAX_NUMBER_LENGTH = 30  # of a formatted number; e-invoice ids and the PDF layout allow no more


def clean_number_format(value: str) -> str:
    """A number format with {seq} (a format spec such as {seq:06} allowed), optionally {year}, nothing else."""
    value = (value or "").strip()
    message = _("Use {seq} and optionally {year}, e.g. RE-{year}-{seq:06}; no other placeholders.")
    try:
        names = {name for _text, name, _spec, _conversion in string.Formatter().parse(value) if name is not None}
        sample = value.format(year=2026, seq=123456)
    except (KeyError, IndexError, ValueError):
        raise InvalidInput(message, code="invalid_number_format", fields={"number_format": message}) from None
    if "seq" not in names or not names <= {"seq", "year"}:
        raise InvalidInput(message, code="invalid_number_format", fields={"number_format": message})
    if len(sample) > MAX_NUMBER_LENGTH or any(ord(character) < 32 for character in sample):
        too_long = _("Numbers in this format would be longer than %(max)d characters.") % {"max": MAX_NUMBER_LENGTH}
        raise InvalidInput(too_long, code="invalid_number_format", fields={"number_format": too_long})
    return value


@transaction.atomic
def set_number_format(*, series: str, number_format: str, actor: Actor) -> Vendor:
    """Change the format of a number series (stored on the vendor); numbers already issued keep theirs."""
    field = NUMBER_FORMAT_FIELDS.get(series)
    if field is None:
        message = _("This series has no configurable format.")
        raise InvalidInput(message, code="unknown_series")
    cleaned = clean_number_format(number_format)
    vendor = Vendor.objects.select_for_update().order_by("pk").first()
    if vendor is None:
        raise InvalidInput(_("Enter the vendor's company data first."), code="vendor_missing")
    before = getattr(vendor, field)
    if before != cleaned:
        setattr(vendor, field, cleaned)
        vendor.save(update_fields=[field])
        record_event(
            actor=actor,
            org_id=None,
            action="number_series.format_changed",
            object_type="number_series",
            object_id=series,
            before={"number_format": before},
            after={"number_format": cleaned},
        )
    return vendor
