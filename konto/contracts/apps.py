"""App config for contracts."""

from django.apps import AppConfig


class ContractsConfig(AppConfig):
    name = "konto.contracts"
    label = "contracts"
