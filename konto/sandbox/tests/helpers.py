"""Adding a test card the way a browser does: start a setup, fill in the sandbox's card page, answer 3-D Secure."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.test import Client

from konto.payments.gateways.base import SetupOutcome, SetupStart
from konto.payments.gateways.sandbox import SandboxGateway

ORG_REF = "org_baeckerei000001"
RETURN_URL = "http://testserver/account/payment/methods/card/return/"
CARD_FORM = {"expiry": "12/30", "cvc": "123", "holder": "Bea Buchhaltung"}


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def add_card(
    client: Client,
    number: str,
    *,
    decision: str | None = None,
    org_ref: str = ORG_REF,
    customer_ref: str = "",
) -> tuple[SetupStart, SetupOutcome]:
    """Save a test card through the hosted page; `decision` ("confirm"/"fail") answers a 3-D Secure challenge."""
    gateway = SandboxGateway()
    start = gateway.begin_card_setup(org_ref=org_ref, customer_ref=customer_ref, return_url=RETURN_URL)
    response = client.post(path_of(start.redirect_url), {"number": number, **CARD_FORM})
    assert response.status_code == 302, response.content.decode()
    if decision is not None:
        response = client.post(path_of(response["Location"]), {"decision": decision})
        assert response.status_code == 302
    return start, gateway.finish_card_setup(setup_ref=start.setup_ref)
