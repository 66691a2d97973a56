"""Forms of the back office: validation of vendor, org, catalog and staff input before anything is saved."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.auth.forms import BaseUserCreationForm, SetUnusablePasswordMixin
from django.db.models import Model
from django.utils.functional import lazy
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from stdnum import bic as stdnum_bic
from stdnum import iban as stdnum_iban
from stdnum.eu import at_02 as sepa_creditor
from stdnum.exceptions import ValidationError as StdnumError

from konto.accounts.models import LicensePool, Org, PermissionSet, Profile, User, Vendor
from konto.accounts.permissions import REGISTRY
from konto.backoffice.generics import ModelForm
from konto.backoffice.services import PROFILE_FIELDS, check_license_seats, clean_org_profile, clean_org_terms
from konto.catalog.models import PriceBookEntry, Product
from konto.catalog.services import validate_product, validate_unit_price
from konto.core.countries import country_choices
from konto.core.editions import Edition
from konto.core.exceptions import InvalidInput
from konto.core.forms import add_service_error
from konto.core.vatid import normalize_vat_id

VENDOR_COUNTRIES = ("DE", "AT", "CH")  # where Konto knows the seller's tax rules

capfirst_lazy = lazy(capfirst, str)


def _label(model: type[Model], name: str) -> Any:
    """The model field's verbose name as a form label (same translation, capitalised lazily)."""
    field: Any = model._meta.get_field(name)
    return capfirst_lazy(field.verbose_name)


def permission_choices() -> list[tuple[str, str]]:
    return [(code, f"{permission.label} ({code})") for code, permission in REGISTRY.items()]


class PermissionCodesField(forms.MultipleChoiceField):
    """Permission codes of the registry as checkboxes; any other code is refused."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", _("Permissions"))
        kwargs.setdefault("required", False)
        super().__init__(choices=permission_choices, widget=forms.CheckboxSelectMultiple, **kwargs)

    def clean(self, value: Any) -> list[str]:
        codes = set(super().clean(value))
        return [code for code in REGISTRY if code in codes]  # registry order, no duplicates


# ---------------------------------------------------------------- vendor


class VendorForm(ModelForm[Vendor]):
    country = forms.ChoiceField(label=_label(Vendor, "country"), choices=[(c, c) for c in VENDOR_COUNTRIES])
    website = forms.URLField(label=_label(Vendor, "website"), required=False, assume_scheme="https")

    class Meta:
        model = Vendor
        fields = "__all__"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = dict(country_choices())
        self.fields["country"].choices = [(code, names.get(code, code)) for code in VENDOR_COUNTRIES]  # type: ignore[attr-defined]  # ChoiceField

    def clean_iban(self) -> str:
        value: str = self.cleaned_data.get("iban", "")
        if not value:
            return ""
        try:
            return str(stdnum_iban.validate(value))
        except StdnumError:
            raise forms.ValidationError(_("Enter a valid IBAN, e.g. DE89 3704 0044 0532 0130 00.")) from None

    def clean_qr_bill_iban(self) -> str:
        value: str = self.cleaned_data.get("qr_bill_iban", "")
        if not value:
            return ""
        try:
            compact = str(stdnum_iban.validate(value))
        except StdnumError:
            raise forms.ValidationError(_("Enter a valid IBAN, e.g. CH44 3199 9123 0008 8901 2.")) from None
        if compact[:2] not in ("CH", "LI"):
            raise forms.ValidationError(_("Swiss QR-bills need a Swiss or Liechtenstein IBAN (CH… or LI…)."))
        return compact

    def clean_bic(self) -> str:
        value: str = self.cleaned_data.get("bic", "")
        if not value:
            return ""
        try:
            return str(stdnum_bic.validate(value))
        except StdnumError:
            raise forms.ValidationError(_("Enter a valid BIC of 8 or 11 characters, e.g. COBADEFFXXX.")) from None

    def clean_sepa_creditor_id(self) -> str:
        value: str = self.cleaned_data.get("sepa_creditor_id", "")
        if not value:
            return ""
        try:
            return str(sepa_creditor.validate(value))
        except StdnumError:
            raise forms.ValidationError(_("Enter a valid SEPA creditor ID, e.g. DE98ZZZ09999999999.")) from None

    def _clean_number_format(self, field: str) -> str:
        value: str = self.cleaned_data.get(field, "").strip()
        try:
            sample = value.format(year=2026, seq=1)
        except (KeyError, IndexError, ValueError):
            sample = ""
        if "{seq" not in value or not sample or len(sample) > 30:
            raise forms.ValidationError(
                _("Use {year} and {seq} and keep numbers short, e.g. RE-{year}-{seq:06}."), code="invalid_format"
            )
        return value

    def clean_invoice_number_format(self) -> str:
        return self._clean_number_format("invoice_number_format")

    def clean_credit_note_number_format(self) -> str:
        return self._clean_number_format("credit_note_number_format")

    def clean_default_payment_terms_days(self) -> int:
        days: int = self.cleaned_data["default_payment_terms_days"]
        if days > 365:
            raise forms.ValidationError(_("Payment terms can be at most 365 days."))
        return days

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        country = cleaned.get("country")
        if country and "vat_id" in cleaned:
            try:
                cleaned["vat_id"] = normalize_vat_id(cleaned["vat_id"], country)
            except InvalidInput as error:
                self.add_error("vat_id", str(error.fields.get("vat_id", error.message)))
            else:
                if not cleaned["vat_id"]:
                    self.add_error("vat_id", _("The vendor's VAT ID is printed on every invoice; enter it."))
        return cleaned


# ---------------------------------------------------------------- orgs


class OrgForm(ModelForm[Org]):
    """An org's billing profile and terms, checked with the rules of the services that save them."""

    class Meta:
        model = Org
        fields = [*PROFILE_FIELDS, "segment", "edition", "status", "account_executive"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "country" in self.fields:
            self.fields["country"] = forms.ChoiceField(label=_label(Org, "country"), choices=country_choices)
        if "account_executive" in self.fields:
            field = self.fields["account_executive"]
            field.queryset = User.objects.filter(  # type: ignore[attr-defined]  # ModelChoiceField
                is_staff=True, is_active=True, org__isnull=True, staff_role=User.StaffRole.ACCOUNT_EXECUTIVE
            ).order_by("full_name")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        profile_fields = [f for f in PROFILE_FIELDS if f in self.fields]
        if profile_fields and not any(f in self.errors for f in profile_fields):
            values = {f: cleaned.get(f, getattr(self.instance, f)) for f in PROFILE_FIELDS}
            try:
                cleaned.update({f: v for f, v in clean_org_profile(values).items() if f in self.fields})
            except InvalidInput as error:
                add_service_error(self, error)
        if (
            self.instance.pk
            and self.instance.is_currency_locked
            and "currency" in self.changed_data
            and "currency" not in self.errors
        ):
            self.add_error("currency", _("The currency cannot change once invoices have been issued."))
        terms = {f: cleaned[f] for f in ("segment", "edition", "status", "account_executive") if f in cleaned}
        if terms:
            try:
                clean_org_terms(terms)
            except InvalidInput as error:
                add_service_error(self, error)
        return cleaned


class LicensePoolForm(ModelForm[LicensePool]):
    class Meta:
        model = LicensePool
        fields = ["free_seats", "purchased_seats"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors or not self.instance.pk:
            return cleaned
        try:
            check_license_seats(
                org=self.instance.org,
                license_type=self.instance.license_type,
                free_seats=cleaned.get("free_seats", self.instance.free_seats),
                purchased_seats=cleaned.get("purchased_seats", self.instance.purchased_seats),
            )
        except InvalidInput as error:
            add_service_error(self, error)
        return cleaned


# ---------------------------------------------------------------- profiles and permission sets


class ProfileForm(ModelForm[Profile]):
    permissions = PermissionCodesField(
        help_text=_("The System Administrator profile always holds every permission, whatever is ticked here.")
    )

    class Meta:
        model = Profile
        fields = ["code", "name", "description", "permissions"]


class PermissionSetForm(ModelForm[PermissionSet]):
    permissions = PermissionCodesField(help_text=_("Manage Billing includes every billing permission."))

    class Meta:
        model = PermissionSet
        fields = ["code", "name", "description", "permissions"]


# ---------------------------------------------------------------- catalog


class ProductForm(ModelForm[Product]):
    allowed_editions = forms.MultipleChoiceField(
        label=_label(Product, "allowed_editions"),
        choices=Edition.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("Orgs on an edition that is not ticked see the product but cannot buy it."),
    )
    grants_license_type = forms.ChoiceField(
        label=_label(Product, "grants_license_type"),
        choices=[("", _("none")), ("full", _("Full")), ("identity", _("Identity"))],
        required=False,
    )

    class Meta:
        model = Product
        fields = "__all__"

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if any(f in self.errors for f in ("kind", "edition", "allowed_editions", "grants_license_type")):
            return cleaned
        try:
            cleaned["allowed_editions"] = validate_product(
                kind=cleaned.get("kind", self.instance.kind),
                edition=cleaned.get("edition", self.instance.edition) or "",
                allowed_editions=cleaned.get("allowed_editions", self.instance.allowed_editions) or [],
                grants_license_type=cleaned.get("grants_license_type", self.instance.grants_license_type) or "",
                seats_per_unit=cleaned.get("seats_per_unit", self.instance.seats_per_unit) or 0,
            )
        except InvalidInput as error:
            add_service_error(self, error)
        return cleaned


class PriceBookEntryForm(ModelForm[PriceBookEntry]):
    # Any number is accepted by the field; the catalog rule gives the clear message.
    unit_price = forms.DecimalField(
        label=_label(PriceBookEntry, "unit_price"), help_text=_("Net, per billing period, at most 4 decimals.")
    )

    class Meta:
        model = PriceBookEntry
        fields = "__all__"

    def clean_unit_price(self) -> Decimal:
        try:
            return validate_unit_price(self.cleaned_data["unit_price"])
        except InvalidInput as error:
            raise forms.ValidationError(str(error.fields.get("unit_price", error.message))) from None


# ---------------------------------------------------------------- vendor staff


def _clean_staff_email(form: ModelForm[User]) -> str:
    email = (form.cleaned_data.get("email") or "").strip().lower()
    if User.objects.filter(email=email).exclude(pk=form.instance.pk).exists():
        raise forms.ValidationError(_("A user with the email address %(email)s already exists.") % {"email": email})
    return email


class StaffUserCreationForm(SetUnusablePasswordMixin, BaseUserCreationForm):  # type: ignore[type-arg]  # untyped in the stubs
    """A new vendor staff account: email login, a staff role, a password (or none, to be set later)."""

    usable_password = SetUnusablePasswordMixin.create_usable_password_field()

    class Meta:
        model = User
        fields = ("email", "full_name", "staff_role", "language")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["staff_role"].required = True
        # Required only when password login is enabled (checked by the mixin).
        self.fields["password1"].required = False
        self.fields["password2"].required = False

    def clean_email(self) -> str:
        return _clean_staff_email(self)

    def save(self, commit: bool = True) -> User:
        self.instance.is_staff = True
        self.instance.org = None
        self.instance.license_type = ""
        user: User = super().save(commit=commit)
        return user


class StaffUserChangeForm(ModelForm[User]):
    """Vendor staff: name, email, role and whether the account is active. Passwords have their own page."""

    class Meta:
        model = User
        fields = ("email", "full_name", "language", "staff_role", "is_active", "is_superuser")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "staff_role" in self.fields and not self.instance.is_superuser:
            self.fields["staff_role"].required = True

    def clean_email(self) -> str:
        return _clean_staff_email(self)
