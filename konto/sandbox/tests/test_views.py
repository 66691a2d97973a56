"""The sandbox's hosted card page and 3-D Secure pages, as a browser uses them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from django.utils import translation
from django.views.debug import SafeExceptionReporterFilter

from konto.payments.gateways.sandbox import SandboxGateway
from konto.sandbox import server
from konto.sandbox.models import SandboxCard, SandboxCharge, SandboxSetup
from konto.sandbox.tests.helpers import ORG_REF, RETURN_URL, path_of
from konto.sandbox.views import SandboxCardView

pytestmark = pytest.mark.django_db

VISA = "4242 4242 4242 4242"


@pytest.fixture(autouse=True)
def _today() -> Any:
    # 27 November 2026: "11/26" is still valid, "10/26" has expired.
    with time_machine.travel(datetime(2026, 11, 27, 9, 0, tzinfo=UTC), tick=True):
        yield


@pytest.fixture
def setup() -> SandboxSetup:
    return server.create_setup(org_ref=ORG_REF, customer_ref="", return_url=RETURN_URL)


def card_page(setup: SandboxSetup) -> str:
    return path_of(server.card_page_url(setup))


def post_card(client: Any, setup: SandboxSetup, language: str = "en", **fields: str) -> Any:
    data = {"number": VISA, "expiry": "12/30", "cvc": "123", "holder": "Bea Buchhaltung"} | fields
    return client.post(card_page(setup), data, headers={"accept-language": language})


def assert_nothing_stored(setup: SandboxSetup) -> None:
    setup.refresh_from_db()
    assert setup.status == SandboxSetup.Status.PENDING
    assert setup.card is None
    assert SandboxCard.objects.count() == 0


# ---------------------------------------------------------------- the page


def test_card_page_is_labelled_sandbox_and_lists_the_test_cards(client, setup):
    response = client.get(card_page(setup), headers={"accept-language": "en"})

    html = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="en">' in html
    assert "Sandbox — test cards only" in html
    assert '<label for="id_number">Card number</label>' in html
    assert '<label for="id_expiry">Expiry date (MM/YY)</label>' in html
    assert '<label for="id_cvc">Security code (CVC)</label>' in html
    assert '<label for="id_holder">Name on the card</label>' in html
    assert 'autocomplete="cc-number"' in html
    for number in ("4242 4242 4242 4242", "4000 0025 0000 3155", "4000 0000 0000 3220", "5555 5555 5555 4444"):
        assert f"<code>{number}</code>" in html
    assert f'href="{RETURN_URL}"' in html  # cancel goes back unchanged
    assert response["Cache-Control"].startswith("max-age=0")


def test_card_page_in_german(client, setup):
    response = client.get(card_page(setup), headers={"accept-language": "de"})

    assert '<html lang="de">' in response.content.decode()


def test_unknown_setup_is_404(client):
    assert client.get("/sandbox-gateway/setup/seti_sb_nope/").status_code == 404


def test_pages_are_absent_when_the_sandbox_is_disabled(client, setup, settings):
    settings.KONTO_SANDBOX_ENABLED = False

    assert client.get(card_page(setup)).status_code == 404
    assert post_card(client, setup).status_code == 404
    assert_nothing_stored(setup)


# ---------------------------------------------------------------- saving a card


def test_valid_card_is_tokenised_and_the_browser_returns(client, setup):
    response = post_card(client, setup)

    setup.refresh_from_db()
    card = SandboxCard.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{RETURN_URL}?setup={setup.ref}"
    assert setup.status == SandboxSetup.Status.SUCCEEDED
    assert setup.card == card
    assert (card.brand, card.last4, card.exp_month, card.exp_year, card.behaviour, card.is_active) == (
        "visa",
        "4242",
        12,
        2030,
        "succeeds",
        True,
    )


def test_return_url_with_a_query_keeps_it(client):
    setup = server.create_setup(org_ref=ORG_REF, customer_ref="", return_url=RETURN_URL + "?next=overview")

    response = post_card(client, setup)

    assert response["Location"] == f"{RETURN_URL}?next=overview&setup={setup.ref}"


def test_expiry_this_month_and_four_digit_year_and_dashes_are_accepted(client, setup):
    response = post_card(client, setup, number="4242-4242-4242-4242", expiry="11 / 2026")

    assert response.status_code == 302
    card = SandboxCard.objects.get()
    assert (card.exp_month, card.exp_year) == (11, 2026)


def test_finished_setup_cannot_take_a_second_card(client, setup):
    post_card(client, setup)

    response = post_card(client, setup, number="5555 5555 5555 4444")

    assert response.status_code == 302
    assert response["Location"] == f"{RETURN_URL}?setup={setup.ref}"
    assert SandboxCard.objects.count() == 1
    assert client.get(card_page(setup))["Location"] == f"{RETURN_URL}?setup={setup.ref}"


@pytest.mark.parametrize(
    ("fields", "field", "english"),
    [
        ({"number": "4242 4242 4242 4241"}, "number", "This card number is not valid. Check the digits you typed."),
        ({"number": "4242"}, "number", "Enter the card number: 12 to 19 digits."),
        (
            {"number": "4012 8888 8888 1881"},
            "number",
            "The sandbox accepts only the test cards listed on this page, never a real card.",
        ),
        ({"expiry": "10/26"}, "expiry", "This card has expired. Enter an expiry date in the future."),
        ({"expiry": "13/30"}, "expiry", "Enter the expiry date as MM/YY, for example 12/34."),
        ({"expiry": "1230"}, "expiry", "Enter the expiry date as MM/YY, for example 12/34."),
        ({"cvc": "12"}, "cvc", "Enter the 3- or 4-digit security code from the card."),
        ({"cvc": "12a"}, "cvc", "Enter the 3- or 4-digit security code from the card."),
        ({"number": ""}, "number", "Enter the card number."),
        ({"expiry": ""}, "expiry", "Enter the expiry date as MM/YY."),
        ({"cvc": ""}, "cvc", "Enter the security code (CVC)."),
        ({"holder": ""}, "holder", "Enter the name on the card."),
    ],
)
def test_bad_input_is_shown_next_to_its_field_and_nothing_is_stored(client, setup, fields, field, english):
    response = post_card(client, setup, **fields)

    html = response.content.decode()
    assert response.status_code == 422
    assert f'<p class="field-error" id="id_{field}_error">{english}</p>' in html
    assert f'aria-describedby="id_{field}_error"' in html
    assert 'aria-invalid="true"' in html
    assert "The card was not added." in html
    assert_nothing_stored(setup)


def test_errors_follow_the_request_language(client, setup):
    response = post_card(client, setup, language="de", cvc="12")

    with translation.override("de"):
        expected = translation.gettext("Enter the 3- or 4-digit security code from the card.")
    html = response.content.decode()
    assert response.status_code == 422
    assert '<html lang="de">' in html
    assert f'<p class="field-error" id="id_cvc_error">{expected}</p>' in html
    assert_nothing_stored(setup)


def test_cvc_is_never_echoed_back(client, setup):
    response = post_card(client, setup, cvc="987", holder="")

    html = response.content.decode()
    assert response.status_code == 422
    assert "987" not in html
    assert 'value="4242 4242 4242 4242"' in html  # the number stays so a typo can be fixed


def test_card_form_post_data_is_hidden_from_error_reports(setup):
    request = RequestFactory().post(card_page(setup), {"number": VISA, "expiry": "12/30", "cvc": "123", "holder": "B"})
    request.user = AnonymousUser()

    response = SandboxCardView.as_view()(request, ref=setup.ref)

    hidden = SafeExceptionReporterFilter().get_post_parameters(request)
    assert response.status_code == 302
    assert hidden["number"] == hidden["cvc"] == hidden["expiry"] == hidden["holder"] == "********************"


# ---------------------------------------------------------------- 3-D Secure


def test_challenge_card_goes_to_the_challenge_page(client, setup):
    response = post_card(client, setup, number="4000 0025 0000 3155")

    challenge = f"http://testserver/sandbox-gateway/setup/{setup.ref}/challenge/"
    assert response["Location"] == challenge
    page = client.get(path_of(challenge), headers={"accept-language": "en"})
    html = page.content.decode()
    assert page.status_code == 200
    assert "Sandbox" in html
    assert "Visa •••• 3155" in html
    assert (
        '<button type="submit" name="decision" value="confirm" class="button button--primary">Confirm</button>' in html
    )
    assert 'value="fail" class="button button--secondary">Fail authentication</button>' in html
    assert client.get(card_page(setup))["Location"] == challenge  # the card page sends a reload there too


def test_setup_challenge_confirmed_returns_to_konto(client, setup):
    post_card(client, setup, number="4000 0025 0000 3155")

    response = client.post(f"/sandbox-gateway/setup/{setup.ref}/challenge/", {"decision": "confirm"})

    setup.refresh_from_db()
    assert response["Location"] == f"{RETURN_URL}?setup={setup.ref}"
    assert setup.status == SandboxSetup.Status.SUCCEEDED
    assert setup.card is not None
    assert setup.card.is_active is True


def test_setup_challenge_answered_twice_keeps_the_first_answer(client, setup):
    post_card(client, setup, number="4000 0025 0000 3155")
    client.post(f"/sandbox-gateway/setup/{setup.ref}/challenge/", {"decision": "fail"})

    client.post(f"/sandbox-gateway/setup/{setup.ref}/challenge/", {"decision": "confirm"})

    setup.refresh_from_db()
    assert (setup.status, setup.failure_code) == (SandboxSetup.Status.FAILED, "authentication_failed")
    assert SandboxCard.objects.get().is_active is False


def test_setup_challenge_of_a_setup_without_card_is_404(client, setup):
    assert client.get(f"/sandbox-gateway/setup/{setup.ref}/challenge/").status_code == 404


def test_charge_challenge_page_shows_the_amount(client, setup):
    post_card(client, setup, number="4000 0025 0000 3155")
    client.post(f"/sandbox-gateway/setup/{setup.ref}/challenge/", {"decision": "confirm"})
    setup.refresh_from_db()
    assert setup.card is not None
    outcome = SandboxGateway().charge(
        method_ref=setup.card.token,
        customer_ref="",
        amount=Decimal("907.40"),
        currency="EUR",
        idempotency_key="pay_3ds",
        description="Konto RE-2026-000007",
        on_session=True,
        return_url="",
    )

    page = client.get(path_of(outcome.action_url), headers={"accept-language": "de"})
    html = page.content.decode()
    assert "907,40 EUR" in html
    assert "Konto RE-2026-000007" in html
    done = client.post(path_of(outcome.action_url), {"decision": "confirm"}, headers={"accept-language": "en"})
    assert done.status_code == 200  # no return URL: the page says what happened
    assert "The payment was confirmed." in done.content.decode()
    assert SandboxCharge.objects.get().status == "succeeded"


def test_unknown_charge_challenge_is_404(client):
    assert client.get("/sandbox-gateway/charges/pi_sb_nope/challenge/").status_code == 404
