"""Bought seats in an org's license pools, kept current by the contracts that sell them."""

from __future__ import annotations

from django.db import transaction

from konto.accounts.models import LicensePool, LicenseType, Org


def add_purchased_seats(*, org: Org, license_type: str, seats: int) -> LicensePool:
    """Add bought seats of one license type to the org's pool (part of the caller's transaction).

    Called by the service that sells the seats, inside its own durable
    transaction, after it has locked the org row.
    """
    if license_type not in LicenseType.values:
        raise ValueError(f"unknown license type {license_type!r}")
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("add_purchased_seats must run inside the selling transaction")
    pool, _created = LicensePool.objects.select_for_update().get_or_create(org=org, license_type=license_type)
    pool.purchased_seats += seats
    pool.save(update_fields=["purchased_seats"])
    return pool
