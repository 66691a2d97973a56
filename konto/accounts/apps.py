"""App config for accounts."""

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_standard_profiles(**kwargs: Any) -> None:
    from konto.accounts.standard import ensure_standard_profiles

    ensure_standard_profiles()


class AccountsConfig(AppConfig):
    name = "konto.accounts"
    label = "accounts"

    def ready(self) -> None:
        # After migrate and after every flush (tests), like Django's own permissions.
        post_migrate.connect(_ensure_standard_profiles, sender=self, dispatch_uid="konto_standard_profiles")
