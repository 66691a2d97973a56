"""Opaque public identifiers (`org_…`, `usr_…`) that never reveal counts."""

from __future__ import annotations

import secrets
from typing import Any

from django.db import models

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def new_public_id(prefix: str) -> str:
    return prefix + "_" + "".join(secrets.choice(_ALPHABET) for _ in range(16))


class PublicIdField(models.CharField):  # type: ignore[type-arg]  # django-stubs generic field
    """A unique, random, prefixed id assigned when the row is first saved."""

    def __init__(self, *args: Any, prefix: str = "", **kwargs: Any) -> None:
        self.prefix = prefix
        kwargs.setdefault("max_length", 32)
        kwargs.setdefault("unique", True)
        kwargs.setdefault("editable", False)
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["prefix"] = self.prefix
        return name, path, args, kwargs

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = getattr(model_instance, self.attname)
        if not value:
            value = new_public_id(self.prefix)
            setattr(model_instance, self.attname, value)
        return value
