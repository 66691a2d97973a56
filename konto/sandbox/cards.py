"""The sandbox's test cards: which number behaves how. Real card numbers are refused."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class Behaviour(models.TextChoices):
    """What a test card does; the card row keeps this, never the number."""

    SUCCEEDS = "succeeds", _("Succeeds")
    CHALLENGE = "challenge", _("3-D Secure challenge")
    DECLINED = "declined", _("Declined")
    INSUFFICIENT_FUNDS = "insufficient_funds", _("Insufficient funds")
    EXPIRED_CARD = "expired_card", _("Expired card")
    PROCESSING_ERROR = "processing_error", _("Processing error")
    TIMEOUT = "timeout", _("No answer (timeout)")


@dataclass(frozen=True)
class TestCard:
    number: str  # digits only
    brand: str  # "visa", "mastercard"
    behaviour: Behaviour
    outcome: Promise  # what happens, for the lists shown to people

    __test__ = False  # not a pytest test class, despite the name

    @property
    def display_number(self) -> str:
        """The number in groups of four, as people type it: "4242 4242 4242 4242"."""
        return " ".join(self.number[i : i + 4] for i in range(0, len(self.number), 4))

    @property
    def last4(self) -> str:
        return self.number[-4:]


TEST_CARDS: tuple[TestCard, ...] = (
    TestCard("4242424242424242", "visa", Behaviour.SUCCEEDS, _("Payment succeeds")),
    TestCard("5555555555554444", "mastercard", Behaviour.SUCCEEDS, _("Payment succeeds (Mastercard)")),
    TestCard(
        "4000002500003155",
        "visa",
        Behaviour.CHALLENGE,
        _(
            "Asks for 3-D Secure confirmation when the card is added and for payments made while you are present; "
            "automatic payments then succeed"
        ),
    ),
    TestCard("4000000000000002", "visa", Behaviour.DECLINED, _("Payment is declined")),
    TestCard("4000000000009995", "visa", Behaviour.INSUFFICIENT_FUNDS, _("Payment is declined: insufficient funds")),
    TestCard("4000000000000069", "visa", Behaviour.EXPIRED_CARD, _("Payment is declined: expired card")),
    TestCard("4000000000000119", "visa", Behaviour.PROCESSING_ERROR, _("Payment fails: processing error")),
    TestCard(
        "4000000000003220",
        "visa",
        Behaviour.TIMEOUT,
        _("The payment succeeds but the answer never arrives (timeout); checking later shows it succeeded"),
    ),
)

_BY_NUMBER = {card.number: card for card in TEST_CARDS}


def find_test_card(number: str) -> TestCard | None:
    """The test card with this number (digits only), or None for any other number."""
    return _BY_NUMBER.get(number)


def passes_luhn(number: str) -> bool:
    """The Luhn check digit test every card number passes (digits only)."""
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0
