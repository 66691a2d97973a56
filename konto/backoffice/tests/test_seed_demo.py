"""The demo seed: idempotent, every demo login works, the numbers the demo is built around."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.apps import apps
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count

from konto.accounts.models import LicensePool, LicenseType, Org, User, Vendor
from konto.accounts.permissions import effective_permissions, has_any_billing_permission
from konto.accounts.selectors import license_usage
from konto.accounts.testing import make_org
from konto.backoffice.management.commands.seed_demo import _term_containing
from konto.billing.models import CreditNote, Invoice, StoredDocument
from konto.contracts.models import Charge, Contract
from konto.core.models import AuditEvent
from konto.core.vatid import normalize_vat_id

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
    assert (full.total, full.assigned) == (40, 11)
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
    assert _lines(alpenblick) == [("enterprise", 40, Decimal("1980.0000")), ("data-storage", 2, Decimal("1500.0000"))]
    assert sorted(Charge.objects.filter(contract=alpenblick).values_list("net_amount", flat=True)) == [
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
        (0, 40),
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
    assert _pool("Alpenblick Software GmbH") == (0, 40)


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
        ("RE-2026-000002", date(2026, 3, 1), "EUR", Decimal("82200.00"), Decimal("0.00"), Decimal("82200.00"))
    ]
    assert _invoices("Stadtwerke Musterstadt") == [
        ("RE-2026-000003", date(2026, 4, 1), "EUR", Decimal("24000.00"), Decimal("4560.00"), Decimal("28560.00"))
    ]
    assert _invoices("Bäckerei Müller GmbH") == [
        (f"RE-2026-{seq:06}", date(2026, month, 1), "EUR", Decimal("125.00"), Decimal("23.75"), Decimal("148.75"))
        for seq, month in zip(range(4, 10), range(6, 12), strict=True)
    ]
    alpenblick = Invoice.objects.get(org__legal_name="Alpenblick Software GmbH")
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
    assert (alpenblick.status, alpenblick.amount_credited, alpenblick.open_amount) == (
        "open",
        Decimal("3000.00"),
        Decimal("79200.00"),
    )

    # Every invoice and the credit note have their PDF and XML; Stadtwerke's XML is XRechnung
    per_record = StoredDocument.objects.values("invoice__number", "credit_note__number").annotate(n=Count("id"))
    assert len(per_record) == 10
    assert {row["n"] for row in per_record} == {2}
    assert sorted(
        StoredDocument.objects.filter(invoice__org__legal_name="Stadtwerke Musterstadt").values_list(
            "filename", "profile"
        )
    ) == [("RE-2026-000003-xrechnung.xml", "xrechnung"), ("RE-2026-000003.pdf", "xrechnung")]
    assert StoredDocument.objects.filter(profile="factur-x").count() == 18


@time_machine.travel(date(2026, 11, 27), tick=False)
@pytest.mark.usefixtures("media")
def test_rerun_adds_no_invoice_credit_note_or_document(db):
    _seed()
    counts = _row_counts()

    output = _seed()
    _seed("--reset")

    assert _row_counts() == counts
    assert output.startswith("Demo data is already in place; nothing changed.\n")
    assert Invoice.objects.count() == 9
    assert CreditNote.objects.count() == 1


@pytest.mark.usefixtures("media")
def test_history_follows_the_calendar(db):
    # A month later Bäckerei has one invoice more (its next monthly period started)
    with time_machine.travel(date(2026, 11, 27), tick=False):
        _seed()
    with time_machine.travel(date(2026, 12, 1), tick=False):
        _seed()

    assert [number for number, *_ in _invoices("Bäckerei Müller GmbH")][-1] == "RE-2026-000010"
    assert Invoice.objects.count() == 10
