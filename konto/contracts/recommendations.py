"""Recommendations ("Recommended for you"): a few plain rules over what the org has and uses.

Rules, in the order they are shown:

- more licenses of the org's edition when at least 90 % of its Full seats are
  assigned (for Essentials only while it is below the limit of 10);
- Data Storage when the org has no storage add-on and at least 80 % of its
  Full seats are assigned;
- Inbox for Essentials orgs that do not have it yet.

A product is never recommended when the org's edition may not buy it or the
org's price book has no price for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.translation import gettext as _

from konto.accounts.models import LicenseType, Org
from konto.accounts.selectors import license_usage
from konto.catalog.models import Product
from konto.catalog.selectors import OrgProduct
from konto.contracts.models import Contract, ContractLine
from konto.contracts.services.pricing import ESSENTIALS_MAX_FULL_LICENSES
from konto.core.editions import Edition

DATA_STORAGE = "data-storage"
STORAGE_ADD_ONS = frozenset({"data-storage", "file-storage"})
INBOX = "inbox"
LICENSES_FULL_RATIO = 0.9  # recommend more licenses from 90 % assigned
STORAGE_USAGE_RATIO = 0.8  # recommend storage from 80 % of Full seats assigned


@dataclass(frozen=True)
class Recommendation:
    product: OrgProduct
    reason: str  # one sentence, translated, saying why


def recommend_products(*, org: Org, products: Sequence[OrgProduct]) -> list[Recommendation]:
    """What to suggest to `org` among `products` (from `products_for_org`); two queries."""
    buyable = {item.product.code: item for item in products if item.may_buy and item.prices}
    owned = set(
        ContractLine.objects.filter(org=org, contract__status=Contract.Status.ACTIVE)
        .values_list("product__code", flat=True)
        .distinct()
    )
    full = next(usage for usage in license_usage(org=org) if usage.license_type == LicenseType.FULL)
    usage_ratio = full.assigned / full.total if full.total else 0.0
    result: list[Recommendation] = []

    license_product = next(
        (
            item
            for item in buyable.values()
            if item.product.kind == Product.Kind.EDITION and item.product.edition == org.edition
        ),
        None,
    )
    below_limit = org.edition != Edition.ESSENTIALS or full.total < ESSENTIALS_MAX_FULL_LICENSES
    if license_product is not None and full.total and usage_ratio >= LICENSES_FULL_RATIO and below_limit:
        result.append(
            Recommendation(
                license_product,
                _("%(assigned)d of your %(total)d Full licenses are assigned. Add licenses before you run out.")
                % {"assigned": full.assigned, "total": full.total},
            )
        )
    if DATA_STORAGE in buyable and not owned & STORAGE_ADD_ONS and full.total and usage_ratio >= STORAGE_USAGE_RATIO:
        result.append(
            Recommendation(
                buyable[DATA_STORAGE],
                _("Your team is growing: more users store more records. Extra storage keeps you clear of the limit."),
            )
        )
    if org.edition == Edition.ESSENTIALS and INBOX in buyable and INBOX not in owned:
        result.append(
            Recommendation(
                buyable[INBOX],
                _("Send and track email from the CRM: most Essentials teams add Inbox first."),
            )
        )
    return result
