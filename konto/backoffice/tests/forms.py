"""Build the POST data of an admin page from what it rendered, like a browser submitting it unchanged."""

from __future__ import annotations

from typing import Any

from django.db.models import Model
from django.test.client import Client


def _post_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, Model):
        return value.pk
    if isinstance(value, list | tuple):
        return [_post_value(item) for item in value]
    return value


def _add_form(data: dict[str, Any], form: Any) -> None:
    for name in form.fields:
        value = form[name].value()
        if value is False:
            continue  # an unticked checkbox is not submitted
        data[form.add_prefix(name)] = "on" if value is True else _post_value(value)


def admin_form_data(client: Client, url: str) -> dict[str, Any]:
    """The data the change (or add) form at `url` would submit as rendered, inlines included."""
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    data: dict[str, Any] = {}
    _add_form(data, response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        _add_form(data, formset.management_form)
        for form in formset.forms:
            _add_form(data, form)
    return data
