"""Vendor, orgs, users, profiles, permission sets, license pools, invitations, tokens."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from konto.core.editions import Edition
from konto.core.ids import PublicIdField
from konto.core.money import Currency


class Language(models.TextChoices):
    DE = "de", _("German")
    EN = "en", _("English")


class Segment(models.TextChoices):
    COMMERCIAL = "commercial", _("Commercial")
    NONPROFIT = "nonprofit", _("Nonprofit")


class Vendor(models.Model):
    """The one company selling through this installation (the invoice issuer)."""

    legal_name = models.CharField(_("legal name"), max_length=200)
    street = models.CharField(_("street and number"), max_length=200)
    postal_code = models.CharField(_("postal code"), max_length=20)
    city = models.CharField(_("city"), max_length=100)
    country = models.CharField(_("country"), max_length=2, default="DE")
    vat_id = models.CharField(_("VAT ID"), max_length=32)
    tax_number = models.CharField(_("tax number"), max_length=32, blank=True)
    register_entry = models.CharField(_("commercial register"), max_length=100, blank=True)
    managing_directors = models.CharField(_("managing directors"), max_length=200, blank=True)
    email = models.EmailField(_("billing email"), blank=True)
    phone = models.CharField(_("phone"), max_length=50, blank=True)
    website = models.URLField(_("website"), blank=True)
    bank_name = models.CharField(_("bank"), max_length=100, blank=True)
    iban = models.CharField(_("IBAN"), max_length=34, blank=True)
    bic = models.CharField(_("BIC"), max_length=11, blank=True)
    sepa_creditor_id = models.CharField(_("SEPA creditor ID"), max_length=35, blank=True)
    # Swiss QR-bills need a CH/LI account: CHF invoices paid by transfer name this one.
    qr_bill_iban = models.CharField(_("IBAN for Swiss QR-bills"), max_length=34, blank=True)
    invoice_number_format = models.CharField(_("invoice number format"), max_length=50, default="RE-{year}-{seq:06}")
    credit_note_number_format = models.CharField(
        _("credit note number format"), max_length=50, default="GS-{year}-{seq:06}"
    )
    default_payment_terms_days = models.PositiveSmallIntegerField(_("payment terms (days)"), default=14)
    # Exactly one row: the constant is unique.
    singleton = models.BooleanField(default=True, editable=False, unique=True)

    class Meta:
        verbose_name = _("vendor")
        verbose_name_plural = _("vendor")
        constraints = [models.CheckConstraint(condition=Q(singleton=True), name="vendor_is_singleton")]

    def __str__(self) -> str:
        return self.legal_name


class Org(models.Model):
    """A customer account: the company that buys and is billed."""

    Segment = Segment

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        OVERDUE = "overdue", _("Overdue")
        SUSPENDED = "suspended", _("Suspended")
        CLOSED = "closed", _("Closed")

    public_id = PublicIdField(prefix="org")
    legal_name = models.CharField(_("legal name"), max_length=200)
    street = models.CharField(_("street and number"), max_length=200)
    address_line2 = models.CharField(_("address line 2"), max_length=200, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20)
    city = models.CharField(_("city"), max_length=100)
    country = models.CharField(_("country"), max_length=2)  # ISO 3166-1 alpha-2
    vat_id = models.CharField(_("VAT ID"), max_length=32, blank=True)  # compact form, validated
    billing_email = models.EmailField(_("billing email"), blank=True)
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices, default=Currency.EUR)
    # Once an invoice exists the currency can no longer change.
    is_currency_locked = models.BooleanField(default=False)
    language = models.CharField(_("language"), max_length=2, choices=Language.choices, default=Language.DE)
    segment = models.CharField(_("segment"), max_length=20, choices=Segment.choices, default=Segment.COMMERCIAL)
    edition = models.CharField(_("edition"), max_length=20, choices=Edition.choices, default=Edition.ESSENTIALS)
    account_executive = models.ForeignKey(
        "accounts.User",
        verbose_name=_("account executive"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="managed_orgs",
        limit_choices_to={"is_staff": True},
    )
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("org")
        verbose_name_plural = _("orgs")
        ordering = ["legal_name"]
        constraints = [
            models.CheckConstraint(condition=Q(currency__in=["EUR", "CHF"]), name="org_currency_supported"),
            models.CheckConstraint(condition=Q(language__in=["de", "en"]), name="org_language_supported"),
        ]

    def __str__(self) -> str:
        return self.legal_name

    @property
    def is_nonprofit(self) -> bool:
        return self.segment == self.Segment.NONPROFIT


class LicenseType(models.TextChoices):
    FULL = "full", _("Full")
    IDENTITY = "identity", _("Identity")


class Profile(models.Model):
    """A vendor-defined bundle of permissions; every org user has exactly one."""

    code = models.SlugField(unique=True)
    name = models.CharField(_("name"), max_length=100)
    description = models.CharField(_("description"), max_length=300, blank=True)
    # Holds every permission, always; the last active holder in an org is protected.
    is_system_administrator = models.BooleanField(default=False)
    permissions = models.JSONField(default=list, blank=True)  # permission codes from the registry

    class Meta:
        verbose_name = _("profile")
        verbose_name_plural = _("profiles")
        ordering = ["name"]

    def __str__(self) -> str:
        return str(_(self.name))


# Names of the standard profiles and permission sets (created by migration),
# listed here so that they are translated like every other string.
STANDARD_NAMES = (
    _("System Administrator"),
    _("Standard User"),
    _("Identity User"),
    _("My Account Admin"),
    _("Invoice Viewer"),
    _("Accounts Payable"),
    _("Purchasing"),
    _("User Administration"),
)


class PermissionSet(models.Model):
    """Extra permissions assigned to users on top of their profile."""

    code = models.SlugField(unique=True)
    name = models.CharField(_("name"), max_length=100)
    description = models.CharField(_("description"), max_length=300, blank=True)
    permissions = models.JSONField(default=list, blank=True)  # permission codes from the registry

    class Meta:
        verbose_name = _("permission set")
        verbose_name_plural = _("permission sets")
        ordering = ["name"]

    def __str__(self) -> str:
        return str(_(self.name))


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    @classmethod
    def normalize_email(cls, email: str | None) -> str:
        """Emails are stored lower-case: the login is case-insensitive and unique."""
        return (email or "").strip().lower()

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> User:
        user = self.model(email=self.normalize_email(email), **fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> User:
        fields.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in by email: a member of one org, or vendor staff."""

    class StaffRole(models.TextChoices):
        BILLING_OPS = "billing_ops", _("Billing operations")
        ACCOUNT_EXECUTIVE = "account_executive", _("Account executive")
        SUPPORT_AGENT = "support_agent", _("Support agent")

    public_id = PublicIdField(prefix="usr")
    email = models.EmailField(_("email"), max_length=254, unique=True)
    full_name = models.CharField(_("name"), max_length=150)
    org = models.ForeignKey(Org, null=True, blank=True, on_delete=models.PROTECT, related_name="users")
    license_type = models.CharField(_("license type"), max_length=10, choices=LicenseType.choices, blank=True)
    profile = models.ForeignKey(
        Profile, verbose_name=_("profile"), null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )
    permission_sets: models.ManyToManyField[PermissionSet, PermissionSetAssignment] = models.ManyToManyField(
        PermissionSet,
        verbose_name=_("permission sets"),
        through="PermissionSetAssignment",
        blank=True,
        related_name="users",
    )
    language = models.CharField(_("language"), max_length=2, choices=Language.choices, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    is_staff = models.BooleanField(_("vendor staff"), default=False)
    staff_role = models.CharField(_("staff role"), max_length=20, choices=StaffRole.choices, blank=True)
    date_joined = models.DateTimeField(default=timezone.now)
    deactivated_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["full_name", "email"]
        constraints = [
            # Org users hold a license and a profile; vendor staff hold neither.
            models.CheckConstraint(
                condition=(
                    Q(org__isnull=True, license_type="")
                    | Q(org__isnull=False, license_type__in=["full", "identity"], profile__isnull=False)
                ),
                name="user_org_license_profile_consistent",
            ),
            models.CheckConstraint(condition=Q(email=Lower("email")), name="user_email_lowercase"),
        ]
        indexes = [models.Index(fields=["org", "license_type", "is_active"], name="user_org_license")]

    def __str__(self) -> str:
        return f"{self.full_name} <{self.email}>"

    @property
    def is_org_user(self) -> bool:
        return self.org_id is not None

    @property
    def can_use_product(self) -> bool:
        """Identity users reach My Account only, never the vendor's product."""
        return self.is_active and self.license_type == LicenseType.FULL


class PermissionSetAssignment(models.Model):
    """A permission set assigned to a user; carries org_id for tenant scoping."""

    org = models.ForeignKey(Org, on_delete=models.CASCADE)
    user = models.ForeignKey(User, on_delete=models.CASCADE)
    permission_set = models.ForeignKey(PermissionSet, on_delete=models.PROTECT)
    assigned_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["org", "user", "permission_set"], name="permission_set_once_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.permission_set_id}"


class LicensePool(models.Model):
    """How many licenses of one type an org may assign: free seats plus bought seats.

    Full seats come from what the org bought (contract lines keep
    `purchased_seats` current); Identity licenses have free seats (100) and can
    be extended with paid packs.
    """

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="license_pools")
    license_type = models.CharField(max_length=10, choices=LicenseType.choices)
    free_seats = models.PositiveIntegerField(default=0)  # included or donated seats
    purchased_seats = models.PositiveIntegerField(default=0)  # seats from contract lines

    class Meta:
        verbose_name = _("license pool")
        verbose_name_plural = _("license pools")
        constraints = [
            models.UniqueConstraint(fields=["org", "license_type"], name="license_pool_once_per_type"),
        ]

    def __str__(self) -> str:
        return f"{self.org} {self.license_type}"

    @property
    def total_seats(self) -> int:
        return self.free_seats + self.purchased_seats


class Invitation(models.Model):
    """A one-time link to set a password and join; valid 72 hours, usable once."""

    public_id = PublicIdField(prefix="inv")
    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="invitations")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="invitations")
    token_hash = models.CharField(max_length=64, unique=True)  # sha256 of the token; the token is only mailed
    invited_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return str(self.public_id)


class LoginFailure(models.Model):
    """One failed login, kept to lock an email + IP pair after repeated failures."""

    email = models.CharField(max_length=254)
    ip_address = models.GenericIPAddressField(null=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["email", "ip_address", "created_at"], name="login_failure_lookup")]

    def __str__(self) -> str:
        return f"{self.email} {self.ip_address}"


class ApiToken(models.Model):
    """A bearer token acting as one user of one org; only its hash is stored."""

    public_id = PublicIdField(prefix="tok")
    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="api_tokens")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    token_prefix = models.CharField(max_length=16)  # first characters, shown so people can tell tokens apart
    token_hash = models.CharField(max_length=64, unique=True)  # sha256 hex
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.token_prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
