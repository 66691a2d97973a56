"""Showing a refused service call on a Django form, for every UI (My Account and the back office)."""

from __future__ import annotations

from django import forms

from konto.core.exceptions import KontoError


def add_service_error(form: forms.BaseForm, error: KontoError) -> None:
    """Put the error's field messages next to the fields they name; anything else above the form."""
    placed = False
    for field, message in error.fields.items():
        if field in form.fields:
            form.add_error(field, str(message))
            placed = True
    if not placed:
        form.add_error(None, str(error.message))
