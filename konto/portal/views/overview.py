"""My Account home: edition, license usage, users, open balance, billing profile and alerts of the org."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from konto.accounts.models import LicenseType, Org
from konto.accounts.permissions import MANAGE_BILLING_CONTACTS, MANAGE_USERS, PAY_INVOICES
from konto.accounts.selectors import LicenseUsage, license_usage
from konto.core.countries import country_name
from konto.core.editions import Edition
from konto.payments import selectors as payment_selectors
from konto.portal.access import MyAccountMixin
from konto.portal.views.payment_methods import card_expiry_alerts


@dataclass(frozen=True)
class Alert:
    level: str  # warn | danger | info: the banner's colour, always with text
    title: str
    text: str


def org_alerts(org: Org) -> list[Alert]:
    """Overview alerts of the org's account status; overdue and suspended are banners on every page (base.html)."""
    if org.status == Org.Status.CLOSED:
        return [Alert("info", _("Account closed"), _("This account is closed. Your data is kept read-only."))]
    return []


@dataclass(frozen=True)
class UsageRow:
    """One license type as drawn on the page: the bar, and the same numbers as text."""

    usage: LicenseUsage

    @property
    def bought(self) -> int:
        return max(self.usage.total - self.usage.free_seats, 0)

    @property
    def is_full(self) -> bool:
        return self.usage.total > 0 and self.usage.assigned >= self.usage.total

    @property
    def is_over(self) -> bool:
        return self.usage.assigned > self.usage.total

    @property
    def description(self) -> str:
        if self.usage.license_type == LicenseType.IDENTITY:
            return _("Access to My Account only, for billing contacts.")
        return _("Use of the product, one per person.")


class OverviewView(MyAccountMixin, TemplateView):
    template_name = "portal/overview.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        org = self.org
        usage = license_usage(org=org)
        return super().get_context_data(
            org=org,
            edition_label=Edition(org.edition).label,
            usage_rows=[UsageRow(row) for row in usage],
            # Every active org user holds exactly one license, so assigned seats count them.
            active_user_count=sum(row.assigned for row in usage),
            country=country_name(org.country),
            alerts=[
                *org_alerts(org),
                *card_expiry_alerts(org=org, permissions=self.permissions, today=timezone.localdate()),
            ],
            can_manage_users=MANAGE_USERS in self.permissions,
            can_edit_billing_profile=MANAGE_BILLING_CONTACTS in self.permissions,
            # {currency: gross still open}; only the currencies with something open.
            open_balance={
                currency: amount for currency, amount in payment_selectors.open_balance(org=org).items() if amount
            },
            can_pay=PAY_INVOICES in self.permissions,
            **kwargs,
        )
