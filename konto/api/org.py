"""GET and PATCH /org: the org's billing profile."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router

from konto.accounts.actors import actor_from_request
from konto.accounts.permissions import MANAGE_BILLING_CONTACTS
from konto.accounts.services.billing_profile import update_billing_profile
from konto.api.auth import org_of, require_permission
from konto.api.schemas import OrgOut, OrgPatch
from konto.core.exceptions import KontoError

router = Router(tags=["org"])

# Billing profile fields as the service names them → as the API names them.
API_FIELD_NAMES = {
    "street": "address.street",
    "address_line2": "address.line2",
    "postal_code": "address.postal_code",
    "city": "address.city",
    "country": "address.country",
}
# Address members as the API names them → as the service names them.
_ADDRESS_FIELDS = {
    "street": "street",
    "line2": "address_line2",
    "postal_code": "postal_code",
    "city": "city",
    "country": "country",
}


@router.get("/org", response=OrgOut, summary="The org's billing profile")
def get_org(request: HttpRequest) -> OrgOut:
    """The billing profile of the token's org: legal name, address, VAT ID, currency, language, edition."""
    return OrgOut.of(org_of(request))


@router.patch("/org", response=OrgOut, summary="Change the billing profile")
def patch_org(request: HttpRequest, payload: OrgPatch) -> OrgOut:
    """Change any subset of the billing profile; members left out stay unchanged.

    Needs the permission `manage_billing_contacts`. Every member is validated
    before anything is saved: the VAT ID (python-stdnum, against the new or
    current country), the country (ISO code of a billable country), the
    currency (`EUR` or `CHF`; fixed once invoices exist) and the language
    (`de` or `en`). A refusal is 422 with one field error per bad member and
    leaves the org unchanged.
    """
    require_permission(request, MANAGE_BILLING_CONTACTS)
    try:
        org = update_billing_profile(
            org=org_of(request), actor=actor_from_request(request), changes=service_changes(payload)
        )
    except KontoError as error:
        error.fields = {API_FIELD_NAMES.get(field, field): message for field, message in error.fields.items()}
        raise
    return OrgOut.of(org)


def service_changes(payload: OrgPatch) -> dict[str, Any]:
    """The members the client sent, named as the service names the Org's fields."""
    sent = payload.model_dump(exclude_unset=True)
    address = sent.pop("address", None) or {}
    return {**sent, **{_ADDRESS_FIELDS[key]: value for key, value in address.items()}}
