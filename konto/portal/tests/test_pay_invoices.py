"""Paying open invoices in My Account: choose, summary, pay once, the result; history, banners, open balance.

Cards are added through the sandbox's card page (payments-core's helpers); the
sandbox gateway is the outside world and is used as it is, never patched.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from konto.accounts.models import Org, User
from konto.accounts.testing import make_admin, make_billing_user, make_user
from konto.billing.models import Invoice
from konto.core.audit import Actor
from konto.payments.models import Payment, PaymentMethod
from konto.payments.services.collection import collect_invoices
from konto.payments.services.methods import choose_bank_transfer
from konto.payments.services.pay import record_bank_transfer
from konto.payments.tests.core_helpers import (
    CHALLENGE,
    DECLINED,
    INSUFFICIENT_FUNDS,
    MASTERCARD,
    TIMEOUT,
    VISA,
    add_mandate,
    add_test_card,
    build_catalog,
    card_org,
    issue,
)
from konto.sandbox.models import SandboxCharge

pytestmark = pytest.mark.django_db

JUNE, JULY = date(2026, 6, 1), date(2026, 7, 1)
# 10 July 2026, 10:00 in Berlin: the June invoice (due 15 June) is overdue, the July one (due 15 July) open.
NOW = datetime(2026, 7, 10, 8, 0, tzinfo=UTC)
GROSS = Decimal("148.75")  # 5 × 25.00 + 19 % VAT, each month
PAY = reverse("portal:pay_invoices")
CONFIRM = reverse("portal:pay_confirm")
PAYMENTS = reverse("portal:payments")
OVERVIEW = reverse("portal:overview")


@pytest.fixture(autouse=True)
def _clock(time_machine: Any) -> None:
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def catalog() -> Any:
    return build_catalog()


@pytest.fixture
def org(catalog: Any) -> Org:
    return card_org(catalog, billing_email="buchhaltung@baeckerei.example")


@pytest.fixture
def june(org: Org) -> Invoice:
    return issue(org, JUNE)


@pytest.fixture
def july(org: Org, june: Invoice) -> Invoice:
    return issue(org, JULY)


@pytest.fixture
def payer(org: Org) -> User:
    return _en(make_admin(org, "anna@baeckerei.example", full_name="Anna Admin"))


@pytest.fixture
def other_org(catalog: Any) -> Org:
    return card_org(catalog, name="Fremdfirma AG")


@pytest.fixture
def foreign_invoice(other_org: Org) -> Invoice:
    return issue(other_org, JUNE)


def _en(user: User) -> User:
    user.language = "en"
    user.save(update_fields=["language"])
    return user


def _html(response: Any) -> str:
    return str(response.content.decode())


def _checkbox(invoice: Invoice) -> str:
    """The start of an invoice's checkbox on the pay page, up to its amount (the template breaks the line there)."""
    return f'value="{invoice.public_id}" id="pay-{invoice.public_id}"\n                    '


def _selection(invoices: list[Invoice], method: PaymentMethod | None = None, **extra: str) -> dict[str, Any]:
    data: dict[str, Any] = {"invoice_ids": [invoice.public_id for invoice in invoices], **extra}
    if method is not None:
        data["method"] = method.public_id
    return data


def _summary_form(html: str) -> dict[str, Any]:
    """The hidden fields of the summary's confirm form, as the browser would send them."""
    form = html[html.index('action="' + CONFIRM + '"') :]
    form = form[: form.index("</form>")]
    data: dict[str, Any] = {}
    for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form):
        if name == "invoice_ids":
            data.setdefault(name, []).append(value)
        else:
            data[name] = value
    return data


def _summary(client: Any, data: dict[str, Any]) -> dict[str, Any]:
    response = client.post(PAY, data)
    assert response.status_code == 200, _html(response)
    return _summary_form(_html(response))


def _nothing_charged() -> None:
    assert Payment.objects.count() == 0
    assert SandboxCharge.objects.count() == 0


def _invoice_state(*invoices: Invoice) -> list[tuple[str, Decimal]]:
    for invoice in invoices:
        invoice.refresh_from_db()
    return [(invoice.status, invoice.amount_paid) for invoice in invoices]


# ---------------------------------------------------------------- access


def test_a_user_who_may_only_view_invoices_gets_the_403_page_and_no_pay_button(client, org, june):
    viewer = _en(make_user(org, "viewer@baeckerei.example", permission_sets=("invoice_viewer",)))
    card = add_test_card(org, VISA)
    client.force_login(viewer)

    page = client.get(PAY)
    confirm = client.post(CONFIRM, {**_selection([june], card), "amount": "148.75", "idempotency_key": "k1"})
    detail = _html(client.get(reverse("portal:invoice_detail", kwargs={"public_id": june.public_id})))
    listing = _html(client.get(reverse("portal:invoices")))

    assert page.status_code == 403
    assert "Pay invoices" in _html(page)  # the 403 page names the missing permission
    assert confirm.status_code == 403
    assert client.get(PAYMENTS).status_code == 403
    assert "invoice-table__pay" not in listing
    assert f"{PAY}?invoice={june.public_id}" not in detail
    _nothing_charged()


def test_a_standard_user_and_a_visitor_cannot_reach_the_pay_page(client, org, june):
    standard = make_user(org, "sales@baeckerei.example")

    assert client.get(PAY).status_code == 302  # to the login
    client.force_login(standard)
    assert client.get(PAY).status_code == 403


def test_an_identity_user_with_my_account_admin_may_pay(client, org, june):
    client.force_login(_en(make_billing_user(org, "ap@baeckerei.example")))

    response = client.get(PAY)

    assert response.status_code == 200
    assert june.number in _html(response)


# ---------------------------------------------------------------- choosing


def test_the_pay_page_lists_open_invoices_oldest_due_first_with_overdue_badge_and_total(client, org, july, payer):
    june = Invoice.objects.get(org=org, billing_date=JUNE)
    card = add_test_card(org, VISA)
    client.force_login(payer)

    html = _html(client.get(PAY))

    assert html.index(str(june.number)) < html.index(str(july.number))  # due 15 June before due 15 July
    assert html.count('<span class="badge badge--danger">Overdue</span>') == 1
    assert html.count('<span class="badge badge--info">Open</span>') == 1
    assert html.count('data-amount="148.75" checked') == 2  # without ?invoice, everything open is selected
    assert '<td class="num" aria-live="polite" data-pay-total data-testid="pay-total">€297.50</td>' in html
    assert f'value="{card.public_id}" id="method-{card.public_id}" checked' in html
    assert "Visa •••• 4242" in html


def test_the_invoice_link_preselects_one_invoice(client, org, july, payer):
    june = Invoice.objects.get(org=org, billing_date=JUNE)
    add_test_card(org, VISA)
    client.force_login(payer)

    html = _html(client.get(PAY, {"invoice": july.public_id}))

    assert _checkbox(july) + ' data-amount="148.75" checked' in html
    assert _checkbox(june) + ' data-amount="148.75"\n' in html
    assert 'data-testid="pay-total">€148.75</td>' in html


def test_the_overdue_link_preselects_the_overdue_invoices(client, org, july, payer):
    june = Invoice.objects.get(org=org, billing_date=JUNE)
    add_test_card(org, VISA)
    client.force_login(payer)

    html = _html(client.get(PAY, {"select": "overdue"}))

    assert _checkbox(june) + ' data-amount="148.75" checked' in html
    assert _checkbox(july) + ' data-amount="148.75"\n' in html


def test_a_link_to_another_orgs_invoice_preselects_nothing_and_says_so(client, org, june, payer, foreign_invoice):
    add_test_card(org, VISA)
    client.force_login(payer)

    html = _html(client.get(PAY, {"invoice": foreign_invoice.public_id}))

    assert "An invoice from your link is not open any more." in html
    assert f'value="{foreign_invoice.public_id}"' not in html  # (the path is in the language switch's "next")
    assert foreign_invoice.number not in html
    assert 'data-testid="pay-total">€0.00</td>' in html


def test_an_org_paying_by_transfer_sees_the_transfer_instructions_instead(client, org, june, payer):
    choose_bank_transfer(org=org, actor=Actor.system("test"))
    client.force_login(payer)

    html = _html(client.get(PAY))
    posted = client.post(PAY, _selection([june]))

    assert "Your organisation pays by bank transfer." in html
    assert '<dd class="pay-transfer__iban">DE89 3704 0044 0532 0130 00</dd>' in html
    assert f"<dt>Reference</dt><dd>{june.number} </dd>" in html
    assert "<dt>Amount</dt><dd data-pay-total>€148.75</dd>" in html
    assert "Review payment" not in html
    assert posted.status_code == 422
    assert "Add a card or a SEPA Direct Debit mandate to pay online." in _html(posted)
    _nothing_charged()


def test_nothing_to_pay_shows_the_empty_state(client, org, payer):
    client.force_login(payer)

    html = _html(client.get(PAY))

    assert "Nothing to pay" in html
    assert "All your invoices are paid." in html


def test_an_invoice_with_a_payment_on_its_way_is_marked_and_cannot_be_paid_again(client, org, july, payer):
    june = Invoice.objects.get(org=org, billing_date=JUNE)
    mandate = add_mandate(org)
    card = add_test_card(org, VISA)
    client.force_login(payer)
    client.post(CONFIRM, _summary(client, _selection([june], mandate)))  # a direct debit, collected later
    assert Payment.objects.get().status == "pending"

    html = _html(client.get(PAY))
    response = client.post(CONFIRM, {**_selection([june], card), "amount": "148.75", "idempotency_key": "again"})

    assert f'<span class="badge badge--info" id="in-flight-{june.public_id}">Payment on its way</span>' in html
    assert _checkbox(june) + ' data-amount="148.75"\n                     disabled' in html
    assert 'data-testid="pay-total">€148.75</td>' in html  # only July is selected
    assert response.status_code == 409
    assert "A payment for one of these invoices is already being processed." in _html(response)
    assert Payment.objects.count() == 1
    assert SandboxCharge.objects.count() == 0


# ---------------------------------------------------------------- bad input: an error on the form, nothing charged


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ({"is_partial": "on", "amount": "zwanzig"}, "amount", "Enter the amount as a number with at most two decimals"),
        ({"is_partial": "on", "amount": "0"}, "amount", "Enter an amount greater than 0."),
        ({"is_partial": "on", "amount": "-5,00"}, "amount", "Enter the amount as a number with at most two decimals"),
        ({"is_partial": "on", "amount": "0,001"}, "amount", "Enter the amount as a number with at most two decimals"),
        ({"is_partial": "on", "amount": ""}, "amount", "Enter the amount you want to pay, e.g. 100,00."),
        (
            {"is_partial": "on", "amount": "148,76"},
            "amount",
            "Enter at most €148.75, the open amount of the selected invoices.",
        ),
    ],
)
def test_a_bad_amount_is_refused_next_to_the_field(client, org, june, payer, extra, field, message):
    card = add_test_card(org, VISA)
    client.force_login(payer)

    response = client.post(PAY, _selection([june], card, **extra))

    assert response.status_code == 422
    html = _html(response)
    assert f'<div id="id_{field}_error"><p class="field-error">{message}' in html
    assert 'aria-invalid="true"' in html
    assert "Review your payment" not in html
    _nothing_charged()


def test_no_invoice_selected_is_refused(client, org, june, payer):
    card = add_test_card(org, VISA)
    client.force_login(payer)

    response = client.post(PAY, {"method": card.public_id})

    assert response.status_code == 422
    assert '<p class="field-error">Select at least one open invoice to pay.</p>' in _html(response)
    _nothing_charged()


def test_another_orgs_invoice_is_refused_like_a_missing_one(client, org, june, payer, foreign_invoice):
    card = add_test_card(org, VISA)
    client.force_login(payer)

    foreign = client.post(PAY, _selection([june, foreign_invoice], card))
    missing = client.post(PAY, {"invoice_ids": ["inv_doesnotexist0000"], "method": card.public_id})

    message = "One of the selected invoices was not found. Choose from your open invoices below."
    assert foreign.status_code == missing.status_code == 422
    assert message in _html(foreign)
    assert message in _html(missing)
    assert foreign_invoice.number not in _html(foreign)
    _nothing_charged()


def test_a_paid_invoice_is_refused(client, org, june, payer):
    card = add_test_card(org, VISA)
    record_bank_transfer(
        invoice=june,
        amount=GROSS,
        booking_date=NOW.date(),
        reference=june.number or "",
        actor=Actor.system("test"),
        idempotency_key="stmt-1",
    )
    client.force_login(payer)

    response = client.post(PAY, _selection([june], card))

    assert response.status_code == 422
    assert f"Invoice {june.number} has already been paid." in _html(response)
    assert Payment.objects.count() == 1  # only the transfer
    assert SandboxCharge.objects.count() == 0


def test_another_orgs_payment_method_is_refused(client, org, june, payer, other_org):
    add_test_card(org, VISA)
    foreign_card = add_test_card(other_org, MASTERCARD)
    client.force_login(payer)

    chosen = client.post(PAY, _selection([june], foreign_card))
    confirmed = client.post(
        CONFIRM, {**_selection([june], foreign_card), "amount": "148.75", "idempotency_key": "forged-key"}
    )

    assert chosen.status_code == confirmed.status_code == 422
    assert _html(chosen).count("Choose one of your payment methods.") == 1
    assert _html(confirmed).count("Choose one of your payment methods.") == 1
    _nothing_charged()


def test_a_confirmation_without_key_shows_the_summary_again_and_charges_nothing(client, org, june, payer):
    card = add_test_card(org, VISA)
    client.force_login(payer)

    response = client.post(CONFIRM, {**_selection([june], card), "amount": "148.75"})

    assert response.status_code == 200
    html = _html(response)
    assert "Please check the amounts and confirm again. Nothing has been charged yet." in html
    assert _summary_form(html)["idempotency_key"]  # a fresh key to confirm with
    _nothing_charged()


def test_a_tampered_confirmation_for_another_orgs_invoice_charges_nothing(client, org, june, payer, foreign_invoice):
    card = add_test_card(org, VISA)
    client.force_login(payer)

    response = client.post(
        CONFIRM, {**_selection([foreign_invoice], card), "amount": "148.75", "idempotency_key": "tampered"}
    )

    assert response.status_code == 422
    assert "One of these invoices was not found or cannot be paid." in _html(response)
    assert _invoice_state(foreign_invoice) == [("open", Decimal("0.00"))]
    _nothing_charged()


# ---------------------------------------------------------------- the summary and paying


def test_the_summary_lists_what_is_charged_to_which_method_and_charges_nothing_yet(client, org, july, payer):
    june = Invoice.objects.get(org=org, billing_date=JUNE)
    card = add_test_card(org, VISA)
    client.force_login(payer)

    response = client.post(PAY, _selection([july, june], card))

    html = _html(response)
    assert response.status_code == 200
    assert "<h1>Review your payment</h1>" in html
    assert html.index(str(june.number)) < html.index(str(july.number))
    assert html.count('<td class="num" data-label="Paid now" data-testid="paid-now">€148.75</td>') == 2
    assert '<td class="num" data-testid="charge-amount">€297.50</td>' in html
    assert '<dd data-testid="summary-method">Visa •••• 4242 <span class="badge badge--info">Default</span></dd>' in html
    assert '<button type="submit" class="button button--primary button--confirm">Pay €297.50</button>' in html
    form = _summary_form(html)
    assert form["invoice_ids"] == [june.public_id, july.public_id]
    assert (form["method"], form["amount"]) == (card.public_id, "297.50")
    assert re.fullmatch(r"[0-9a-f]{32}", form["idempotency_key"])
    _nothing_charged()


def test_paying_with_the_default_card_pays_the_invoice_and_sends_a_receipt(
    client, org, june, payer, django_capture_on_commit_callbacks
):
    card = add_test_card(org, VISA)
    client.force_login(payer)
    form = _summary(client, _selection([june], card))

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(CONFIRM, form)

    payment = Payment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:payment_detail", kwargs={"public_id": payment.public_id})
    assert (payment.status, payment.amount, payment.method, payment.origin) == ("succeeded", GROSS, card, "customer")
    assert _invoice_state(june) == [("paid", GROSS)]
    assert SandboxCharge.objects.count() == 1
    (receipt,) = mail.outbox
    assert receipt.to == ["anna@baeckerei.example", "buchhaltung@baeckerei.example"]
    html = _html(client.get(response["Location"]))
    assert "Thank you, your payment has been received." in html
    assert "€148.75 has been charged to Visa •••• 4242. A receipt has been sent by email." in html
    assert '<td class="num" data-label="Open amount" data-testid="allocation-open">€0.00</td>' in html
    assert '<span class="badge badge--ok">Paid</span>' in html


def test_another_chosen_card_is_charged_instead_of_the_default(client, org, june, payer):
    add_test_card(org, VISA)
    other = add_test_card(org, MASTERCARD, make_default=False)
    client.force_login(payer)

    client.post(CONFIRM, _summary(client, _selection([june], other)))

    assert Payment.objects.get().method == other
    assert _invoice_state(june) == [("paid", GROSS)]


def test_a_declined_card_shows_the_reason_and_leaves_the_invoice_open(client, org, june, payer):
    card = add_test_card(org, DECLINED)
    client.force_login(payer)

    response = client.post(CONFIRM, _summary(client, _selection([june], card)))

    payment = Payment.objects.get()
    assert (payment.status, payment.failure_code) == ("failed", "card_declined")
    assert _invoice_state(june) == [("open", Decimal("0.00"))]
    html = _html(client.get(response["Location"]))
    assert "The payment failed. Nothing was charged." in html
    assert '<p data-testid="failure-reason">The card was declined by the card issuer.</p>' in html
    assert f'href="{PAY}?invoice={june.public_id}">Try again</a>' in html


def test_insufficient_funds_has_its_own_reason(client, org, june, payer):
    card = add_test_card(org, INSUFFICIENT_FUNDS)
    client.force_login(payer)

    response = client.post(CONFIRM, _summary(client, _selection([june], card)))

    html = _html(client.get(response["Location"]))
    assert '<p data-testid="failure-reason">The card has insufficient funds.</p>' in html


def test_a_partial_payment_goes_to_the_oldest_invoice_first(client, org, july, payer):
    june = Invoice.objects.get(org=org, billing_date=JUNE)
    card = add_test_card(org, VISA)
    client.force_login(payer)

    summary = client.post(PAY, _selection([june, july], card, is_partial="on", amount="200,00"))
    html = _html(summary)
    assert '<td class="num" data-label="Paid now" data-testid="paid-now">€148.75</td>' in html  # June: in full
    assert '<td class="num" data-label="Paid now" data-testid="paid-now">€51.25</td>' in html  # July: the rest
    assert '<td class="num" data-label="Still open">€97.50</td>' in html  # July still open afterwards
    assert "Pay €200.00</button>" in html

    response = client.post(CONFIRM, _summary_form(html))

    payment = Payment.objects.get()
    assert [(a.invoice_id, a.amount) for a in payment.allocations.order_by("id")] == [
        (june.pk, GROSS),
        (july.pk, Decimal("51.25")),
    ]
    assert _invoice_state(june, july) == [("paid", GROSS), ("open", Decimal("51.25"))]
    detail = _html(client.get(response["Location"]))
    assert '<td class="num" data-label="Open amount" data-testid="allocation-open">€97.50</td>' in detail
    assert '<td class="num" data-label="Open amount" data-testid="allocation-open">€0.00</td>' in detail


def test_a_replayed_confirmation_shows_the_same_payment_and_charges_once(client, org, june, payer):
    card = add_test_card(org, VISA)
    client.force_login(payer)
    form = _summary(client, _selection([june], card))

    first = client.post(CONFIRM, form)
    second = client.post(CONFIRM, form)  # double click, reload, retry

    payment = Payment.objects.get()
    assert first["Location"] == second["Location"] == f"/account/payment/payments/{payment.public_id}/"
    assert SandboxCharge.objects.count() == 1
    assert _invoice_state(june) == [("paid", GROSS)]
    html = _html(client.get(second["Location"]))
    assert "This payment had already been submitted. Nothing was charged twice." in html


def test_a_second_tab_with_its_own_summary_cannot_pay_the_same_invoice_again(client, org, june, payer):
    card = add_test_card(org, VISA)
    client.force_login(payer)
    tab_one = _summary(client, _selection([june], card))
    tab_two = _summary(client, _selection([june], card))
    assert tab_one["idempotency_key"] != tab_two["idempotency_key"]

    client.post(CONFIRM, tab_one)
    response = client.post(CONFIRM, tab_two)

    assert response.status_code == 422
    html = _html(response)
    assert html.count(f"<p>Invoice {june.number} is not open for payment.</p>") == 1  # the service's refusal only
    assert "has already been paid" not in html
    assert Payment.objects.count() == 1
    assert SandboxCharge.objects.count() == 1
    assert _invoice_state(june) == [("paid", GROSS)]


def test_a_summary_whose_amount_is_no_longer_open_charges_nothing(client, org, june, payer):
    card = add_test_card(org, VISA)
    client.force_login(payer)
    form = _summary(client, _selection([june], card))
    record_bank_transfer(  # part of the invoice is paid by transfer while the summary is open
        invoice=june,
        amount=Decimal("50.00"),
        booking_date=NOW.date(),
        reference=june.number or "",
        actor=Actor.system("test"),
        idempotency_key="stmt-1",
    )

    response = client.post(CONFIRM, form)

    assert response.status_code == 422
    html = _html(response)
    assert '<p class="alert__title">Nothing has been charged.</p>\n  <p>The amount is more than the' in html
    assert 'data-testid="pay-total">€98.75</td>' in html
    assert SandboxCharge.objects.count() == 0
    assert _invoice_state(june) == [("open", Decimal("50.00"))]


def test_a_3d_secure_challenge_sends_the_browser_to_the_bank_and_back(client, org, june, payer):
    card = add_test_card(org, CHALLENGE)
    client.force_login(payer)
    form = _summary(client, _selection([june], card))

    response = client.post(CONFIRM, form)

    payment = Payment.objects.get()
    assert payment.status == "requires_action"
    assert response.status_code == 302
    assert response["Location"] == payment.action_url
    assert _invoice_state(june) == [("open", Decimal("0.00"))]
    # The card holder confirms on the sandbox's page, which sends the browser back to My Account.
    challenge = client.post(payment.action_url.removeprefix("http://testserver"), {"decision": "confirm"})
    assert challenge["Location"] == (f"http://testserver/account/payment/pay/return/?key={form['idempotency_key']}")
    back = client.get(challenge["Location"].removeprefix("http://testserver"))

    assert back["Location"] == reverse("portal:payment_detail", kwargs={"public_id": payment.public_id})
    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert _invoice_state(june) == [("paid", GROSS)]


def test_a_failed_3d_secure_confirmation_shows_why_and_leaves_the_invoice_open(client, org, june, payer):
    card = add_test_card(org, CHALLENGE)
    client.force_login(payer)
    client.post(CONFIRM, _summary(client, _selection([june], card)))
    payment = Payment.objects.get()

    challenge = client.post(payment.action_url.removeprefix("http://testserver"), {"decision": "fail"})
    back = client.get(challenge["Location"].removeprefix("http://testserver"))

    payment.refresh_from_db()
    assert (payment.status, payment.failure_code) == ("failed", "authentication_failed")
    assert _invoice_state(june) == [("open", Decimal("0.00"))]
    html = _html(client.get(back["Location"]))
    assert '<p data-testid="failure-reason">The 3-D Secure confirmation failed or was cancelled.</p>' in html


def test_the_return_page_of_another_orgs_payment_is_not_found(client, org, june, payer, other_org, foreign_invoice):
    foreign_admin = make_admin(other_org, "otto@fremdfirma.example")
    card = add_test_card(other_org, CHALLENGE)
    client.force_login(foreign_admin)
    form = _summary(client, _selection([foreign_invoice], card))
    client.post(CONFIRM, form)
    client.force_login(payer)

    response = client.get(reverse("portal:payment_action_return"), {"key": form["idempotency_key"]})

    assert response.status_code == 404
    assert Payment.objects.get().status == "requires_action"


def test_an_unanswered_charge_says_we_are_checking(client, org, june, payer):
    card = add_test_card(org, TIMEOUT)
    client.force_login(payer)

    response = client.post(CONFIRM, _summary(client, _selection([june], card)))

    assert Payment.objects.get().status == "unknown"
    html = _html(client.get(response["Location"]))
    assert "We are checking with the payment provider" in html
    assert "Please do not pay these invoices again in the meantime." in html


def test_a_sepa_payment_says_when_it_is_collected(client, org, june, payer):
    mandate = add_mandate(org)
    client.force_login(payer)

    response = client.post(CONFIRM, _summary(client, _selection([june], mandate)))

    payment = Payment.objects.get()
    assert (payment.status, payment.collection_date) == ("pending", date(2026, 7, 13))
    html = _html(client.get(response["Location"]))
    assert "€148.75 will be collected from your account by SEPA Direct Debit on Jul 13, 2026." in html


# ---------------------------------------------------------------- history, detail, invoice page, overview


def test_another_orgs_payment_is_not_found(client, org, payer, other_org, foreign_invoice):
    card = add_test_card(other_org, VISA)
    foreign_admin = make_admin(other_org, "otto@fremdfirma.example")
    client.force_login(foreign_admin)
    client.post(CONFIRM, _summary(client, _selection([foreign_invoice], card)))
    payment = Payment.objects.get()
    client.force_login(payer)

    assert client.get(reverse("portal:payment_detail", kwargs={"public_id": payment.public_id})).status_code == 404
    assert payment.public_id not in _html(client.get(PAYMENTS))


def test_the_history_has_an_empty_state(client, org, payer):
    client.force_login(payer)

    html = _html(client.get(PAYMENTS))

    assert "No payments yet" in html
    assert "0 payments</h2>" in html


def test_the_history_lists_payments_with_status_badges_and_pages_of_25(client, org, june, payer):
    for number in range(26):
        record_bank_transfer(
            invoice=june,
            amount=Decimal("1.00"),
            booking_date=NOW.date(),
            reference=june.number or "",
            actor=Actor.system("test"),
            idempotency_key=f"stmt-{number}",
        )
    client.force_login(payer)

    first = _html(client.get(PAYMENTS))
    second = _html(client.get(PAYMENTS, {"page": "2"}))

    assert "26 payments</h2>" in first
    assert first.count('<span class="badge badge--ok">Paid</span>') == 25
    assert second.count('<span class="badge badge--ok">Paid</span>') == 1
    assert "Page 2 of 2" in second
    assert first.count(f">{june.number}</a>") == 25
    assert first.count('<td data-label="Payment method">Bank transfer</td>') == 25


def test_the_invoice_page_has_a_pay_button_and_lists_its_payments(client, org, june, payer):
    card = add_test_card(org, VISA)
    client.force_login(payer)
    detail = reverse("portal:invoice_detail", kwargs={"public_id": june.public_id})
    before = _html(client.get(detail))
    listing = _html(client.get(reverse("portal:invoices")))

    client.post(CONFIRM, _summary(client, _selection([june], card)))
    after = _html(client.get(detail))

    assert f'<a class="button button--primary" href="{PAY}?invoice={june.public_id}">Pay</a>' in before
    assert f'href="{PAY}?invoice={june.public_id}">Pay<span class="visually-hidden"> {june.number}' in listing
    assert f"{PAY}?invoice={june.public_id}" not in after
    assert "<strong>€148.75</strong> · Jul 10, 2026 · Visa •••• 4242 · " in after
    assert '<span class="badge badge--ok">Paid</span>' in after
    assert card.public_id not in after


def test_the_overview_shows_the_open_balance_and_updates_after_paying(client, org, july, payer):
    june = Invoice.objects.get(org=org, billing_date=JUNE)
    card = add_test_card(org, VISA)
    client.force_login(payer)

    before = _html(client.get(OVERVIEW))
    client.post(CONFIRM, _summary(client, _selection([june, july], card)))
    after = _html(client.get(OVERVIEW))

    assert '<p class="card__value" data-testid="open-balance">€297.50</p>' in before
    assert f'href="{PAY}">Pay now</a>' in before
    assert '<p class="card__value" data-testid="open-balance">€0.00</p>' in after
    assert "Nothing to pay" in after


# ---------------------------------------------------------------- banners


def test_a_declined_collection_shows_a_banner_until_the_invoice_is_paid(client, org, payer):
    declined = add_test_card(org, DECLINED)
    june = issue(org, JUNE)
    collect_invoices(invoice_ids=[june.pk], today=NOW.date())  # the automatic charge when it was issued
    client.force_login(payer)

    html = _html(client.get(OVERVIEW))

    assert '<p class="alert__title">Card payment declined</p>' in html
    assert (
        f"Your card payment for invoice {june.number} was declined. The card was declined by the card issuer. "
        "Update your card or pay now."
    ) in html
    assert f'<a href="{reverse("portal:payment")}">Update your card</a>' in html
    assert f'<a href="{PAY}?invoice={june.public_id}">Pay now</a>' in html

    new_card = add_test_card(org, VISA, replaces=declined)
    client.post(CONFIRM, _summary(client, _selection([june], new_card)))

    assert "Card payment declined" not in _html(client.get(OVERVIEW))
    assert _invoice_state(june) == [("paid", GROSS)]


def test_the_declined_banner_offers_only_what_the_user_may_do(client, org):
    add_test_card(org, DECLINED)
    june = issue(org, JUNE)
    collect_invoices(invoice_ids=[june.pk], today=NOW.date())
    viewer = _en(make_user(org, "viewer@baeckerei.example", permission_sets=("invoice_viewer",)))
    client.force_login(viewer)

    html = _html(client.get(reverse("portal:invoices")))

    assert '<p class="alert__title">Card payment declined</p>' in html
    assert "Update your card" not in html
    assert "Pay now" not in html


@pytest.mark.parametrize(
    ("status", "level", "title", "text", "link"),
    [
        (
            Org.Status.OVERDUE,
            "warn",
            "Payment overdue",
            "Your account is overdue: purchases are blocked until the overdue invoices are paid.",
            f'<a href="{PAY}?select=overdue">Pay overdue invoices</a>',
        ),
        (
            Org.Status.SUSPENDED,
            "danger",
            "Account suspended",
            "Your account has been suspended because invoices remain unpaid.",
            f'<a href="{PAY}">Pay open invoices</a>',
        ),
    ],
)
def test_an_overdue_or_suspended_account_shows_a_banner_with_a_pay_link_on_every_page(
    client, org, payer, status, level, title, text, link
):
    org.status = status
    org.save(update_fields=["status"])
    client.force_login(payer)

    for url in (OVERVIEW, reverse("portal:invoices"), PAYMENTS):
        html = _html(client.get(url))
        assert f'<div class="alert alert--{level}" role="alert">\n          <p class="alert__title">{title}</p>' in html
        assert text in html
        assert link in html


def test_paying_the_overdue_invoice_lifts_the_overdue_banner(client, org, july, payer):
    june = Invoice.objects.get(org=org, billing_date=JUNE)
    card = add_test_card(org, VISA)
    org.status = Org.Status.OVERDUE
    org.save(update_fields=["status"])
    client.force_login(payer)

    client.post(CONFIRM, _summary(client, _selection([june, july], card)))

    org.refresh_from_db()
    assert org.status == Org.Status.ACTIVE
    assert "Payment overdue" not in _html(client.get(OVERVIEW))


# ---------------------------------------------------------------- more bad input (review)


@pytest.mark.parametrize(
    "tampered",
    [
        {"amount": "zwanzig"},
        {"amount": "0"},
        {"amount": "148.755"},
        {"idempotency_key": "k" * 256},
        {"idempotency_key": ""},
    ],
)
def test_a_confirmation_with_a_bad_amount_or_key_shows_the_summary_again_and_charges_nothing(
    client, org, june, payer, tampered
):
    card = add_test_card(org, VISA)
    client.force_login(payer)
    form = {**_summary(client, _selection([june], card)), **tampered}

    response = client.post(CONFIRM, form)

    assert response.status_code == 200
    html = _html(response)
    assert "Please check the amounts and confirm again. Nothing has been charged yet." in html
    assert _summary_form(html)["amount"] == "148.75"
    assert _invoice_state(june) == [("open", Decimal("0.00"))]
    _nothing_charged()


def test_more_than_100_invoices_in_one_payment_are_refused(client, org, june, payer):
    card = add_test_card(org, VISA)
    client.force_login(payer)
    ids = [june.public_id, *(f"inv_made_up_{number:03d}" for number in range(100))]

    response = client.post(PAY, {"invoice_ids": ids, "method": card.public_id})

    assert response.status_code == 422
    assert '<p class="field-error">Select at most 100 invoices for one payment.</p>' in _html(response)
    _nothing_charged()


def test_a_void_invoice_is_refused_with_its_status(client, org, june, payer):
    card = add_test_card(org, VISA)
    Invoice.objects.filter(pk=june.pk).update(status="void")
    client.force_login(payer)

    response = client.post(PAY, _selection([june], card))

    assert response.status_code == 422
    assert f"Invoice {june.number} is not open (Void), so it cannot be paid." in _html(response)
    _nothing_charged()


@pytest.mark.parametrize("query", [{}, {"key": ""}, {"key": "no-such-key"}])
def test_the_return_page_without_a_known_key_is_not_found(client, org, june, payer, query):
    client.force_login(payer)

    response = client.get(reverse("portal:payment_action_return"), query)

    assert response.status_code == 404


def test_the_history_needs_the_same_number_of_queries_for_one_payment_or_many(client, org, june, july, payer):
    def transfer(invoice: Invoice, key: str) -> None:
        record_bank_transfer(
            invoice=invoice,
            amount=Decimal("1.00"),
            booking_date=NOW.date(),
            reference=invoice.number or "",
            actor=Actor.system("test"),
            idempotency_key=key,
        )

    transfer(june, "stmt-0")
    client.force_login(payer)
    with CaptureQueriesContext(connection) as one:
        assert "1 payment</h2>" in _html(client.get(PAYMENTS))
    for number in range(1, 6):
        transfer(june if number % 2 else july, f"stmt-{number}")
    with CaptureQueriesContext(connection) as six:
        assert "6 payments</h2>" in _html(client.get(PAYMENTS))

    assert len(six) == len(one)
