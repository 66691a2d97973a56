"""/payment-methods and /payments: scoped to the token's org, once per Idempotency-Key, never a secret in a response."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from konto.accounts.models import Org, PermissionSet, User, Vendor
from konto.accounts.testing import make_user
from konto.api.tests.conftest import ApiClient, create_token
from konto.billing.models import Invoice
from konto.billing.services.invoices import invoice_due_charges
from konto.billing.tests.helpers import add_contract, build_catalog
from konto.payments.models import Payment, PaymentMethod
from konto.payments.tests.core_helpers import (
    CHALLENGE,
    DEBTOR_BIC,
    DEBTOR_IBAN,
    DECLINED,
    VISA,
    add_test_card,
    sandbox_charges,
)
from konto.sandbox import server

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response


@pytest.fixture(autouse=True)
def _memory_storage(settings: Any) -> None:
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}


class PaymentsApi(ApiClient):
    """ApiClient with JSON POST and DELETE, and the Idempotency-Key header."""

    def post(self, path: str, body: Any = None, *, key: str | None = None, raw: str | None = None) -> Response:
        headers = self.headers(None, None)
        if key is not None:
            headers["Idempotency-Key"] = key
        data = raw if raw is not None else json.dumps(body)
        return self.client.post("/api/v1" + path, data=data, content_type="application/json", headers=headers)

    def delete(self, path: str) -> Response:
        return self.client.delete("/api/v1" + path, headers=self.headers(None, None))


@pytest.fixture
def api(admin: User) -> PaymentsApi:
    return PaymentsApi(create_token(admin))


@pytest.fixture
def vendor(db: None) -> Vendor:
    build_catalog()  # the demo vendor (with its SEPA creditor ID) and products
    vendor = Vendor.objects.get()
    vendor.sepa_creditor_id = "DE98ZZZ09999999999"
    vendor.save(update_fields=["sepa_creditor_id"])
    return vendor


def _open_invoices(org: Org) -> list[Invoice]:
    """Two open transfer invoices of a Professional org: June and July 2026, 29.75 gross each."""
    org.vat_id = "DE295713867"
    org.edition = "professional"
    org.save(update_fields=["vat_id", "edition"])
    add_contract(
        org,
        build_catalog(),
        start=date(2026, 6, 1),
        end=date(2027, 6, 1),
        frequency="monthly",
        lines=[("professional", 1, Decimal("25.00"))],
        payment="bank_transfer",
    )
    (june,) = invoice_due_charges(org=org, billing_date=date(2026, 6, 1))
    (july,) = invoice_due_charges(org=org, billing_date=date(2026, 7, 1))
    return [june, july]


@pytest.fixture
def invoices(org: Org, vendor: Vendor) -> list[Invoice]:
    return _open_invoices(org)


# ---------------------------------------------------------------- payment methods


def test_card_added_through_the_card_page_is_listed_without_its_number(api: PaymentsApi, org: Org) -> None:
    started = api.post("/payment-methods/card-setups", {"return_url": "https://app.example/back"})
    assert started.status_code == 201
    setup = started.json()["setup"]
    assert started.json()["redirect_url"].startswith("http")
    server.submit_card(setup_ref=setup, number=VISA, exp_month=12, exp_year=2030)  # the customer's browser

    added = api.post("/payment-methods", {"type": "card", "setup": setup})

    assert added.status_code == 201, added.json()
    body = added.json()
    assert body["type"] == "card"
    assert body["is_default"] is True
    assert body["card"] == {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030, "is_expired": False}
    assert body["sepa_debit"] is None
    listed = api.get("/payment-methods").json()
    assert [item["id"] for item in listed["items"]] == [body["id"]]
    assert VISA not in added.content.decode() + json.dumps(listed)


def test_sepa_mandate_is_signed_with_ip_and_user_agent_and_answered_masked(
    api: PaymentsApi, org: Org, invoices: list[Invoice]
) -> None:
    text = api.get("/payment-methods/mandate-text")
    assert text.status_code == 200
    assert "DE98ZZZ09999999999" in text.json()["text"]

    response = api.post(
        "/payment-methods",
        {
            "type": "sepa_debit",
            "account_holder": "Test GmbH",
            "iban": "DE02 1203 0000 0000 2020 51",
            "bic": DEBTOR_BIC,
            "mandate_accepted": True,
        },
    )

    assert response.status_code == 201, response.json()
    mandate = response.json()["sepa_debit"]
    assert mandate["iban"] == "DE02 •••• 2051"
    assert mandate["creditor_id"] == "DE98ZZZ09999999999"
    assert mandate["reference"].startswith("KONTO-")
    assert DEBTOR_IBAN not in response.content.decode()
    method = PaymentMethod.objects.get(public_id=response.json()["id"])
    assert (method.iban, method.mandate_ip, method.mandate_user_agent) == (DEBTOR_IBAN, "127.0.0.1", "")


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (
            {"type": "sepa_debit", "account_holder": "X", "iban": "DE02120300000000202052", "mandate_accepted": True},
            "invalid_iban",
            "iban",
        ),
        (
            {
                "type": "sepa_debit",
                "account_holder": "X",
                "iban": DEBTOR_IBAN,
                "bic": "NOTABIC!",
                "mandate_accepted": True,
            },
            "invalid_bic",
            "bic",
        ),
        (
            {"type": "sepa_debit", "account_holder": "X", "iban": DEBTOR_IBAN, "mandate_accepted": False},
            "mandate_not_accepted",
            "is_accepted",
        ),
        (
            {"type": "sepa_debit", "account_holder": "X", "iban": 12345, "mandate_accepted": True},
            "invalid_input",
            "iban",
        ),
        ({"type": "paypal"}, "invalid_input", "type"),
        ({"type": "bank_transfer", "iban": DEBTOR_IBAN}, "invalid_input", "iban"),
        ({"type": "card"}, "invalid_input", "setup"),
        ({"type": "card", "setup": "sset_doesnotexist"}, "card_setup_failed", None),
        ({"type": "card", "setup": "x", "make_default": "yes"}, "invalid_input", "make_default"),
    ],
)
def test_bad_payment_method_input_is_refused_and_nothing_is_added(
    api: PaymentsApi, org: Org, invoices: list[Invoice], body: dict[str, Any], code: str, field: str | None
) -> None:
    response = api.post("/payment-methods", body)

    assert response.status_code == 422, response.json()
    assert response.json()["code"] == code
    if field is not None:
        assert field in {error["field"] for error in response.json()["errors"]}
    assert not PaymentMethod.objects.exists()


def test_body_that_is_not_a_json_object_is_refused(api: PaymentsApi, org: Org) -> None:
    assert api.post("/payment-methods", raw="[1, 2]").json()["code"] == "invalid_input"
    assert api.post("/payment-methods", raw="{not json").status_code == 422
    assert not PaymentMethod.objects.exists()


def test_another_orgs_payment_method_answers_404_everywhere(
    api: PaymentsApi, other_org: Org, other_admin: User
) -> None:
    theirs = add_test_card(other_org)

    assert api.get(f"/payment-methods/{theirs.public_id}").status_code == 404
    assert api.post(f"/payment-methods/{theirs.public_id}/default").status_code == 404
    assert api.delete(f"/payment-methods/{theirs.public_id}").status_code == 404
    assert api.get("/payment-methods/not-an-id").status_code == 404
    theirs.refresh_from_db()
    assert (theirs.status, theirs.is_default) == ("active", True)


def test_removing_the_default_needs_a_replacement(api: PaymentsApi, org: Org, invoices: list[Invoice]) -> None:
    first = add_test_card(org)
    second = add_test_card(org, "5555555555554444", make_default=False)

    refused = api.delete(f"/payment-methods/{first.public_id}")
    assert refused.status_code == 409
    assert refused.json()["code"] == "method_in_use"

    removed = api.delete(f"/payment-methods/{first.public_id}?replacement={second.public_id}")
    assert removed.status_code == 204
    assert [item["id"] for item in api.get("/payment-methods").json()["items"]] == [second.public_id]
    second.refresh_from_db()
    assert second.is_default is True


def test_permissions(org: Org, invoices: list[Invoice]) -> None:
    viewer_set = PermissionSet.objects.create(code="view_only", name="View", permissions=["view_invoices"])
    viewer = make_user(org, "viewer@test.example", profile="identity_user")
    viewer.permission_sets.add(viewer_set, through_defaults={"org": org})
    viewer_api = PaymentsApi(create_token(viewer))

    assert viewer_api.get("/payments").status_code == 200
    for response in (
        viewer_api.get("/payment-methods"),
        viewer_api.post("/payment-methods", {"type": "bank_transfer"}),
        viewer_api.post("/payments", {"invoices": [invoices[0].public_id]}, key="k1"),
    ):
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
    assert not Payment.objects.exists()
    assert not PaymentMethod.objects.exists()


# ---------------------------------------------------------------- payments


def test_paying_two_invoices_charges_once_and_a_replay_answers_the_first_payment(
    api: PaymentsApi, org: Org, invoices: list[Invoice]
) -> None:
    card = add_test_card(org)
    body = {"invoices": [invoice.public_id for invoice in invoices]}

    first = api.post("/payments", body, key="pay-1")
    again = api.post("/payments", body, key="pay-1")

    assert first.status_code == 201, first.json()
    assert again.status_code == 200
    assert again.json() == first.json()
    paid = first.json()
    assert (paid["status"], paid["amount"], paid["currency"], paid["payment_method"]) == (
        "succeeded",
        "59.50",
        "EUR",
        card.public_id,
    )
    assert [(a["invoice"], a["amount"]) for a in paid["allocations"]] == [
        (invoices[0].public_id, "29.75"),
        (invoices[1].public_id, "29.75"),
    ]
    assert sandbox_charges() == 1
    assert first["Location"] == f"/api/v1/payments/{paid['id']}"
    assert api.get(f"/payments/{paid['id']}").json() == paid
    assert api.get("/invoices?status=open").json()["items"] == []


def test_same_key_with_another_body_is_refused(api: PaymentsApi, org: Org, invoices: list[Invoice]) -> None:
    add_test_card(org)
    api.post("/payments", {"invoices": [invoices[0].public_id]}, key="pay-1")

    response = api.post("/payments", {"invoices": [invoices[1].public_id]}, key="pay-1")

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"
    assert sandbox_charges() == 1


def test_partial_payment_pays_the_oldest_invoice_first(api: PaymentsApi, org: Org, invoices: list[Invoice]) -> None:
    add_test_card(org)

    response = api.post(
        "/payments", {"invoices": [invoices[1].public_id, invoices[0].public_id], "amount": "40.00"}, key="p"
    )

    assert response.status_code == 201, response.json()
    assert [(a["invoice"], a["amount"]) for a in response.json()["allocations"]] == [
        (invoices[0].public_id, "29.75"),
        (invoices[1].public_id, "10.25"),
    ]
    open_items = api.get("/invoices?status=open").json()["items"]
    assert [(item["id"], item["open_amount"]) for item in open_items] == [(invoices[1].public_id, "19.50")]


def test_declined_card_answers_failed_with_the_reason(api: PaymentsApi, org: Org, invoices: list[Invoice]) -> None:
    add_test_card(org, DECLINED)

    response = api.post("/payments", {"invoices": [invoices[0].public_id]}, key="p")

    assert response.status_code == 201
    assert (response.json()["status"], response.json()["failure_code"]) == ("failed", "card_declined")
    invoices[0].refresh_from_db()
    assert (invoices[0].status, invoices[0].amount_paid) == ("open", Decimal("0.00"))


def test_three_d_secure_card_answers_requires_action_with_the_challenge_url(
    api: PaymentsApi, org: Org, invoices: list[Invoice]
) -> None:
    add_test_card(org, CHALLENGE)

    response = api.post("/payments", {"invoices": [invoices[0].public_id]}, key="p")

    assert response.json()["status"] == "requires_action"
    assert response.json()["action_url"].startswith("http")
    again = api.post("/payments", {"invoices": [invoices[0].public_id]}, key="another")
    assert again.status_code == 409
    assert again.json()["code"] == "already_being_paid"
    assert sandbox_charges() == 1


@pytest.mark.parametrize(
    ("body", "headers_key", "status", "code"),
    [
        ({"invoices": ["inv_x"]}, None, 422, "idempotency_key_missing"),
        ({"invoices": []}, "k", 422, "invoice_not_payable"),
        ({"invoices": "inv_x"}, "k", 422, "invalid_input"),
        ({"invoices": [1, 2]}, "k", 422, "invalid_input"),
        ({"invoices": ["inv_doesnotexist"]}, "k", 422, "invoice_not_payable"),
        ({"invoices": ["INVOICE"], "amount": "-1"}, "k", 422, "invalid_amount"),
        ({"invoices": ["INVOICE"], "amount": 10}, "k", 422, "invalid_input"),
        ({"invoices": ["INVOICE"], "amount": "1.001"}, "k", 422, "invalid_amount"),
        ({"invoices": ["INVOICE"], "amount": "abc"}, "k", 422, "invalid_amount"),
        ({"invoices": ["INVOICE"], "amount": "29.76"}, "k", 422, "amount_mismatch"),
        ({"invoices": ["INVOICE"], "payment_method": "pm_doesnotexist"}, "k", 404, "not_found"),
        ({"invoices": ["INVOICE"], "tip": "1.00"}, "k", 422, "invalid_input"),
    ],
)
def test_bad_payment_input_charges_nothing(
    api: PaymentsApi,
    org: Org,
    invoices: list[Invoice],
    body: dict[str, Any],
    headers_key: str | None,
    status: int,
    code: str,
) -> None:
    add_test_card(org)
    body = json.loads(json.dumps(body).replace("INVOICE", invoices[0].public_id))

    response = api.post("/payments", body, key=headers_key)

    assert response.status_code == status, response.json()
    assert response.json()["code"] == code
    assert not Payment.objects.exists()
    assert sandbox_charges() == 0


def test_another_orgs_invoice_and_method_are_refused(
    api: PaymentsApi, org: Org, other_org: Org, invoices: list[Invoice]
) -> None:
    add_test_card(org)
    theirs = _open_invoices(other_org)
    their_card = add_test_card(other_org)

    invoice = api.post("/payments", {"invoices": [theirs[0].public_id]}, key="a")
    method = api.post(
        "/payments", {"invoices": [invoices[0].public_id], "payment_method": their_card.public_id}, key="b"
    )

    assert (invoice.status_code, invoice.json()["code"]) == (422, "invoice_not_payable")
    assert (method.status_code, method.json()["code"]) == (404, "not_found")
    assert not Payment.objects.exists()
    assert sandbox_charges() == 0


def test_payments_list_is_scoped_and_filtered(
    api: PaymentsApi, org: Org, other_org: Org, other_admin: User, invoices: list[Invoice]
) -> None:
    add_test_card(org)
    mine = api.post("/payments", {"invoices": [invoices[0].public_id]}, key="a").json()
    theirs_api = PaymentsApi(create_token(other_admin))
    their_invoices = _open_invoices(other_org)
    add_test_card(other_org)
    theirs = theirs_api.post("/payments", {"invoices": [their_invoices[0].public_id]}, key="a").json()

    assert [item["id"] for item in api.get("/payments").json()["items"]] == [mine["id"]]
    assert api.get("/payments?status=failed").json()["items"] == []
    assert api.get(f"/payments/{theirs['id']}").status_code == 404
    assert api.get("/payments?status=bogus").status_code == 422


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "return_url"),
        ({"return_url": "javascript:alert(1)"}, "return_url"),
        ({"return_url": ""}, "return_url"),
        ({"return_url": 5}, "return_url"),
        ({"return_url": "https://app.example/back", "x": 1}, "x"),
    ],
)
def test_card_setup_needs_an_http_return_url(api: PaymentsApi, org: Org, body: dict[str, Any], field: str) -> None:
    response = api.post("/payment-methods/card-setups", body)

    assert response.status_code == 422, response.json()
    assert response.json()["code"] == "invalid_input"
    assert [error["field"] for error in response.json()["errors"]] == [field]


def test_mandate_text_without_a_creditor_id_answers_404(api: PaymentsApi, vendor: Vendor) -> None:
    Vendor.objects.update(sepa_creditor_id="")

    response = api.get("/payment-methods/mandate-text")

    assert response.status_code == 404
    assert response.json()["code"] == "no_creditor_id"


def test_removing_with_another_orgs_replacement_answers_404(
    api: PaymentsApi, org: Org, other_org: Org, invoices: list[Invoice]
) -> None:
    mine = add_test_card(org)
    theirs = add_test_card(other_org)

    response = api.delete(f"/payment-methods/{mine.public_id}?replacement={theirs.public_id}")

    assert response.status_code == 404
    mine.refresh_from_db()
    assert (mine.status, mine.is_default) == ("active", True)
