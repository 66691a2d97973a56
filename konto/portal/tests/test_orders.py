"""The order flow in My Account: preview, one confirmation, refusals and bad input that change nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from konto.accounts.models import LicensePool, LicenseType, Org, User
from konto.accounts.testing import make_admin
from konto.contracts.models import Charge, Contract, ContractLine, Order
from konto.contracts.services.orders import place_order
from konto.contracts.services.pricing import OrderItem
from konto.core.audit import Actor
from konto.core.periods import BillingFrequency
from konto.portal.tests.buying import make_contract, seed_catalog

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
PREVIEW = reverse("portal:order_preview")
CONFIRM = reverse("portal:order_confirm")


@pytest.fixture(autouse=True)
def _on_1_july_2026() -> Iterator[None]:
    with time_machine.travel(datetime(2026, 7, 1, 10, 0, tzinfo=BERLIN), tick=False):
        yield


@pytest.fixture(autouse=True)
def _catalog(db: None) -> None:
    seed_catalog()


@pytest.fixture
def contract(org: Org) -> Contract:
    return make_contract(org)  # Essentials, annual 2026-01-01..2027-01-01, 5 × 300.00, card


@pytest.fixture
def buyer(client, admin: User) -> User:
    admin.language = "en"
    admin.save(update_fields=["language"])
    client.force_login(admin)
    return admin


def _counts() -> tuple[int, int, int]:
    return Order.objects.count(), ContractLine.objects.count(), Charge.objects.count()


def _html(response: Any) -> str:
    return str(response.content.decode())


def _hidden(html: str) -> dict[str, str]:
    form = html[html.index(f'action="{CONFIRM}"') :]
    form = form[: form.index("</form>")]
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form))


def _preview(client, product: str = "essentials", quantity: object = 2, **extra: str) -> str:
    response = client.post(PREVIEW, {"product": product, "quantity": quantity, **extra})
    assert response.status_code == 200
    return _html(response)


# ---------------------------------------------------------------- preview


def test_preview_shows_the_prorated_charge_with_days_vat_and_the_renewal(client, contract, buyer):
    before = _counts()

    html = _preview(client, "essentials", 2)

    assert "<h1>Review your order</h1>" in html
    # 2 × 300.00 × 184 / 365 = 302.465… → 302.47; VAT 19 % on it 57.47; gross 359.94
    assert '€302.47<span class="table__secondary proration">prorated (184 of 365 days)</span>' in html
    assert "VAT 19 %" in html
    assert "€57.47" in html
    assert '<td class="num" data-testid="today-gross">€359.94</td>' in html
    # Annual billing: the term ends before another regular invoice; from the renewal on 2 × 300.00 + 19 %
    assert "Next regular invoice" not in html
    assert "From the renewal on · Jan 1, 2027" in html
    assert "€714.00" in html
    assert "Order for a charge – €359.94</button>" in html
    hidden = _hidden(html)
    assert hidden["contract"] == contract.public_id
    assert hidden["product"] == "essentials"
    assert hidden["quantity"] == "2"
    assert re.fullmatch(r"[0-9a-f]{32}", hidden["idempotency_key"])
    assert re.fullmatch(r"[0-9a-f]{32}", hidden["fingerprint"])
    assert _counts() == before


def test_preview_of_a_monthly_contract_shows_the_next_regular_invoice(client, org, buyer):
    make_contract(org, frequency=BillingFrequency.MONTHLY)

    with time_machine.travel(datetime(2026, 7, 11, 9, 0, tzinfo=BERLIN), tick=False):
        client.force_login(buyer)
        html = _preview(client, "essentials", 2)

    # 2 × 25.00 × 21 / 31 = 33.87; VAT 6.44; gross 40.31. Next invoice 1 Aug: 50.00 net, 59.50 gross.
    assert "prorated (21 of 31 days)" in html
    assert "€33.87" in html
    assert "€6.44" in html
    assert "Order for a charge – €40.31</button>" in html
    assert "Next regular invoice · Aug 1, 2026" in html
    assert "€59.50" in html


def test_preview_each_rendering_gets_a_new_idempotency_key(client, contract, buyer):
    first = _hidden(_preview(client))
    second = _hidden(_preview(client))

    assert first["idempotency_key"] != second["idempotency_key"]
    assert first["fingerprint"] == second["fingerprint"]


def test_preview_shows_the_reverse_charge_note_for_an_eu_business(client, other_org, other_admin):
    seedless_contract = make_contract(other_org)
    other_org.vat_id = "ATU13585627"
    other_org.save(update_fields=["vat_id"])
    other_admin.language = "en"
    other_admin.save(update_fields=["language"])
    client.force_login(other_admin)

    html = _preview(client, "essentials", 1, contract=seedless_contract.public_id)

    assert "VAT 0 %" in html
    assert "Reverse charge" in html


# ---------------------------------------------------------------- confirm


def test_confirm_places_the_order_and_shows_what_happened(client, contract, buyer):
    hidden = _hidden(_preview(client, "essentials", 2))
    before = _counts()

    response = client.post(CONFIRM, hidden, follow=True)

    order = Order.objects.get()
    assert response.redirect_chain == [(reverse("portal:order_detail", kwargs={"public_id": order.public_id}), 302)]
    html = _html(response)
    assert "Thank you, your order has been placed." in html
    assert "2 × Essentials added to your contract" in html
    assert "€359.94" in html
    assert reverse("portal:contract_detail", kwargs={"public_id": contract.public_id}) in html
    assert _counts() == (before[0] + 1, before[1] + 1, before[2] + 1)
    line = ContractLine.objects.get(order=order)
    assert (line.quantity, line.unit_price, line.start_date) == (2, Decimal("300.0000"), date(2026, 7, 1))
    assert Charge.objects.get(line=line).net_amount == Decimal("302.47")
    assert order.today_gross_amount == Decimal("359.94")
    assert order.confirmed_by == buyer
    assert LicensePool.objects.get(org=contract.org, license_type=LicenseType.FULL).purchased_seats == 7


def test_the_po_number_given_at_confirmation_is_kept_on_the_order(client, contract, buyer):
    hidden = _hidden(_preview(client, "essentials", 1))

    client.post(CONFIRM, {**hidden, "po_number": "  BE-2026-0042 "})

    assert Order.objects.get().po_number == "BE-2026-0042"


@pytest.mark.parametrize("po_number", ["x" * 36, "PO\x00123", "PO\n123"])
def test_a_bad_po_number_shows_the_preview_again_with_the_error_and_orders_nothing(client, contract, buyer, po_number):
    hidden = _hidden(_preview(client, "essentials", 1))
    before = _counts()

    response = client.post(CONFIRM, {**hidden, "po_number": po_number})

    html = _html(response)
    assert response.status_code == 200
    assert "<h1>Review your order</h1>" in html
    assert 'id="id_po_number_error">Enter a PO number of at most 35 characters, on one line.</p>' in html
    assert _counts() == before
    assert not Order.objects.exists()


def test_the_same_confirmation_twice_places_one_order(client, contract, buyer):
    hidden = _hidden(_preview(client, "essentials", 2))

    first = client.post(CONFIRM, hidden)
    counts = _counts()
    second = client.post(CONFIRM, hidden, follow=True)

    assert first.status_code == 302
    assert second.redirect_chain[0][0] == first["Location"]
    assert "This order had already been placed. Nothing was ordered or charged twice." in _html(second)
    assert Order.objects.count() == 1
    assert _counts() == counts


def test_a_stale_preview_shows_the_new_preview_and_charges_nothing(client, contract, buyer, admin):
    hidden = _hidden(_preview(client, "essentials", 2))
    # Meanwhile somebody else buys on the same contract: the contract changed since the preview.
    place_order(
        org=contract.org,
        actor=Actor(user_id=admin.pk, email=admin.email),
        contract=contract,
        items=[OrderItem("inbox", 1)],
        idempotency_key="other-tab",
    )
    before = _counts()

    response = client.post(CONFIRM, hidden)

    assert response.status_code == 200
    html = _html(response)
    assert "Prices or your contract changed since you saw the preview, so nothing was ordered." in html
    new = _hidden(html)
    assert new["fingerprint"] != hidden["fingerprint"]
    assert new["idempotency_key"] != hidden["idempotency_key"]
    assert "Order for a charge – €359.94</button>" in html
    assert _counts() == before


@pytest.mark.parametrize(
    ("change", "value"),
    [
        ("fingerprint", "garbage"),
        ("fingerprint", ""),
        ("fingerprint", None),
        ("fingerprint", "x" * 65),
        ("idempotency_key", ""),
        ("idempotency_key", None),
        ("idempotency_key", "k" * 256),
    ],
)
def test_a_missing_or_garbage_fingerprint_or_key_shows_the_preview_again(client, contract, buyer, change, value):
    hidden = _hidden(_preview(client, "essentials", 2))
    if value is None:
        del hidden[change]
    else:
        hidden[change] = value
    before = _counts()

    response = client.post(CONFIRM, hidden)

    assert response.status_code == 200
    html = _html(response)
    assert "<h1>Review your order</h1>" in html
    assert "nothing was ordered" in html.lower() or "Nothing has been ordered yet." in html
    assert "Order for a charge – €359.94</button>" in html
    assert _counts() == before


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        ("0", "Enter a quantity from 1 to 1000."),
        ("-1", "Enter a quantity from 1 to 1000."),
        ("1.5", "Enter the quantity as a whole number."),
        ("abc", "Enter the quantity as a whole number."),
        ("1001", "Enter a quantity from 1 to 1000."),
        ("9" * 19, "Enter a quantity from 1 to 1000."),
        ("9" * 40, "Enter a quantity from 1 to 1000."),
        ("9" * 101, "Enter a quantity from 1 to 1000."),
        ("1e3", "Enter the quantity as a whole number."),
        ("²", "Enter the quantity as a whole number."),
        ("", "Enter a quantity from 1 to 1000."),
        (" ", "Enter a quantity from 1 to 1000."),
    ],
)
@pytest.mark.parametrize("url", [PREVIEW, CONFIRM])
def test_bad_quantities_are_refused_next_to_the_field(client, contract, buyer, quantity, message, url):
    data = {"product": "essentials", "quantity": quantity, "idempotency_key": "k-1", "fingerprint": "f" * 32}
    before = _counts()

    response = client.post(url, data)

    assert response.status_code == 200
    html = _html(response)
    assert "<h1>Buy new products</h1>" in html
    card = html[html.index('value="essentials"') :]
    card = card[: card.index("</form>")]
    assert f'<p class="field-error">{message}</p>' in card
    assert 'aria-invalid="true"' in card
    assert _counts() == before


@pytest.mark.parametrize("url", [PREVIEW, CONFIRM])
@pytest.mark.parametrize(
    ("product", "message"),
    [
        ("nonexistent", "There is no product nonexistent."),
        ("", "Choose a product."),
        ("x" * 51, "Choose a product."),
        ("analytics", "Analytics Plus cannot be bought with the Essentials edition."),
        ("enterprise", "Enterprise cannot be bought with the Essentials edition."),
    ],
)
def test_unknown_and_forbidden_products_are_refused(client, contract, buyer, url, product, message):
    data = {"product": product, "quantity": "1", "idempotency_key": "k-1", "fingerprint": "f" * 32}
    before = _counts()

    response = client.post(url, data)

    assert response.status_code == 200
    html = _html(response)
    assert "<h1>Buy new products</h1>" in html
    assert message in html
    assert 'role="alert"' in html
    assert _counts() == before


@pytest.mark.parametrize("url", [PREVIEW, CONFIRM])
def test_an_overdue_org_cannot_order(client, contract, buyer, url):
    Org.objects.filter(pk=contract.org_id).update(status=Org.Status.OVERDUE)
    data = {"product": "essentials", "quantity": "1", "idempotency_key": "k-1", "fingerprint": "f" * 32}
    before = _counts()

    html = _html(client.post(url, data))

    assert "Purchases are paused because your account is overdue." in html
    assert "Buying is paused: payment overdue" in html
    assert _counts() == before


@pytest.mark.parametrize("url", [PREVIEW, CONFIRM])
def test_the_11th_essentials_license_is_refused_with_an_upgrade_offer(client, contract, buyer, url):
    account_executive = make_admin(contract.org, "unused@test.example")  # any user works as the named AE
    Org.objects.filter(pk=contract.org_id).update(account_executive=account_executive)
    data = {"product": "essentials", "quantity": "6", "idempotency_key": "k-1", "fingerprint": "f" * 32}
    before = _counts()

    html = _html(client.post(url, data))

    assert "Essentials includes at most 10 Full licenses. You have 5, so you can add 5 more." in html
    assert "Upgrading to Professional or Enterprise lifts the limit" in html
    assert "unused@test.example" in html
    assert _counts() == before


@pytest.mark.parametrize("url", [PREVIEW, CONFIRM])
def test_another_orgs_contract_is_refused(client, contract, buyer, other_org, url):
    foreign = make_contract(other_org)
    data = {"contract": foreign.public_id, "product": "essentials", "quantity": "1", "idempotency_key": "k-1"}
    data["fingerprint"] = "f" * 32
    before = _counts()

    html = _html(client.post(url, data))

    assert "Choose one of your active contracts." in html
    assert _counts() == before


def test_a_reused_key_with_another_order_is_refused(client, contract, buyer):
    hidden = _hidden(_preview(client, "essentials", 2))
    client.post(CONFIRM, hidden)
    other = _hidden(_preview(client, "inbox", 1))
    other["idempotency_key"] = hidden["idempotency_key"]
    before = _counts()

    html = _html(client.post(CONFIRM, other))

    assert "This Idempotency-Key was already used for a different order." in html
    assert _counts() == before


def test_order_pages_need_the_purchase_permission(client, contract, standard_user):
    client.force_login(standard_user)
    before = _counts()

    assert client.post(PREVIEW, {"product": "essentials", "quantity": "1"}).status_code == 403
    assert client.post(CONFIRM, {"product": "essentials", "quantity": "1"}).status_code == 403
    assert client.get(reverse("portal:products")).status_code == 403
    assert _counts() == before


def test_order_endpoints_answer_post_only(client, contract, buyer):
    assert client.get(PREVIEW).status_code == 405
    assert client.get(CONFIRM).status_code == 405
