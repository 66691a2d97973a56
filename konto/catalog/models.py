"""Products and price books (one per segment and currency)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from konto.accounts.models import Segment
from konto.core.editions import Edition
from konto.core.money import Currency
from konto.core.periods import BillingFrequency


class Product(models.Model):
    """Something an org can buy: an edition seat, an add-on or a license pack."""

    class Kind(models.TextChoices):
        EDITION = "edition", _("Edition")
        ADD_ON = "add_on", _("Add-on")
        LICENSE = "license", _("License pack")

    class Unit(models.TextChoices):
        USER = "user", _("user")
        STORAGE_10GB = "10gb", _("10 GB")
        INBOX = "inbox", _("inbox")
        DIALER_SEAT = "dialer_seat", _("dialer seat")
        PACK_10 = "pack_10", _("pack of 10 licenses")

    class TaxCategory(models.TextChoices):
        # Electronically supplied services: standard rate everywhere Konto bills.
        STANDARD = "standard", _("Standard rate")
        REDUCED = "reduced", _("Reduced rate")
        EXEMPT = "exempt", _("Exempt")

    code = models.SlugField(_("code"), max_length=50, unique=True)  # stable, used by the API
    name_de = models.CharField(_("name (German)"), max_length=100)
    name_en = models.CharField(_("name (English)"), max_length=100)
    description_de = models.CharField(_("description (German)"), max_length=300, blank=True)
    description_en = models.CharField(_("description (English)"), max_length=300, blank=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    # For kind=edition: which edition a seat of this product is.
    edition = models.CharField(_("edition"), max_length=20, choices=Edition.choices, blank=True)
    unit = models.CharField(_("unit"), max_length=20, choices=Unit.choices)
    tax_category = models.CharField(
        _("tax category"), max_length=10, choices=TaxCategory.choices, default=TaxCategory.STANDARD
    )
    # Editions whose orgs may buy this product (edition codes); empty means none.
    allowed_editions = models.JSONField(_("editions that may buy it"), default=list, blank=True)
    # Seats of a license type that one unit adds to the org's pool ("" when none).
    grants_license_type = models.CharField(_("grants licenses"), max_length=10, blank=True)
    seats_per_unit = models.PositiveSmallIntegerField(_("seats per unit"), default=0)
    is_active = models.BooleanField(_("on sale"), default=True)
    sort_order = models.PositiveSmallIntegerField(_("sort order"), default=0)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["sort_order", "code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="edition", edition__in=[e.value for e in Edition]) | ~Q(kind="edition"),
                name="product_edition_named",
            ),
            models.CheckConstraint(
                condition=Q(grants_license_type__in=["", "full", "identity"]), name="product_grants_known_license"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def name(self) -> str:
        return self.name_de if (translation.get_language() or "de").startswith("de") else self.name_en

    @property
    def description(self) -> str:
        return self.description_de if (translation.get_language() or "de").startswith("de") else self.description_en

    def may_be_bought_by(self, edition: str) -> bool:
        return edition in self.allowed_editions


class PriceBook(models.Model):
    """Net prices for one customer segment in one currency."""

    name = models.CharField(_("name"), max_length=100)
    segment = models.CharField(_("segment"), max_length=20, choices=Segment.choices)
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("price book")
        verbose_name_plural = _("price books")
        ordering = ["segment", "currency"]
        constraints = [models.UniqueConstraint(fields=["segment", "currency"], name="price_book_per_segment_currency")]

    def __str__(self) -> str:
        return self.name


class PriceBookEntry(models.Model):
    """A product's net unit price for one billing period of one frequency."""

    price_book = models.ForeignKey(PriceBook, on_delete=models.CASCADE, related_name="entries")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="price_entries")
    billing_frequency = models.CharField(_("billing frequency"), max_length=10, choices=BillingFrequency.choices)
    unit_price = models.DecimalField(_("net unit price"), max_digits=14, decimal_places=4)  # net, per billing period

    class Meta:
        verbose_name = _("price")
        verbose_name_plural = _("prices")
        constraints = [
            models.UniqueConstraint(
                fields=["price_book", "product", "billing_frequency"], name="price_once_per_product_frequency"
            ),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.product.code} {self.billing_frequency} {self.unit_price}"
