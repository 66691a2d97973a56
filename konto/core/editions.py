"""Editions of the vendor's product and their order (Essentials lowest)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Edition(models.TextChoices):
    ESSENTIALS = "essentials", _("Essentials")
    PROFESSIONAL = "professional", _("Professional")
    ENTERPRISE = "enterprise", _("Enterprise")
    UNLIMITED = "unlimited", _("Unlimited")


_RANK = {edition.value: rank for rank, edition in enumerate(Edition)}


def edition_rank(edition: str) -> int:
    """Position of an edition in Essentials < Professional < Enterprise < Unlimited."""
    return _RANK[edition]


def higher_editions(edition: str) -> list[Edition]:
    """The editions an org on `edition` could upgrade to, lowest first."""
    return [e for e in Edition if _RANK[e.value] > _RANK[edition]]
