"""Invoices, credit notes, their number series and the billing runs that make them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from konto.core.ids import PublicIdField
from konto.core.money import Currency

MONEY: dict[str, Any] = {"max_digits": 14, "decimal_places": 2}
UNIT_PRICE: dict[str, Any] = {"max_digits": 14, "decimal_places": 4}
RATE: dict[str, Any] = {"max_digits": 5, "decimal_places": 2}
HALF_CENT = Decimal("0.005")


class NumberSeries(models.Model):
    """A document number series ("invoice", "credit_note"); its format lives on the Vendor."""

    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"

    code = models.SlugField(max_length=30, unique=True)

    class Meta:
        verbose_name = _("number series")
        verbose_name_plural = _("number series")

    def __str__(self) -> str:
        return self.code


class NumberCounter(models.Model):
    """The last number handed out in a series and year; incremented inside the issuing transaction."""

    series = models.ForeignKey(NumberSeries, on_delete=models.PROTECT, related_name="counters")
    year = models.PositiveSmallIntegerField()
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["series", "year"], name="number_counter_per_series_year"),
        ]

    def __str__(self) -> str:
        return f"{self.series_id}/{self.year}: {self.last_number}"


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    OPEN = "open", _("Open")
    PAID = "paid", _("Paid")
    VOID = "void", _("Void")
    UNCOLLECTIBLE = "uncollectible", _("Uncollectible")


# The only status changes an invoice can make; the services check every change against it.
INVOICE_TRANSITIONS: dict[str, frozenset[str]] = {
    InvoiceStatus.DRAFT: frozenset({InvoiceStatus.OPEN}),
    InvoiceStatus.OPEN: frozenset({InvoiceStatus.PAID, InvoiceStatus.VOID, InvoiceStatus.UNCOLLECTIBLE}),
    InvoiceStatus.UNCOLLECTIBLE: frozenset({InvoiceStatus.PAID, InvoiceStatus.VOID}),
    # paid → open: a payment taken back (a SEPA return, a refund), so money is owed again.
    InvoiceStatus.PAID: frozenset({InvoiceStatus.OPEN}),
    InvoiceStatus.VOID: frozenset(),
}


class BillingRun(models.Model):
    """One run of the billing run: which date it billed, how far it got, what failed."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        FINISHED = "finished", _("Finished")
        FINISHED_WITH_ERRORS = "finished_with_errors", _("Finished with errors")
        FAILED = "failed", _("Failed")

    public_id = PublicIdField(prefix="run")
    billing_date = models.DateField()  # charges with period_start on or before it are due
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.RUNNING)
    workers = models.PositiveSmallIntegerField(default=1)
    orgs_due = models.PositiveIntegerField(default=0)  # orgs with due, uninvoiced charges at the start
    orgs_billed = models.PositiveIntegerField(default=0)
    orgs_failed = models.PositiveIntegerField(default=0)
    invoices_created = models.PositiveIntegerField(default=0)
    lines_created = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("billing run")
        verbose_name_plural = _("billing runs")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.public_id} {self.billing_date}"


class BillingRunError(models.Model):
    """An org the run could not bill, and why; the org's charges stay uninvoiced for the next run."""

    run = models.ForeignKey(BillingRun, on_delete=models.CASCADE, related_name="errors")
    org = models.ForeignKey("accounts.Org", on_delete=models.PROTECT, related_name="+")
    message = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.run_id} {self.org_id}: {self.message[:60]}"


class Invoice(models.Model):
    """An invoice of one org and contract; immutable once issued (status other than draft).

    The number, issue date, totals, snapshots and lines of an issued invoice
    never change: the services refuse it and, on PostgreSQL, a trigger does too.
    """

    Status = InvoiceStatus

    public_id = PublicIdField(prefix="inv")
    org = models.ForeignKey("accounts.Org", on_delete=models.PROTECT, related_name="invoices")
    contract = models.ForeignKey("contracts.Contract", on_delete=models.PROTECT, related_name="invoices")
    order = models.ForeignKey(  # set for an immediate invoice of a purchase
        "contracts.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="invoices"
    )
    billing_run = models.ForeignKey(BillingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    number = models.CharField(_("number"), max_length=40, null=True, blank=True, unique=True)  # set when issued
    status = models.CharField(_("status"), max_length=16, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT)
    billing_date = models.DateField()  # the date whose due charges this invoice bills
    issue_date = models.DateField(_("issue date"))
    due_date = models.DateField(_("due date"))  # issue date + the contract's payment terms
    period_start = models.DateField()  # service period [start, end) covering every line
    period_end = models.DateField()
    currency = models.CharField(max_length=3, choices=Currency.choices)
    language = models.CharField(max_length=2, default="de")  # of the printed document: the org's at issue
    payment_method_kind = models.CharField(max_length=20)  # the contract's at issue
    payment_terms_days = models.PositiveSmallIntegerField()
    net_amount = models.DecimalField(_("net"), **MONEY)  # sum of line nets
    tax_amount = models.DecimalField(_("VAT"), **MONEY)  # sum of the VAT per rate
    gross_amount = models.DecimalField(_("gross"), **MONEY)  # net + VAT
    amount_paid = models.DecimalField(_("paid"), default=0, **MONEY)  # gross received so far
    amount_credited = models.DecimalField(_("credited"), default=0, **MONEY)  # gross of its credit notes
    seller = models.JSONField(default=dict)  # the Vendor as it was at issue (Party fields + bank data)
    buyer = models.JSONField(default=dict)  # the Org as it was at issue (Party fields)
    po_number = models.CharField(_("PO number"), max_length=35, blank=True)
    buyer_reference = models.CharField(_("Leitweg-ID"), max_length=46, blank=True)
    contract_number = models.CharField(max_length=32, blank=True)
    notes = models.JSONField(default=list)  # printed notes, e.g. the reverse-charge note
    # How it is paid, as it was at issue (no card number, IBAN masked): card brand and last 4 digits, or the SEPA
    # mandate reference, creditor ID, masked debited IBAN and announced collection date. Empty: transfer.
    payment_details = models.JSONField(default=dict)
    issued_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        ordering = ["-issue_date", "-id"]
        constraints = [
            # Equal to the cent; the half-cent band only absorbs SQLite's binary arithmetic on decimals.
            models.CheckConstraint(
                condition=Q(
                    gross_amount__gt=F("net_amount") + F("tax_amount") - HALF_CENT,
                    gross_amount__lt=F("net_amount") + F("tax_amount") + HALF_CENT,
                ),
                name="invoice_gross_is_net_plus_tax",
            ),
            models.CheckConstraint(
                condition=Q(amount_paid__gte=0, amount_paid__lte=F("gross_amount")), name="invoice_paid_within_gross"
            ),
            models.CheckConstraint(
                condition=Q(amount_credited__gte=0, amount_credited__lte=F("gross_amount")),
                name="invoice_credited_within_gross",
            ),
            models.CheckConstraint(
                condition=(Q(status="draft") & Q(number__isnull=True)) | (~Q(status="draft") & Q(number__isnull=False)),
                name="invoice_number_iff_issued",
            ),
            models.CheckConstraint(condition=Q(period_end__gt=F("period_start")), name="invoice_period_not_empty"),
            models.CheckConstraint(condition=Q(status__in=InvoiceStatus.values), name="invoice_status_known"),
        ]
        indexes = [
            models.Index(fields=["org", "-issue_date"], name="invoice_org_issue_date"),
            models.Index(fields=["org", "status"], name="invoice_org_status"),
        ]

    def __str__(self) -> str:
        return self.number or f"{self.public_id} (draft)"

    @property
    def is_issued(self) -> bool:
        return self.status != InvoiceStatus.DRAFT

    @property
    def open_amount(self) -> Decimal:
        return self.gross_amount - self.amount_paid - self.amount_credited


class InvoiceLine(models.Model):
    """One charge on one invoice: `charge` is unique, so a charge can never be billed twice."""

    org = models.ForeignKey("accounts.Org", on_delete=models.PROTECT, related_name="+")
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    charge = models.OneToOneField("contracts.Charge", on_delete=models.PROTECT, related_name="invoice_line")
    position = models.PositiveSmallIntegerField()  # 1, 2, … as printed
    description = models.CharField(max_length=200)  # product name in the invoice's language
    unit = models.CharField(max_length=20)  # the product's unit (catalog.Product.Unit)
    quantity = models.DecimalField(max_digits=12, decimal_places=2)
    unit_price = models.DecimalField(**UNIT_PRICE)  # net, per billing period
    net_amount = models.DecimalField(**MONEY)  # the charge's net, prorated where it applies
    days_charged = models.PositiveSmallIntegerField()
    days_in_period = models.PositiveSmallIntegerField()
    tax_category = models.CharField(max_length=2)  # EN 16931 code: S, AE, O, E, Z
    tax_rate = models.DecimalField(**RATE)  # percent
    period_start = models.DateField()  # service [start, end) of this line
    period_end = models.DateField()

    class Meta:
        ordering = ["invoice", "position"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "position"], name="invoice_line_position_once"),
        ]

    def __str__(self) -> str:
        return f"{self.invoice_id}/{self.position}: {self.net_amount}"


class InvoiceTax(models.Model):
    """VAT of one category and rate on an invoice, on the sum of its line nets (BR-CO-17)."""

    org = models.ForeignKey("accounts.Org", on_delete=models.PROTECT, related_name="+")
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="taxes")
    tax_category = models.CharField(max_length=2)
    tax_rate = models.DecimalField(**RATE)
    taxable_amount = models.DecimalField(**MONEY)  # sum of the line nets of this category and rate
    tax_amount = models.DecimalField(**MONEY)  # taxable × rate / 100, half-up
    note = models.CharField(max_length=200, blank=True)  # exemption note in the invoice's language
    exemption_reason_code = models.CharField(max_length=30, blank=True)  # VATEX

    class Meta:
        ordering = ["invoice", "tax_category", "-tax_rate"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "tax_category", "tax_rate"], name="invoice_tax_once_per_rate"),
        ]

    def __str__(self) -> str:
        return f"{self.invoice_id} {self.tax_category} {self.tax_rate}: {self.tax_amount}"


class CreditNote(models.Model):
    """A credit note for an issued invoice, numbered from its own series; issued when created.

    A full credit note credits every line not yet credited and voids the
    invoice (Stornorechnung); a partial one credits single lines.
    """

    public_id = PublicIdField(prefix="crn")
    org = models.ForeignKey("accounts.Org", on_delete=models.PROTECT, related_name="credit_notes")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    number = models.CharField(_("number"), max_length=40, unique=True)
    is_full = models.BooleanField()
    reason = models.CharField(_("reason"), max_length=300)
    issue_date = models.DateField(_("issue date"))
    currency = models.CharField(max_length=3, choices=Currency.choices)
    language = models.CharField(max_length=2, default="de")
    net_amount = models.DecimalField(**MONEY)  # positive amounts: what is credited
    tax_amount = models.DecimalField(**MONEY)
    gross_amount = models.DecimalField(**MONEY)
    seller = models.JSONField(default=dict)
    buyer = models.JSONField(default=dict)
    notes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("credit note")
        verbose_name_plural = _("credit notes")
        ordering = ["-issue_date", "-id"]
        constraints = [
            # Equal to the cent; the half-cent band only absorbs SQLite's binary arithmetic on decimals.
            models.CheckConstraint(
                condition=Q(
                    gross_amount__gt=F("net_amount") + F("tax_amount") - HALF_CENT,
                    gross_amount__lt=F("net_amount") + F("tax_amount") + HALF_CENT,
                ),
                name="credit_note_gross_is_net_plus_tax",
            ),
            models.CheckConstraint(condition=Q(net_amount__gte=0), name="credit_note_not_negative"),
        ]
        indexes = [models.Index(fields=["org", "-issue_date"], name="credit_note_org_issue_date")]

    def __str__(self) -> str:
        return self.number


class CreditNoteLine(models.Model):
    """One credited invoice line; a line can be credited once."""

    org = models.ForeignKey("accounts.Org", on_delete=models.PROTECT, related_name="+")
    credit_note = models.ForeignKey(CreditNote, on_delete=models.CASCADE, related_name="lines")
    invoice_line = models.OneToOneField(InvoiceLine, on_delete=models.PROTECT, related_name="credit_note_line")
    position = models.PositiveSmallIntegerField()
    description = models.CharField(max_length=200)
    unit = models.CharField(max_length=20)
    quantity = models.DecimalField(max_digits=12, decimal_places=2)
    unit_price = models.DecimalField(**UNIT_PRICE)
    net_amount = models.DecimalField(**MONEY)
    tax_category = models.CharField(max_length=2)
    tax_rate = models.DecimalField(**RATE)
    period_start = models.DateField()
    period_end = models.DateField()

    class Meta:
        ordering = ["credit_note", "position"]

    def __str__(self) -> str:
        return f"{self.credit_note_id}/{self.position}: {self.net_amount}"


class CreditNoteTax(models.Model):
    """VAT of one category and rate on a credit note."""

    org = models.ForeignKey("accounts.Org", on_delete=models.PROTECT, related_name="+")
    credit_note = models.ForeignKey(CreditNote, on_delete=models.CASCADE, related_name="taxes")
    tax_category = models.CharField(max_length=2)
    tax_rate = models.DecimalField(**RATE)
    taxable_amount = models.DecimalField(**MONEY)
    tax_amount = models.DecimalField(**MONEY)
    note = models.CharField(max_length=200, blank=True)
    exemption_reason_code = models.CharField(max_length=30, blank=True)

    class Meta:
        ordering = ["credit_note", "tax_category", "-tax_rate"]

    def __str__(self) -> str:
        return f"{self.credit_note_id} {self.tax_category} {self.tax_rate}: {self.tax_amount}"


class DocumentKind(models.TextChoices):
    PDF = "pdf", _("PDF/A-3 with embedded XML")
    XML = "xml", _("EN 16931 XML")


class StoredDocument(models.Model):
    """A rendered document of an issued invoice or credit note: written once, never replaced.

    Unique per (invoice, kind) and (credit note, kind), so a document is
    rendered and stored exactly once. `profile` says which XML it carries:
    Factur-X EN 16931, or XRechnung for buyers with a Leitweg-ID.
    """

    class Profile(models.TextChoices):
        FACTUR_X = "factur-x", _("Factur-X / ZUGFeRD (EN 16931)")
        XRECHNUNG = "xrechnung", _("XRechnung")

    org = models.ForeignKey("accounts.Org", on_delete=models.PROTECT, related_name="+")
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="documents")
    credit_note = models.ForeignKey(
        CreditNote, null=True, blank=True, on_delete=models.PROTECT, related_name="documents"
    )
    kind = models.CharField(max_length=8, choices=DocumentKind.choices)
    profile = models.CharField(max_length=12, choices=Profile.choices)
    file = models.FileField(upload_to="documents/%Y/%m/", max_length=200)  # via the default storage
    filename = models.CharField(max_length=120)  # offered on download, e.g. RE-2026-000001.pdf
    sha256 = models.CharField(max_length=64)  # of the stored bytes
    size = models.PositiveIntegerField()  # bytes
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(invoice__isnull=False, credit_note__isnull=True)
                | Q(invoice__isnull=True, credit_note__isnull=False),
                name="stored_document_of_one_record",
            ),
            models.UniqueConstraint(
                fields=["invoice", "kind"], condition=Q(invoice__isnull=False), name="stored_document_once_per_invoice"
            ),
            models.UniqueConstraint(
                fields=["credit_note", "kind"],
                condition=Q(credit_note__isnull=False),
                name="stored_document_once_per_credit_note",
            ),
        ]

    def __str__(self) -> str:
        return self.filename


class ShareLink(models.Model):
    """A signed, expiring, revocable read-only link to one invoice; every open is audited."""

    public_id = PublicIdField(prefix="shl")
    org = models.ForeignKey("accounts.Org", on_delete=models.PROTECT, related_name="+")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="share_links")
    token_hash = models.CharField(max_length=64, unique=True)  # sha256 of the secret in the URL
    created_by = models.ForeignKey("accounts.User", null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    open_count = models.PositiveIntegerField(default=0)
    last_opened_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(expires_at__gt=F("created_at")), name="share_link_expires_later"),
        ]

    def __str__(self) -> str:
        return str(self.public_id)


class InvoiceRecipient(models.Model):
    """A contact that receives the org's invoices by email, in the chosen format."""

    class Format(models.TextChoices):
        PDF = "pdf", _("PDF with embedded XML (ZUGFeRD)")
        XRECHNUNG = "xrechnung", _("XRechnung XML")

    public_id = PublicIdField(prefix="rcp")
    org = models.ForeignKey("accounts.Org", on_delete=models.PROTECT, related_name="invoice_recipients")
    email = models.EmailField(_("email"))
    name = models.CharField(_("name"), max_length=150, blank=True)
    format = models.CharField(_("format"), max_length=10, choices=Format.choices, default=Format.PDF)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["email"]
        verbose_name = _("invoice recipient")
        verbose_name_plural = _("invoice recipients")
        constraints = [models.UniqueConstraint(fields=["org", "email"], name="invoice_recipient_once_per_org")]

    def __str__(self) -> str:
        return self.email


class InvoiceDelivery(models.Model):
    """One automatic email of an issued invoice to one address: the record that makes delivery exactly-once.

    Unique per (org, invoice, email): the delivery task creates the rows first
    (pending) and sends each under its row lock, marking it sent in the same
    transaction, so running the task again sends nothing twice.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")

    org = models.ForeignKey("accounts.Org", on_delete=models.PROTECT, related_name="+")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="deliveries")
    recipient = models.ForeignKey(  # None: the billing email, or a recipient removed since
        InvoiceRecipient, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    is_billing_email = models.BooleanField(default=False)  # to the org's billing email: it had no recipients
    email = models.EmailField(_("email"))  # the address as it was when the delivery was planned
    format = models.CharField(max_length=10, choices=InvoiceRecipient.Format.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attachment = models.CharField(max_length=120, blank=True)  # filename of the attached document, once sent
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["invoice", "email"]
        verbose_name = _("invoice delivery")
        verbose_name_plural = _("invoice deliveries")
        constraints = [
            models.UniqueConstraint(fields=["org", "invoice", "email"], name="invoice_delivery_once_per_address"),
            models.CheckConstraint(
                condition=Q(status="pending", sent_at__isnull=True) | Q(status="sent", sent_at__isnull=False),
                name="invoice_delivery_sent_at_iff_sent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.invoice_id} → {self.email}: {self.status}"
