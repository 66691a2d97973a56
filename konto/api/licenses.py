"""GET /licenses: bought, assigned and free licenses per license type."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router

from konto.accounts.selectors import license_usage
from konto.api.auth import org_of
from konto.api.schemas import LicenseList, LicenseOut

router = Router(tags=["licenses"])


@router.get("/licenses", response=LicenseList, summary="License usage per license type")
def list_licenses(request: HttpRequest) -> LicenseList:
    """Per license type (`full`, `identity`): seats the org may assign, seats assigned, seats free."""
    return LicenseList(items=[LicenseOut.of(usage) for usage in license_usage(org=org_of(request))])
