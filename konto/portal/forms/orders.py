"""Forms of the order flow: choose product and quantity, then confirm the priced preview.

The product and quantity are checked by `price_order` (one set of rules for
My Account and the API); the forms only carry the values and place the
service's errors next to the fields they belong to.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.functional import lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from konto.contracts.services.pricing import MAX_QUANTITY
from konto.core.exceptions import KontoError

_SIGNED_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")


def _quantity_range_message() -> str:
    return gettext("Enter a quantity from 1 to %(max)d.") % {"max": MAX_QUANTITY}


# Rendered in the language of the request that shows it, not the one active at import.
QUANTITY_RANGE_MESSAGE = lazy(_quantity_range_message, str)()
# Service field names of a one-product order → form fields.
SERVICE_FIELDS = {"lines[0].product": "product", "lines[0].quantity": "quantity", "lines": "product"}


class OrderForm(forms.Form):
    """One product and a quantity, bought on one of the org's contracts."""

    contract = forms.CharField(max_length=40, required=False, widget=forms.HiddenInput)
    product = forms.CharField(
        label=_("Product"),
        max_length=50,
        widget=forms.HiddenInput,
        error_messages={"required": _("Choose a product."), "max_length": _("Choose a product.")},
    )
    quantity = forms.CharField(
        label=_("Quantity"),
        max_length=100,
        widget=forms.NumberInput(attrs={"min": 1, "max": MAX_QUANTITY, "step": 1, "inputmode": "numeric"}),
        error_messages={
            "required": QUANTITY_RANGE_MESSAGE,
            "max_length": QUANTITY_RANGE_MESSAGE,
        },
    )

    def clean_quantity(self) -> str:
        """A whole number out of range gets the range, however many digits it has; the rest is the service's."""
        text: str = self.cleaned_data["quantity"].strip()
        if _SIGNED_WHOLE_NUMBER.fullmatch(text) and not (len(text) <= 6 and 1 <= int(text) <= MAX_QUANTITY):
            raise forms.ValidationError(QUANTITY_RANGE_MESSAGE)
        return text

    def add_service_error(self, error: KontoError) -> None:
        """Show a refused pricing or order next to its field, else above the form."""
        placed = False
        for field, message in error.fields.items():
            name = SERVICE_FIELDS.get(field, field)
            if name in self.fields and name not in self.errors:
                self.add_error(name, str(message))
                placed = True
        if not placed:
            self.add_error(None, str(error.message))


class ConfirmOrderForm(OrderForm):
    """The confirmation of a preview: the order plus the preview's fingerprint and idempotency key."""

    idempotency_key = forms.CharField(max_length=255, widget=forms.HiddenInput)
    fingerprint = forms.CharField(max_length=64, widget=forms.HiddenInput)
    # Checked by place_order (at most 35 characters, no control characters).
    po_number = forms.CharField(max_length=1000, required=False, strip=True)

    def has_valid_order(self) -> bool:
        """The product and quantity are present, whatever the preview fields say."""
        return not any(name in self.errors for name in ("contract", "product", "quantity"))

    def order_data(self) -> dict[str, Any]:
        return {name: self.cleaned_data.get(name, "") for name in ("contract", "product", "quantity", "po_number")}
