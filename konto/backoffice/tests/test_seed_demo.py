"""The demo seed: idempotent, every demo login works, the numbers the demo is built around."""

from __future__ import annotations

from io import StringIO

import pytest
from django.apps import apps
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.core.management.base import CommandError

from konto.accounts.models import LicenseType, Org, User, Vendor
from konto.accounts.permissions import effective_permissions, has_any_billing_permission
from konto.accounts.selectors import license_usage
from konto.core.vatid import normalize_vat_id

pytestmark = pytest.mark.django_db

DEMO_LOGINS = {
    "admin@baeckerei-mueller.example",
    "buchhaltung@baeckerei-mueller.example",
    "verkauf@baeckerei-mueller.example",
    "admin@alpenblick.example",
    "admin@tierhilfe-zuerich.example",
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
        "Tierhilfe Zürich",
    ]
    assert User.objects.filter(email__endswith=".example").count() == 23


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
    assert (full.total, full.free_seats) == (10, 10)  # donated
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
        "ops@nimbus.example",
        "ae@nimbus.example",
        "support@nimbus.example",
    ]
    assert "Bäckerei Müller GmbH" in table[0]


def test_refuses_to_run_without_debug_and_creates_nothing(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="only runs with DEBUG=true"):
        call_command("seed_demo", stdout=StringIO())

    assert Vendor.objects.count() == 0
    assert Org.objects.count() == 0


def test_runs_with_debug(settings):
    settings.DEBUG = True

    call_command("seed_demo", stdout=StringIO())

    assert Org.objects.count() == 3


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
