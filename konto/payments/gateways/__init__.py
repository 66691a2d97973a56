"""Payment gateways behind one interface (base.Gateway): the built-in sandbox and Stripe."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from konto.payments.gateways.base import Gateway
from konto.payments.gateways.sandbox import SandboxGateway
from konto.payments.gateways.stripe import StripeGateway

GATEWAY_NAMES = ("sandbox", "stripe")


def get_gateway(name: str | None = None) -> Gateway:
    """The gateway by name ("sandbox", "stripe"); None → settings.KONTO_PAYMENT_GATEWAY.

    A payment method or payment keeps the name of the gateway that holds it,
    so call this with `method.gateway` for existing ones and without a name
    for new ones.
    """
    name = name or str(getattr(settings, "KONTO_PAYMENT_GATEWAY", "sandbox"))
    if name == "sandbox":
        return SandboxGateway()
    if name == "stripe":
        secret_key = str(getattr(settings, "STRIPE_SECRET_KEY", ""))
        if not secret_key:
            raise ImproperlyConfigured("The Stripe gateway needs STRIPE_SECRET_KEY.")
        return StripeGateway(
            secret_key=secret_key,
            api_base=str(getattr(settings, "STRIPE_API_BASE", "")),
            max_network_retries=int(getattr(settings, "STRIPE_MAX_NETWORK_RETRIES", 2)),
            timeout_seconds=float(getattr(settings, "STRIPE_TIMEOUT_SECONDS", 30)),
        )
    raise ImproperlyConfigured(f"Unknown payment gateway {name!r}; use one of {', '.join(GATEWAY_NAMES)}.")
