"""Forms of the settings pages: the org's billing profile and API tokens.

The forms only collect and redisplay input; every rule (required fields,
lengths, country, VAT ID check digits, currency lock) lives in
`accounts.services`, so the UI and the API refuse the same values with the
same messages. Browser hints (required, maxlength, autocomplete) mirror them.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from konto.accounts.models import Language, Org
from konto.core.countries import COUNTRIES, country_choices, is_eu
from konto.core.money import Currency
from konto.core.vatid import expected_format


def vat_id_help(country: str) -> str:
    """What a VAT ID of `country` looks like, for the help text next to the field."""
    if country != "CH" and not is_eu(country):
        return gettext("Leave empty: VAT IDs are only recorded for EU and Swiss addresses.")
    return gettext("Format: %(format)s.") % {"format": expected_format(country)}


def vat_id_help_by_country() -> dict[str, str]:
    """Help texts for every billable country, so the page can follow a country change."""
    return {code: vat_id_help(code) for code in COUNTRIES}


def _text(label: Any, *, max_length: int | None = None, required: bool = False, **attrs: Any) -> forms.CharField:
    widget_attrs: dict[str, Any] = dict(attrs)
    if max_length:
        widget_attrs["maxlength"] = max_length
    if required:
        widget_attrs["required"] = True
    return forms.CharField(label=label, required=False, widget=forms.TextInput(attrs=widget_attrs))


def _select(label: Any, choices: Any, **attrs: Any) -> forms.CharField:
    return forms.CharField(label=label, required=False, widget=forms.Select(choices=choices, attrs=attrs))


class BillingProfileForm(forms.Form):
    """The org's invoice address, VAT ID, billing email, currency and language."""

    legal_name = _text(_("Legal name"), max_length=200, required=True, autocomplete="organization")
    street = _text(_("Street and number"), max_length=200, required=True, autocomplete="address-line1")
    address_line2 = _text(_("Address line 2"), max_length=200, autocomplete="address-line2")
    postal_code = _text(_("Postal code"), max_length=20, required=True, autocomplete="postal-code")
    city = _text(_("City"), max_length=100, required=True, autocomplete="address-level2")
    country = _select(_("Country"), (), autocomplete="country", required=True)
    vat_id = _text(_("VAT ID"), max_length=32, autocomplete="off", spellcheck="false")
    billing_email = forms.CharField(
        label=_("Billing email"),
        required=False,
        help_text=_("Invoices and payment reminders are sent to this address."),
        widget=forms.EmailInput(attrs={"maxlength": 254, "autocomplete": "email"}),
    )
    currency = _select(_("Currency"), Currency.choices)
    language = _select(
        _("Invoice language"),
        Language.choices,
    )

    def __init__(self, *args: Any, org: Org, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {field: getattr(org, field) for field in self.base_fields})
        super().__init__(*args, **kwargs)
        self.org = org
        self.fields["legal_name"].help_text = _("As it should appear on invoices.")
        self.fields["address_line2"].help_text = _("For example department or floor.")
        self.fields["vat_id"].help_text = vat_id_help(self._chosen_country())
        country_widget = self.fields["country"].widget
        if isinstance(country_widget, forms.Select):
            country_widget.choices = country_choices()
        # konto.js swaps the VAT ID help text when another country is chosen.
        country_widget.attrs.update(
            {"data-vat-help": "vat-id-help", "data-vat-help-target": f"{self['vat_id'].auto_id}_helptext"}
        )
        self.fields["language"].help_text = _("Invoices and billing emails are written in this language.")
        if org.is_currency_locked:
            # Browsers do not submit a disabled select; the view then leaves the currency alone.
            self.fields["currency"].widget.attrs["disabled"] = True
            self.fields["currency"].help_text = _("The currency is fixed because invoices have been issued.")
        else:
            self.fields["currency"].help_text = _("Can be changed until the first invoice is issued.")

    def _chosen_country(self) -> str:
        if self.is_bound:
            value = str(self.data.get(self.add_prefix("country"), "")).strip().upper()
            if value in COUNTRIES:
                return value
        return self.org.country

    def changes(self) -> dict[str, str]:
        """The submitted billing profile fields for `update_billing_profile`."""
        changes = {field: self.cleaned_data.get(field, "") for field in self.fields}
        if self.org.is_currency_locked and not self.data.get(self.add_prefix("currency")):
            del changes["currency"]
        return changes


class ApiTokenCreateForm(forms.Form):
    name = forms.CharField(
        label=_("Token name"),
        required=False,
        widget=forms.TextInput(attrs={"maxlength": 100, "required": True, "autocomplete": "off"}),
    )
