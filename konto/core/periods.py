"""Billing frequencies; the period arithmetic grows here (one pure module)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class BillingFrequency(models.TextChoices):
    MONTHLY = "monthly", _("Monthly")
    QUARTERLY = "quarterly", _("Quarterly")
    ANNUAL = "annual", _("Annual")


MONTHS_PER_PERIOD = {
    BillingFrequency.MONTHLY: 1,
    BillingFrequency.QUARTERLY: 3,
    BillingFrequency.ANNUAL: 12,
}
