"""App config for the sandbox gateway: Konto's stand-in for a card processor's servers."""

from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "konto.sandbox"
    label = "sandbox"
    verbose_name = "Sandbox gateway"
