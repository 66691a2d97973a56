"""Forms of paying open invoices in My Account: choose invoices, method and amount, then confirm the summary.

The selection form checks what the person can correct before the summary
(nothing chosen, an invoice that is not one of the org's open invoices, an
amount that is no number or more than the selection); whether the payment may
be made is decided by `payments.services.pay.pay_invoices`, whose refusals are
shown on the same form.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from konto.accounts.models import Org
from konto.billing import selectors as billing_selectors
from konto.billing.exceptions import NotFound
from konto.billing.models import Invoice
from konto.core.money import CENT
from konto.payments.models import PaymentMethod
from konto.portal.templatetags.konto_format import money_text

MAX_INVOICES = 100  # one payment pays at most this many invoices
MAX_ID_LENGTH = 40
_NOISE = re.compile(r"(?i)^(€|eur|chf|fr\.)?(?P<body>.*?)(€|eur|chf|fr\.)?$")
_PLAIN = re.compile(r"(?P<whole>[0-9]{1,12})(?:[.,](?P<cents>[0-9]{1,2}))?")
# Thousands grouped by ".", ",", apostrophe or space, then optionally the other mark and the cents.
_GROUPED = re.compile(
    r"(?P<whole>[1-9][0-9]{0,2}(?P<sep>[.,'\u2019 \u00a0])[0-9]{3}(?:(?P=sep)[0-9]{3}){0,2})"
    r"(?:(?!(?P=sep))[.,](?P<cents>[0-9]{1,2}))?"
)


def parse_amount(text: str) -> Decimal | None:
    """An amount typed in German or English notation ("1.234,56", "1,234.56", "119", "119,5") or None.

    One "," or "." followed by one or two digits marks the cents; thousands may
    be grouped by the other mark, an apostrophe or a space. Anything else (three
    decimals, letters, a sign) is not an amount.
    """
    match = _NOISE.fullmatch(text.strip())
    body = match.group("body").strip() if match else ""
    found = _PLAIN.fullmatch(body) or _GROUPED.fullmatch(body)
    if found is None:
        return None
    whole = re.sub(r"[^0-9]", "", found.group("whole"))
    return Decimal(f"{whole}.{found.group('cents') or '0'}").quantize(CENT)


class PublicIdListField(forms.Field):
    """Several public ids from checkboxes or hidden inputs, in order, without repeats."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[str]:
        if not value:
            return []
        values = [value] if isinstance(value, str) else list(value)
        ids: list[str] = []
        for item in values:
            text = str(item).strip()
            if text and text not in ids:
                ids.append(text[: MAX_ID_LENGTH + 1])
        return ids


class PaySelectionForm(forms.Form):
    """Which open invoices to pay, with which of the org's card or SEPA methods, and how much.

    `open_invoices` are the org's open invoices, oldest due first; `methods` its
    active card and SEPA Direct Debit methods. The cleaned data holds
    `invoices` (in the order of `open_invoices`), `total` (their open amount),
    `currency`, `payment_method` and `charge_amount` (the total, or the
    different amount asked for).
    """

    # Named like pay_invoices' arguments, so the service's field errors land next to the right input.
    invoice_ids = PublicIdListField(required=False)
    method = forms.CharField(required=False, max_length=MAX_ID_LENGTH)
    is_partial = forms.BooleanField(label=_("Pay a different amount"), required=False)
    amount = forms.CharField(
        label=_("Amount to pay"),
        required=False,
        max_length=30,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "size": 12}),
    )

    def __init__(
        self,
        data: Any = None,
        *,
        org: Org,
        open_invoices: Sequence[Invoice],
        methods: Sequence[PaymentMethod],
        locale: str = "de_DE",
        **kwargs: Any,
    ) -> None:
        super().__init__(data, **kwargs)
        self.org = org
        self.locale = locale  # for amounts in error messages
        self.open_invoices = list(open_invoices)
        self.methods = list(methods)

    # ------------------------------------------------------------ fields

    def clean_invoice_ids(self) -> list[str]:
        ids: list[str] = self.cleaned_data["invoice_ids"]
        if not ids:
            raise forms.ValidationError(gettext("Select at least one open invoice to pay."))
        if len(ids) > MAX_INVOICES:
            raise forms.ValidationError(
                gettext("Select at most %(max)d invoices for one payment.") % {"max": MAX_INVOICES}
            )
        open_ids = {invoice.public_id for invoice in self.open_invoices}
        for public_id in ids:
            if public_id not in open_ids:
                raise forms.ValidationError(self._not_open_message(public_id))
        return ids

    def _not_open_message(self, public_id: str) -> str:
        """Why an id cannot be paid: unknown (or another org's, which looks the same), or not open any more."""
        try:
            invoice = billing_selectors.get_invoice(org=self.org, public_id=public_id[:MAX_ID_LENGTH])
        except NotFound:
            return gettext("One of the selected invoices was not found. Choose from your open invoices below.")
        if invoice.status == Invoice.Status.PAID:
            return gettext("Invoice %(number)s has already been paid.") % {"number": invoice.number}
        return gettext("Invoice %(number)s is not open (%(status)s), so it cannot be paid.") % {
            "number": invoice.number or invoice.public_id,
            "status": invoice.get_status_display(),
        }

    def clean_method(self) -> PaymentMethod | None:
        public_id: str = self.cleaned_data["method"]
        if not self.methods:
            return None
        chosen = next((method for method in self.methods if method.public_id == public_id), None)
        if chosen is None:
            raise forms.ValidationError(gettext("Choose one of your payment methods."))
        return chosen

    def clean_amount(self) -> Decimal | None:
        text: str = self.cleaned_data["amount"]
        if not self.cleaned_data.get("is_partial"):
            return None
        if not text.strip():
            raise forms.ValidationError(gettext("Enter the amount you want to pay, e.g. 100,00."))
        amount = parse_amount(text)
        if amount is None:
            raise forms.ValidationError(gettext("Enter the amount as a number with at most two decimals, e.g. 100,00."))
        if amount <= 0:
            raise forms.ValidationError(gettext("Enter an amount greater than 0."))
        return amount

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        ids = data.get("invoice_ids")
        if not ids:
            return data
        chosen = set(ids)
        invoices = [invoice for invoice in self.open_invoices if invoice.public_id in chosen]
        currencies = {invoice.currency for invoice in invoices}
        if len(currencies) > 1:
            self.add_error("invoice_ids", gettext("Select invoices of one currency for one payment."))
            return data
        total = sum((invoice.open_amount for invoice in invoices), Decimal("0"))
        data["invoices"] = invoices
        data["total"] = total
        data["currency"] = invoices[0].currency
        data["payment_method"] = data.get("method")
        amount = data.get("amount")
        if amount is not None and amount > total:
            self.add_error(
                "amount",
                gettext("Enter at most %(total)s, the open amount of the selected invoices.")
                % {"total": money_text(total, invoices[0].currency, self.locale)},
            )
        data["charge_amount"] = amount if amount is not None else total
        return data


class PayConfirmForm(forms.Form):
    """The summary's confirmation: what it showed, and the idempotency key made when it was rendered."""

    invoice_ids = PublicIdListField()
    method = forms.CharField(max_length=MAX_ID_LENGTH)
    amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=CENT)
    idempotency_key = forms.CharField(max_length=255)

    def selection_data(self) -> dict[str, Any]:
        """The selection as the first step's form reads it, to show the form or the summary again."""
        data = self.data
        ids = data.getlist("invoice_ids") if hasattr(data, "getlist") else data.get("invoice_ids", [])
        return {
            "invoice_ids": ids,
            "method": data.get("method", ""),
            "is_partial": data.get("is_partial", ""),
            "amount": (data.get("is_partial") and data.get("amount", "")) or "",
        }
