"""Forms of the payment methods page: the SEPA Direct Debit mandate and removing a payment method.

The forms only collect and redisplay input; every rule (IBAN check digits,
BIC format, an accepted mandate text, an account holder, a replacement for a
method that pays an active contract) lives in `payments.services.methods`,
so My Account and the API refuse the same values with the same messages.
Browser hints (required, maxlength, autocomplete) mirror those rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _


class SepaMandateForm(forms.Form):
    """Account holder, IBAN and BIC of a new SEPA Direct Debit mandate, and the acceptance of its text."""

    account_holder = forms.CharField(
        label=_("Account holder"),
        required=False,
        help_text=_("The name of the account as your bank knows it."),
        widget=forms.TextInput(attrs={"maxlength": 70, "required": True, "autocomplete": "name"}),
    )
    iban = forms.CharField(
        label=_("IBAN"),
        required=False,
        help_text=_("Spaces are fine, e.g. DE89 3704 0044 0532 0130 00."),
        widget=forms.TextInput(attrs={"maxlength": 42, "required": True, "autocomplete": "off", "spellcheck": "false"}),
    )
    bic = forms.CharField(
        label=_("BIC"),
        required=False,
        help_text=_("8 or 11 characters, e.g. COBADEFFXXX."),
        widget=forms.TextInput(attrs={"maxlength": 11, "required": True, "autocomplete": "off", "spellcheck": "false"}),
    )
    is_accepted = forms.BooleanField(
        label=_("I accept the SEPA Direct Debit mandate shown above."),
        required=False,
        widget=forms.CheckboxInput(attrs={"required": True}),
    )


class PaymentMethodRemoveForm(forms.Form):
    """Confirms removing a payment method and names the one that pays the org's contracts from then on."""

    replacement = forms.ChoiceField(
        label=_("Pay from now on with"),
        required=False,
        help_text=_("Needed when this payment method pays an active contract."),
        error_messages={"invalid_choice": _("Choose one of your other payment methods.")},
    )

    def __init__(self, *args: Any, choices: Iterable[tuple[str, str]], **kwargs: Any) -> None:
        """`choices`: (public id, label) of the org's other active payment methods."""
        super().__init__(*args, **kwargs)
        field = cast(forms.ChoiceField, self.fields["replacement"])
        field.choices = [("", _("No replacement")), *choices]
