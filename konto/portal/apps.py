"""App config for portal."""

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "konto.portal"
    label = "portal"
