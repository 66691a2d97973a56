"""The hosted card form: checks a test card's number, expiry and CVC like a processor's card fields."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from konto.sandbox.cards import find_test_card, passes_luhn

_EXPIRY = re.compile(r"^(\d{1,2})\s*/\s*(\d{2}|\d{4})$")


class _BlankedTextInput(forms.TextInput):
    """A text input that never echoes what was typed (the CVC is not sent back to the browser)."""

    def format_value(self, value: Any) -> str | None:
        return None


class CardForm(forms.Form):
    number = forms.CharField(
        label=_("Card number"),
        max_length=30,
        error_messages={"required": _("Enter the card number.")},
        widget=forms.TextInput(
            attrs={"autocomplete": "cc-number", "inputmode": "numeric", "placeholder": "4242 4242 4242 4242"}
        ),
    )
    expiry = forms.CharField(
        label=_("Expiry date (MM/YY)"),
        max_length=9,
        error_messages={"required": _("Enter the expiry date as MM/YY.")},
        widget=forms.TextInput(attrs={"autocomplete": "cc-exp", "inputmode": "numeric", "placeholder": "MM/YY"}),
    )
    cvc = forms.CharField(
        label=_("Security code (CVC)"),
        max_length=4,
        error_messages={"required": _("Enter the security code (CVC).")},
        widget=_BlankedTextInput(attrs={"autocomplete": "cc-csc", "inputmode": "numeric"}),
    )
    holder = forms.CharField(
        label=_("Name on the card"),
        max_length=100,
        error_messages={"required": _("Enter the name on the card.")},
        widget=forms.TextInput(attrs={"autocomplete": "cc-name"}),
    )

    def __init__(self, *args: Any, today: date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = today

    def clean_number(self) -> str:
        number = re.sub(r"[\s-]", "", self.cleaned_data["number"])
        if not number.isdigit() or not 12 <= len(number) <= 19:
            raise forms.ValidationError(_("Enter the card number: 12 to 19 digits."), code="invalid")
        if not passes_luhn(number):
            raise forms.ValidationError(_("This card number is not valid. Check the digits you typed."), code="luhn")
        if find_test_card(number) is None:
            raise forms.ValidationError(
                _("The sandbox accepts only the test cards listed on this page, never a real card."),
                code="not_a_test_card",
            )
        return number

    def clean_expiry(self) -> tuple[int, int]:
        match = _EXPIRY.match(self.cleaned_data["expiry"].strip())
        if match is None or not 1 <= int(match.group(1)) <= 12:
            raise forms.ValidationError(_("Enter the expiry date as MM/YY, for example 12/34."), code="invalid")
        month = int(match.group(1))
        year = int(match.group(2))
        if year < 100:
            year += 2000
        if (year, month) < (self.today.year, self.today.month):
            raise forms.ValidationError(_("This card has expired. Enter an expiry date in the future."), code="expired")
        return month, year

    def clean_cvc(self) -> str:
        cvc: str = self.cleaned_data["cvc"].strip()
        if not re.fullmatch(r"\d{3,4}", cvc):
            raise forms.ValidationError(_("Enter the 3- or 4-digit security code from the card."), code="invalid")
        return cvc
