"""Contracts, their lines (subscriptions), charges per billing period, and orders."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from konto.core.ids import PublicIdField
from konto.core.money import Currency
from konto.core.periods import BillingFrequency


class PaymentMethodKind(models.TextChoices):
    CARD = "card", _("Card")
    SEPA_DEBIT = "sepa_debit", _("SEPA Direct Debit")
    BANK_TRANSFER = "bank_transfer", _("Bank transfer")


class Contract(models.Model):
    """An org's agreement for a term [start_date, end_date)."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        EXPIRED = "expired", _("Expired")
        CANCELLED = "cancelled", _("Cancelled")

    public_id = PublicIdField(prefix="ctr")
    org = models.ForeignKey("accounts.Org", on_delete=models.PROTECT, related_name="contracts")
    number = models.CharField(_("contract number"), max_length=32)  # unique per org, e.g. "V-1001"
    start_date = models.DateField(_("start"))
    end_date = models.DateField(_("end"))  # exclusive: the first day no longer covered
    billing_frequency = models.CharField(_("billing frequency"), max_length=10, choices=BillingFrequency.choices)
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices)
    payment_terms_days = models.PositiveSmallIntegerField(_("payment terms (days)"), default=14)
    payment_method_kind = models.CharField(_("payment method"), max_length=20, choices=PaymentMethodKind.choices)
    auto_renew = models.BooleanField(_("auto-renew"), default=True)
    notice_period_days = models.PositiveSmallIntegerField(_("notice period (days)"), default=30)
    po_number = models.CharField(_("PO number"), max_length=35, blank=True)
    buyer_reference = models.CharField(_("Leitweg-ID"), max_length=46, blank=True)  # format-checked
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("contract")
        verbose_name_plural = _("contracts")
        ordering = ["-start_date", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["org", "number"], name="contract_number_per_org"),
            models.CheckConstraint(condition=Q(end_date__gt=F("start_date")), name="contract_ends_after_start"),
            models.CheckConstraint(condition=Q(currency__in=["EUR", "CHF"]), name="contract_currency_supported"),
        ]

    def __str__(self) -> str:
        return self.number


class Order(models.Model):
    """One confirmed purchase: what the customer saw in the preview and confirmed once.

    (org, idempotency_key) is unique: the same submission twice returns the
    first order; the request_hash tells a retry from a different body.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        CONFIRMED = "confirmed", _("Confirmed")
        FULFILLED = "fulfilled", _("Fulfilled")
        FAILED = "failed", _("Failed")

    public_id = PublicIdField(prefix="ord")
    org = models.ForeignKey("accounts.Org", on_delete=models.PROTECT, related_name="orders")
    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    idempotency_key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)  # sha256 of the canonical order body
    po_number = models.CharField(_("PO number"), max_length=35, blank=True)
    currency = models.CharField(max_length=3, choices=Currency.choices)
    ordered_on = models.DateField()  # the org-local date the prices and proration refer to
    today_net_amount = models.DecimalField(max_digits=14, decimal_places=2)  # net charged for the current period
    today_tax_amount = models.DecimalField(max_digits=14, decimal_places=2)
    today_gross_amount = models.DecimalField(max_digits=14, decimal_places=2)
    next_invoice_net_amount = models.DecimalField(max_digits=14, decimal_places=2)  # added to the next regular invoice
    renewal_net_amount = models.DecimalField(max_digits=14, decimal_places=2)  # per billing period after renewal
    preview = models.JSONField()  # the priced preview exactly as confirmed
    confirmed_by = models.ForeignKey("accounts.User", null=True, on_delete=models.SET_NULL, related_name="+")
    confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["org", "idempotency_key"], name="order_idempotency_key_per_org"),
        ]

    def __str__(self) -> str:
        return str(self.public_id)


class OrderLine(models.Model):
    """One product of an order, priced as the preview showed it."""

    org = models.ForeignKey("accounts.Org", on_delete=models.PROTECT, related_name="+")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey("catalog.Product", on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=14, decimal_places=4)  # net, per billing period
    period_start = models.DateField()  # the billing period the prorated charge falls in
    period_end = models.DateField()
    days_charged = models.PositiveSmallIntegerField()
    days_in_period = models.PositiveSmallIntegerField()
    prorated_net_amount = models.DecimalField(max_digits=14, decimal_places=2)
    tax_category = models.CharField(max_length=2)  # EN 16931 VAT category code
    tax_rate = models.DecimalField(max_digits=5, decimal_places=2)  # percent

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="order_line_quantity_positive"),
            models.UniqueConstraint(fields=["order", "product"], name="order_line_product_once"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.quantity} × {self.product_id}"


class ContractLine(models.Model):
    """A product on a contract (subscription), co-termed with it; never edited, only added."""

    public_id = PublicIdField(prefix="cln")
    org = models.ForeignKey("accounts.Org", on_delete=models.PROTECT, related_name="+")
    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="lines")
    product = models.ForeignKey("catalog.Product", on_delete=models.PROTECT, related_name="+")
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.PROTECT, related_name="contract_lines")
    quantity = models.PositiveIntegerField(_("quantity"))
    unit_price = models.DecimalField(_("unit price"), max_digits=14, decimal_places=4)  # net, per billing period
    start_date = models.DateField(_("start"))
    end_date = models.DateField(_("end"))  # exclusive; equals the contract end (co-termed)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("contract line")
        verbose_name_plural = _("contract lines")
        ordering = ["start_date", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="contract_line_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="contract_line_price_not_negative"),
            models.CheckConstraint(condition=Q(end_date__gt=F("start_date")), name="contract_line_ends_after_start"),
        ]

    def __str__(self) -> str:
        return f"{self.contract} {self.quantity} × {self.product_id}"


class Charge(models.Model):
    """What one contract line costs for one billing period.

    Unique per (line, period_start): a period can never be charged twice,
    which is what makes double billing impossible. Invoices are made from
    uninvoiced charges (issue 4).
    """

    org = models.ForeignKey("accounts.Org", on_delete=models.PROTECT, related_name="+")
    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="charges")
    line = models.ForeignKey(ContractLine, on_delete=models.PROTECT, related_name="charges")
    period_start = models.DateField()  # the billing period [period_start, period_end)
    period_end = models.DateField()
    service_start = models.DateField()  # later than period_start for a prorated first period
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=14, decimal_places=4)  # net, per billing period
    days_charged = models.PositiveSmallIntegerField()
    days_in_period = models.PositiveSmallIntegerField()
    net_amount = models.DecimalField(max_digits=14, decimal_places=2)  # rounded half-up
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["period_start", "id"]
        constraints = [
            models.UniqueConstraint(fields=["line", "period_start"], name="charge_once_per_line_period"),
            models.CheckConstraint(condition=Q(net_amount__gte=0), name="charge_not_negative"),
            models.CheckConstraint(
                condition=Q(service_start__gte=F("period_start"), service_start__lt=F("period_end")),
                name="charge_service_inside_period",
            ),
        ]
        indexes = [models.Index(fields=["org", "period_start"], name="charge_org_period")]

    def __str__(self) -> str:
        return f"{self.line_id} {self.period_start}: {self.net_amount}"
