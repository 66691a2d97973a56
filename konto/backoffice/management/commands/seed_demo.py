"""`manage.py seed_demo`: the Nimbus CRM demo — vendor, catalog, price books, four orgs, their users,
contracts and invoice history, vendor staff.

Idempotent: every record has a stable key (vendor singleton, product code,
price book segment + currency, price book + product + frequency, org legal
name, user email). A run creates what is missing and leaves existing records
as they are, so what people change while trying Konto survives `make run`;
a second run on an unchanged database writes nothing. `--reset` brings the
demo records back to the demo values, demo passwords included.

Contracts are made by the contracts service (`create_contract`), which also
schedules their charges and adds the seats they sell to the license pools, so
the seed never sets bought seats itself. An org that has any contract gets no
demo contract; contracts are history and `--reset` leaves them (and what
people bought on them) as they are. Each contract is its own transaction,
after the rest of the demo is committed: a failed run is completed by the next.

Invoice history: each demo org's contracts are billed by the billing service
for every billing date from the contract start up to today, in date order
across the orgs (so numbers follow the issue dates), each invoice with its
stored PDF/A-3 and XML; Alpenblick gets a credit note for its data-storage
line. Billing bills nothing twice and the credit note is issued only while
Alpenblick's invoice has none, so a re-run adds nothing.

Payments (through the payments services and the sandbox gateway, so the
demo shows what they do): Bäckerei Müller adds the sandbox's Visa test card
the way a customer does (setup, the sandbox's card page, add_card) before its
history is billed, so each invoice is charged automatically when it is
issued and paid; before its newest invoice it replaces the card with the
test card that is always declined, so that invoice stays open with a
declined collection whose retry is scheduled (My Account's banner).
Alpenblick paid its annual invoice by transfer, but not the Data Storage it
ordered seven weeks ago (that invoice is overdue and gets its reminders), and
ordered two more licenses a few days ago (that invoice is open, not yet due).
Tierhilfe and Stadtwerke paid their invoices by bank transfer three days
before they were due. Then the dunning run of today takes the steps due and
every demo org's standing is brought in line with its invoices. An org's status is its payment standing,
so `--reset` leaves it to the standing rules. Each step is keyed (the card
only while the org has no payment method, each order by its idempotency key,
each transfer by its invoice, each dunning step per invoice and level), so a
re-run pays, orders and dunns nothing twice. Receipts and dunning notices are
emailed as in production (receipts and reminders land in the dev mailbox);
the past invoices' own emails are not sent.

Every demo user's password is `konto-demo`. It is set when the user is
created (and by `--reset`), never on a plain re-run, so a password someone
changed stays changed. Because the password is public, the command refuses to
run when DEBUG is off unless `--force` is given.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models, transaction
from django.urls import reverse
from django.utils import timezone

from konto.accounts.models import (
    LicensePool,
    LicenseType,
    Org,
    PermissionSet,
    PermissionSetAssignment,
    Profile,
    Segment,
    User,
    Vendor,
)
from konto.backoffice.roles import sync_staff_groups
from konto.backoffice.services import assign_role_group
from konto.billing.models import CreditNote, Invoice
from konto.billing.services.credit_notes import issue_credit_note
from konto.billing.services.delivery import invoice_emails_suspended
from konto.billing.services.invoices import invoice_due_charges
from konto.catalog.models import PriceBook, PriceBookEntry, Product
from konto.catalog.services import validate_product, validate_unit_price
from konto.contracts.models import Contract, Order, PaymentMethodKind
from konto.contracts.services.contracts import InitialLine, create_contract
from konto.contracts.services.orders import place_order
from konto.contracts.services.pricing import OrderItem
from konto.core.audit import Actor
from konto.core.editions import Edition
from konto.core.periods import MONTHS_PER_PERIOD, BillingFrequency, add_months, periods_between
from konto.core.vatid import normalize_vat_id
from konto.payments import selectors as payment_selectors
from konto.payments.gateways import get_gateway
from konto.payments.models import DunningNotice, Payment, PaymentAllocation, PaymentMethod
from konto.payments.services.collection import collect_invoices
from konto.payments.services.dunning import run_dunning
from konto.payments.services.methods import add_card, start_card_setup
from konto.payments.services.pay import record_bank_transfer
from konto.payments.services.standing import get_dunning_policy, refresh_org_standing
from konto.sandbox import server as sandbox

DEMO_PASSWORD = "konto-demo"  # noqa: S105 - the published demo password, refused without DEBUG

M = TypeVar("M", bound=models.Model)

VENDOR: dict[str, Any] = {
    "legal_name": "Nimbus CRM GmbH",
    "street": "Friedrichstraße 123",
    "postal_code": "10117",
    "city": "Berlin",
    "country": "DE",
    "vat_id": "DE123456788",
    "tax_number": "37/123/45678",
    "register_entry": "HRB 123456 B, Amtsgericht Charlottenburg",
    "managing_directors": "Nina Neumann, Paul Berger",
    "email": "billing@nimbus.example",
    "phone": "+49 30 1234567-0",
    "website": "https://nimbus.example",
    "bank_name": "Commerzbank",
    "iban": "DE89370400440532013000",
    "bic": "COBADEFFXXX",
    "qr_bill_iban": "CH4431999123000889012",
    "sepa_creditor_id": "DE98ZZZ09999999999",
    "default_payment_terms_days": 14,
}

ALL_EDITIONS = [e.value for e in Edition]
FROM_PROFESSIONAL = [Edition.PROFESSIONAL.value, Edition.ENTERPRISE.value, Edition.UNLIMITED.value]


def _edition(code: str, name: str, sort_order: int, description_de: str, description_en: str) -> dict[str, Any]:
    return {
        "code": code,
        "name_de": name,
        "name_en": name,
        "description_de": description_de,
        "description_en": description_en,
        "kind": Product.Kind.EDITION,
        "edition": code,
        "unit": Product.Unit.USER,
        "allowed_editions": [code],  # an org buys seats of its own edition only
        "grants_license_type": LicenseType.FULL,
        "seats_per_unit": 1,
        "sort_order": sort_order,
    }


def _add_on(
    code: str,
    names: tuple[str, str],
    unit: str,
    allowed: list[str],
    sort_order: int,
    descriptions: tuple[str, str],
) -> dict[str, Any]:
    return {
        "code": code,
        "name_de": names[0],
        "name_en": names[1],
        "description_de": descriptions[0],
        "description_en": descriptions[1],
        "kind": Product.Kind.ADD_ON,
        "edition": "",
        "unit": unit,
        "allowed_editions": allowed,
        "grants_license_type": "",
        "seats_per_unit": 0,
        "sort_order": sort_order,
    }


PRODUCTS: list[dict[str, Any]] = [
    _edition(
        "essentials",
        "Essentials",
        10,
        "Kontakte, Leads und Verkaufschancen für kleine Teams (bis 10 Benutzer).",
        "Contacts, leads and opportunities for small teams (up to 10 users).",
    ),
    _edition(
        "professional",
        "Professional",
        20,
        "Vollständiges CRM mit Prognosen, Kampagnen und Angeboten.",
        "Complete CRM with forecasting, campaigns and quotes.",
    ),
    _edition(
        "enterprise",
        "Enterprise",
        30,
        "Anpassbares CRM mit Workflows, Genehmigungen und API-Zugriff.",
        "Customisable CRM with workflows, approvals and API access.",
    ),
    _edition(
        "unlimited",
        "Unlimited",
        40,
        "Enterprise mit Premium-Support, Sandboxes und unbegrenzten Anpassungen.",
        "Enterprise with premium support, sandboxes and unlimited customisation.",
    ),
    _add_on(
        "data-storage",
        ("Datenspeicher (10 GB)", "Data Storage (10 GB)"),
        Product.Unit.STORAGE_10GB,
        ALL_EDITIONS,
        110,
        ("10 GB zusätzlicher Speicher für Datensätze.", "10 GB of additional storage for records."),
    ),
    _add_on(
        "file-storage",
        ("Dateispeicher (10 GB)", "File Storage (10 GB)"),
        Product.Unit.STORAGE_10GB,
        ALL_EDITIONS,
        120,
        (
            "10 GB zusätzlicher Speicher für Anhänge und Dokumente.",
            "10 GB of additional storage for attachments and documents.",
        ),
    ),
    _add_on(
        "inbox",
        ("Inbox", "Inbox"),
        Product.Unit.USER,
        ALL_EDITIONS,
        130,
        (
            "E-Mail und Kalender im CRM, mit Vorlagen und Nachverfolgung, je Benutzer.",
            "Email and calendar inside the CRM, with templates and tracking, per user.",
        ),
    ),
    _add_on(
        "dialer",
        ("Dialer", "Dialer"),
        Product.Unit.USER,
        ALL_EDITIONS,
        140,
        (
            "Telefonieren im Browser mit Anrufprotokoll und Aufzeichnung, je Benutzer.",
            "Calling from the browser with call logging and recording, per user.",
        ),
    ),
    # Not for Essentials: shows how an edition limits what an org may buy.
    _add_on(
        "analytics",
        ("Analytics Plus", "Analytics Plus"),
        Product.Unit.USER,
        FROM_PROFESSIONAL,
        150,
        (
            "Interaktive Dashboards und Prognosen auf allen CRM-Daten, je Benutzer, ab Professional.",
            "Interactive dashboards and forecasts on all CRM data, per user, from Professional.",
        ),
    ),
    {
        "code": "identity-pack",
        "name_de": "Identity-Lizenzen (10er-Paket)",
        "name_en": "Identity Licenses (pack of 10)",
        "description_de": "10 weitere Identity-Lizenzen für Personen, die nur Mein Account nutzen.",
        "description_en": "10 more Identity licenses for people who only use My Account.",
        "kind": Product.Kind.LICENSE,
        "edition": "",
        "unit": Product.Unit.PACK_10,
        "allowed_editions": ALL_EDITIONS,
        "grants_license_type": LicenseType.IDENTITY,
        "seats_per_unit": 10,
        "sort_order": 200,
    },
]

# Net list price per unit and month; quarterly is 3x, annual 12x (no term discount in the demo).
# Nonprofit: editions 50-75 % off, add-ons 25 % off, Identity packs 50 % off.
MONTHLY_PRICES: dict[tuple[str, str], dict[str, str]] = {
    (Segment.COMMERCIAL, "EUR"): {
        "essentials": "25.00",
        "professional": "80.00",
        "enterprise": "165.00",
        "unlimited": "330.00",
        "data-storage": "125.00",
        "file-storage": "5.00",
        "inbox": "25.00",
        "dialer": "75.00",
        "analytics": "50.00",
        "identity-pack": "10.00",
    },
    (Segment.COMMERCIAL, "CHF"): {
        "essentials": "27.00",
        "professional": "86.00",
        "enterprise": "178.00",
        "unlimited": "356.00",
        "data-storage": "135.00",
        "file-storage": "5.50",
        "inbox": "27.00",
        "dialer": "81.00",
        "analytics": "54.00",
        "identity-pack": "11.00",
    },
    (Segment.NONPROFIT, "EUR"): {
        "essentials": "12.50",
        "professional": "36.00",
        "enterprise": "41.25",
        "unlimited": "82.50",
        "data-storage": "93.75",
        "file-storage": "3.75",
        "inbox": "18.75",
        "dialer": "56.25",
        "analytics": "25.00",
        "identity-pack": "5.00",
    },
    (Segment.NONPROFIT, "CHF"): {
        "essentials": "13.50",
        "professional": "38.70",
        "enterprise": "44.50",
        "unlimited": "89.00",
        "data-storage": "101.25",
        "file-storage": "4.10",
        "inbox": "20.25",
        "dialer": "60.75",
        "analytics": "27.00",
        "identity-pack": "5.50",
    },
}
PRICE_BOOK_NAMES: dict[tuple[str, str], str] = {
    (Segment.COMMERCIAL, "EUR"): "Commercial EUR",
    (Segment.COMMERCIAL, "CHF"): "Commercial CHF",
    (Segment.NONPROFIT, "EUR"): "Nonprofit EUR",
    (Segment.NONPROFIT, "CHF"): "Nonprofit CHF",
}

BAECKEREI = "Bäckerei Müller GmbH"
ALPENBLICK = "Alpenblick Software GmbH"
TIERHILFE = "Tierhilfe Zürich"
STADTWERKE = "Stadtwerke Musterstadt"
STADTWERKE_LEITWEG_ID = "04011000-1234512345-06"  # buyer reference (BT-10): its invoices are XRechnung
CREDIT_NOTE_REASON = "Kulanz: Datenspeicher doppelt berechnet"

ORGS: list[dict[str, Any]] = [
    {
        "legal_name": BAECKEREI,
        "street": "Hauptstraße 12",
        "postal_code": "80331",
        "city": "München",
        "country": "DE",
        "vat_id": "DE295713867",
        "billing_email": "rechnung@baeckerei-mueller.example",
        "currency": "EUR",
        "language": "de",
        "segment": Segment.COMMERCIAL,
        "edition": Edition.ESSENTIALS,
    },
    {
        "legal_name": ALPENBLICK,
        "street": "Mariahilfer Straße 1",
        "postal_code": "1060",
        "city": "Wien",
        "country": "AT",
        "vat_id": "ATU13585627",
        "billing_email": "buchhaltung@alpenblick.example",
        "currency": "EUR",
        "language": "de",
        "segment": Segment.COMMERCIAL,
        "edition": Edition.ENTERPRISE,
    },
    {
        "legal_name": TIERHILFE,
        "street": "Bahnhofstrasse 10",
        "postal_code": "8001",
        "city": "Zürich",
        "country": "CH",
        "vat_id": "CHE-116.281.710 MWST",
        "billing_email": "finanzen@tierhilfe-zuerich.example",
        "currency": "CHF",
        "language": "de",
        "segment": Segment.NONPROFIT,
        "edition": Edition.ENTERPRISE,
    },
    # A German public-sector buyer: pays by transfer and needs XRechnung (Leitweg-ID on its contract).
    {
        "legal_name": STADTWERKE,
        "street": "Am Rathausplatz 1",
        "postal_code": "12345",
        "city": "Musterstadt",
        "country": "DE",
        "vat_id": "DE812345673",
        "billing_email": "rechnungseingang@stadtwerke-musterstadt.example",
        "currency": "EUR",
        "language": "de",
        "segment": Segment.COMMERCIAL,
        "edition": Edition.PROFESSIONAL,
    },
]

# org -> {license type: free seats}. Bought seats come from the demo contracts below.
LICENSE_POOLS: dict[str, dict[str, int]] = {
    BAECKEREI: {LicenseType.FULL: 0, LicenseType.IDENTITY: 100},
    ALPENBLICK: {LicenseType.FULL: 0, LicenseType.IDENTITY: 100},
    TIERHILFE: {LicenseType.FULL: 0, LicenseType.IDENTITY: 100},
    STADTWERKE: {LicenseType.FULL: 0, LicenseType.IDENTITY: 100},
}


@dataclass(frozen=True)
class DemoContract:
    org: str  # legal name
    start_date: date  # moved on by whole years if the term would already be over (see _term_containing)
    months: int  # term length
    billing_frequency: str
    payment_method_kind: str
    lines: tuple[tuple[str, int, str | None], ...]  # (product code, quantity, unit price; None = price book)
    payment_terms_days: int = 14
    notice_period_days: int = 30
    po_number: str = ""
    buyer_reference: str = ""  # Leitweg-ID of a German public-sector buyer


CONTRACTS = [
    # Essentials, monthly by card: 5 × 25.00 EUR per month.
    DemoContract(
        BAECKEREI,
        date(2026, 6, 1),
        12,
        BillingFrequency.MONTHLY,
        PaymentMethodKind.CARD,
        (("essentials", 5, None),),
    ),
    # Enterprise, annual by bank transfer: 40 × 1,980.00 + 2 × 1,500.00 EUR per year.
    DemoContract(
        ALPENBLICK,
        date(2026, 3, 1),
        12,
        BillingFrequency.ANNUAL,
        PaymentMethodKind.BANK_TRANSFER,
        (("enterprise", 40, None), ("data-storage", 2, None)),
        payment_terms_days=30,
        notice_period_days=90,
        po_number="PO-2026-0815",
    ),
    # A verified nonprofit: 10 donated Enterprise licenses at 0.00 CHF, Data Storage at the nonprofit price.
    DemoContract(
        TIERHILFE,
        date(2026, 1, 1),
        12,
        BillingFrequency.ANNUAL,
        PaymentMethodKind.BANK_TRANSFER,
        (("enterprise", 10, "0.00"), ("data-storage", 1, None)),
    ),
    # Public sector, Professional, annual by bank transfer: 25 × 960.00 EUR per year, invoiced as XRechnung.
    DemoContract(
        STADTWERKE,
        date(2026, 4, 1),
        12,
        BillingFrequency.ANNUAL,
        PaymentMethodKind.BANK_TRANSFER,
        (("professional", 25, None),),
        payment_terms_days=30,
        notice_period_days=90,
        buyer_reference=STADTWERKE_LEITWEG_ID,
    ),
]


SEED_ACTOR = Actor.system("seed_demo")

# Sandbox test cards (konto.sandbox.cards): Bäckerei's card, and the one that replaces it before its newest
# invoice, so that invoice's automatic charge is declined ("card_declined") and retried on the schedule.
SANDBOX_VISA = "4242424242424242"
SANDBOX_DECLINED = "4000000000000002"
CARD_VALID_YEARS = 3  # expiry: December, this many years ahead of the demo's today

# Alpenblick's orders: (idempotency key, items, days before the demo's today). The Data Storage invoice is left
# unpaid (overdue: past its due date, reminded, not yet at the final notice); the licenses' one is not due yet.
ALPENBLICK_ORDERS: tuple[tuple[str, tuple[OrderItem, ...], int], ...] = (
    ("seed-demo-alpenblick-data-storage", (OrderItem("data-storage", 1),), 50),
    ("seed-demo-alpenblick-2-licenses", (OrderItem("enterprise", 2),), 5),
)
ALPENBLICK_UNPAID_ORDER_KEYS = frozenset(key for key, _items, _days in ALPENBLICK_ORDERS)

# Bank-transfer orgs that pay their invoices (Alpenblick: not those of its demo orders), each booked this many
# days before its due date.
TRANSFER_PAYERS = (TIERHILFE, STADTWERKE, ALPENBLICK)
TRANSFER_DAYS_BEFORE_DUE = 3

# Records the payments and contracts services add while seeding, counted for the summary.
COUNTED_BY_SERVICES: tuple[type[models.Model], ...] = (PaymentMethod, Payment, Order, DunningNotice)
SANDBOX_HINT = "Sandbox payments: test card 4242 4242 4242 4242, any future date, any CVC; more on the payment page."


def _sandbox_is_the_gateway() -> bool:
    return get_gateway().name == "sandbox" and sandbox.is_enabled()


def _term_containing(today: date, start: date, months: int) -> tuple[date, date]:
    """The demo term from `start`, moved on by whole years until it still runs on `today` (keeps demos alive)."""
    while add_months(start, months) <= today:
        start = add_months(start, 12)
    return start, add_months(start, months)


@dataclass(frozen=True)
class DemoUser:
    email: str
    full_name: str
    org: str | None = None  # legal name; None for vendor staff
    profile: str = "standard_user"
    license_type: str = LicenseType.FULL
    permission_sets: tuple[str, ...] = ()
    staff_role: str = ""
    role: str = ""  # shown in the login table; users without it are not listed there


STAFF = [
    DemoUser("ops@nimbus.example", "Olivia Ops", staff_role="billing_ops", role="Billing ops (back office)"),
    DemoUser("ae@nimbus.example", "Alex Account", staff_role="account_executive", role="Account executive"),
    DemoUser("support@nimbus.example", "Sam Support", staff_role="support_agent", role="Support agent"),
]

_IDENTITY = {"profile": "identity_user", "license_type": LicenseType.IDENTITY}

ORG_USERS = [
    DemoUser(
        "admin@baeckerei-mueller.example",
        "Maria Müller",
        BAECKEREI,
        profile="system_administrator",
        role="System Administrator, Full",
    ),
    DemoUser(
        "buchhaltung@baeckerei-mueller.example",
        "Jonas Weber",
        BAECKEREI,
        permission_sets=("my_account_admin",),
        role="Identity, My Account Admin",
        **_IDENTITY,
    ),
    DemoUser(
        "verkauf@baeckerei-mueller.example",
        "Lena Schmidt",
        BAECKEREI,
        role="Standard User, Full, no billing access",
    ),
    DemoUser("backstube@baeckerei-mueller.example", "Thomas Becker", BAECKEREI),
    DemoUser("filiale@baeckerei-mueller.example", "Sabine Hofmann", BAECKEREI),
    DemoUser(
        "admin@alpenblick.example",
        "Stefan Huber",
        ALPENBLICK,
        profile="system_administrator",
        role="System Administrator, Full",
    ),
    DemoUser("katharina.gruber@alpenblick.example", "Katharina Gruber", ALPENBLICK, permission_sets=("purchasing",)),
    DemoUser("lukas.wagner@alpenblick.example", "Lukas Wagner", ALPENBLICK),
    DemoUser("anna.pichler@alpenblick.example", "Anna Pichler", ALPENBLICK),
    DemoUser("florian.steiner@alpenblick.example", "Florian Steiner", ALPENBLICK),
    DemoUser("julia.moser@alpenblick.example", "Julia Moser", ALPENBLICK),
    DemoUser("michael.mayer@alpenblick.example", "Michael Mayer", ALPENBLICK),
    DemoUser("sarah.hofer@alpenblick.example", "Sarah Hofer", ALPENBLICK),
    DemoUser("david.leitner@alpenblick.example", "David Leitner", ALPENBLICK),
    DemoUser("lisa.berger@alpenblick.example", "Lisa Berger", ALPENBLICK),
    DemoUser("tobias.fuchs@alpenblick.example", "Tobias Fuchs", ALPENBLICK),
    DemoUser(
        "rechnungen@alpenblick.example",
        "Eva Brunner",
        ALPENBLICK,
        permission_sets=("accounts_payable",),
        **_IDENTITY,
    ),
    DemoUser(
        "admin@tierhilfe-zuerich.example",
        "Claudia Meier",
        TIERHILFE,
        profile="system_administrator",
        role="System Administrator, Full",
    ),
    DemoUser("reto.keller@tierhilfe-zuerich.example", "Reto Keller", TIERHILFE),
    DemoUser("nina.baumann@tierhilfe-zuerich.example", "Nina Baumann", TIERHILFE),
    DemoUser(
        "admin@stadtwerke-musterstadt.example",
        "Jürgen Schulze",
        STADTWERKE,
        profile="system_administrator",
        role="System Administrator, Full",
    ),
]
ACCOUNT_EXECUTIVE_EMAIL = "ae@nimbus.example"
LOGIN_ORDER = [
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


class Command(BaseCommand):
    help = (
        "Create the Nimbus CRM demo (vendor, catalog, orgs, users; password konto-demo). "
        "Creates what is missing and leaves the rest; --reset restores demo values and passwords."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force", action="store_true", help="Run although DEBUG is off (the demo password is public)."
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Set existing demo records back to the demo values, including the demo passwords.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "seed_demo creates users whose password is published (konto-demo), so it only runs with DEBUG=true. "
                "Pass --force to seed this database anyway."
            )
        self.reset: bool = options["reset"]
        self.created: Counter[str] = Counter()
        self.updated: Counter[str] = Counter()
        self._password_hash: str | None = None
        with transaction.atomic():
            sync_staff_groups()
            self.seed_vendor()
            products = self.seed_products()
            self.seed_price_books(products)
            staff = {user.email: self.seed_user(user, orgs={}) for user in STAFF}
            orgs = self.seed_orgs(account_executive=staff[ACCOUNT_EXECUTIVE_EMAIL])
            for user in ORG_USERS:
                self.seed_user(user, orgs=orgs)
        # create_contract is a durable transaction of its own, so it runs after the block above.
        self.seed_contracts(orgs=orgs, products=products)
        # The payments services are durable transactions too; counted by what they add.
        before = {model: model._default_manager.count() for model in COUNTED_BY_SERVICES}
        today = timezone.localdate()
        self.seed_invoice_history(orgs=orgs, today=today)
        self.seed_bank_transfers(orgs=orgs, today=today)
        self.seed_dunning(orgs=orgs, today=today)
        for model, count in before.items():
            self.created[model._meta.label] += model._default_manager.count() - count
        self.print_summary()

    # ------------------------------------------------------------ helpers

    def upsert(self, model: type[M], lookup: dict[str, Any], values: dict[str, Any], *, overwrite: bool) -> M:
        """The record with `lookup`, created with `values` if missing; with `overwrite`, set to `values`.

        Writes only when a value differs, so a repeated run leaves the
        database (and every `updated_at`) untouched.
        """
        manager: Any = model._default_manager
        obj: M | None = manager.filter(**lookup).first()
        label = model._meta.label
        if obj is None:
            obj = manager.create(**lookup, **values)
            self.created[label] += 1
            return obj
        if overwrite:
            changed = [field for field, value in values.items() if getattr(obj, field) != value]
            if changed:
                for field in changed:
                    setattr(obj, field, values[field])
                obj.save(update_fields=changed)
                self.updated[label] += 1
        return obj

    @property
    def password_hash(self) -> str:
        # Hashed once per run: every demo user gets the same hash, which keeps the seed fast.
        if self._password_hash is None:
            self._password_hash = make_password(DEMO_PASSWORD)
        return self._password_hash

    # ------------------------------------------------------------ data

    def seed_vendor(self) -> Vendor:
        values = {**VENDOR, "vat_id": normalize_vat_id(VENDOR["vat_id"], VENDOR["country"])}
        return self.upsert(Vendor, {"singleton": True}, values, overwrite=self.reset)

    def seed_products(self) -> dict[str, Product]:
        products = {}
        for spec in PRODUCTS:
            values = {key: value for key, value in spec.items() if key != "code"}
            values["allowed_editions"] = validate_product(
                kind=values["kind"],
                edition=values["edition"],
                allowed_editions=values["allowed_editions"],
                grants_license_type=values["grants_license_type"],
                seats_per_unit=values["seats_per_unit"],
            )
            values["is_active"] = True
            products[spec["code"]] = self.upsert(Product, {"code": spec["code"]}, values, overwrite=self.reset)
        return products

    def seed_price_books(self, products: dict[str, Product]) -> None:
        for (segment, currency), monthly in MONTHLY_PRICES.items():
            book = self.upsert(
                PriceBook,
                {"segment": segment, "currency": currency},
                {"name": PRICE_BOOK_NAMES[(segment, currency)], "is_active": True},
                overwrite=self.reset,
            )
            for code, price in monthly.items():
                for frequency in BillingFrequency:
                    unit_price = validate_unit_price(Decimal(price) * MONTHS_PER_PERIOD[frequency])
                    self.upsert(
                        PriceBookEntry,
                        {"price_book": book, "product": products[code], "billing_frequency": frequency.value},
                        {"unit_price": unit_price},
                        overwrite=self.reset,
                    )

    def seed_orgs(self, *, account_executive: User) -> dict[str, Org]:
        orgs = {}
        for spec in ORGS:
            values = {key: value for key, value in spec.items() if key != "legal_name"}
            values["vat_id"] = normalize_vat_id(values["vat_id"], values["country"])
            values["account_executive"] = account_executive
            # No status: an org's status is its payment standing (see seed_dunning), active when created.
            org = self.upsert(Org, {"legal_name": spec["legal_name"]}, values, overwrite=self.reset)
            orgs[org.legal_name] = org
            for license_type, free in LICENSE_POOLS[org.legal_name].items():
                self.upsert(
                    LicensePool,
                    {"org": org, "license_type": license_type},
                    {"free_seats": free},
                    overwrite=self.reset,
                )
        return orgs

    def seed_contracts(self, *, orgs: dict[str, Org], products: dict[str, Product]) -> None:
        today = timezone.localdate()
        for spec in CONTRACTS:
            org = orgs[spec.org]
            if Contract.objects.filter(org=org).exists():
                continue
            # Bought seats come only from contract lines. A database seeded before contracts
            # existed has bought seats without any contract: they are what this contract sells.
            LicensePool.objects.filter(org=org, purchased_seats__gt=0).update(purchased_seats=0)
            start_date, end_date = _term_containing(today, spec.start_date, spec.months)
            create_contract(
                org=org,
                actor=Actor.system("seed_demo"),
                start_date=start_date,
                end_date=end_date,
                billing_frequency=spec.billing_frequency,
                payment_method_kind=spec.payment_method_kind,
                lines=[
                    InitialLine(products[code], quantity, None if price is None else Decimal(price))
                    for code, quantity, price in spec.lines
                ],
                payment_terms_days=spec.payment_terms_days,
                notice_period_days=spec.notice_period_days,
                po_number=spec.po_number,
                buyer_reference=spec.buyer_reference,
            )
            self.created[Contract._meta.label] += 1

    def seed_invoice_history(self, *, orgs: dict[str, Org], today: date) -> None:
        """Bill the demo orgs' contracts for every billing date up to today, in date order, then the credit note.

        Bäckerei pays by card: its card is added before its first invoice, and
        replaced by the declined test card before its newest one. Alpenblick's
        order is placed on its day, so invoice numbers follow the issue dates.
        """
        billing_dates: set[tuple[date, int]] = set()
        for contract in Contract.objects.filter(org__in=orgs.values()).order_by("pk"):
            end = min(contract.end_date, today + timedelta(days=1))
            for period in periods_between(contract.start_date, contract.billing_frequency, contract.start_date, end):
                billing_dates.add((period.start, contract.org_id))
        baeckerei, alpenblick = orgs[BAECKEREI], orgs[ALPENBLICK]
        order_dates = self.alpenblick_order_dates(alpenblick, today=today)
        billing_dates.update((day, alpenblick.pk) for day in order_dates.values())
        card_is_new = self.seed_card(baeckerei, today=today)
        newest_card_invoice = max((day for day, org_id in billing_dates if org_id == baeckerei.pk), default=None)
        by_id = {org.pk: org for org in orgs.values()}
        with invoice_emails_suspended():  # past invoices: the demo's mailbox is not flooded with their emails
            for billing_date, org_id in sorted(billing_dates):
                for key, day in order_dates.items():
                    if org_id == alpenblick.pk and billing_date == day:
                        self.seed_order(alpenblick, key=key, day=day)
                if card_is_new and org_id == baeckerei.pk and billing_date == newest_card_invoice:
                    self.add_sandbox_card(baeckerei, SANDBOX_DECLINED, today=today)
                issued = invoice_due_charges(org=by_id[org_id], billing_date=billing_date)
                self.created[Invoice._meta.label] += len(issued)
                if issued and org_id == baeckerei.pk:
                    # Usually done already: payments collects card invoices once they are issued (its listener);
                    # called here too so the demo is complete when tasks are queued (KONTO_TASKS=db).
                    collect_invoices(invoice_ids=[invoice.pk for invoice in issued], today=today)
        self.seed_credit_note(alpenblick)

    # ------------------------------------------------------------ payments

    def seed_card(self, org: Org, *, today: date) -> bool:
        """Add the sandbox's Visa test card while the org has never had a payment method; whether it was added.

        Only where the sandbox is the gateway: another gateway gets no test card.
        """
        if PaymentMethod.objects.filter(org=org).exists() or not _sandbox_is_the_gateway():
            return False
        self.add_sandbox_card(org, SANDBOX_VISA, today=today)
        return True

    def add_sandbox_card(self, org: Org, number: str, *, today: date) -> PaymentMethod:
        """A test card added the customer's way: setup, the sandbox's card page, add_card; it replaces the default."""
        return_url = settings.KONTO_BASE_URL.rstrip("/") + reverse("portal:card_setup_return")
        start = start_card_setup(org=org, actor=SEED_ACTOR, return_url=return_url)
        sandbox.submit_card(
            setup_ref=start.setup_ref, number=number, exp_month=12, exp_year=today.year + CARD_VALID_YEARS
        )
        replaces = payment_selectors.default_payment_method(org=org)
        return add_card(org=org, actor=SEED_ACTOR, setup_ref=start.setup_ref, replaces=replaces)

    def alpenblick_order_dates(self, org: Org, *, today: date) -> dict[str, date]:
        """The day of each of Alpenblick's demo orders: its day if placed, else so many days ago.

        An order is left out when its day is outside the active contract's term
        or the org may not buy (overdue or suspended).
        """
        placed = dict(
            Order.objects.filter(org=org, idempotency_key__in=ALPENBLICK_UNPAID_ORDER_KEYS).values_list(
                "idempotency_key", "ordered_on"
            )
        )
        days: dict[str, date] = {}
        for key, _items, days_ago in ALPENBLICK_ORDERS:
            if key in placed:
                days[key] = placed[key]
                continue
            day = today - timedelta(days=days_ago)
            if self.active_contract(org, day=day) is not None and org.status == Org.Status.ACTIVE:
                days[key] = day
        return days

    def seed_order(self, org: Org, *, key: str, day: date) -> None:
        """One of Alpenblick's demo orders on `day`, through the contracts service (once, by its key)."""
        if Order.objects.filter(org=org, idempotency_key=key).exists():
            return
        contract = self.active_contract(org, day=day)
        if contract is None:
            return
        items = next(items for order_key, items, _days in ALPENBLICK_ORDERS if order_key == key)
        place_order(org=org, actor=SEED_ACTOR, contract=contract, items=items, idempotency_key=key, today=day)

    @staticmethod
    def active_contract(org: Org, *, day: date) -> Contract | None:
        return (
            Contract.objects.filter(org=org, status=Contract.Status.ACTIVE, start_date__lte=day, end_date__gt=day)
            .order_by("pk")
            .first()
        )

    def seed_bank_transfers(self, *, orgs: dict[str, Org], today: date) -> None:
        """Tierhilfe, Stadtwerke and Alpenblick paid their invoices by transfer, a few days before each was due.

        Alpenblick's demo orders stay unpaid: one overdue, one not yet due.

        An invoice whose booking day has not come yet stays open; one with a
        payment on its way is left alone. Keyed by the invoice, like a
        statement line: booking it again returns the first payment.
        """
        for name in TRANSFER_PAYERS:
            org = orgs[name]
            paying = PaymentAllocation.objects.filter(org=org, is_in_flight=True).values("invoice_id")
            unpaid = payment_selectors.open_invoices(org=org).exclude(pk__in=paying)
            for invoice in unpaid.exclude(lines__charge__line__order__idempotency_key__in=ALPENBLICK_UNPAID_ORDER_KEYS):
                booking_date = max(invoice.issue_date, invoice.due_date - timedelta(days=TRANSFER_DAYS_BEFORE_DUE))
                if booking_date >= today:
                    continue
                record_bank_transfer(
                    invoice=invoice,
                    amount=invoice.open_amount,
                    booking_date=booking_date,
                    reference=invoice.number or "",
                    actor=SEED_ACTOR,
                    idempotency_key=f"seed-demo-transfer-{invoice.public_id}",
                )

    def seed_dunning(self, *, orgs: dict[str, Org], today: date) -> None:
        """The dunning runs of the past days a step fell due and today's, then every demo org's standing.

        The run refreshes only orgs that are behind already; the refresh here
        also puts back an org whose status was changed by hand (nothing is
        written when it is right).
        """
        policy = get_dunning_policy()
        steps = (policy.reminder_days, policy.second_reminder_days, policy.final_notice_days, policy.suspension_days)
        due_dates = Invoice.objects.filter(org__in=orgs.values(), status=Invoice.Status.OPEN).values_list(
            "due_date", flat=True
        )
        # The nightly run of every past day on which a step fell due, then today's: each step on its own day.
        run_days = {due + timedelta(days=days) for due in due_dates for days in steps}
        for day in sorted(day for day in run_days if day < today):
            run_dunning(today=day)
        run_dunning(today=today)
        for org in orgs.values():
            with transaction.atomic():
                refresh_org_standing(org=org, today=today, actor=SEED_ACTOR)

    def seed_credit_note(self, org: Org) -> None:
        """A partial credit note for the data-storage line of Alpenblick's first invoice (once)."""
        invoice = Invoice.objects.filter(org=org).exclude(status=Invoice.Status.DRAFT).order_by("issue_date").first()
        if invoice is None or CreditNote.objects.filter(invoice=invoice).exists():
            return
        line = invoice.lines.filter(charge__line__product__code="data-storage").first()
        if line is None:
            return
        issue_credit_note(
            invoice=invoice, actor=Actor.system("seed_demo"), reason=CREDIT_NOTE_REASON, line_ids=[line.pk]
        )
        self.created[CreditNote._meta.label] += 1

    def seed_user(self, spec: DemoUser, *, orgs: dict[str, Org]) -> User:
        if spec.org is None:
            values: dict[str, Any] = {
                "full_name": spec.full_name,
                "org": None,
                "license_type": "",
                "profile": None,
                "is_staff": True,
                "staff_role": spec.staff_role,
                "is_active": True,
            }
        else:
            values = {
                "full_name": spec.full_name,
                "org": orgs[spec.org],
                "license_type": spec.license_type,
                "profile": Profile.objects.get(code=spec.profile),
                "is_staff": False,
                "staff_role": "",
                "is_active": True,
            }
        existing = User.objects.filter(email=spec.email).first()
        if existing is None or self.reset:
            values["deactivated_at"] = None
            values["password"] = self.password_hash
        user = self.upsert(User, {"email": spec.email}, values, overwrite=self.reset)
        if user.org_id is not None:
            for code in spec.permission_sets:
                _assignment, created = PermissionSetAssignment.objects.get_or_create(
                    org_id=user.org_id, user=user, permission_set=PermissionSet.objects.get(code=code)
                )
                self.created[PermissionSetAssignment._meta.label] += int(created)
        elif user.is_staff:
            assign_role_group(user)
        return user

    # ------------------------------------------------------------ output

    def print_summary(self) -> None:
        created = sum(self.created.values())
        updated = sum(self.updated.values())
        if created or updated:
            self.stdout.write(f"Demo data: {created} records created, {updated} updated.")
        else:
            self.stdout.write("Demo data is already in place; nothing changed.")
        users = {user.email: user for user in User.objects.filter(email__in=LOGIN_ORDER).select_related("org")}
        roles = {spec.email: spec.role for spec in [*STAFF, *ORG_USERS]}
        rows = [("Email", "Role", "Org", "Password")]
        for email in LOGIN_ORDER:
            user = users.get(email)
            if user is None:
                continue
            org_name = user.org.legal_name if user.org else f"{VENDOR['legal_name']} (vendor staff)"
            rows.append((email, roles[email], org_name, DEMO_PASSWORD))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        base_url = settings.KONTO_BASE_URL.rstrip("/")
        self.stdout.write("")
        self.stdout.write(f"Konto: {base_url}")
        self.stdout.write(f"Back office (vendor staff): {base_url}/backoffice/")
        self.stdout.write("")
        for index, row in enumerate(rows):
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
            if index == 0:
                self.stdout.write("  ".join("-" * width for width in widths))
        self.stdout.write("")
        self.stdout.write(
            f"All {len(STAFF) + len(ORG_USERS)} demo users use the password {DEMO_PASSWORD} "
            "(set when they are created; `manage.py seed_demo --reset` restores it)."
        )
        if _sandbox_is_the_gateway():
            self.stdout.write(SANDBOX_HINT)
