"""Payment methods: cards through the sandbox's card page, SEPA mandates, bank transfer, the default, removing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.utils import translation

from konto.accounts.models import Org, Vendor
from konto.accounts.testing import make_admin
from konto.billing.tests.helpers import add_contract
from konto.contracts.models import Contract
from konto.core.audit import Actor
from konto.core.exceptions import KontoError
from konto.core.models import AuditEvent
from konto.payments.models import Payment, PaymentMethod
from konto.payments.services.methods import (
    add_card,
    add_sepa_mandate,
    choose_bank_transfer,
    mandate_text,
    remove_payment_method,
    set_default_payment_method,
    start_card_setup,
)
from konto.sandbox import server
from konto.sandbox.models import SandboxCard

from .core_helpers import (
    CHALLENGE,
    DEBTOR_BIC,
    DEBTOR_IBAN,
    MASTERCARD,
    RETURN_URL,
    VISA,
    actor_of,
    add_mandate,
    add_test_card,
    build_catalog,
    card_org,
)

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 7, 2, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clock(time_machine: Any) -> None:
    time_machine.move_to(NOW, tick=False)


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture
def catalog() -> Any:
    return build_catalog()


@pytest.fixture
def org(catalog: Any) -> Org:
    return card_org(catalog)


@pytest.fixture
def actor(org: Org) -> Actor:
    return actor_of(make_admin(org, "anna@baeckerei.example"))


def contract_kinds(org: Org) -> list[str]:
    return list(Contract.objects.filter(org=org).values_list("payment_method_kind", flat=True))


def methods_of(org: Org) -> list[tuple[str, str, bool]]:
    return list(PaymentMethod.objects.filter(org=org).order_by("id").values_list("kind", "status", "is_default"))


# ---------------------------------------------------------------- cards


def test_a_card_added_through_the_card_page_becomes_the_default(org, actor):
    card = add_test_card(org, VISA, actor=actor, exp=(12, 2030))

    assert (card.kind, card.gateway, card.card_brand, card.card_last4) == ("card", "sandbox", "visa", "4242")
    assert (card.card_exp_month, card.card_exp_year, card.is_default, card.status) == (12, 2030, True, "active")
    assert card.gateway_ref.startswith("pm_sb_")
    assert card.gateway_customer_ref.startswith("cus_sb_")
    event = AuditEvent.objects.get(action="payment_method.added")
    assert event.after == {
        "kind": "card",
        "gateway": "sandbox",
        "status": "active",
        "card_brand": "visa",
        "card_last4": "4242",
        "card_expiry": "12/2030",
    }
    assert (event.actor_email, event.org_id) == ("anna@baeckerei.example", org.pk)
    assert contract_kinds(org) == ["card"]


def test_a_second_card_reuses_the_gateway_customer_and_may_stay_second(org, actor):
    first = add_test_card(org, VISA, actor=actor)

    second = add_test_card(org, MASTERCARD, actor=actor, make_default=False)

    assert second.gateway_customer_ref == first.gateway_customer_ref
    assert methods_of(org) == [("card", "active", True), ("card", "active", False)]
    set_default_payment_method(org=org, method=second, actor=actor)
    assert methods_of(org) == [("card", "active", False), ("card", "active", True)]


def test_replacing_a_card_removes_the_old_one_and_detaches_it_after_commit(
    org, actor, django_capture_on_commit_callbacks
):
    old = add_test_card(org, VISA, actor=actor)

    with django_capture_on_commit_callbacks(execute=True):
        new = add_test_card(org, MASTERCARD, actor=actor, replaces=old)

    old.refresh_from_db()
    assert (old.status, old.is_default, old.removed_at) == ("removed", False, NOW)
    assert (new.is_default, new.card_brand) == (True, "mastercard")
    assert SandboxCard.objects.get(token=old.gateway_ref).is_active is False
    assert SandboxCard.objects.get(token=new.gateway_ref).is_active is True


def test_the_same_setup_returned_twice_keeps_one_card(org, actor):
    start = start_card_setup(org=org, actor=actor, return_url=RETURN_URL)
    server.submit_card(setup_ref=start.setup_ref, number=VISA, exp_month=1, exp_year=2031)

    first = add_card(org=org, actor=actor, setup_ref=start.setup_ref)
    again = add_card(org=org, actor=actor, setup_ref=start.setup_ref)

    assert first.pk == again.pk
    assert PaymentMethod.objects.count() == 1


def test_a_card_with_3d_secure_on_setup_is_kept_once_confirmed(org, actor):
    card = add_test_card(org, CHALLENGE, actor=actor)

    assert (card.card_last4, card.is_default) == ("3155", True)


def refused_setup(org: Org, actor: Actor, setup_ref: str) -> KontoError:
    with pytest.raises(KontoError) as refused:
        add_card(org=org, actor=actor, setup_ref=setup_ref)
    assert PaymentMethod.objects.count() == 0
    assert AuditEvent.objects.filter(action__startswith="payment_method").count() == 0
    return refused.value


def test_a_setup_started_for_another_org_is_refused(org, actor, catalog):
    other = card_org(catalog, "Fremdfirma GmbH")
    start = start_card_setup(org=other, actor=actor, return_url=RETURN_URL)
    server.submit_card(setup_ref=start.setup_ref, number=VISA, exp_month=1, exp_year=2031)

    error = refused_setup(org, actor, start.setup_ref)

    assert error.code == "card_setup_failed"
    assert str(error) == "The card setup was not found. Please add the card again."


def test_a_setup_without_a_card_or_with_a_failed_challenge_is_refused(org, actor):
    empty = start_card_setup(org=org, actor=actor, return_url=RETURN_URL)
    challenged = start_card_setup(org=org, actor=actor, return_url=RETURN_URL)
    server.submit_card(setup_ref=challenged.setup_ref, number=CHALLENGE, exp_month=1, exp_year=2031)
    server.answer_setup_challenge(setup_ref=challenged.setup_ref, is_confirmed=False)

    assert str(refused_setup(org, actor, empty.setup_ref)) == "No card was entered. Please add the card again."
    assert str(refused_setup(org, actor, challenged.setup_ref)) == (
        "The card was not confirmed with your bank (3-D Secure). Please try again."
    )
    assert refused_setup(org, actor, "seti_sb_nonexistent").code == "card_setup_failed"


def test_an_expired_card_is_refused(org, actor):
    start = start_card_setup(org=org, actor=actor, return_url=RETURN_URL)
    server.submit_card(setup_ref=start.setup_ref, number=VISA, exp_month=6, exp_year=2026)

    error = refused_setup(org, actor, start.setup_ref)

    assert (error.code, str(error)) == ("method_unusable", "The card expired in 06/2026. Please use another card.")


def test_an_expired_card_cannot_become_the_default(org, actor):
    add_test_card(org, VISA, actor=actor)
    second = add_test_card(org, MASTERCARD, actor=actor, make_default=False)
    PaymentMethod.objects.filter(pk=second.pk).update(card_exp_month=5, card_exp_year=2026)

    with pytest.raises(KontoError) as refused:
        set_default_payment_method(org=org, method=second, actor=actor)

    assert refused.value.code == "method_unusable"
    assert methods_of(org) == [("card", "active", True), ("card", "active", False)]


# ---------------------------------------------------------------- SEPA Direct Debit mandates


def test_a_sepa_mandate_is_signed_with_its_text_and_the_contracts_follow(org, actor):
    with translation.override("de"):
        mandate = add_sepa_mandate(
            org=org,
            actor=actor,
            account_holder="  Bäckerei   Test GmbH ",
            iban="de02 1203 0000 0000 2020 51",
            bic="byladem1001",
            is_accepted=True,
            ip="203.0.113.7",
            user_agent="Mozilla/5.0 (X11)",
        )

    assert (mandate.kind, mandate.gateway, mandate.is_default) == ("sepa_debit", "bank", True)
    assert (mandate.account_holder, mandate.iban, mandate.bic) == ("Bäckerei Test GmbH", DEBTOR_IBAN, DEBTOR_BIC)
    assert mandate.mandate_reference == f"KONTO-{org.pk:06d}-001"
    assert mandate.creditor_id == "DE98ZZZ09999999999"
    assert (mandate.mandate_signed_at, mandate.mandate_ip, mandate.mandate_user_agent) == (
        NOW,
        "203.0.113.7",
        "Mozilla/5.0 (X11)",
    )
    assert mandate.masked_iban == "DE02 •••• 2051"
    vendor = Vendor.objects.get()
    assert mandate.mandate_text == mandate_text(org=org, vendor=vendor, language="de")
    assert mandate.mandate_text.startswith("SEPA") or "Lastschrift" in mandate.mandate_text
    assert contract_kinds(org) == ["sepa_debit"]
    change = AuditEvent.objects.get(action="contract.payment_method_changed")
    assert (change.before, change.after) == ({"payment_method_kind": "card"}, {"payment_method_kind": "sepa_debit"})
    added = AuditEvent.objects.get(action="payment_method.added")
    assert added.after is not None
    assert added.after["iban"] == "DE02 •••• 2051"
    assert DEBTOR_IBAN not in str(added.after)


def test_mandate_references_count_up_per_org(org, actor, catalog):
    first = add_mandate(org, actor=actor)
    second = add_mandate(org, actor=actor, iban="DE75512108001245126199")
    other = add_mandate(card_org(catalog, "Fremdfirma GmbH"), actor=actor)

    assert first.mandate_reference == f"KONTO-{org.pk:06d}-001"
    assert second.mandate_reference == f"KONTO-{org.pk:06d}-002"
    assert other.mandate_reference == f"KONTO-{other.org_id:06d}-001"


def test_the_mandate_text_names_creditor_creditor_id_and_pre_notification(org):
    vendor = Vendor.objects.get()

    text = mandate_text(org=org, vendor=vendor, language="en")

    assert text.startswith("SEPA Direct Debit mandate: I authorise (A) Nimbus CRM GmbH to send instructions to my bank")
    assert "Creditor identifier: DE98ZZZ09999999999." in text
    assert "at least 1 day(s) before it." in text
    assert "within 8 weeks" in text


def refused_mandate(org: Org, actor: Actor, **changes: Any) -> KontoError:
    arguments: dict[str, Any] = {
        "account_holder": "Bäckerei Test GmbH",
        "iban": DEBTOR_IBAN,
        "bic": DEBTOR_BIC,
        "is_accepted": True,
        "ip": "203.0.113.7",
        "user_agent": "pytest",
    } | changes
    methods, events = methods_of(org), AuditEvent.objects.count()
    with pytest.raises(KontoError) as refused:
        add_sepa_mandate(org=org, actor=actor, **arguments)
    assert methods_of(org) == methods
    assert AuditEvent.objects.count() == events
    assert contract_kinds(org) == ["card"]
    return refused.value


IBAN_FORMAT = (
    "Enter a valid IBAN: 2 letters for the country, 2 check digits and the account number, "
    "e.g. DE89 3704 0044 0532 0130 00."
)


@pytest.mark.parametrize(
    "iban",
    [
        "DE03120300000000202051",  # check digits off by one
        "DE0212030000000020205",  # one digit short
        "XX02120300000000202051",  # no such country
        "",
        "not an iban",
    ],
)
def test_a_bad_iban_is_refused_naming_the_format(org, actor, iban):
    error = refused_mandate(org, actor, iban=iban)

    assert (error.code, str(error), error.fields) == ("invalid_iban", IBAN_FORMAT, {"iban": IBAN_FORMAT})


def test_an_iban_outside_the_sepa_area_is_refused(org, actor):
    error = refused_mandate(org, actor, iban="BR1800360305000010009795493C1")

    assert error.code == "invalid_iban"
    assert str(error).startswith("SEPA Direct Debit needs an account in the SEPA area")


@pytest.mark.parametrize("bic", ["COBADEFF1", "COBA DE", "12345678", "COBADEFFXXXX"])
def test_a_bad_bic_is_refused_naming_the_format(org, actor, bic):
    error = refused_mandate(org, actor, bic=bic)

    assert (error.code, str(error)) == (
        "invalid_bic",
        "Enter a valid BIC: 8 or 11 letters and digits, e.g. COBADEFFXXX.",
    )


def test_a_mandate_without_a_bic_is_fine(org, actor):
    assert add_mandate(org, actor=actor, bic="").bic == ""


def test_a_mandate_not_accepted_is_refused(org, actor):
    assert refused_mandate(org, actor, is_accepted=False).code == "mandate_not_accepted"
    assert refused_mandate(org, actor, is_accepted="yes").code == "mandate_not_accepted"


def test_no_mandate_without_the_vendors_creditor_id(org, actor):
    Vendor.objects.update(sepa_creditor_id="")

    assert refused_mandate(org, actor).code == "no_creditor_id"


def test_no_mandate_for_an_org_billed_in_chf(catalog, actor):
    swiss = card_org(catalog, "Bergbahn AG", country="CH", vat_id="", postal_code="3920", city="Zermatt")

    error = refused_mandate(swiss, actor)

    assert (error.code, str(error)) == (
        "method_unusable",
        "SEPA Direct Debit is available for accounts billed in EUR only.",
    )


@pytest.mark.parametrize("holder", ["", "   ", "x" * 71, "Name\nwith break"])
def test_a_bad_account_holder_is_refused(org, actor, holder):
    assert refused_mandate(org, actor, account_holder=holder).code == "invalid_account_holder"


# ---------------------------------------------------------------- bank transfer, default, removing


def test_choosing_bank_transfer_makes_it_the_default_once(org, actor):
    add_test_card(org, VISA, actor=actor)

    first = choose_bank_transfer(org=org, actor=actor)
    again = choose_bank_transfer(org=org, actor=actor)

    assert first.pk == again.pk
    assert methods_of(org) == [("card", "active", False), ("bank_transfer", "active", True)]
    assert contract_kinds(org) == ["bank_transfer"]


def test_the_default_that_pays_the_contracts_needs_a_replacement(org, actor):
    card = add_test_card(org, VISA, actor=actor)
    spare = add_test_card(org, MASTERCARD, actor=actor, make_default=False)

    with pytest.raises(KontoError) as refused:
        remove_payment_method(org=org, method=card, actor=actor)
    assert refused.value.code == "method_in_use"
    assert methods_of(org) == [("card", "active", True), ("card", "active", False)]

    remove_payment_method(org=org, method=card, actor=actor, replacement=spare)

    assert methods_of(org) == [("card", "removed", False), ("card", "active", True)]
    removed = AuditEvent.objects.get(action="payment_method.removed")
    assert removed.after == {"status": "removed", "replacement": spare.public_id}


def test_replacing_the_default_with_a_mandate_moves_the_contracts_to_direct_debit(org, actor):
    card = add_test_card(org, VISA, actor=actor)
    mandate = add_mandate(org, actor=actor, make_default=False)
    assert contract_kinds(org) == ["card"]

    remove_payment_method(org=org, method=card, actor=actor, replacement=mandate)

    assert contract_kinds(org) == ["sepa_debit"]


def test_a_method_that_pays_nothing_is_removed_without_replacement(org, actor):
    add_test_card(org, VISA, actor=actor)
    spare = add_test_card(org, MASTERCARD, actor=actor, make_default=False)

    remove_payment_method(org=org, method=spare, actor=actor)

    assert methods_of(org) == [("card", "active", True), ("card", "removed", False)]


def test_a_default_without_active_contracts_can_go(catalog, actor):
    lone = card_org(catalog, "Ohne Vertrag GmbH")
    Contract.objects.filter(org=lone).update(status=Contract.Status.EXPIRED)
    card = add_test_card(lone, VISA, actor=actor)

    remove_payment_method(org=lone, method=card, actor=actor)

    assert methods_of(lone) == [("card", "removed", False)]


def test_a_method_with_a_payment_on_its_way_is_not_removed(org, actor):
    card = add_test_card(org, VISA, actor=actor)
    spare = add_test_card(org, MASTERCARD, actor=actor, make_default=False)
    Payment.objects.create(
        org=org, method=card, kind="card", origin="customer", amount=Decimal("1.00"), currency="EUR",
        idempotency_key="k", gateway="sandbox", status="unknown",
    )  # fmt: skip

    with pytest.raises(KontoError) as refused:
        remove_payment_method(org=org, method=card, actor=actor, replacement=spare)

    assert refused.value.code == "method_in_use"
    assert methods_of(org) == [("card", "active", True), ("card", "active", False)]


def test_another_orgs_method_is_unusable_for_every_change(org, actor, catalog):
    other = card_org(catalog, "Fremdfirma GmbH")
    foreign = add_test_card(other, VISA, actor=actor)
    own = add_test_card(org, VISA, actor=actor)

    for call in (
        lambda: set_default_payment_method(org=org, method=foreign, actor=actor),
        lambda: remove_payment_method(org=org, method=foreign, actor=actor),
        lambda: remove_payment_method(org=org, method=own, actor=actor, replacement=foreign),
    ):
        with pytest.raises(KontoError) as refused:
            call()
        assert refused.value.code == "method_unusable"
    assert methods_of(other) == [("card", "active", True)]
    assert methods_of(org) == [("card", "active", True)]


def test_a_contract_started_later_pays_like_the_default_once_it_changes(org, actor, catalog):
    add_contract(
        org,
        catalog,
        start=date(2026, 7, 1),
        end=date(2027, 7, 1),
        frequency="monthly",
        lines=[("data-storage", 1)],
        payment="bank_transfer",
    )

    add_mandate(org, actor=actor)

    assert sorted(contract_kinds(org)) == ["sepa_debit", "sepa_debit"]
    assert AuditEvent.objects.filter(action="contract.payment_method_changed").count() == 2


def test_an_essentials_org_pays_by_card_only(catalog, actor):
    essentials = card_org(catalog, "Kiosk GmbH", edition="essentials")
    add_test_card(essentials, VISA, actor=actor)

    mandate = refused_mandate(essentials, actor)
    with pytest.raises(KontoError) as transfer:
        choose_bank_transfer(org=essentials, actor=actor)

    assert (mandate.code, str(mandate)) == ("method_unusable", "Essentials is paid by card. Please add a card.")
    assert transfer.value.code == "method_unusable"
    assert methods_of(essentials) == [("card", "active", True)]
