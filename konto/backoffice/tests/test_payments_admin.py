"""Payments in the back office: who may do what, SEPA files, bank statements, manual matching, refunds."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from konto.accounts.models import Vendor
from konto.billing.models import Invoice
from konto.billing.tests.helpers import build_catalog
from konto.catalog.models import Product
from konto.core.audit import Actor
from konto.core.models import AuditEvent
from konto.payments.models import (
    BankStatement,
    BankStatementLine,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Refund,
    SepaExport,
)
from konto.payments.services.camt import import_bank_statement
from konto.payments.tests.bank_helpers import B_IBAN, BAECKEREI_IBAN, collect, issue, sepa_org, state, transfer_org

pytestmark = pytest.mark.django_db

BASE = "/backoffice/payments"
PAYMENTS = f"{BASE}/payment/"
METHODS = f"{BASE}/paymentmethod/"
EXPORTS = f"{BASE}/sepaexport/"
STATEMENTS = f"{BASE}/bankstatement/"
LINES = f"{BASE}/bankstatementline/"
CAMT = Path(__file__).resolve().parents[2] / "payments" / "tests" / "camt"
EUR_STATEMENT = CAMT / "statement_eur_2026-08-04.xml"
SYSTEM = Actor.system("test")


@pytest.fixture(autouse=True)
def _clock(time_machine: Any) -> None:
    time_machine.move_to("2026-08-04T06:00:00Z", tick=False)


@pytest.fixture
def catalog(db: None) -> dict[str, Product]:
    return build_catalog()


@pytest.fixture
def invoices(catalog: dict[str, Product]) -> list[Invoice]:
    """RE-2026-000001 35.88, -000002 142.80, -000003 44.63, -000004 353.43 EUR, paid by transfer, open."""
    prices = [("Bäckerei Test GmbH", "10.05"), ("B GmbH", "40.00"), ("C GmbH", "12.50"), ("D GmbH", "99.00")]
    return [issue(transfer_org(catalog, name, price=price)) for name, price in prices]


@pytest.fixture
def statement(invoices: list[Invoice]) -> BankStatement:
    """The 2026-08-04 statement imported: RE-…001 paid, RE-…002 partly, two lines unmatched (250.00 and 50.00)."""
    return import_bank_statement(content=EUR_STATEMENT.read_bytes(), actor=SYSTEM)


@pytest.fixture
def transfer(statement: BankStatement) -> Payment:
    """The 35.88 transfer that paid RE-2026-000001."""
    return Payment.objects.get(amount=Decimal("35.88"))


@pytest.fixture
def sepa_collection(catalog: dict[str, Product]) -> Payment:
    org, _mandate = sepa_org(catalog, "Sepa Kunde GmbH", iban=BAECKEREI_IBAN, bic="BYLADEM1001")
    return collect(issue(org), today=date(2026, 8, 3))


def _messages(response: Any) -> list[tuple[str, str]]:
    return [(message.level_tag, str(message)) for message in get_messages(response.wsgi_request)]


def _line(statement: BankStatement, reference: str) -> BankStatementLine:
    return statement.lines.get(entry_reference=reference)


def _upload(client: Any, content: bytes, name: str = "statement.xml") -> Any:
    return client.post(f"{STATEMENTS}upload/", {"file": SimpleUploadedFile(name, content, "application/xml")})


def _snapshot() -> tuple[Any, ...]:
    return (
        list(BankStatement.objects.values_list("statement_id", "matched_count")),
        list(BankStatementLine.objects.order_by("pk").values_list("status", "invoice_id", "payment_id")),
        list(Payment.objects.order_by("pk").values_list("status", "amount", "amount_refunded")),
        list(Refund.objects.values_list("pk", flat=True)),
        list(Invoice.objects.order_by("pk").values_list("status", "amount_paid")),
        list(SepaExport.objects.values_list("pk", flat=True)),
        AuditEvent.objects.count(),
    )


# ---------------------------------------------------------------- who may enter


LISTS = [PAYMENTS, METHODS, EXPORTS, STATEMENTS, LINES]


@pytest.mark.parametrize("url", LISTS)
def test_billing_ops_and_support_see_the_payment_lists(client, billing_ops, support_agent, statement, url):
    for user in (billing_ops, support_agent):
        client.force_login(user)
        assert client.get(url).status_code == 200


@pytest.mark.parametrize("url", LISTS)
def test_account_executives_do_not_see_payments(client, account_executive, url):
    client.force_login(account_executive)

    assert client.get(url).status_code == 403


def test_only_billing_ops_get_the_buttons(client, billing_ops, support_agent):
    client.force_login(billing_ops)
    assert "Export due collections" in client.get(EXPORTS).content.decode()
    assert "Upload bank statement" in client.get(STATEMENTS).content.decode()

    client.force_login(support_agent)
    assert "Export due collections" not in client.get(EXPORTS).content.decode()
    assert "Upload bank statement" not in client.get(STATEMENTS).content.decode()


def test_support_agents_may_look_but_not_act(client, support_agent, statement, transfer):
    client.force_login(support_agent)
    line = _line(statement, "2026080300104713")
    before = _snapshot()

    pages = [
        client.get(f"{EXPORTS}export/"),
        client.post(f"{EXPORTS}export/", {"collection_date_until": "2026-08-31"}),
        _upload(client, EUR_STATEMENT.read_bytes()),
        client.post(f"{LINES}{line.pk}/assign/", {"invoice_number": "RE-2026-000004"}),
        client.post(f"{LINES}{line.pk}/ignore/", {"reason": "no"}),
        client.post(f"{PAYMENTS}{transfer.pk}/refund/", {"amount": "1.00", "reason": "x"}),
    ]

    assert [page.status_code for page in pages] == [403] * 6
    assert _snapshot() == before
    page = client.get(f"{STATEMENTS}{statement.pk}/change/").content.decode()
    assert "Assign to invoice" not in page
    assert "Refund…" not in client.get(f"{PAYMENTS}{transfer.pk}/change/").content.decode()


# ---------------------------------------------------------------- payments and methods


def test_payments_are_found_by_invoice_number_org_and_status(client, billing_ops, statement, transfer):
    client.force_login(billing_ops)

    by_number = client.get(PAYMENTS, {"q": "RE-2026-000001"})
    by_org = client.get(PAYMENTS, {"q": '"B GmbH"'})
    partial = Payment.objects.get(amount=Decimal("100.00"))

    assert list(by_number.context["cl"].result_list) == [transfer]
    assert list(by_org.context["cl"].result_list) == [partial]
    assert client.get(PAYMENTS, {"status__exact": "failed"}).context["cl"].result_count == 0
    assert client.get(PAYMENTS, {"origin__exact": "bank_transfer"}).context["cl"].result_count == 2


def test_payment_page_shows_its_allocations(client, billing_ops, transfer):
    client.force_login(billing_ops)

    page = client.get(f"{PAYMENTS}{transfer.pk}/change/").content.decode()

    assert "RE-2026-000001" in page
    assert f"/backoffice/billing/invoice/{Invoice.objects.get(number='RE-2026-000001').pk}/change/" in page
    assert f"{PAYMENTS}{transfer.pk}/refund/" in page


def test_payment_methods_and_sepa_payments_never_show_the_full_iban(client, billing_ops, sepa_collection):
    client.force_login(billing_ops)
    method = PaymentMethod.objects.get(kind="sepa_debit")

    pages = [
        client.get(METHODS).content.decode(),
        client.get(f"{METHODS}{method.pk}/change/").content.decode(),
        client.get(PAYMENTS).content.decode(),
        client.get(f"{PAYMENTS}{sepa_collection.pk}/change/").content.decode(),
    ]

    assert all(BAECKEREI_IBAN not in page for page in pages)
    assert "DE02 •••• 2051" in pages[1]
    assert method.mandate_reference in pages[1]
    assert "DE02 •••• 2051" in pages[3]


@pytest.mark.parametrize("url", [PAYMENTS, STATEMENTS, LINES])
def test_payment_lists_have_constant_queries(client, billing_ops, catalog, url):
    client.force_login(billing_ops)

    def queries() -> int:
        with CaptureQueriesContext(connection) as context:
            assert client.get(url).status_code == 200
        return len(context.captured_queries)

    org = transfer_org(catalog, "Eins GmbH", price="10.05")
    issue(org)
    import_bank_statement(content=EUR_STATEMENT.read_bytes(), actor=SYSTEM)
    client.get(url)
    with_one = queries()
    for number in range(3):
        reissued = EUR_STATEMENT.read_bytes().replace(b"0532013000-2026-153", f"0532013000-2026-9{number}".encode())
        import_bank_statement(content=reissued.replace(b"RE-2026-000001", b"RE-2026-000001 "), actor=SYSTEM)

    assert queries() == with_one


def test_payment_method_list_has_constant_queries(client, billing_ops, catalog):
    client.force_login(billing_ops)

    def queries() -> int:
        with CaptureQueriesContext(connection) as context:
            assert client.get(METHODS).status_code == 200
        return len(context.captured_queries)

    sepa_org(catalog, "Eins GmbH", iban=BAECKEREI_IBAN)
    client.get(METHODS)
    with_one = queries()
    for number in range(3):
        sepa_org(catalog, f"Kunde {number} GmbH", iban=BAECKEREI_IBAN)

    assert PaymentMethod.objects.count() == 4
    assert queries() == with_one


def test_a_payment_that_cannot_be_refunded_has_no_refund_link(client, billing_ops, sepa_collection):
    client.force_login(billing_ops)

    page = client.get(f"{PAYMENTS}{sepa_collection.pk}/change/").content.decode()

    assert sepa_collection.status == PaymentStatus.PENDING
    assert _refund_url(sepa_collection) not in page


# ---------------------------------------------------------------- SEPA files


def test_export_makes_the_file_and_offers_it_for_download(client, billing_ops, sepa_collection):
    client.force_login(billing_ops)
    form = client.get(f"{EXPORTS}export/")
    assert form.status_code == 200

    response = client.post(f"{EXPORTS}export/", {"collection_date_until": "2026-08-31"})

    export = SepaExport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{EXPORTS}{export.pk}/change/"
    assert _messages(response) == [
        (
            "success",
            (
                f"SEPA file pain008-{export.message_id}.xml made with 1 collection of 35.88 EUR in total. "
                "Download it and hand it to the bank."
            ),
        )
    ]
    page = client.get(response["Location"]).content.decode()
    assert f"pain008-{export.message_id}.xml" in page
    assert sepa_collection.public_id in page
    download = client.get(f"{EXPORTS}{export.pk}/download/")
    assert download.status_code == 200
    assert download["Content-Type"] == "application/xml"
    assert download["Content-Disposition"] == f'attachment; filename="pain008-{export.message_id}.xml"'
    assert download.content == bytes(export.content)
    assert BAECKEREI_IBAN.encode() in download.content  # the bank needs it; only billing ops download it
    sepa_collection.refresh_from_db()
    assert sepa_collection.status == PaymentStatus.SUCCEEDED


def test_support_agents_cannot_download_a_sepa_file(client, billing_ops, support_agent, sepa_collection):
    client.force_login(billing_ops)
    client.post(f"{EXPORTS}export/", {"collection_date_until": "2026-08-31"})
    export = SepaExport.objects.get()

    client.force_login(support_agent)
    page = client.get(f"{EXPORTS}{export.pk}/change/")

    assert page.status_code == 200
    assert f"{EXPORTS}{export.pk}/download/" not in page.content.decode()
    assert client.get(f"{EXPORTS}{export.pk}/download/").status_code == 403


def test_export_with_nothing_due_says_so(client, billing_ops, sepa_collection):
    client.force_login(billing_ops)

    response = client.post(f"{EXPORTS}export/", {"collection_date_until": "2026-08-10"})

    assert response.status_code == 302
    assert response["Location"] == EXPORTS
    assert _messages(response) == [("warning", "No SEPA collections are due until 2026-08-10; no file was made.")]
    assert SepaExport.objects.count() == 0


def test_export_errors_are_shown_on_the_form(client, billing_ops, sepa_collection):
    client.force_login(billing_ops)
    Vendor.objects.update(sepa_creditor_id="")
    before = _snapshot()

    missing = client.post(f"{EXPORTS}export/", {"collection_date_until": "2026-08-31"})
    bad_date = client.post(f"{EXPORTS}export/", {"collection_date_until": "31.08.2026x"})

    assert missing.status_code == 422
    assert missing.context["form"].non_field_errors() == [
        "Enter the vendor's name, IBAN and SEPA creditor ID before exporting direct debits."
    ]
    assert bad_date.status_code == 422
    assert bad_date.context["form"].errors == {"collection_date_until": ["Enter a valid date."]}
    assert _snapshot() == before


# ---------------------------------------------------------------- bank statements


def test_uploading_a_statement_imports_and_lists_it(client, billing_ops, invoices):
    client.force_login(billing_ops)

    response = _upload(client, EUR_STATEMENT.read_bytes())

    statement = BankStatement.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{STATEMENTS}{statement.pk}/change/"
    assert _messages(response) == [
        ("warning", "Statement 0532013000-2026-153 imported: 4 lines, 2 booked, 2 to assign or ignore.")
    ]
    assert statement.imported_by == billing_ops
    page = client.get(response["Location"]).content.decode()
    assert "Rechnung vom 28.07. Kundennummer 4711" in page
    assert "DE02 •••• 2051" in page
    assert "DE02120300000000202051" not in page
    unmatched = _line(statement, "2026080300104713")
    assert f"{LINES}{unmatched.pk}/assign/" in page
    assert f"{LINES}{unmatched.pk}/ignore/" in page
    matched = _line(statement, "2026080300104711")
    assert f"{LINES}{matched.pk}/assign/" not in page
    assert state(invoices[0]) == ("paid", Decimal("35.88"))


def test_unmatched_lines_are_listed_for_work(client, billing_ops, statement):
    client.force_login(billing_ops)

    response = client.get(LINES, {"status__exact": "unmatched"})

    assert sorted(line.entry_reference for line in response.context["cl"].result_list) == [
        "2026080300104713",
        "2026080300104714",
    ]
    page = response.content.decode()
    assert page.count("Assign to invoice") == 2


def test_a_duplicate_upload_shows_the_error_and_changes_nothing(client, billing_ops, statement):
    client.force_login(billing_ops)
    before = _snapshot()

    response = _upload(client, EUR_STATEMENT.read_bytes())

    assert response.status_code == 422
    assert response.context["form"].errors == {
        "file": ["This bank statement (0532013000-2026-153) has already been imported; nothing was changed."]
    }
    assert _snapshot() == before


def test_a_malformed_upload_shows_the_error(client, billing_ops, invoices):
    client.force_login(billing_ops)

    response = _upload(client, b"Kontoauszug als PDF", name="auszug.pdf")
    empty = client.post(f"{STATEMENTS}upload/", {})

    assert response.status_code == 422
    assert response.context["form"].errors == {
        "file": ["This is not a readable camt.053 bank statement: the file is not well-formed XML"]
    }
    assert empty.status_code == 422
    assert empty.context["form"].errors == {"file": ["This field is required."]}
    assert BankStatement.objects.count() == 0


def test_a_file_over_20_mb_is_refused_before_it_is_read(client, billing_ops, invoices):
    client.force_login(billing_ops)

    response = _upload(client, b" " * (20 * 1024 * 1024 + 1))

    assert response.status_code == 422
    assert response.context["form"].errors == {"file": ["A bank statement file can be at most 20 MB."]}
    assert BankStatement.objects.count() == 0


def test_a_line_page_shows_the_line_masked_with_its_work_links(client, billing_ops, statement):
    client.force_login(billing_ops)
    line = _line(statement, "2026080300104713")

    page = client.get(f"{LINES}{line.pk}/change/").content.decode()

    assert "Muster Handels KG" in page
    assert "DE44 •••• 4931" in page
    assert "DE44500105175407324931" not in page
    assert f"{LINES}{line.pk}/assign/" in page


def test_assigning_a_line_books_it_on_the_invoice(client, billing_ops, statement, invoices):
    client.force_login(billing_ops)
    line = _line(statement, "2026080300104713")  # 250.00
    assert client.get(f"{LINES}{line.pk}/assign/").status_code == 200

    response = client.post(f"{LINES}{line.pk}/assign/", {"invoice_number": " re-2026-000004 "})

    assert response.status_code == 302
    assert response["Location"] == f"{STATEMENTS}{statement.pk}/change/"
    assert _messages(response) == [("success", "250.00 EUR booked on invoice RE-2026-000004.")]
    line.refresh_from_db()
    assert (line.status, line.invoice) == (BankStatementLine.Status.ASSIGNED, invoices[3])
    assert state(invoices[3]) == ("open", Decimal("250.00"))
    assert AuditEvent.objects.get(action="bank_statement_line.assigned").actor_email == billing_ops.email


@pytest.mark.parametrize(
    ("number", "error"),
    [
        ("RE-2026-999999", "There is no invoice RE-2026-999999."),
        ("RE-2026-000003", "The amount is more than the 44.63 open on invoice RE-2026-000003."),
        ("RE-2026-000001", "Invoice RE-2026-000001 is not open for payment."),  # paid by the statement
        ("", "This field is required."),
    ],
)
def test_a_refused_assignment_shows_the_error_and_changes_nothing(client, billing_ops, statement, number, error):
    client.force_login(billing_ops)
    line = _line(statement, "2026080300104714")  # 50.00
    before = _snapshot()

    response = client.post(f"{LINES}{line.pk}/assign/", {"invoice_number": number})

    assert response.status_code == 422
    assert response.context["form"].errors == {"invoice_number": [error]}
    assert _snapshot() == before


def test_ignoring_a_line_needs_a_reason(client, billing_ops, statement):
    client.force_login(billing_ops)
    line = _line(statement, "2026080300104713")
    before = _snapshot()

    refused = client.post(f"{LINES}{line.pk}/ignore/", {"reason": "   "})

    assert refused.status_code == 422
    assert refused.context["form"].errors == {"reason": ["This field is required."]}
    assert _snapshot() == before

    response = client.post(f"{LINES}{line.pk}/ignore/", {"reason": "Insurance refund"})

    assert response.status_code == 302
    line.refresh_from_db()
    assert line.status == BankStatementLine.Status.IGNORED
    event = AuditEvent.objects.get(action="bank_statement_line.ignored")
    assert (event.actor_email, event.after) == (
        billing_ops.email,
        {"status": "ignored", "amount": "250.00", "currency": "EUR", "reason": "Insurance refund"},
    )


# ---------------------------------------------------------------- refunds


def _refund_url(payment: Payment) -> str:
    return f"{PAYMENTS}{payment.pk}/refund/"


def _refund_form(client: Any, payment: Payment) -> dict[str, str]:
    page = client.get(_refund_url(payment))
    assert page.status_code == 200
    form = page.context["form"]
    return {"amount": str(form["amount"].value()), "reason": "", "idempotency_key": form["idempotency_key"].value()}


def test_refund_gives_money_back_once(client, billing_ops, transfer, invoices):
    client.force_login(billing_ops)
    data = {**_refund_form(client, transfer), "amount": "10.00", "reason": "Goodwill for the outage"}
    assert _refund_form(client, transfer)["amount"] == "35.88"

    first = client.post(_refund_url(transfer), data)
    second = client.post(_refund_url(transfer), data)  # a double submit

    assert (first.status_code, second.status_code) == (302, 302)
    assert first["Location"] == f"{PAYMENTS}{transfer.pk}/change/"
    refund = Refund.objects.get()
    assert (refund.amount, refund.reason, refund.status, refund.created_by) == (
        Decimal("10.00"),
        "Goodwill for the outage",
        Refund.Status.SUCCEEDED,
        billing_ops,
    )
    transfer.refresh_from_db()
    assert (transfer.status, transfer.amount_refunded) == (PaymentStatus.PARTIALLY_REFUNDED, Decimal("10.00"))
    assert state(invoices[0]) == ("open", Decimal("25.88"))
    assert _messages(first) == [("success", "Refund of 10.00 EUR: Succeeded.")]


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        ("35.89", "At most 35.88 EUR of this payment can still be refunded."),
        ("-5.00", "Enter a positive amount with at most two decimals."),
        ("0", "Enter a positive amount with at most two decimals."),
        ("zehn", "Enter a number."),
        ("1.005", "Ensure that there are no more than 2 decimal places."),
        ("", "This field is required."),
    ],
)
def test_a_bad_refund_amount_is_refused_with_nothing_changed(client, billing_ops, transfer, amount, error):
    client.force_login(billing_ops)
    data = {**_refund_form(client, transfer), "amount": amount, "reason": "Customer asked"}
    before = _snapshot()

    response = client.post(_refund_url(transfer), data)

    assert response.status_code == 422
    assert response.context["form"].errors == {"amount": [error]}
    assert _snapshot() == before


def test_a_refund_needs_a_reason(client, billing_ops, transfer):
    client.force_login(billing_ops)
    before = _snapshot()

    response = client.post(_refund_url(transfer), {**_refund_form(client, transfer), "reason": ""})

    assert response.status_code == 422
    assert response.context["form"].errors == {"reason": ["This field is required."]}
    assert _snapshot() == before


def test_a_payment_that_did_not_succeed_cannot_be_refunded(client, billing_ops, sepa_collection):
    client.force_login(billing_ops)
    assert sepa_collection.status == PaymentStatus.PENDING
    before = _snapshot()

    response = client.get(_refund_url(sepa_collection))

    assert response.status_code == 302
    assert response["Location"] == f"{PAYMENTS}{sepa_collection.pk}/change/"
    assert _messages(response) == [("error", "Only succeeded payments can be refunded.")]
    assert _snapshot() == before


def test_refund_action_leads_to_the_refund_form(client, billing_ops, transfer):
    client.force_login(billing_ops)

    response = client.post(PAYMENTS, {"action": "refund", "index": 0, "_selected_action": [transfer.pk]})

    assert response.status_code == 302
    assert response["Location"] == _refund_url(transfer)


def test_timestamps_are_from_the_clock(statement):
    assert statement.imported_at == timezone.now()
    assert B_IBAN not in str(list(BankStatementLine.objects.values_list("payer_iban_masked", flat=True)))
