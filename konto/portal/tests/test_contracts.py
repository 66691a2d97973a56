"""My Account contracts: list, detail with lines and orders, the PDF summary, access and tenant scoping."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from konto.accounts.models import User
from konto.accounts.testing import make_user
from konto.contracts.documents import render_contract_summary
from konto.contracts.models import PaymentMethodKind
from konto.contracts.services.orders import place_order
from konto.contracts.services.pricing import OrderItem
from konto.core.audit import Actor
from konto.core.periods import BillingFrequency
from konto.portal.tests.buying import make_contract, seed_catalog

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
CONTRACTS = reverse("portal:contracts")


@pytest.fixture(autouse=True)
def _on_1_july_2026() -> Iterator[None]:
    with time_machine.travel(datetime(2026, 7, 1, 10, 0, tzinfo=BERLIN), tick=False):
        yield


@pytest.fixture(autouse=True)
def _catalog(db: None) -> None:
    seed_catalog()


def _english(*users: User) -> None:
    for user in users:
        user.language = "en"
        user.save(update_fields=["language"])


def _get(client, user: User, url: str, status: int = 200) -> str:
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == status
    return str(response.content.decode())


def test_contract_list_shows_term_billing_payment_status_and_dates(client, org, admin, billing_user):
    _english(admin, billing_user)
    contract = make_contract(org, frequency=BillingFrequency.MONTHLY)

    for user in (admin, billing_user):
        html = _get(client, user, CONTRACTS)

        assert "<h1>Contracts</h1>" in html
        assert f'href="{reverse("portal:contract_detail", kwargs={"public_id": contract.public_id})}"' in html
        assert "V-2026-001" in html
        # The end date is exclusive: the last day covered is 31 Dec, the renewal date 1 Jan.
        assert "<td>Jan 1, 2026 – Dec 31, 2026</td>" in html
        assert "<td>Monthly</td>" in html
        assert "<td>Card</td>" in html
        assert '<span class="badge badge--ok">Active</span>' in html
        assert "<td>Aug 1, 2026</td>" in html  # next billing date of a monthly contract on 1 July
        assert "Jan 1, 2027" in html
        assert "renews automatically" in html


def test_contract_list_has_an_empty_state(client, org, admin):
    _english(admin)

    html = _get(client, admin, CONTRACTS)

    assert "No contracts yet" in html
    assert "<table" not in html


def test_contract_list_shows_no_next_billing_date_when_the_term_ends_first(client, org, admin):
    _english(admin)
    make_contract(org, auto_renew=False)  # annual: the only period ends with the term

    html = _get(client, admin, CONTRACTS)

    assert "ends, no auto-renew" in html
    assert "<td>–</td>" in html


def test_contract_list_needs_a_billing_permission(client, org, admin, standard_user):
    make_contract(org)

    html = _get(client, standard_user, CONTRACTS, status=403)

    assert "V-2026-001" not in html


def test_contract_list_runs_constant_queries(client, org, admin):
    make_contract(org)
    client.force_login(admin)
    client.get(CONTRACTS)
    with CaptureQueriesContext(connection) as one:
        assert client.get(CONTRACTS).status_code == 200
    make_contract(org, start=date(2026, 2, 1), end=date(2027, 2, 1), frequency=BillingFrequency.QUARTERLY)
    make_contract(org, start=date(2026, 3, 1), end=date(2027, 3, 1))

    with CaptureQueriesContext(connection) as three:
        html = client.get(CONTRACTS).content.decode()

    assert html.count("V-2026-00") == 3
    assert len(three) == len(one)


def test_contract_list_shows_only_the_orgs_contracts(client, org, admin, other_org):
    make_contract(other_org)

    html = _get(client, admin, CONTRACTS)

    assert "V-2026-001" not in html


def test_contract_detail_shows_lines_totals_terms_and_orders(client, org, admin, billing_user):
    _english(admin, billing_user)
    org.edition = "enterprise"
    org.save(update_fields=["edition"])
    contract = make_contract(
        org,
        frequency=BillingFrequency.QUARTERLY,
        payment=PaymentMethodKind.BANK_TRANSFER,
        lines=(("enterprise", 5), ("data-storage", 1)),
        po_number="PO-4711",
        buyer_reference="04011000-1234512345-06",
        notice_period_days=30,
    )
    placed = place_order(
        org=org,
        actor=Actor(user_id=admin.pk, email=admin.email),
        contract=contract,
        items=[OrderItem("enterprise", 2)],
        idempotency_key="k-1",
        today=date(2026, 7, 1),
    )
    url = reverse("portal:contract_detail", kwargs={"public_id": contract.public_id})

    for user in (admin, billing_user):
        html = _get(client, user, url)

        assert "Contract V-2026-001" in html
        # Lines, each purchase its own line: 5 × 495.00 and 1 × 375.00 from the start, 2 × 495.00 from 1 July.
        assert re.search(r"Enterprise.*?Jan 1, 2026.*?>5<.*?€495\.00.*?€2,475\.00", html, re.S)
        assert re.search(r"Data Storage \(10 GB\).*?Jan 1, 2026.*?>1<.*?€375\.00.*?€375\.00", html, re.S)
        assert re.search(r"Enterprise.*?Ordered in My Account.*?Jul 1, 2026.*?>2<.*?€495\.00.*?€990\.00", html, re.S)
        assert "Total net per quarter" in html
        assert "€3,840.00" in html  # 2,475 + 375 + 990
        assert "Jul 1, 2026 – Sep 30, 2026" in html  # current billing period
        assert "<dd>Oct 1, 2026</dd>" in html  # next billing date
        assert "Dec 2, 2026" in html  # notice deadline: 30 days before 1 Jan 2027
        assert "<dd>14 days net</dd>" in html
        assert "<dd>Bank transfer</dd>" in html
        assert "<dd>PO-4711</dd>" in html
        assert "<dd>04011000-1234512345-06</dd>" in html
        assert reverse("portal:contract_summary_pdf", kwargs={"public_id": contract.public_id}) in html
        assert reverse("portal:order_detail", kwargs={"public_id": placed.order.public_id}) in html


def test_contract_detail_of_another_org_or_a_missing_one_is_not_found(client, org, admin, other_org):
    foreign = make_contract(other_org)
    client.force_login(admin)

    for public_id in (foreign.public_id, "ctr_doesnotexist"):
        for name in ("portal:contract_detail", "portal:contract_summary_pdf"):
            assert client.get(reverse(name, kwargs={"public_id": public_id})).status_code == 404


def test_contract_detail_needs_a_billing_permission(client, org, standard_user):
    contract = make_contract(org)

    _get(client, standard_user, reverse("portal:contract_detail", kwargs={"public_id": contract.public_id}), 403)
    _get(client, standard_user, reverse("portal:contract_summary_pdf", kwargs={"public_id": contract.public_id}), 403)


def test_contract_summary_downloads_as_pdf(client, org, billing_user):
    contract = make_contract(org, lines=(("essentials", 5), ("inbox", 5)), po_number="PO-1")
    client.force_login(billing_user)

    response = client.get(reverse("portal:contract_summary_pdf", kwargs={"public_id": contract.public_id}))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="contract-V-2026-001.pdf"'
    body = response.content
    assert body.startswith(b"%PDF-1.")
    assert body.rstrip().endswith(b"%%EOF")
    assert len(body) > 1024
    assert b"ReportLab" in body
    # The (uncompressed) info dictionary names the contract.
    assert b"/Subject (V-2026-001)" in body


def test_contract_summary_is_written_in_the_orgs_language(org):
    contract = make_contract(org)
    german = render_contract_summary(contract, today=date(2026, 7, 1))
    org.language = "en"
    org.save(update_fields=["language"])
    contract.refresh_from_db()

    english = render_contract_summary(contract, today=date(2026, 7, 1))

    assert b"/Lang (en)" in english
    assert b"/Lang (de)" in german
    assert b"/Subject (V-2026-001)" in german
    assert german.startswith(b"%PDF")
    assert len(german) > 1024


def test_order_detail_shows_what_happened_and_is_scoped_to_the_org(client, org, admin, other_org):
    _english(admin)
    contract = make_contract(org)
    placed = place_order(
        org=org,
        actor=Actor(user_id=admin.pk, email=admin.email),
        contract=contract,
        items=[OrderItem("essentials", 5)],
        idempotency_key="k-1",
        today=date(2026, 7, 1),
    )
    url = reverse("portal:order_detail", kwargs={"public_id": placed.order.public_id})

    html = _get(client, admin, url)

    assert "5 × Essentials added to your contract" in html
    # 5 × 300.00 × 184 / 365 = 756.164… → 756.16 net, 19 % VAT 143.67, gross 899.83
    assert "€756.16<span" in html
    assert "prorated (184 of 365 days)" in html
    assert "€143.67" in html
    assert "€899.83" in html
    assert "Anna Admin" in html

    other_user = make_user(other_org, "boss@other.example", profile="system_administrator")
    _get(client, other_user, url, 404)
    _get(client, admin, reverse("portal:order_detail", kwargs={"public_id": "ord_missing"}), 404)
