"""The demo seed: idempotent, every demo login works, the numbers the demo is built around."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.apps import apps
from django.contrib.auth import authenticate
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count, Sum
from django.utils import translation

from konto.accounts.models import LicensePool, LicenseType, Org, User, Vendor
from konto.accounts.permissions import effective_permissions, has_any_billing_permission
from konto.accounts.selectors import license_usage
from konto.accounts.testing import make_org
from konto.backoffice.management.commands.seed_demo import _term_containing
from konto.billing.models import CreditNote, Invoice, StoredDocument
from konto.billing.selectors import display_status
from konto.contracts.models import Charge, Contract, ContractLine, Order
from konto.contracts.services.pricing import OrderItem, price_order
from konto.core.audit import Actor
from konto.core.models import AuditEvent
from konto.core.vatid import normalize_vat_id
from konto.payments import selectors as payment_selectors
from konto.payments.models import DunningNotice, Payment, PaymentAllocation, PaymentMethod
from konto.payments.services.methods import add_sepa_mandate
from konto.portal.views.payments import account_banners
from konto.sandbox.models import SandboxCard, SandboxCharge

pytestmark = pytest.mark.django_db

DEMO_LOGINS = {
    "admin@baeckerei-mueller.example",
    "buchhaltung@baeckerei-mueller.example",
    "verkauf@baeckerei-mueller.example",
    "admin@alpenblick.example",
    "admin@tierhilfe-zuerich.example",
    "admin@stadtwerke-musterstadt.example",
    "ops@nimbus.example",
    "ae@nimbus.example",
    "support@nimbus.example",
}


def _row_counts() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


def _seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", "--force", *args, stdout=out)
    return out.getvalue()


def test_second_run_changes_nothing(seeded):
    counts = _row_counts()
    updated_at = dict(Org.objects.values_list("legal_name", "updated_at"))
    passwords = dict(User.objects.values_list("email", "password"))

    output = _seed()

    assert _row_counts() == counts
    assert dict(Org.objects.values_list("legal_name", "updated_at")) == updated_at
    assert dict(User.objects.values_list("email", "password")) == passwords
    assert output.startswith("Demo data is already in place; nothing changed.\n")


def test_first_run_creates_the_demo_records(seeded):
    assert seeded.startswith("Demo data: ")
    assert Vendor.objects.count() == 1
    assert sorted(Org.objects.values_list("legal_name", flat=True)) == [
        "Alpenblick Software GmbH",
        "Bäckerei Müller GmbH",
        "Stadtwerke Musterstadt",
        "Tierhilfe Zürich",
    ]
    assert User.objects.filter(email__endswith=".example").count() == 24


@pytest.mark.usefixtures("seeded")
def test_every_demo_user_logs_in_with_the_demo_password():
    emails = list(User.objects.values_list("email", flat=True))
    assert set(emails) >= DEMO_LOGINS

    for email in emails:
        assert authenticate(None, username=email, password="konto-demo") is not None, email


@pytest.mark.usefixtures("seeded")
def test_baeckerei_bought_five_full_licenses_and_has_100_free_identity_licenses():
    org = Org.objects.get(legal_name="Bäckerei Müller GmbH")

    usage = {u.license_type: u for u in license_usage(org=org)}

    assert (usage[LicenseType.FULL].total, usage[LicenseType.FULL].assigned, usage[LicenseType.FULL].free_seats) == (
        5,
        4,
        0,
    )
    assert (
        usage[LicenseType.IDENTITY].total,
        usage[LicenseType.IDENTITY].assigned,
        usage[LicenseType.IDENTITY].free_seats,
    ) == (100, 1, 100)


@pytest.mark.usefixtures("seeded")
def test_orgs_have_the_demo_terms():
    baeckerei = Org.objects.get(legal_name="Bäckerei Müller GmbH")
    alpenblick = Org.objects.get(legal_name="Alpenblick Software GmbH")
    tierhilfe = Org.objects.get(legal_name="Tierhilfe Zürich")

    assert (baeckerei.country, baeckerei.edition, baeckerei.segment, baeckerei.currency) == (
        "DE",
        "essentials",
        "commercial",
        "EUR",
    )
    assert (alpenblick.country, alpenblick.edition, alpenblick.vat_id) == ("AT", "enterprise", "ATU13585627")
    assert (tierhilfe.country, tierhilfe.segment, tierhilfe.currency, tierhilfe.vat_id) == (
        "CH",
        "nonprofit",
        "CHF",
        "CHE-116.281.710 MWST",
    )
    full = {u.license_type: u for u in license_usage(org=tierhilfe)}[LicenseType.FULL]
    assert (full.total, full.free_seats) == (10, 0)  # donated: bought at 0.00 on its contract, not free seats
    full = {u.license_type: u for u in license_usage(org=alpenblick)}[LicenseType.FULL]
    sold = ContractLine.objects.filter(contract__org=alpenblick, product__code="enterprise").aggregate(
        n=Sum("quantity")
    )
    assert (full.total, full.assigned) == (sold["n"], 11)  # 40 on the contract, 2 ordered five days ago
    for org in (baeckerei, alpenblick, tierhilfe):
        assert org.account_executive is not None
        assert org.account_executive.email == "ae@nimbus.example"
        assert normalize_vat_id(org.vat_id, org.country) == org.vat_id


@pytest.mark.usefixtures("seeded")
def test_vendor_is_nimbus_in_berlin_with_valid_numbers():
    vendor = Vendor.objects.get()

    assert (vendor.legal_name, vendor.postal_code, vendor.city, vendor.country) == (
        "Nimbus CRM GmbH",
        "10117",
        "Berlin",
        "DE",
    )
    assert (vendor.vat_id, vendor.iban, vendor.bic) == ("DE123456788", "DE89370400440532013000", "COBADEFFXXX")
    assert vendor.sepa_creditor_id == "DE98ZZZ09999999999"
    assert vendor.default_payment_terms_days == 14


@pytest.mark.usefixtures("seeded")
def test_demo_users_have_the_access_the_issue_names():
    admin = User.objects.get(email="admin@baeckerei-mueller.example")
    bookkeeper = User.objects.get(email="buchhaltung@baeckerei-mueller.example")
    sales = User.objects.get(email="verkauf@baeckerei-mueller.example")

    assert admin.profile is not None
    assert admin.profile.is_system_administrator
    assert admin.license_type == LicenseType.FULL
    assert bookkeeper.license_type == LicenseType.IDENTITY
    assert "manage_billing" in effective_permissions(bookkeeper)
    assert sales.license_type == LicenseType.FULL
    assert not has_any_billing_permission(sales)
    for email, group in [
        ("ops@nimbus.example", "Billing operations"),
        ("ae@nimbus.example", "Account executives"),
        ("support@nimbus.example", "Support agents"),
    ]:
        staff = User.objects.get(email=email)
        assert (staff.is_staff, staff.org_id) == (True, None)
        assert list(staff.groups.values_list("name", flat=True)) == [group]


def test_output_names_the_url_and_the_logins(seeded):
    lines = seeded.splitlines()

    assert "Konto: http://testserver" in lines  # KONTO_BASE_URL of the tests
    table = [line for line in lines if line.endswith("konto-demo")]
    assert [line.split()[0] for line in table] == [
        "admin@baeckerei-mueller.example",
        "buchhaltung@baeckerei-mueller.example",
        "verkauf@baeckerei-mueller.example",
        "admin@alpenblick.example",
        "admin@tierhilfe-zuerich.example",
        "admin@stadtwerke-musterstadt.example",
        "ops@nimbus.example",
        "ae@nimbus.example",
        "support@nimbus.example",
    ]
    assert "Bäckerei Müller GmbH" in table[0]
    assert "Stadtwerke Musterstadt" in table[5]


def test_refuses_to_run_without_debug_and_creates_nothing(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="only runs with DEBUG=true"):
        call_command("seed_demo", stdout=StringIO())

    assert Vendor.objects.count() == 0
    assert Org.objects.count() == 0


def test_runs_with_debug(settings):
    settings.DEBUG = True

    call_command("seed_demo", stdout=StringIO())

    assert Org.objects.count() == 4


@pytest.mark.usefixtures("seeded")
def test_rerun_keeps_what_people_changed_and_reset_restores_it():
    admin = User.objects.get(email="admin@baeckerei-mueller.example")
    admin.set_password("my-own-secret-1")
    admin.save()
    Org.objects.filter(legal_name="Bäckerei Müller GmbH").update(city="Augsburg")

    _seed()

    assert authenticate(None, username=admin.email, password="my-own-secret-1") is not None
    assert Org.objects.get(legal_name="Bäckerei Müller GmbH").city == "Augsburg"

    output = _seed("--reset")

    assert output.startswith("Demo data: 0 records created, ")
    assert authenticate(None, username=admin.email, password="konto-demo") is not None
    assert Org.objects.get(legal_name="Bäckerei Müller GmbH").city == "München"


# ---------------------------------------------------------------- contracts


def _contract_of(legal_name: str) -> Contract:
    return Contract.objects.get(org__legal_name=legal_name)


def _lines(contract: Contract) -> list[tuple[str, int, Decimal]]:
    return [(line.product.code, line.quantity, line.unit_price) for line in contract.lines.order_by("id")]


def _pool(legal_name: str) -> tuple[int, int]:
    pool = LicensePool.objects.get(org__legal_name=legal_name, license_type=LicenseType.FULL)
    return pool.free_seats, pool.purchased_seats


@time_machine.travel(date(2026, 11, 27), tick=False)
def test_demo_orgs_get_their_contracts_from_the_contracts_service(db):
    _seed()

    baeckerei = _contract_of("Bäckerei Müller GmbH")
    assert (baeckerei.start_date, baeckerei.end_date, baeckerei.billing_frequency) == (
        date(2026, 6, 1),
        date(2027, 6, 1),
        "monthly",
    )
    assert (baeckerei.payment_method_kind, baeckerei.currency, baeckerei.status) == ("card", "EUR", "active")
    assert _lines(baeckerei) == [("essentials", 5, Decimal("25.0000"))]
    assert (
        list(Charge.objects.filter(contract=baeckerei).values_list("net_amount", flat=True)) == [Decimal("125.00")] * 12
    )

    alpenblick = _contract_of("Alpenblick Software GmbH")
    assert (alpenblick.start_date, alpenblick.end_date, alpenblick.billing_frequency) == (
        date(2026, 3, 1),
        date(2027, 3, 1),
        "annual",
    )
    assert (alpenblick.payment_method_kind, alpenblick.payment_terms_days, alpenblick.po_number) == (
        "bank_transfer",
        30,
        "PO-2026-0815",
    )
    assert _lines(alpenblick) == [
        ("enterprise", 40, Decimal("1980.0000")),
        ("data-storage", 2, Decimal("1500.0000")),
        ("data-storage", 1, Decimal("1500.0000")),  # ordered on 2026-10-08, 50 days ago
        ("enterprise", 2, Decimal("1980.0000")),  # ordered on 2026-11-22, 5 days ago
    ]
    assert sorted(Charge.objects.filter(contract=alpenblick).values_list("net_amount", flat=True)) == [
        Decimal("591.78"),  # 1 × 1,500.00 for the 144 days from 2026-10-08 to 2027-03-01
        Decimal("1074.08"),  # 2 × 1,980.00 for the 99 days from 2026-11-22 to 2027-03-01
        Decimal("3000.00"),
        Decimal("79200.00"),
    ]

    tierhilfe = _contract_of("Tierhilfe Zürich")
    assert (tierhilfe.start_date, tierhilfe.end_date, tierhilfe.billing_frequency, tierhilfe.currency) == (
        date(2026, 1, 1),
        date(2027, 1, 1),
        "annual",
        "CHF",
    )
    assert _lines(tierhilfe) == [("enterprise", 10, Decimal("0.0000")), ("data-storage", 1, Decimal("1215.0000"))]
    assert sorted(Charge.objects.filter(contract=tierhilfe).values_list("net_amount", flat=True)) == [
        Decimal("0.00"),
        Decimal("1215.00"),
    ]

    # The bought seats are exactly what the contract lines sell
    assert [_pool(name) for name in ("Bäckerei Müller GmbH", "Alpenblick Software GmbH", "Tierhilfe Zürich")] == [
        (0, 5),
        (0, 42),
        (0, 10),
    ]
    stadtwerke = _contract_of("Stadtwerke Musterstadt")
    assert (stadtwerke.start_date, stadtwerke.end_date, stadtwerke.billing_frequency) == (
        date(2026, 4, 1),
        date(2027, 4, 1),
        "annual",
    )
    assert (stadtwerke.payment_method_kind, stadtwerke.buyer_reference) == ("bank_transfer", "04011000-1234512345-06")
    assert _lines(stadtwerke) == [("professional", 25, Decimal("960.0000"))]
    events = AuditEvent.objects.filter(action="contract.created").order_by("id")
    assert [(e.actor_email, e.object_id) for e in events] == [
        ("seed_demo", c.public_id) for c in (baeckerei, alpenblick, tierhilfe, stadtwerke)
    ]


@time_machine.travel(date(2026, 11, 27), tick=False)
def test_rerun_and_reset_add_no_contract_and_no_seats(db):
    _seed()
    contracts = list(Contract.objects.values_list("pk", flat=True))

    _seed()
    _seed("--reset")

    assert list(Contract.objects.values_list("pk", flat=True)) == contracts
    assert _pool("Bäckerei Müller GmbH") == (0, 5)
    assert _pool("Alpenblick Software GmbH") == (0, 42)  # Data Storage adds no seats
    assert sorted(Order.objects.values_list("idempotency_key", flat=True)) == [
        "seed-demo-alpenblick-2-licenses",
        "seed-demo-alpenblick-data-storage",
    ]


@time_machine.travel(date(2026, 11, 27), tick=False)
def test_bought_seats_from_before_contracts_existed_are_replaced_by_the_contract(db):
    # Given a demo database from before contracts: Bäckerei had 5 bought seats set by the seed itself
    make_org(legal_name="Bäckerei Müller GmbH", vat_id="DE295713867", full_seats=5)

    _seed()

    assert _pool("Bäckerei Müller GmbH") == (0, 5)
    assert _lines(_contract_of("Bäckerei Müller GmbH")) == [("essentials", 5, Decimal("25.0000"))]


def test_demo_terms_move_on_by_whole_years_once_they_would_be_over():
    assert _term_containing(date(2026, 11, 27), date(2026, 3, 1), 12) == (date(2026, 3, 1), date(2027, 3, 1))
    assert _term_containing(date(2027, 2, 28), date(2026, 3, 1), 12) == (date(2026, 3, 1), date(2027, 3, 1))
    assert _term_containing(date(2027, 3, 1), date(2026, 3, 1), 12) == (date(2027, 3, 1), date(2028, 3, 1))
    assert _term_containing(date(2029, 7, 4), date(2026, 1, 1), 12) == (date(2029, 1, 1), date(2030, 1, 1))


# ---------------------------------------------------------------- invoice history


def _invoices(legal_name: str) -> list[tuple[str, date, str, Decimal, Decimal, Decimal]]:
    return [
        (str(i.number), i.issue_date, i.currency, i.net_amount, i.tax_amount, i.gross_amount)
        for i in Invoice.objects.filter(org__legal_name=legal_name).order_by("number")
    ]


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@time_machine.travel(date(2026, 11, 27), tick=False)
@pytest.mark.usefixtures("media")
def test_demo_orgs_have_their_invoices_since_their_contracts_started(db):
    _seed()

    # Numbered in issue-date order across the orgs
    assert _invoices("Tierhilfe Zürich") == [
        ("RE-2026-000001", date(2026, 1, 1), "CHF", Decimal("1215.00"), Decimal("0.00"), Decimal("1215.00"))
    ]
    # CHF by transfer: paid to the vendor's Swiss account, the one its QR-bill names
    tierhilfe_xml = StoredDocument.objects.get(invoice__number="RE-2026-000001", kind="xml").file.read()
    assert b"<ram:IBANID>CH4431999123000889012</ram:IBANID>" in tierhilfe_xml
    assert _invoices("Alpenblick Software GmbH") == [
        ("RE-2026-000002", date(2026, 3, 1), "EUR", Decimal("82200.00"), Decimal("0.00"), Decimal("82200.00")),
        # the Data Storage ordered 50 days ago, numbered after Bäckerei's October invoice
        ("RE-2026-000009", date(2026, 10, 8), "EUR", Decimal("591.78"), Decimal("0.00"), Decimal("591.78")),
        # the two licenses ordered five days ago, numbered after Bäckerei's November invoice
        ("RE-2026-000011", date(2026, 11, 22), "EUR", Decimal("1074.08"), Decimal("0.00"), Decimal("1074.08")),
    ]
    assert _invoices("Stadtwerke Musterstadt") == [
        ("RE-2026-000003", date(2026, 4, 1), "EUR", Decimal("24000.00"), Decimal("4560.00"), Decimal("28560.00"))
    ]
    assert _invoices("Bäckerei Müller GmbH") == [
        (f"RE-2026-{seq:06}", date(2026, month, 1), "EUR", Decimal("125.00"), Decimal("23.75"), Decimal("148.75"))
        for seq, month in zip([4, 5, 6, 7, 8, 10], range(6, 12), strict=True)
    ]
    alpenblick = Invoice.objects.get(number="RE-2026-000002")
    assert list(alpenblick.taxes.values_list("tax_category", "tax_rate")) == [("AE", Decimal("0.00"))]
    assert alpenblick.notes == ["Steuerschuldnerschaft des Leistungsempfängers."]
    assert (alpenblick.buyer["vat_id"], alpenblick.seller["vat_id"]) == ("ATU13585627", "DE123456788")
    tierhilfe = Invoice.objects.get(org__legal_name="Tierhilfe Zürich")
    assert list(tierhilfe.taxes.values_list("tax_category", flat=True)) == ["O"]

    # Alpenblick's data storage is credited: 2 × 1,500.00, reverse charge
    note = CreditNote.objects.get()
    assert (note.number, note.invoice_id, note.is_full, note.reason) == (
        "GS-2026-000001",
        alpenblick.pk,
        False,
        "Kulanz: Datenspeicher doppelt berechnet",
    )
    assert (note.net_amount, note.tax_amount, note.gross_amount) == (
        Decimal("3000.00"),
        Decimal("0.00"),
        Decimal("3000.00"),
    )
    assert [line.invoice_line.charge.line.product.code for line in note.lines.all()] == ["data-storage"]
    alpenblick.refresh_from_db()
    assert (alpenblick.status, alpenblick.amount_credited, alpenblick.amount_paid, alpenblick.open_amount) == (
        "paid",  # the rest by bank transfer (see the payment tests)
        Decimal("3000.00"),
        Decimal("79200.00"),
        Decimal("0.00"),
    )

    # Every invoice and the credit note have their PDF and XML; Stadtwerke's XML is XRechnung
    per_record = StoredDocument.objects.values("invoice__number", "credit_note__number").annotate(n=Count("id"))
    assert len(per_record) == 12
    assert {row["n"] for row in per_record} == {2}
    assert sorted(
        StoredDocument.objects.filter(invoice__org__legal_name="Stadtwerke Musterstadt").values_list(
            "filename", "profile"
        )
    ) == [("RE-2026-000003-xrechnung.xml", "xrechnung"), ("RE-2026-000003.pdf", "xrechnung")]
    assert StoredDocument.objects.filter(profile="factur-x").count() == 22


@time_machine.travel(date(2026, 11, 27), tick=False)
@pytest.mark.usefixtures("media")
def test_rerun_adds_no_invoice_credit_note_or_document(db):
    _seed()
    counts = _row_counts()

    output = _seed()
    _seed("--reset")

    assert _row_counts() == counts
    assert output.startswith("Demo data is already in place; nothing changed.\n")
    assert Invoice.objects.count() == 11
    assert CreditNote.objects.count() == 1


@pytest.mark.usefixtures("media")
def test_history_follows_the_calendar(db):
    # A month later Bäckerei has one invoice more (its next monthly period started)
    with time_machine.travel(date(2026, 11, 27), tick=False):
        _seed()
    with time_machine.travel(date(2026, 12, 1), tick=False):
        _seed()

    assert [number for number, *_ in _invoices("Bäckerei Müller GmbH")][-1] == "RE-2026-000012"
    assert Invoice.objects.count() == 12
    # charged to the card Bäckerei has now, the declined one; its November invoice got its second reminder
    assert _collections("Bäckerei Müller GmbH")[-2:] == [
        ("RE-2026-000010", "failed", "0002", "card_declined", date(2026, 11, 28)),
        ("RE-2026-000012", "failed", "0002", "card_declined", date(2026, 12, 2)),
    ]
    # Alpenblick's Data Storage is 24 days past due: still no final notice, its orders stay unpaid
    assert _notices() == [
        ("RE-2026-000009", "reminder", date(2026, 11, 10), Decimal("591.78")),
        ("RE-2026-000009", "second_reminder", date(2026, 11, 21), Decimal("591.78")),
        ("RE-2026-000010", "reminder", date(2026, 11, 18), Decimal("148.75")),
        ("RE-2026-000010", "second_reminder", date(2026, 11, 29), Decimal("148.75")),
    ]
    alpenblick = Org.objects.get(legal_name="Alpenblick Software GmbH")
    assert [invoice.number for invoice in payment_selectors.open_invoices(org=alpenblick)] == [
        "RE-2026-000009",
        "RE-2026-000011",
    ]
    assert set(_statuses().values()) == {"active"}


# ---------------------------------------------------------------- payments

TODAY = date(2026, 11, 27)  # the demo's today in the payment tests
BAECKEREI = "Bäckerei Müller GmbH"
ALPENBLICK = "Alpenblick Software GmbH"
VISA_4242 = {"card_brand": "visa", "card_last4": "4242"}
VISA_0002 = {"card_brand": "visa", "card_last4": "0002"}
GROSS = Decimal("148.75")  # a Bäckerei month: 5 × 25.00 + 19 % VAT
SANDBOX_LINE = "Sandbox payments: test card 4242 4242 4242 4242, any future date, any CVC; more on the payment page."


def _collections(legal_name: str) -> list[tuple[str, str, str, str, date | None]]:
    """(invoice, status, card's last 4, failure code, next retry) of the org's automatic collections, in order."""
    rows = []
    payments = Payment.objects.filter(org__legal_name=legal_name, origin="automatic").select_related("method")
    for payment in payments.order_by("id"):
        (allocation,) = payment.allocations.select_related("invoice")
        assert payment.method is not None
        rows.append(
            (
                str(allocation.invoice.number),
                payment.status,
                payment.method.card_last4,
                payment.failure_code,
                payment.next_retry_on,
            )
        )
    return rows


def _notices(legal_name: str | None = None) -> list[tuple[str, str, date, Decimal]]:
    notices = DunningNotice.objects.order_by("invoice__number", "id")
    if legal_name is not None:
        notices = notices.filter(org__legal_name=legal_name)
    return [
        (str(number), level, due_on, amount)
        for number, level, due_on, amount in notices.values_list("invoice__number", "level", "due_on", "open_amount")
    ]


def _banners(email: str) -> list[tuple[str, str]]:
    """(level, title) of the banners My Account shows this user above every page, in English."""
    user = User.objects.select_related("org").get(email=email)
    assert user.org is not None
    with translation.override("en"):
        return [
            (banner.level, str(banner.title))
            for banner in account_banners(org=user.org, permissions=effective_permissions(user))
        ]


def _statuses() -> dict[str, str]:
    return dict(Org.objects.values_list("legal_name", "status"))


@time_machine.travel(TODAY, tick=False)
@pytest.mark.usefixtures("media")
def test_baeckerei_paid_its_invoices_by_card_and_the_newest_charge_was_declined(db):
    _seed()

    org = Org.objects.get(legal_name=BAECKEREI)
    # The card was added through the sandbox before the history was billed, so each invoice names it
    assert [
        (i.number, i.status, i.amount_paid, i.payment_details)
        for i in Invoice.objects.filter(org=org).order_by("number")
    ] == [
        *[(f"RE-2026-{seq:06}", "paid", GROSS, VISA_4242) for seq in range(4, 9)],
        ("RE-2026-000010", "open", Decimal("0.00"), VISA_0002),
    ]
    # and each was charged automatically; before the newest, the card was replaced by the declined test card
    assert _collections(BAECKEREI) == [
        *[(f"RE-2026-{seq:06}", "succeeded", "4242", "", None) for seq in range(4, 9)],
        ("RE-2026-000010", "failed", "0002", "card_declined", date(2026, 11, 28)),
    ]
    assert list(
        PaymentMethod.objects.filter(org=org)
        .order_by("id")
        .values_list("kind", "gateway", "card_brand", "card_last4", "card_exp_month", "card_exp_year", "status")
    ) == [
        ("card", "sandbox", "visa", "4242", 12, 2029, "removed"),
        ("card", "sandbox", "visa", "0002", 12, 2029, "active"),
    ]
    assert payment_selectors.default_payment_method(org=org) == PaymentMethod.objects.get(card_last4="0002")
    assert list(
        SandboxCharge.objects.order_by("id").values_list("card__last4", "amount", "status", "failure_code")
    ) == [
        *[("4242", GROSS, "succeeded", "")] * 5,
        ("0002", GROSS, "failed", "card_declined"),
    ]
    # So one invoice is open, its declined collection is the banner, the rest is paid
    declined = Payment.objects.get(org=org, status="failed")
    assert payment_selectors.latest_failed_collection(org=org) == declined
    assert [invoice.number for invoice in payment_selectors.open_invoices(org=org)] == ["RE-2026-000010"]
    assert _banners("admin@baeckerei-mueller.example") == [("danger", "Card payment declined")]
    # twelve days past due: a reminder, the org stays active (it may buy)
    assert _notices(BAECKEREI) == [("RE-2026-000010", "reminder", date(2026, 11, 18), GROSS)]
    assert _statuses()[BAECKEREI] == "active"
    assert Contract.objects.get(org=org).payment_method_kind == "card"


@time_machine.travel(TODAY, tick=False)
@pytest.mark.usefixtures("media")
def test_alpenblick_paid_its_annual_invoice_by_transfer_left_its_data_storage_overdue_and_stays_active(db):
    _seed()

    org = Org.objects.get(legal_name=ALPENBLICK)
    assert [
        (i.number, display_status(i, today=TODAY), i.due_date, i.open_amount, i.payment_method_kind)
        for i in Invoice.objects.filter(org=org).order_by("number")
    ] == [
        ("RE-2026-000002", "paid", date(2026, 3, 31), Decimal("0.00"), "bank_transfer"),  # credit note + transfer
        ("RE-2026-000009", "overdue", date(2026, 11, 7), Decimal("591.78"), "bank_transfer"),  # 30 days' terms
        ("RE-2026-000011", "open", date(2026, 12, 22), Decimal("1074.08"), "bank_transfer"),
    ]
    # The annual invoice, 82,200.00 less the 3,000.00 credit note, paid by transfer three days before it was due
    annual = Invoice.objects.get(number="RE-2026-000002")
    assert (annual.status, annual.amount_credited, annual.amount_paid) == (
        "paid",
        Decimal("3000.00"),
        Decimal("79200.00"),
    )
    payment = Payment.objects.get(org=org)
    assert (payment.kind, payment.origin, payment.status, payment.amount, payment.currency, payment.method) == (
        "bank_transfer",
        "bank_transfer",
        "succeeded",
        Decimal("79200.00"),
        "EUR",
        None,
    )
    assert payment.idempotency_key == f"seed-demo-transfer-{annual.public_id}"
    assert list(payment.allocations.values_list("invoice__number", "amount")) == [
        ("RE-2026-000002", Decimal("79200.00"))
    ]
    event = AuditEvent.objects.get(action="payment.succeeded", object_id=payment.public_id)
    assert event.actor_email == "seed_demo"
    assert event.after is not None
    assert (event.after["booking_date"], event.after["reference"]) == ("2026-03-28", "RE-2026-000002")

    # Its two orders, each billed on its day; neither invoice is paid
    orders = Order.objects.filter(org=org).order_by("ordered_on")
    assert [
        (
            order.ordered_on,
            order.idempotency_key,
            order.today_gross_amount,
            [(line.product.code, line.quantity) for line in order.lines.all()],
        )
        for order in orders
    ] == [
        (date(2026, 10, 8), "seed-demo-alpenblick-data-storage", Decimal("591.78"), [("data-storage", 1)]),
        (date(2026, 11, 22), "seed-demo-alpenblick-2-licenses", Decimal("1074.08"), [("enterprise", 2)]),
    ]
    assert [
        Invoice.objects.get(number=number).lines.get().charge.line.order
        for number in ("RE-2026-000009", "RE-2026-000011")
    ] == list(orders)
    assert not PaymentAllocation.objects.filter(invoice__number__in=["RE-2026-000009", "RE-2026-000011"]).exists()

    # The Data Storage invoice is 20 days past due: its reminder and second reminder, no final notice yet,
    # so the org stays active: no banner, it may still buy
    assert _notices(ALPENBLICK) == [
        ("RE-2026-000009", "reminder", date(2026, 11, 10), Decimal("591.78")),
        ("RE-2026-000009", "second_reminder", date(2026, 11, 21), Decimal("591.78")),
    ]
    assert _statuses()[ALPENBLICK] == "active"
    assert not AuditEvent.objects.filter(action="org.status_changed", org_id=org.pk).exists()
    assert _banners("admin@alpenblick.example") == []
    preview = price_order(
        org=org, contract=Contract.objects.get(org=org), items=[OrderItem("enterprise", 1)], today=TODAY
    )
    assert preview.today.gross_amount == Decimal("509.92")  # 1 × 1,980.00 for the 94 days to 2027-03-01

    # A SEPA mandate can be added (EUR, Enterprise, the vendor has a creditor ID)
    mandate = add_sepa_mandate(
        org=org,
        actor=Actor.system("test"),
        account_holder=ALPENBLICK,
        iban="AT61 1904 3002 3457 3201",
        bic="",
        is_accepted=True,
        ip="203.0.113.7",
        user_agent="pytest",
    )
    assert (mandate.kind, mandate.masked_iban, mandate.is_default) == ("sepa_debit", "AT61 •••• 3201", True)


@time_machine.travel(TODAY, tick=False)
@pytest.mark.usefixtures("media")
def test_tierhilfe_and_stadtwerke_paid_their_invoices_by_transfer_before_they_were_due(db):
    _seed()

    for number, amount, currency, booked_on in [
        ("RE-2026-000001", Decimal("1215.00"), "CHF", "2026-01-12"),  # due 2026-01-15
        ("RE-2026-000003", Decimal("28560.00"), "EUR", "2026-04-28"),  # due 2026-05-01
    ]:
        invoice = Invoice.objects.get(number=number)
        assert (invoice.status, invoice.amount_paid) == ("paid", amount)
        payment = Payment.objects.get(org=invoice.org)
        assert (payment.kind, payment.origin, payment.status, payment.amount, payment.currency, payment.method) == (
            "bank_transfer",
            "bank_transfer",
            "succeeded",
            amount,
            currency,
            None,
        )
        assert payment.idempotency_key == f"seed-demo-transfer-{invoice.public_id}"
        event = AuditEvent.objects.get(action="payment.succeeded", object_id=payment.public_id)
        assert event.actor_email == "seed_demo"
        assert event.after is not None
        assert (event.after["booking_date"], event.after["reference"]) == (booked_on, number)
    assert _notices("Tierhilfe Zürich") == _notices("Stadtwerke Musterstadt") == []
    assert (_statuses()["Tierhilfe Zürich"], _statuses()["Stadtwerke Musterstadt"]) == ("active", "active")
    assert _banners("admin@tierhilfe-zuerich.example") == _banners("admin@stadtwerke-musterstadt.example") == []


@time_machine.travel(TODAY, tick=False)
@pytest.mark.usefixtures("media")
def test_like_make_run_emails_receipts_and_notices_once_and_a_second_run_changes_nothing(transactional_db):
    # Without a surrounding transaction, as `make run` seeds: what payments do after commit happens too
    # (the listener's collections, the receipts, the dunning emails, the replaced card's detachment).
    output = _seed()

    assert SANDBOX_LINE in output.splitlines()
    assert [row[1] for row in _collections(BAECKEREI)] == ["succeeded"] * 5 + ["failed"]
    dunning = [message for message in mail.outbox if "X-Konto-Dunning-Level" in message.extra_headers]
    receipts = [message for message in mail.outbox if message not in dunning]
    assert sorted((message.to[0], message.extra_headers["X-Konto-Dunning-Level"]) for message in dunning) == [
        ("buchhaltung@alpenblick.example", "reminder"),
        ("buchhaltung@alpenblick.example", "second_reminder"),
        ("rechnung@baeckerei-mueller.example", "reminder"),
    ]
    succeeded = Payment.objects.filter(status="succeeded").select_related("org")
    assert sorted(message.to for message in receipts) == sorted([payment.org.billing_email] for payment in succeeded)
    assert sorted(next(p.public_id for p in succeeded if p.public_id in str(m.body)) for m in receipts) == sorted(
        payment.public_id for payment in succeeded
    )
    assert len(mail.outbox) == 11  # 8 receipts, 3 notices; no invoice emails for the seeded history
    visa = PaymentMethod.objects.get(card_last4="4242")
    assert SandboxCard.objects.get(token=visa.gateway_ref).is_active is False  # detached when it was replaced

    counts = _row_counts()
    statuses = _statuses()
    emails = len(mail.outbox)

    second = _seed()
    _seed("--reset")

    assert second.startswith("Demo data is already in place; nothing changed.\n")
    assert _row_counts() == counts  # payments, notices, sandbox charges, audit events, …
    assert (
        _statuses()
        == statuses
        == {
            "Alpenblick Software GmbH": "active",
            "Bäckerei Müller GmbH": "active",
            "Stadtwerke Musterstadt": "active",
            "Tierhilfe Zürich": "active",
        }
    )
    assert len(mail.outbox) == emails


@time_machine.travel(TODAY, tick=False)
@pytest.mark.usefixtures("media")
def test_without_the_sandbox_no_test_card_is_added_and_none_is_named(db, settings):
    settings.KONTO_SANDBOX_ENABLED = False

    output = _seed()

    assert SANDBOX_LINE not in output.splitlines()
    assert not PaymentMethod.objects.exists()
    assert not SandboxCharge.objects.exists()
    assert Invoice.objects.filter(org__legal_name=BAECKEREI, status="open").count() == 6
