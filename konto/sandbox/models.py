"""What the sandbox gateway's "servers" remember: card setups, tokenised cards, charges and refunds.

Like a real processor's vault, seen from Konto's side: a card is a token with
brand, last 4 digits, expiry and the test behaviour its number stands for.
The card number, the CVC and the holder's name are never stored.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from konto.sandbox.cards import Behaviour

MONEY: dict[str, Any] = {"max_digits": 14, "decimal_places": 2}


class SandboxCard(models.Model):
    """A tokenised test card. `is_active` once its setup succeeded; detaching ends it."""

    token = models.CharField(max_length=64, unique=True)  # "pm_sb_…", the method_ref Konto keeps
    customer_ref = models.CharField(max_length=64)  # "cus_sb_…"
    brand = models.CharField(max_length=20)
    last4 = models.CharField(max_length=4)
    exp_month = models.PositiveSmallIntegerField()  # 1..12
    exp_year = models.PositiveSmallIntegerField()  # four digits
    behaviour = models.CharField(max_length=20, choices=Behaviour.choices)
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    detached_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(exp_month__gte=1, exp_month__lte=12), name="sandbox_card_exp_month"),
            models.CheckConstraint(condition=Q(behaviour__in=Behaviour.values), name="sandbox_card_behaviour_known"),
        ]

    def __str__(self) -> str:
        return f"{self.token} {self.brand} •••• {self.last4}"


class SandboxSetup(models.Model):
    """One visit to the hosted card page: started by Konto, finished by the browser."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for card details")
        REQUIRES_ACTION = "requires_action", _("Waiting for 3-D Secure confirmation")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    ref = models.CharField(max_length=64, unique=True)  # "seti_sb_…", in the page's URL
    org_ref = models.CharField(max_length=64)  # the org's public id, as Konto passed it
    customer_ref = models.CharField(max_length=64)
    return_url = models.URLField(max_length=1000)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    card = models.ForeignKey(SandboxCard, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    failure_code = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.ref} {self.status}"


class SandboxCharge(models.Model):
    """One charge of a card. Unique per idempotency key: asking again returns this row, never a second charge."""

    class Status(models.TextChoices):
        REQUIRES_ACTION = "requires_action", _("Waiting for 3-D Secure confirmation")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    ref = models.CharField(max_length=64, unique=True)  # "pi_sb_…", Konto's gateway_ref
    idempotency_key = models.CharField(max_length=255, unique=True)
    card = models.ForeignKey(SandboxCard, on_delete=models.PROTECT, related_name="charges")
    customer_ref = models.CharField(max_length=64, blank=True)
    amount = models.DecimalField(**MONEY)  # gross, in `currency`, > 0
    amount_refunded = models.DecimalField(default=0, **MONEY)
    currency = models.CharField(max_length=3)
    description = models.CharField(max_length=300, blank=True)
    is_on_session = models.BooleanField(default=False)  # the customer is at the screen (may be challenged)
    return_url = models.URLField(max_length=1000, blank=True)  # where the challenge page sends the browser
    status = models.CharField(max_length=20, choices=Status.choices)
    failure_code = models.CharField(max_length=40, blank=True)
    failure_message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="sandbox_charge_amount_positive"),
            models.CheckConstraint(
                condition=Q(amount_refunded__gte=0, amount_refunded__lte=F("amount")),
                name="sandbox_charge_refund_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ref} {self.amount} {self.currency} {self.status}"


class SandboxRefund(models.Model):
    """Money returned on a succeeded charge; unique per idempotency key."""

    ref = models.CharField(max_length=64, unique=True)  # "re_sb_…"
    idempotency_key = models.CharField(max_length=255, unique=True)
    charge = models.ForeignKey(SandboxCharge, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(**MONEY)  # > 0, in the charge's currency
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="sandbox_refund_amount_positive")]

    def __str__(self) -> str:
        return f"{self.ref} {self.amount}"
