"""My Account home: edition, license usage, users, billing profile and alerts of the org."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from konto.accounts.models import LicenseType, Org
from konto.accounts.permissions import MANAGE_BILLING_CONTACTS, MANAGE_USERS
from konto.accounts.selectors import LicenseUsage, license_usage
from konto.core.countries import country_name
from konto.core.editions import Edition
from konto.portal.access import MyAccountMixin


@dataclass(frozen=True)
class Alert:
    level: str  # warn | danger | info: the banner's colour, always with text
    title: str
    text: str


def org_alerts(org: Org) -> list[Alert]:
    """Banners for the org's account status (overdue, suspended, closed)."""
    if org.status == Org.Status.OVERDUE:
        return [
            Alert(
                "warn",
                _("Payment overdue"),
                _("An invoice is overdue. Purchases are blocked until the open amount has been paid."),
            )
        ]
    if org.status == Org.Status.SUSPENDED:
        return [
            Alert(
                "danger",
                _("Account suspended"),
                _(
                    "Your account has been suspended because invoices remain unpaid. "
                    "Pay the open amount or contact us to restore access."
                ),
            )
        ]
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
            alerts=org_alerts(org),
            can_manage_users=MANAGE_USERS in self.permissions,
            can_edit_billing_profile=MANAGE_BILLING_CONTACTS in self.permissions,
            **kwargs,
        )
