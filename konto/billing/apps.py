"""App config for billing."""

from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "konto.billing"
    label = "billing"
