"""App config for the shared kernel."""

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "konto.core"
    label = "core"
