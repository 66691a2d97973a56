"""Payment methods, payments and their allocations to invoices, dunning, and the vendor's bank files."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from konto.core.ids import PublicIdField
from konto.core.money import Currency

MONEY: dict[str, Any] = {"max_digits": 14, "decimal_places": 2}


class MethodKind(models.TextChoices):
    """Same values as the contract's payment method kind."""

    CARD = "card", _("Card")
    SEPA_DEBIT = "sepa_debit", _("SEPA Direct Debit")
    BANK_TRANSFER = "bank_transfer", _("Bank transfer")


class PaymentMethod(models.Model):
    """How an org pays: a tokenised card, a SEPA Direct Debit mandate, or bank transfer.

    Never holds a card number or CVC: a card is the gateway's token plus brand,
    last 4 digits and expiry. A SEPA mandate keeps the full IBAN because the
    vendor's bank needs it to collect (pain.008); it is shown masked everywhere.
    At most one active method per org is the default (database constraint).
    """

    Kind = MethodKind

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        REMOVED = "removed", _("Removed")

    public_id = PublicIdField(prefix="pm")
    org = models.ForeignKey("accounts.Org", on_delete=models.PROTECT, related_name="payment_methods")
    kind = models.CharField(_("kind"), max_length=20, choices=MethodKind.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    is_default = models.BooleanField(_("default"), default=False)
    # Which gateway holds the token: "sandbox", "stripe"; "bank" for mandates collected by the vendor's own
    # bank (pain.008); "" for bank transfer.
    gateway = models.CharField(max_length=20, blank=True)
    gateway_ref = models.CharField(max_length=255, blank=True)  # the gateway's token / payment method id
    gateway_customer_ref = models.CharField(max_length=255, blank=True)  # the gateway's customer id, if any
    # Card: display data only.
    card_brand = models.CharField(_("card brand"), max_length=20, blank=True)  # "visa", "mastercard", …
    card_last4 = models.CharField(_("last 4 digits"), max_length=4, blank=True)
    card_exp_month = models.PositiveSmallIntegerField(null=True, blank=True)  # 1..12
    card_exp_year = models.PositiveSmallIntegerField(null=True, blank=True)  # four digits
    # SEPA Direct Debit mandate.
    account_holder = models.CharField(_("account holder"), max_length=70, blank=True)
    iban = models.CharField(_("IBAN"), max_length=34, blank=True)  # compact; never shown or logged unmasked
    bic = models.CharField(_("BIC"), max_length=11, blank=True)
    mandate_reference = models.CharField(_("mandate reference"), max_length=35, blank=True)
    creditor_id = models.CharField(_("creditor ID"), max_length=35, blank=True)  # the vendor's, at signing
    mandate_text = models.TextField(blank=True)  # the exact text the customer accepted
    mandate_signed_at = models.DateTimeField(null=True, blank=True)
    mandate_ip = models.GenericIPAddressField(null=True, blank=True)
    mandate_user_agent = models.CharField(max_length=400, blank=True)
    # SEPA Direct Debit set up at Stripe: Stripe's mandate id ("mandate_…") behind mandate_reference; "" otherwise.
    gateway_mandate_ref = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("payment method")
        verbose_name_plural = _("payment methods")
        ordering = ["-is_default", "-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["org"], condition=Q(is_default=True, status="active"), name="payment_method_one_default"
            ),
            models.UniqueConstraint(
                fields=["mandate_reference"],
                condition=~Q(mandate_reference=""),
                name="payment_method_mandate_reference_unique",
            ),
            models.CheckConstraint(condition=Q(kind__in=MethodKind.values), name="payment_method_kind_known"),
            models.CheckConstraint(
                condition=Q(card_exp_month__isnull=True) | Q(card_exp_month__gte=1, card_exp_month__lte=12),
                name="payment_method_exp_month_valid",
            ),
            models.CheckConstraint(
                condition=~Q(is_default=True, status="removed"), name="payment_method_removed_not_default"
            ),
        ]
        indexes = [models.Index(fields=["org", "status"], name="payment_method_org_status")]

    def __str__(self) -> str:
        return f"{self.public_id} {self.kind}"

    @property
    def masked_iban(self) -> str:
        """The IBAN as shown anywhere: country, check digits and the last 4 ("DE89 •••• 3000")."""
        if not self.iban:
            return ""
        return f"{self.iban[:4]} •••• {self.iban[-4:]}"


class PaymentStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    REQUIRES_ACTION = "requires_action", _("Awaiting confirmation")  # e.g. a 3-D Secure challenge
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    UNKNOWN = "unknown", _("Outcome unknown")  # the gateway did not answer; reconciliation asks again
    PARTIALLY_REFUNDED = "partially_refunded", _("Partially refunded")
    REFUNDED = "refunded", _("Refunded")


# Payments that may still move money: nothing is charged again for their invoices while one exists.
IN_FLIGHT_STATUSES = frozenset({PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION, PaymentStatus.UNKNOWN})

# The only status changes a payment can make; the services check every change against it.
# succeeded → failed is a SEPA return (R-transaction) after the money was booked.
PAYMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    PaymentStatus.PENDING: frozenset(
        {PaymentStatus.REQUIRES_ACTION, PaymentStatus.SUCCEEDED, PaymentStatus.FAILED, PaymentStatus.UNKNOWN}
    ),
    PaymentStatus.REQUIRES_ACTION: frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.FAILED, PaymentStatus.UNKNOWN}),
    PaymentStatus.UNKNOWN: frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.FAILED}),
    PaymentStatus.SUCCEEDED: frozenset(
        {PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED, PaymentStatus.FAILED}
    ),
    PaymentStatus.PARTIALLY_REFUNDED: frozenset({PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}),
    PaymentStatus.FAILED: frozenset(),
    PaymentStatus.REFUNDED: frozenset(),
}


class Payment(models.Model):
    """One attempt to move money from an org to the vendor, allocated to one or more invoices.

    The row (with its idempotency key, unique per org) is committed before the
    gateway is called; the gateway gets the same key. A repeated request with
    the same key finds this row and returns it instead of charging again.
    """

    Status = PaymentStatus

    class Origin(models.TextChoices):
        CUSTOMER = "customer", _("Paid by the customer")
        AUTOMATIC = "automatic", _("Automatic collection")
        RETRY = "retry", _("Retry of a failed collection")
        BANK_TRANSFER = "bank_transfer", _("Bank transfer received")
        STAFF = "staff", _("Recorded by staff")

    public_id = PublicIdField(prefix="pay")
    org = models.ForeignKey("accounts.Org", on_delete=models.PROTECT, related_name="payments")
    method = models.ForeignKey(
        PaymentMethod, null=True, blank=True, on_delete=models.PROTECT, related_name="payments"
    )  # null for a received bank transfer
    kind = models.CharField(_("kind"), max_length=20, choices=MethodKind.choices)
    origin = models.CharField(_("origin"), max_length=20, choices=Origin.choices)
    status = models.CharField(_("status"), max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.PENDING)
    amount = models.DecimalField(_("amount"), **MONEY)  # gross, in `currency`, > 0
    amount_refunded = models.DecimalField(_("refunded"), default=0, **MONEY)
    currency = models.CharField(max_length=3, choices=Currency.choices)
    idempotency_key = models.CharField(max_length=255)  # unique per org; also sent to the gateway
    request_fingerprint = models.CharField(
        max_length=64, blank=True
    )  # sha256 of what was asked (same key, other body → 409)
    gateway = models.CharField(max_length=20, blank=True)
    gateway_ref = models.CharField(max_length=255, blank=True)  # the gateway's charge / PaymentIntent id
    action_url = models.URLField(max_length=500, blank=True)  # where the customer confirms (3-D Secure)
    failure_code = models.CharField(
        max_length=40, blank=True
    )  # stable, e.g. "card_declined", "insufficient_funds", "AM04"
    failure_message = models.CharField(max_length=300, blank=True)
    retry_count = models.PositiveSmallIntegerField(default=0)  # automatic collection: 0 first attempt, 1..3 retries
    next_retry_on = models.DateField(null=True, blank=True)  # failed automatic collection: when to try again
    collection_date = models.DateField(null=True, blank=True)  # SEPA: the announced debit date
    exported_at = models.DateTimeField(null=True, blank=True)  # SEPA: included in a pain.008 file
    initiated_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)  # reconciliation's last question to the gateway

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["org", "idempotency_key"], name="payment_idempotency_key_per_org"),
            models.UniqueConstraint(
                fields=["gateway", "gateway_ref"], condition=~Q(gateway_ref=""), name="payment_gateway_ref_unique"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(amount_refunded__gte=0, amount_refunded__lte=F("amount")),
                name="payment_refund_within_amount",
            ),
            models.CheckConstraint(condition=Q(status__in=PaymentStatus.values), name="payment_status_known"),
        ]
        indexes = [
            models.Index(fields=["org", "-created_at"], name="payment_org_created"),
            models.Index(fields=["status", "next_retry_on"], name="payment_status_retry"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.amount} {self.currency} {self.status}"

    @property
    def is_in_flight(self) -> bool:
        return self.status in IN_FLIGHT_STATUSES


class PaymentAllocation(models.Model):
    """The part of a payment that pays one invoice.

    `is_in_flight` mirrors the payment's status (pending / awaiting
    confirmation / unknown); the partial unique constraint lets at most one
    in-flight allocation exist per invoice, so two payments can never be on
    their way for the same invoice at once, whatever the callers do.
    """

    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="allocations")
    invoice = models.ForeignKey("billing.Invoice", on_delete=models.PROTECT, related_name="payment_allocations")
    org = models.ForeignKey("accounts.Org", on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(_("amount"), **MONEY)  # gross, > 0, at most the invoice's open amount when made
    is_in_flight = models.BooleanField(default=True)
    is_applied = models.BooleanField(default=False)  # added to the invoice's amount paid

    class Meta:
        verbose_name = _("payment allocation")
        verbose_name_plural = _("payment allocations")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["payment", "invoice"], name="allocation_once_per_payment_invoice"),
            models.UniqueConstraint(
                fields=["invoice"], condition=Q(is_in_flight=True), name="allocation_one_in_flight_per_invoice"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="allocation_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.payment_id} → {self.invoice_id}: {self.amount}"


class Refund(models.Model):
    """Money returned on a succeeded payment, by staff; at most the payment's amount in total."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    public_id = PublicIdField(prefix="ref")
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    org = models.ForeignKey("accounts.Org", on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(_("amount"), **MONEY)
    reason = models.CharField(_("reason"), max_length=300)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    idempotency_key = models.CharField(max_length=255, unique=True)
    gateway_ref = models.CharField(max_length=255, blank=True)
    failure_message = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive")]

    def __str__(self) -> str:
        return f"{self.public_id} {self.amount}"


def default_retry_days() -> list[int]:
    return [1, 3, 7]


class DunningPolicy(models.Model):
    """The vendor's dunning schedule, in days after the due date (one row per installation)."""

    singleton = models.BooleanField(default=True, unique=True, editable=False)
    reminder_days = models.PositiveSmallIntegerField(_("reminder after (days)"), default=3)
    second_reminder_days = models.PositiveSmallIntegerField(_("second reminder after (days)"), default=14)
    final_notice_days = models.PositiveSmallIntegerField(_("final notice after (days)"), default=28)
    suspension_days = models.PositiveSmallIntegerField(_("suspension after (days)"), default=45)
    # Failed automatic collections are tried again this many days after the first failure.
    retry_days = models.JSONField(_("retry after (days)"), default=default_retry_days)  # e.g. [1, 3, 7]
    # Where the vendor's product hears about suspensions (POST, JSON); empty: no call.
    suspension_webhook_url = models.URLField(_("suspension webhook URL"), blank=True)

    class Meta:
        verbose_name = _("dunning schedule")
        verbose_name_plural = _("dunning schedule")
        constraints = [
            models.CheckConstraint(condition=Q(singleton=True), name="dunning_policy_is_singleton"),
            models.CheckConstraint(
                condition=Q(reminder_days__lt=F("second_reminder_days"))
                & Q(second_reminder_days__lt=F("final_notice_days"))
                & Q(final_notice_days__lt=F("suspension_days")),
                name="dunning_policy_steps_in_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reminder_days}/{self.second_reminder_days}/{self.final_notice_days}/{self.suspension_days}"


class DunningLevel(models.TextChoices):
    REMINDER = "reminder", _("Payment reminder")
    SECOND_REMINDER = "second_reminder", _("Second reminder")
    FINAL_NOTICE = "final_notice", _("Final notice")
    SUSPENSION = "suspension", _("Suspension")


class DunningNotice(models.Model):
    """One dunning step taken for one invoice; unique per (invoice, level), so a step is never sent twice."""

    Level = DunningLevel

    invoice = models.ForeignKey("billing.Invoice", on_delete=models.PROTECT, related_name="dunning_notices")
    org = models.ForeignKey("accounts.Org", on_delete=models.PROTECT, related_name="+")
    level = models.CharField(max_length=20, choices=DunningLevel.choices)
    due_on = models.DateField()  # the day the schedule reached this step
    open_amount = models.DecimalField(**MONEY)  # gross still open when the step was taken
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("dunning notice")
        verbose_name_plural = _("dunning notices")
        ordering = ["invoice_id", "due_on", "id"]
        constraints = [models.UniqueConstraint(fields=["invoice", "level"], name="dunning_notice_once_per_level")]

    def __str__(self) -> str:
        return f"{self.invoice_id} {self.level}"


class SepaExport(models.Model):
    """A pain.008 file of due SEPA collections, handed to the vendor's bank."""

    public_id = PublicIdField(prefix="sepa")
    message_id = models.CharField(_("message ID"), max_length=35, unique=True)  # pain.008 GrpHdr/MsgId
    collection_date = models.DateField(_("collection date"))  # requested collection date of the file
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    payments_count = models.PositiveIntegerField(_("payments"), default=0)
    total_amount = models.DecimalField(_("total"), **MONEY)
    content = models.BinaryField()  # the XML as handed out
    created_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("SEPA direct debit file")
        verbose_name_plural = _("SEPA direct debit files")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.message_id


class BankStatement(models.Model):
    """An imported camt.053 statement; the same file (or statement id) is never imported twice."""

    public_id = PublicIdField(prefix="stmt")
    statement_id = models.CharField(_("statement ID"), max_length=35, unique=True)  # camt.053 Stmt/Id
    content_sha256 = models.CharField(max_length=64, unique=True)
    account_iban = models.CharField(_("account"), max_length=34, blank=True)  # the vendor's account
    created_on = models.DateField(_("statement date"), null=True, blank=True)  # Stmt/CreDtTm
    lines_count = models.PositiveIntegerField(_("lines"), default=0)
    matched_count = models.PositiveIntegerField(_("matched"), default=0)
    imported_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("imported by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    imported_at = models.DateTimeField(_("imported"), auto_now_add=True)

    class Meta:
        verbose_name = _("bank statement")
        verbose_name_plural = _("bank statements")
        ordering = ["-imported_at", "-id"]

    def __str__(self) -> str:
        return self.statement_id


class BankStatementLine(models.Model):
    """One credit entry of a statement, matched to an invoice by reference and amount, or left for a person."""

    class Status(models.TextChoices):
        MATCHED = "matched", _("Matched")
        PARTIAL = "partial", _("Partially paid")  # matched by reference, less than the open amount
        UNMATCHED = "unmatched", _("Unmatched")
        ASSIGNED = "assigned", _("Assigned by hand")
        IGNORED = "ignored", _("Ignored")
        SEPA_RETURN = "sepa_return", _("SEPA return")

    statement = models.ForeignKey(BankStatement, on_delete=models.CASCADE, related_name="lines")
    entry_reference = models.CharField(
        _("entry reference"), max_length=64
    )  # NtryRef / AcctSvcrRef; unique per statement
    booking_date = models.DateField(_("booking date"))
    amount = models.DecimalField(_("amount"), **MONEY)  # positive: credit to the vendor's account
    currency = models.CharField(_("currency"), max_length=3)
    is_credit = models.BooleanField(default=True)
    remittance = models.CharField(_("remittance information"), max_length=300, blank=True)  # unstructured
    payer_name = models.CharField(_("payer"), max_length=140, blank=True)
    payer_iban_masked = models.CharField(_("payer IBAN"), max_length=20, blank=True)  # never the full IBAN
    return_reason = models.CharField(_("return reason"), max_length=4, blank=True)  # ISO code of an R-transaction
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.UNMATCHED)
    invoice = models.ForeignKey(
        "billing.Invoice", null=True, blank=True, on_delete=models.PROTECT, related_name="bank_statement_lines"
    )
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("bank statement line")
        verbose_name_plural = _("bank statement lines")
        ordering = ["statement_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["statement", "entry_reference"], name="statement_line_reference_unique")
        ]

    def __str__(self) -> str:
        return f"{self.entry_reference} {self.amount} {self.status}"
