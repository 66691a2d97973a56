"""App config for backoffice."""

from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    name = "konto.backoffice"
    label = "backoffice"
