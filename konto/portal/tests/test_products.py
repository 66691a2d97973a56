"""My Account products page and recommendations: prices for the org, edition rules, overdue orgs, access."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from konto.accounts.models import Org, PermissionSet, PermissionSetAssignment, User
from konto.accounts.testing import make_billing_user, make_user
from konto.catalog.selectors import products_for_org
from konto.contracts.recommendations import recommend_products
from konto.core.periods import BillingFrequency
from konto.portal.tests.buying import make_contract, seed_catalog

pytestmark = pytest.mark.django_db

PRODUCTS = reverse("portal:products")


@pytest.fixture(autouse=True)
def _on_1_july_2026() -> Iterator[None]:
    with time_machine.travel(datetime(2026, 7, 1, 10, 0, tzinfo=ZoneInfo("Europe/Berlin")), tick=False):
        yield


@pytest.fixture(autouse=True)
def _catalog(db: None) -> None:
    seed_catalog()


def _english(*users: User) -> None:
    for user in users:
        user.language = "en"
        user.save(update_fields=["language"])


def _page(client, user: User, url: str = PRODUCTS, status: int = 200) -> str:
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == status
    return str(response.content.decode())


def _recommended(org: Org) -> list[str]:
    return [rec.product.product.code for rec in recommend_products(org=org, products=products_for_org(org=org))]


def _card(html: str, name: str) -> str:
    match = re.search(
        rf'<article class="product-card[^"]*">((?:(?!</article>).)*?>{re.escape(name)}</h3>.*?)</article>', html, re.S
    )
    assert match is not None, name
    return match.group(1)


def test_products_page_shows_the_orgs_prices_for_the_contracts_frequency(client, org, admin, billing_user):
    _english(admin, billing_user)
    make_contract(org)  # annual

    for user in (admin, billing_user):
        html = _page(client, user)

        assert "<h1>Buy new products</h1>" in html
        assert "contract <strong>V-2026-001</strong> (Annual billing)" in html
        essentials = _card(html, "Essentials")
        assert "<strong>€300.00</strong> <span>net per user, per year</span>" in essentials
        assert 'name="product" value="essentials"' in essentials
        storage = _card(html, "Data Storage (10 GB)")
        assert "<strong>€1,500.00</strong> <span>net per 10 GB, per year</span>" in storage
        assert "Description of data-storage" in storage
        # Another edition's seats are not offered at all.
        assert ">Enterprise</h3>" not in html


def test_products_the_edition_may_not_buy_are_shown_without_a_buy_form(client, org, admin):
    _english(admin)
    make_contract(org)

    analytics = _card(_page(client, admin), "Analytics Plus")

    assert "Not available in your edition" in analytics
    assert "Request an upgrade from your account executive" in analytics
    assert "<form" not in analytics


def test_products_page_of_a_monthly_contract_shows_monthly_prices(client, org, admin):
    _english(admin)
    make_contract(org, frequency=BillingFrequency.MONTHLY)

    essentials = _card(_page(client, admin), "Essentials")

    assert "<strong>€25.00</strong> <span>net per user, per month</span>" in essentials


def test_an_overdue_org_sees_why_buying_is_paused_and_no_buy_buttons(client, org, admin):
    _english(admin)
    make_contract(org)
    org.status = Org.Status.OVERDUE
    org.save(update_fields=["status"])

    html = _page(client, admin)

    assert "Buying is paused: payment overdue" in html
    assert "Please pay the open amount first" in html
    assert "Review order" not in html
    assert reverse("portal:order_preview") not in html


def test_without_an_active_contract_there_is_nothing_to_buy_on(client, org, admin):
    _english(admin)

    html = _page(client, admin)

    assert "No active contract" in html
    assert "Review order" not in html


def test_several_active_contracts_offer_a_contract_choice(client, org, admin):
    _english(admin)
    make_contract(org)
    monthly = make_contract(org, frequency=BillingFrequency.MONTHLY)

    html = _page(client, admin, f"{PRODUCTS}?contract={monthly.public_id}")

    assert '<select id="contract-select" name="contract">' in html
    assert f'<option value="{monthly.public_id}" selected>V-2026-002 · Monthly</option>' in html
    assert "<strong>€25.00</strong>" in _card(html, "Essentials")
    assert f'name="contract" value="{monthly.public_id}"' in html


def test_products_page_needs_the_purchase_permission(client, org, admin, standard_user):
    make_contract(org)
    payer = make_billing_user(org, "ap@test.example", language="en")
    payer.permission_sets.clear()
    make_user(org, "buyer@test.example", permission_sets=("purchasing",), language="en")
    PermissionSetAssignment.objects.create(
        org=org, user=payer, permission_set=PermissionSet.objects.get(code="accounts_payable")
    )

    _page(client, standard_user, status=403)
    html = _page(client, payer, status=403)
    assert "Purchase" in html
    buyer = User.objects.get(email="buyer@test.example")
    assert "Review order" in _page(client, buyer)


def test_navigation_lists_contracts_and_products_in_order(client, org, admin):
    _english(admin)

    html = _page(client, admin, reverse("portal:overview"))

    nav = html[html.index('<nav class="sidenav"') : html.index("</nav>")]
    labels = re.findall(r">([A-Za-z]+)</a></li>", nav)
    assert labels == ["Overview", "Contracts", "Products", "Invoices", "Payment", "Users", "Settings"]


def test_navigation_hides_products_without_the_purchase_permission(client, org):
    payer = make_billing_user(org, "ap@test.example", language="en")
    payer.permission_sets.clear()
    PermissionSetAssignment.objects.create(
        org=org, user=payer, permission_set=PermissionSet.objects.get(code="invoice_viewer")
    )

    html = _page(client, payer, reverse("portal:contracts"))

    nav = html[html.index('<nav class="sidenav"') : html.index("</nav>")]
    assert re.findall(r">([A-Za-z]+)</a></li>", nav) == ["Overview", "Contracts", "Invoices"]


# ---------------------------------------------------------------- recommendations


def test_essentials_org_without_inbox_gets_inbox_recommended(org, admin):
    make_contract(org)  # 5 seats, 1 assigned

    assert _recommended(org) == ["inbox"]


def test_inbox_is_not_recommended_once_the_org_has_it(org, admin):
    make_contract(org, lines=(("essentials", 5), ("inbox", 5)))

    assert _recommended(org) == []


def test_busy_org_gets_licenses_and_storage_recommended(client, org, admin):
    _english(admin)
    make_contract(org)
    for index in range(4):
        make_user(org, f"user{index}@test.example")  # 5 of 5 Full seats assigned

    assert _recommended(org) == ["essentials", "data-storage", "inbox"]
    html = _page(client, admin)
    recommended = html[html.index("Recommended for you") : html.index("All products")]
    assert "5 of your 5 Full licenses are assigned" in recommended
    assert recommended.count('class="buy-form"') == 3


def test_storage_is_recommended_from_80_percent_of_full_seats(org, admin):
    make_contract(org, lines=(("essentials", 5), ("inbox", 5)))
    for index in range(3):
        make_user(org, f"user{index}@test.example")  # 4 of 5 = 80 %

    assert _recommended(org) == ["data-storage"]


def test_storage_is_not_recommended_when_the_org_has_storage(org, admin):
    make_contract(org, lines=(("essentials", 5), ("inbox", 5), ("data-storage", 1)))
    for index in range(4):
        make_user(org, f"user{index}@test.example")

    assert _recommended(org) == ["essentials"]


def test_essentials_at_the_limit_gets_no_license_recommendation(org, admin):
    make_contract(org, lines=(("essentials", 10), ("inbox", 10), ("data-storage", 1)))
    for index in range(9):
        make_user(org, f"user{index}@test.example")

    assert _recommended(org) == []


def test_nothing_the_edition_may_not_buy_is_recommended(org, admin):
    org.edition = "enterprise"
    org.save(update_fields=["edition"])
    make_contract(org, lines=(("enterprise", 5),))
    for index in range(4):
        make_user(org, f"user{index}@test.example")
    # Enterprise may buy enterprise seats and storage; Inbox is only suggested to Essentials.
    assert _recommended(org) == ["enterprise", "data-storage"]

    org.edition = "essentials"
    org.save(update_fields=["edition"])
    # Enterprise seats are not for an Essentials org, so no license recommendation.
    assert "enterprise" not in _recommended(org)
    assert "analytics" not in _recommended(org)
