"""Forms of the invoice pages: the list filters, emailing and sharing an invoice, invoice recipients.

The forms collect and redisplay input; the rules (address count and format,
message length, link expiry, recipient limits) live in
`billing.services.sharing`, so every caller gets the same checks and messages.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from konto.billing.models import InvoiceRecipient, InvoiceStatus
from konto.billing.selectors import OVERDUE
from konto.billing.services.sharing import DEFAULT_SHARE_DAYS, MAX_EMAIL_MESSAGE, MAX_SHARE_DAYS

STATUS_CHOICES: list[tuple[str, Any]] = [
    ("", _("All statuses")),
    (InvoiceStatus.OPEN, _("Open")),
    (OVERDUE, _("Overdue")),
    (InvoiceStatus.PAID, _("Paid")),
    (InvoiceStatus.VOID, _("Void")),
    (InvoiceStatus.UNCOLLECTIBLE, _("Uncollectible")),
]


class InvoiceFilterForm(forms.Form):
    """Filters of the invoice list, read from the query string; an invalid filter is reported and not applied."""

    status = forms.ChoiceField(
        label=_("Status"),
        choices=STATUS_CHOICES,
        required=False,
        error_messages={"invalid_choice": _("Choose one of the listed statuses.")},
    )
    issued_from = forms.DateField(
        label=_("Issued from"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": _("Enter a date as YYYY-MM-DD.")},
    )
    issued_until = forms.DateField(
        label=_("Issued until"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": _("Enter a date as YYYY-MM-DD.")},
    )
    q = forms.CharField(
        label=_("Invoice number"),
        required=False,
        max_length=40,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("e.g. RE-2026-000123"), "maxlength": 40}),
        error_messages={"max_length": _("Search for at most 40 characters of an invoice number.")},
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("issued_from"), data.get("issued_until")
        if isinstance(start, date) and isinstance(end, date) and start > end:
            self.add_error("issued_until", _("The end date must be on or after the start date."))
            data.pop("issued_from", None)  # a reversed range filters by neither end
        return data

    def filters(self) -> dict[str, Any]:
        """The valid filters only; invalid fields are left out (their errors are shown)."""
        if not self.is_bound:
            return {}
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {
            "status": data.get("status") or None,
            "issued_from": data.get("issued_from"),
            "issued_until": data.get("issued_until"),
            "number": (data.get("q") or "").strip() or None,
        }

    @property
    def is_filtered(self) -> bool:
        return any(value for value in self.filters().values())


class InvoiceEmailForm(forms.Form):
    addresses = forms.CharField(
        label=_("Email addresses"),
        required=False,
        help_text=_("Up to 10 addresses, separated by commas or one per line."),
        widget=forms.Textarea(attrs={"rows": 2, "autocomplete": "email", "spellcheck": "false"}),
    )
    message = forms.CharField(
        label=_("Message"),
        required=False,
        help_text=_("Added above the invoice details, at most 1,000 characters."),
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": MAX_EMAIL_MESSAGE}),
    )


class ShareLinkForm(forms.Form):
    expires_in_days = forms.CharField(
        label=_("Valid for (days)"),
        required=False,
        initial=DEFAULT_SHARE_DAYS,
        help_text=_("From 1 to 90 days. You can revoke the link at any time."),
        widget=forms.NumberInput(attrs={"min": 1, "max": MAX_SHARE_DAYS, "step": 1, "inputmode": "numeric"}),
    )


class InvoiceRecipientForm(forms.Form):
    email = forms.CharField(
        label=_("Email address"),
        required=False,
        widget=forms.EmailInput(attrs={"maxlength": 254, "autocomplete": "email", "required": True}),
    )
    name = forms.CharField(
        label=_("Name"),
        required=False,
        widget=forms.TextInput(attrs={"maxlength": 150, "autocomplete": "name"}),
    )
    format = forms.CharField(
        label=_("Format"),
        required=False,
        initial=InvoiceRecipient.Format.PDF,
        widget=forms.Select(choices=InvoiceRecipient.Format.choices),
        help_text=_("XRechnung XML is for public-sector buyers that require it; everyone else gets the PDF."),
    )
