"""My Account payment methods: page, access, tenant scoping, SEPA mandates, cards through the sandbox, removal."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from konto.accounts.models import Org, PermissionSet, User, Vendor
from konto.accounts.testing import make_user
from konto.backoffice.management.commands.seed_demo import VENDOR
from konto.billing.tests.helpers import add_contract, build_catalog
from konto.contracts.models import Contract
from konto.core.audit import Actor
from konto.core.editions import Edition
from konto.core.models import AuditEvent
from konto.payments.models import PaymentMethod
from konto.payments.services.methods import add_sepa_mandate, choose_bank_transfer, mandate_text

pytestmark = pytest.mark.django_db
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 8, 1, 10, 0, tzinfo=BERLIN)

PAYMENT = reverse("portal:payment")
SEPA = reverse("portal:sepa_mandate")
CARD_SETUP = reverse("portal:card_setup")
CARD_RETURN = reverse("portal:card_setup_return")
BANK_TRANSFER = reverse("portal:bank_transfer")

IBAN = "DE02 1203 0000 0000 2020 51"  # a valid German IBAN that is not the vendor's own account
IBAN_COMPACT = "DE02120300000000202051"
BIC = "BYLADEM1001"
VALID_MANDATE = {"account_holder": "Bäckerei Test GmbH", "iban": IBAN, "bic": BIC, "is_accepted": "on"}
CREDITOR_ID = "DE98ZZZ09999999999"  # the demo vendor's


@pytest.fixture(autouse=True)
def _on_1_august_2026() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def vendor(db: None) -> Vendor:
    return Vendor.objects.create(**VENDOR)


@pytest.fixture(autouse=True)
def _professional(org: Org) -> None:
    """Professional orgs may pay by card, SEPA Direct Debit or bank transfer (Essentials: card only)."""
    Org.objects.filter(pk=org.pk).update(edition=Edition.PROFESSIONAL)
    org.refresh_from_db()


def _en(user: User) -> User:
    user.language = "en"
    user.save(update_fields=["language"])
    return user


@pytest.fixture
def admin_en(admin: User) -> User:
    return _en(admin)


@pytest.fixture
def payer(org: Org) -> User:
    """May pay invoices (and so see the payment page) but not change payment methods."""
    PermissionSet.objects.create(code="payer", name="Payer", permissions=["pay_invoices"])
    return _en(make_user(org, "payer@test.example", permission_sets=("payer",)))


@pytest.fixture
def invoice_viewer(org: Org) -> User:
    return _en(make_user(org, "viewer@test.example", permission_sets=("invoice_viewer",)))


def _actor(user: User) -> Actor:
    return Actor(user_id=user.pk, email=user.email, ip_address="198.51.100.1")


def _card(
    org: Org, *, last4: str = "4242", brand: str = "visa", month: int = 12, year: int = 2028, is_default: bool = False
) -> PaymentMethod:
    """A card as the services keep it after a setup (token, brand, last 4, expiry)."""
    return PaymentMethod.objects.create(
        org=org,
        kind=PaymentMethod.Kind.CARD,
        gateway="sandbox",
        gateway_ref=f"pm_sb_test{last4}{month:02d}{year}",
        card_brand=brand,
        card_last4=last4,
        card_exp_month=month,
        card_exp_year=year,
        is_default=is_default,
    )


def _mandate(org: Org, user: User, *, make_default: bool = True) -> PaymentMethod:
    return add_sepa_mandate(
        org=org,
        actor=_actor(user),
        account_holder="Bäckerei Test GmbH",
        iban=IBAN,
        bic=BIC,
        is_accepted=True,
        ip="198.51.100.1",
        user_agent="pytest",
        make_default=make_default,
    )


def _remove_url(method: PaymentMethod) -> str:
    return reverse("portal:payment_method_remove", kwargs={"public_id": method.public_id})


def _default_url(method: PaymentMethod) -> str:
    return reverse("portal:payment_method_default", kwargs={"public_id": method.public_id})


def _print_url(method: PaymentMethod) -> str:
    return reverse("portal:sepa_mandate_print", kwargs={"public_id": method.public_id})


def _state(org: Org) -> list[tuple[str, str, str, bool]]:
    """Every method of the org with kind, status and default flag: what a refused action must leave alone."""
    return list(
        PaymentMethod.objects.filter(org=org).order_by("id").values_list("public_id", "kind", "status", "is_default")
    )


def _messages(html: str) -> list[str]:
    return re.findall(r'<p class="message message--\w+" role="\w+">(.*?)</p>', html)


# ---------------------------------------------------------------- access


def test_user_without_billing_access_gets_the_page_naming_manage_billing(client, standard_user):
    client.force_login(_en(standard_user))

    response = client.get(PAYMENT)

    assert response.status_code == 403
    assert "This page needs the permission <strong>Manage Billing</strong>." in response.content.decode()


def test_invoice_viewer_gets_the_page_naming_manage_payment_methods_and_no_navigation_entry(client, invoice_viewer):
    client.force_login(invoice_viewer)

    response = client.get(PAYMENT)
    invoices_page = client.get(reverse("portal:invoices")).content.decode()

    assert response.status_code == 403
    assert "This page needs the permission <strong>Manage payment methods</strong>." in response.content.decode()
    assert f'href="{PAYMENT}"' not in invoices_page


def test_admin_sees_the_payment_entry_in_the_navigation(client, admin_en):
    client.force_login(admin_en)

    html = client.get(PAYMENT).content.decode()

    assert f'<li><a href="{PAYMENT}" aria-current="page">Payment</a></li>' in html


def test_payer_sees_the_methods_read_only(client, org, admin, payer):
    card = _card(org, is_default=True)
    client.force_login(payer)

    html = client.get(PAYMENT).content.decode()

    assert "Visa •••• 4242" in html
    assert f'<li><a href="{PAYMENT}" aria-current="page">Payment</a></li>' in html
    assert "Changing payment methods needs the permission Manage payment methods." in html
    for action in (_remove_url(card), CARD_SETUP, BANK_TRANSFER, SEPA):
        assert action not in html


@pytest.mark.parametrize("action", ["card_setup", "sepa", "bank_transfer", "default", "remove_get", "remove_post"])
def test_payer_cannot_change_payment_methods(client, org, payer, action):
    card = _card(org, is_default=True)
    other = _card(org, last4="4444", brand="mastercard")
    before = _state(org)
    client.force_login(payer)

    response = {
        "card_setup": lambda: client.post(CARD_SETUP),
        "sepa": lambda: client.post(SEPA, VALID_MANDATE),
        "bank_transfer": lambda: client.post(BANK_TRANSFER),
        "default": lambda: client.post(_default_url(other)),
        "remove_get": lambda: client.get(_remove_url(card)),
        "remove_post": lambda: client.post(_remove_url(card), {"replacement": other.public_id}),
    }[action]()

    assert response.status_code == 403
    assert "This page needs the permission <strong>Manage payment methods</strong>." in response.content.decode()
    assert _state(org) == before


# ---------------------------------------------------------------- another org's ids


@pytest.fixture
def foreign_mandate(other_org: Org, other_admin: User) -> PaymentMethod:
    Org.objects.filter(pk=other_org.pk).update(edition=Edition.PROFESSIONAL)
    other_org.refresh_from_db()
    return _mandate(other_org, other_admin)


@pytest.mark.parametrize("action", ["print", "default", "remove_get", "remove_post", "replace"])
def test_another_orgs_method_answers_404_and_stays_unchanged(client, org, admin_en, other_org, foreign_mandate, action):
    _card(org, is_default=True)
    before = _state(other_org)
    client.force_login(admin_en)

    response = {
        "print": lambda: client.get(_print_url(foreign_mandate)),
        "default": lambda: client.post(_default_url(foreign_mandate)),
        "remove_get": lambda: client.get(_remove_url(foreign_mandate)),
        "remove_post": lambda: client.post(_remove_url(foreign_mandate)),
        "replace": lambda: client.post(CARD_SETUP, {"replaces": foreign_mandate.public_id}),
    }[action]()

    assert response.status_code == 404
    assert _state(other_org) == before
    assert foreign_mandate.masked_iban not in response.content.decode()


# ---------------------------------------------------------------- the page


def test_empty_state_explains_how_to_add_a_method(client, admin_en):
    client.force_login(admin_en)

    html = client.get(PAYMENT).content.decode()

    assert "<strong>No payment method yet</strong>" in html
    assert f'<form method="post" action="{CARD_SETUP}">' in html
    assert f'href="{SEPA}"' in html
    assert f'<form method="post" action="{BANK_TRANSFER}">' in html


def test_page_shows_card_mandate_and_bank_transfer_with_their_details(client, org, admin_en):
    card = _card(org, month=3, year=2029)
    mandate = _mandate(org, admin_en, make_default=True)
    client.force_login(admin_en)

    html = client.get(PAYMENT).content.decode()

    # The default first, with its badge; the card after it.
    assert html.index("SEPA Direct Debit DE02 •••• 2051") < html.index("Visa •••• 4242")
    default_badge = '</span>\n          <span class="badge badge--info">Default</span>'
    assert f'<span class="method__label">SEPA Direct Debit DE02 •••• 2051{default_badge}' in html
    assert "<dt>Valid until</dt><dd>03/2029</dd>" in html
    assert "<dt>Account holder</dt><dd>Bäckerei Test GmbH</dd>" in html
    assert "<dt>IBAN</dt><dd>DE02 •••• 2051</dd>" in html
    assert f"<dt>BIC</dt><dd>{BIC}</dd>" in html
    assert f"<dt>Mandate reference</dt><dd>KONTO-{org.pk:06d}-001</dd>" in html
    assert f"<dt>Creditor ID</dt><dd>{CREDITOR_ID}</dd>" in html
    assert "<dt>Signed on</dt><dd>Aug 1, 2026</dd>" in html
    assert f'href="{_print_url(mandate)}"' in html
    assert f'<input type="hidden" name="replaces" value="{card.public_id}">' in html
    assert f'action="{_default_url(card)}"' in html
    assert f'action="{_default_url(mandate)}"' not in html  # already the default
    assert IBAN_COMPACT not in html
    assert IBAN not in html


def test_bank_transfer_shows_the_vendors_account_and_the_reference(client, org, admin_en):
    choose_bank_transfer(org=org, actor=_actor(admin_en))
    client.force_login(admin_en)

    html = client.get(PAYMENT).content.decode()

    assert '<span class="method__label">Bank transfer</span>' in html
    assert "<dt>Account holder</dt><dd>Nimbus CRM GmbH</dd>" in html
    assert '<dd class="method__iban">DE89 3704 0044 0532 0130 00</dd>' in html
    assert "<dt>BIC</dt><dd>COBADEFFXXX</dd>" in html
    assert "<dt>Bank</dt><dd>Commerzbank</dd>" in html
    assert "The invoice number, e.g. RE-2026-000123; for several invoices, all their numbers." in html
    assert f'<form method="post" action="{BANK_TRANSFER}">' not in html  # chosen already


@pytest.mark.parametrize(
    ("month", "year", "badge"),
    [
        (7, 2026, '<span class="badge badge--danger">Expired</span>'),
        (8, 2026, '<span class="badge badge--warn">Expires soon</span>'),
        (9, 2026, '<span class="badge badge--warn">Expires soon</span>'),
        (10, 2026, None),
    ],
)
def test_card_expiry_badges(client, org, admin_en, month, year, badge):
    _card(org, month=month, year=year, is_default=True)
    client.force_login(admin_en)

    html = client.get(PAYMENT).content.decode()

    assert f"<dd>{month:02d}/{year}</dd>" in html
    if badge:
        assert badge in html
    else:
        assert "Expired</span>" not in html
        assert "Expires soon</span>" not in html


def test_sandbox_notice_lists_the_test_cards(client, admin_en, settings):
    settings.KONTO_PAYMENT_GATEWAY = "sandbox"
    client.force_login(admin_en)

    html = client.get(PAYMENT).content.decode()

    assert "payments here are simulated and no money moves." in html
    assert '<th scope="row" class="test-cards__number">4000 0025 0000 3155</th><td>Visa</td>' in html
    assert '<th scope="row" class="test-cards__number">5555 5555 5555 4444</th><td>Mastercard</td>' in html
    assert "Payment is declined: insufficient funds" in html


def test_no_sandbox_notice_with_stripe(client, admin_en, settings):
    settings.KONTO_PAYMENT_GATEWAY = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_test_not_used"  # no request is made
    client.force_login(admin_en)

    html = client.get(PAYMENT).content.decode()

    assert "payments here are simulated" not in html
    assert "4000 0025 0000 3155" not in html


# ---------------------------------------------------------------- SEPA Direct Debit mandate


def test_mandate_form_shows_the_full_mandate_text(client, org, vendor, admin_en):
    client.force_login(admin_en)

    html = client.get(SEPA).content.decode()

    text = mandate_text(org=org, vendor=vendor, language="en")
    for paragraph in text.split("\n\n"):
        assert f"<p>{escape(paragraph)}</p>" in html
    assert "I authorise (A) Nimbus CRM GmbH to send instructions to my bank" in html
    assert f"Creditor identifier: {CREDITOR_ID}." in html
    assert '<input type="checkbox" name="is_accepted" required id="id_is_accepted">' in html
    assert '<label for="id_iban">IBAN</label>' in html


@pytest.mark.parametrize(
    ("field", "change", "message"),
    [
        (
            "iban",
            {"iban": "DE88 3704 0044 0532 0130 00"},  # check digits wrong
            (
                "Enter a valid IBAN: 2 letters for the country, 2 check digits and the account number, "
                "e.g. DE89 3704 0044 0532 0130 00."
            ),
        ),
        ("bic", {"bic": "COBADEFF1"}, "Enter a valid BIC: 8 or 11 letters and digits, e.g. COBADEFFXXX."),
        ("is_accepted", {"is_accepted": ""}, "Please accept the SEPA Direct Debit mandate."),
        ("account_holder", {"account_holder": "  "}, "Enter the account holder's name (at most 70 characters)."),
    ],
)
def test_bad_mandate_input_is_shown_next_to_its_field_and_nothing_is_created(
    client, org, admin_en, field, change, message
):
    client.force_login(admin_en)
    data = {key: value for key, value in {**VALID_MANDATE, **change}.items() if value != ""}

    response = client.post(SEPA, data, REMOTE_ADDR="203.0.113.9")

    html = response.content.decode()
    assert response.status_code == 422
    assert f'<div id="id_{field}_error"><p class="field-error">{escape(message)}</p></div>' in html
    assert f'<li><a href="#id_{field}">' in html  # the error summary links to the field
    assert "The mandate was not set up." in html
    assert PaymentMethod.objects.filter(org=org).count() == 0
    assert not AuditEvent.objects.filter(action__startswith="payment_method").exists()
    if field != "iban":
        assert f'value="{IBAN}"' in html  # what was typed stays


def test_accepting_the_mandate_records_text_ip_user_agent_and_makes_it_the_default(client, org, vendor, admin_en):
    existing = _card(org, is_default=True)
    client.force_login(admin_en)

    response = client.post(SEPA, VALID_MANDATE, REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="Mozilla/5.0 (Konto test)")

    assert response.status_code == 302
    assert response["Location"] == PAYMENT
    mandate = PaymentMethod.objects.get(org=org, kind=PaymentMethod.Kind.SEPA_DEBIT)
    assert mandate.account_holder == "Bäckerei Test GmbH"
    assert mandate.iban == IBAN_COMPACT
    assert mandate.bic == BIC
    assert mandate.mandate_reference == f"KONTO-{org.pk:06d}-001"
    assert mandate.creditor_id == CREDITOR_ID
    assert mandate.mandate_text == mandate_text(org=org, vendor=vendor, language="en")
    assert mandate.mandate_ip == "203.0.113.9"
    assert mandate.mandate_user_agent == "Mozilla/5.0 (Konto test)"
    assert mandate.mandate_signed_at == NOW
    assert mandate.created_by == admin_en
    assert mandate.is_default is True
    existing.refresh_from_db()
    assert existing.is_default is False
    html = client.get(PAYMENT).content.decode()
    assert _messages(html) == [
        f"The SEPA Direct Debit mandate KONTO-{org.pk:06d}-001 for DE02 •••• 2051 has been set up."
    ]


def test_essentials_orgs_are_offered_cards_only(client, org, admin_en):
    Org.objects.filter(pk=org.pk).update(edition=Edition.ESSENTIALS)
    client.force_login(admin_en)

    page = client.get(PAYMENT).content.decode()
    form = client.get(SEPA).content.decode()
    refused = client.post(BANK_TRANSFER, follow=True).content.decode()

    assert "upcoming invoices are paid with it. Essentials is paid by card. Please add a card.</p>" in page
    assert "<h3>Bank transfer</h3>" not in page
    assert f'<form method="post" action="{CARD_SETUP}">' in page
    assert f'href="{SEPA}"' not in page
    assert 'name="iban"' not in form
    assert _messages(refused) == ["Essentials is paid by card. Please add a card."]
    assert PaymentMethod.objects.filter(org=org).count() == 0


def test_mandate_form_says_sepa_is_for_eur_accounts_only(client, org, admin_en):
    Org.objects.filter(pk=org.pk).update(currency="CHF")
    client.force_login(admin_en)

    html = client.get(SEPA).content.decode()
    page = client.get(PAYMENT).content.decode()

    assert "SEPA Direct Debit is available for accounts billed in EUR only." in html
    assert 'name="iban"' not in html
    assert "SEPA Direct Debit is available for accounts billed in EUR only." in page
    assert f'href="{SEPA}"' not in page


def test_mandate_form_is_not_offered_without_a_creditor_id(client, org, vendor, admin_en):
    Vendor.objects.filter(pk=vendor.pk).update(sepa_creditor_id="")
    client.force_login(admin_en)

    html = client.get(SEPA).content.decode()
    response = client.post(SEPA, VALID_MANDATE)

    assert "SEPA Direct Debit is not available yet. Please choose another payment method." in html
    assert 'name="iban"' not in html
    assert response.status_code == 409
    assert "SEPA Direct Debit is not available yet. Please choose another payment method." in response.content.decode()
    assert PaymentMethod.objects.filter(org=org).count() == 0


def test_printable_mandate_shows_the_accepted_text_and_never_the_full_iban(client, org, admin_en):
    mandate = _mandate(org, admin_en)
    client.force_login(admin_en)

    response = client.get(_print_url(mandate))

    html = response.content.decode()
    assert response.status_code == 200
    assert '<h1 id="mandate-heading">SEPA Direct Debit mandate</h1>' in html
    assert f'<dd class="mandate-document__code">{mandate.mandate_reference}</dd>' in html
    assert f'<dd class="mandate-document__code">{CREDITOR_ID}</dd>' in html
    assert "DE02 •••• 2051" in html
    assert IBAN_COMPACT not in html
    assert IBAN not in html
    for paragraph in mandate.mandate_text.split("\n\n"):
        assert f"<p>{escape(paragraph)}</p>" in html
    assert "<dt>Accepted online on</dt>\n    <dd>Aug 1, 2026, 10:00\u202fAM</dd>" in html
    assert 'class="sidenav"' not in html  # a document, no navigation
    assert "payment_methods.css" in html


def test_printable_mandate_is_only_for_mandates(client, org, admin_en):
    card = _card(org, is_default=True)
    client.force_login(admin_en)

    assert client.get(_print_url(card)).status_code == 404


def test_payer_may_print_the_mandate(client, org, admin, payer):
    mandate = _mandate(org, admin)
    client.force_login(payer)

    assert client.get(_print_url(mandate)).status_code == 200


# ---------------------------------------------------------------- bank transfer and the default


def test_choosing_bank_transfer_makes_it_the_default(client, org, admin_en):
    card = _card(org, is_default=True)
    client.force_login(admin_en)

    response = client.post(BANK_TRANSFER, follow=True)

    transfer = PaymentMethod.objects.get(org=org, kind=PaymentMethod.Kind.BANK_TRANSFER)
    card.refresh_from_db()
    assert transfer.is_default is True
    assert card.is_default is False
    assert _messages(response.content.decode()) == ["Bank transfer is now your default payment method."]


def test_make_default_moves_the_default(client, org, admin_en):
    first = _card(org, is_default=True)
    second = _card(org, last4="4444", brand="mastercard")
    client.force_login(admin_en)

    response = client.post(_default_url(second), follow=True)

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.is_default, second.is_default) == (False, True)
    assert _messages(response.content.decode()) == ["Mastercard •••• 4444 is now your default payment method."]


def test_an_expired_card_cannot_become_the_default(client, org, admin_en):
    _card(org, is_default=True)
    expired = _card(org, last4="0069", month=7, year=2026)
    before = _state(org)
    client.force_login(admin_en)

    response = client.post(_default_url(expired), follow=True)

    assert _messages(response.content.decode()) == [
        "This card has expired and cannot be the default. Please add a new card."
    ]
    assert _state(org) == before


# ---------------------------------------------------------------- removing


def test_remove_asks_first(client, org, admin_en):
    card = _card(org)
    _card(org, last4="4444", brand="mastercard", is_default=True)
    before = _state(org)
    client.force_login(admin_en)

    html = client.get(_remove_url(card)).content.decode()

    assert '<h2 id="remove-heading">Remove Visa •••• 4242?</h2>' in html
    assert 'name="replacement"' not in html  # not the default: nothing to replace
    assert _state(org) == before


def test_removing_a_method_that_is_not_the_default(client, org, admin_en):
    card = _card(org)
    _card(org, last4="4444", brand="mastercard", is_default=True)
    client.force_login(admin_en)

    response = client.post(_remove_url(card), follow=True)

    card.refresh_from_db()
    assert card.status == PaymentMethod.Status.REMOVED
    assert _messages(response.content.decode()) == ["Visa •••• 4242 has been removed."]
    assert f'id="method-{card.public_id}"' not in response.content.decode()


@pytest.fixture
def card_contract(org: Org) -> Contract:
    """Professional, monthly by card, active from 2026-06-01 to 2027-06-01."""
    return add_contract(
        org,
        build_catalog(),
        start=date(2026, 6, 1),
        end=date(2027, 6, 1),
        frequency="monthly",
        lines=[("professional", 5)],
        payment="card",
    )


def test_removing_the_default_that_pays_an_active_contract_needs_a_replacement(client, org, admin_en, card_contract):
    card = _card(org, is_default=True)
    mandate = _mandate(org, admin_en, make_default=False)
    before = _state(org)
    client.force_login(admin_en)

    form = client.get(_remove_url(card)).content.decode()
    response = client.post(_remove_url(card), {"replacement": ""})

    html = response.content.decode()
    assert f'<option value="{mandate.public_id}">SEPA Direct Debit DE02 •••• 2051</option>' in form
    assert response.status_code == 422
    assert (
        '<div id="id_replacement_error"><p class="field-error">This payment method pays your active contracts. '
        "Choose or add a replacement before removing it.</p></div>"
    ) in html
    assert 'aria-invalid="true"' in html
    assert _state(org) == before
    card_contract.refresh_from_db()
    assert card_contract.payment_method_kind == "card"


def test_removing_the_default_with_a_replacement(client, org, admin_en, card_contract):
    card = _card(org, is_default=True)
    mandate = _mandate(org, admin_en, make_default=False)
    client.force_login(admin_en)

    response = client.post(_remove_url(card), {"replacement": mandate.public_id}, follow=True)

    card.refresh_from_db()
    mandate.refresh_from_db()
    card_contract.refresh_from_db()
    assert card.status == PaymentMethod.Status.REMOVED
    assert mandate.is_default is True
    assert card_contract.payment_method_kind == "sepa_debit"
    assert _messages(response.content.decode()) == ["Visa •••• 4242 has been removed."]


def test_removing_the_only_method_that_pays_a_contract_is_refused(client, org, admin_en, card_contract):
    card = _card(org, is_default=True)
    before = _state(org)
    client.force_login(admin_en)

    response = client.post(_remove_url(card))

    html = response.content.decode()
    assert response.status_code == 422
    assert "You have no other payment method: if a contract is still active, add another payment method first." in html
    assert (
        "<p>This payment method pays your active contracts. Choose or add a replacement before removing it.</p>"
    ) in html
    assert _state(org) == before


def test_a_replacement_must_be_one_of_the_orgs_methods(client, org, admin_en, other_org, foreign_mandate):
    card = _card(org, is_default=True)
    _card(org, last4="4444", brand="mastercard")
    before = _state(org)
    client.force_login(admin_en)

    response = client.post(_remove_url(card), {"replacement": foreign_mandate.public_id})

    assert response.status_code == 422
    assert "Choose one of your other payment methods." in response.content.decode()
    assert _state(org) == before


# ---------------------------------------------------------------- cards through the sandbox's card page


def _enter_card(client: Client, *, number: str, replaces: PaymentMethod | None = None, confirm: bool | None = None):
    """Add card → the sandbox's card page → (3-D Secure) → back to My Account; returns the return page's answer."""
    response = client.post(CARD_SETUP, {"replaces": replaces.public_id} if replaces else {})
    assert response.status_code == 302
    card_page = response["Location"]
    assert card_page.startswith("http://testserver/sandbox-gateway/setup/seti_sb_")
    response = client.post(card_page, {"number": number, "expiry": "12/30", "cvc": "123", "holder": "Anna Admin"})
    assert response.status_code == 302
    if confirm is not None:
        assert response["Location"] == card_page + "challenge/"
        response = client.post(response["Location"], {"decision": "confirm" if confirm else "fail"})
    back = response["Location"]
    assert back.startswith(f"http://testserver{CARD_RETURN}?attempt=")
    assert "&setup=seti_sb_" in back
    return client.get(back)


def test_adding_a_card_through_the_sandbox(client, org, admin_en):
    client.force_login(admin_en)

    response = _enter_card(client, number="4242 4242 4242 4242")

    assert response.status_code == 302
    assert response["Location"] == PAYMENT
    card = PaymentMethod.objects.get(org=org)
    assert (card.kind, card.card_brand, card.card_last4, card.card_exp_month, card.card_exp_year) == (
        "card",
        "visa",
        "4242",
        12,
        2030,
    )
    assert card.gateway == "sandbox"
    assert card.gateway_ref.startswith("pm_sb_")
    assert card.is_default is True
    html = client.get(PAYMENT).content.decode()
    assert _messages(html) == ["Visa •••• 4242 has been added."]
    assert "4242 4242 4242 4242</th>" in html  # only in the sandbox's test card table


def test_replacing_the_card_with_a_3d_secure_card(client, org, admin_en):
    client.force_login(admin_en)
    _enter_card(client, number="4242424242424242")
    client.get(PAYMENT)  # shows (and so clears) the "added" message
    old = PaymentMethod.objects.get(org=org)

    response = _enter_card(client, number="4000 0025 0000 3155", replaces=old, confirm=True)

    assert response.status_code == 302
    old.refresh_from_db()
    new = PaymentMethod.objects.get(org=org, status=PaymentMethod.Status.ACTIVE)
    assert old.status == PaymentMethod.Status.REMOVED
    assert (new.card_last4, new.is_default) == ("3155", True)
    html = client.get(PAYMENT).content.decode()
    assert _messages(html) == ["Visa •••• 3155 has replaced Visa •••• 4242."]
    assert (
        '<span class="method__label">Visa •••• 3155</span>\n          <span class="badge badge--info">Default</span>'
        in html
    )


def test_a_failed_3d_secure_challenge_keeps_the_old_card(client, org, admin_en):
    client.force_login(admin_en)
    _enter_card(client, number="4242424242424242")
    old = PaymentMethod.objects.get(org=org)
    before = _state(org)

    response = _enter_card(client, number="4000002500003155", replaces=old, confirm=False)

    html = response.content.decode()
    assert response.status_code == 422
    assert '<h2 id="card-result-heading">Your card was not replaced</h2>' in html
    assert escape("The card was not confirmed with your bank (3-D Secure). Please try again.") in html
    assert f'<input type="hidden" name="replaces" value="{old.public_id}">' in html  # "Try again" replaces it
    assert _state(org) == before


def test_reloading_the_return_page_keeps_one_card(client, org, admin_en):
    client.force_login(admin_en)
    response = client.post(CARD_SETUP)
    card_page = response["Location"]
    back = client.post(card_page, {"number": "5555555555554444", "expiry": "12/30", "cvc": "123", "holder": "A"})[
        "Location"
    ]

    first = client.get(back)
    second = client.get(back)

    assert (first.status_code, second.status_code) == (302, 302)
    assert PaymentMethod.objects.filter(org=org).count() == 1


def test_cancelling_the_card_page_adds_nothing(client, org, admin_en):
    client.force_login(admin_en)
    card_page = client.post(CARD_SETUP)["Location"]
    cancel = client.get(card_page).content.decode().split('<a href="')[-1].split('"')[0]  # the page's Cancel link

    response = client.get(cancel.replace("&amp;", "&"), follow=True)

    assert _messages(response.content.decode()) == ["No card was added."]
    assert PaymentMethod.objects.filter(org=org).count() == 0


def test_a_return_without_a_started_setup_is_refused(client, org, admin_en):
    client.force_login(admin_en)

    response = client.get(CARD_RETURN + "?attempt=made-up&setup=seti_sb_x")

    assert response.status_code == 400
    assert "This card entry has expired. Please start again." in response.content.decode()
    assert PaymentMethod.objects.filter(org=org).count() == 0


def test_a_setup_of_another_org_is_not_kept(client, org, admin_en, other_org, other_admin):
    """Swapping the setup ref in the return URL for another org's finished setup keeps nothing."""
    other = Client()
    other.force_login(_en(other_admin))
    other_card_page = other.post(CARD_SETUP)["Location"]
    foreign_back = other.post(
        other_card_page, {"number": "4242424242424242", "expiry": "12/30", "cvc": "123", "holder": "O"}
    )["Location"]
    client.force_login(admin_en)
    client.post(CARD_SETUP)  # started here, but no card entered
    own_attempt = next(iter(client.session["konto_card_setups"]))
    foreign_setup = foreign_back.split("setup=")[1]

    response = client.get(f"{CARD_RETURN}?attempt={own_attempt}&setup={foreign_setup}")

    assert response.status_code == 422
    assert "No card was entered. Please add the card again." in response.content.decode()
    assert PaymentMethod.objects.filter(org=org).count() == 0


def test_the_card_number_never_reaches_my_account(client, org, admin_en):
    client.force_login(admin_en)

    _enter_card(client, number="4242424242424242")

    card = PaymentMethod.objects.filter(org=org).values().get()
    events = AuditEvent.objects.filter(object_id=card["public_id"]).values("before", "after")
    assert "4242424242424242" not in str(card)
    assert events
    assert "4242424242424242" not in str(list(events))


# ---------------------------------------------------------------- the overview's card alert


def test_overview_warns_when_the_default_card_expires_soon(client, org, admin_en):
    _card(org, month=9, year=2026, is_default=True)
    client.force_login(admin_en)

    html = client.get(reverse("portal:overview")).content.decode()

    assert '<p class="alert__title">Card expiring</p>' in html
    assert (
        "<p>Your card Visa •••• 4242 expires at the end of 09/2026. Replace it to keep automatic payments working."
        f' <a href="{PAYMENT}">Replace card</a></p>'
    ) in html


def test_overview_says_when_the_default_card_has_expired(client, org, payer):
    _card(org, month=7, year=2026, is_default=True)
    client.force_login(payer)

    html = client.get(reverse("portal:overview")).content.decode()

    assert '<div class="alert alert--danger" role="alert">\n    <p class="alert__title">Card expired</p>' in html
    assert (
        "Your card Visa •••• 4242 expired at the end of 07/2026. Automatic payments will fail until you replace it."
        f' <a href="{PAYMENT}">Payment methods</a>'
    ) in html


@pytest.mark.parametrize("who", ["invoice_viewer", "card_not_default", "card_valid"])
def test_overview_has_no_card_alert(client, org, admin_en, invoice_viewer, who):
    if who == "card_not_default":
        _card(org, month=9, year=2026)
        _card(org, last4="4444", brand="mastercard", is_default=True)
    else:
        _card(org, month=10 if who == "card_valid" else 9, year=2026, is_default=True)
    client.force_login(invoice_viewer if who == "invoice_viewer" else admin_en)

    html = client.get(reverse("portal:overview")).content.decode()

    assert "Card expiring" not in html
    assert "Card expired" not in html


def test_a_chf_account_pays_into_the_swiss_account_without_the_euro_accounts_bic(client, org, admin_en):
    Org.objects.filter(pk=org.pk).update(currency="CHF")
    org.refresh_from_db()
    choose_bank_transfer(org=org, actor=_actor(admin_en))
    client.force_login(admin_en)

    html = client.get(PAYMENT).content.decode()

    assert "<dt>Account holder</dt><dd>Nimbus CRM GmbH</dd>" in html
    assert '<dd class="method__iban">CH44 3199 9123 0008 8901 2</dd>' in html
    assert "COBADEFFXXX" not in html
    assert "Commerzbank" not in html
    assert "DE89 3704 0044 0532 0130 00" not in html
