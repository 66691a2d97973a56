"""Vendor, orgs, access model, users, tokens and the audit trail in the back office."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from konto.accounts.models import LicensePool, Org, PermissionSet, User, Vendor
from konto.accounts.services.tokens import create_api_token
from konto.accounts.testing import make_admin
from konto.backoffice.tests.conftest import make_staff
from konto.backoffice.tests.forms import admin_form_data
from konto.core.audit import Actor
from konto.core.models import AuditEvent

pytestmark = pytest.mark.django_db

VENDOR_URL = "/backoffice/accounts/vendor/"


@pytest.fixture
def vendor(db: None) -> Vendor:
    call_command("seed_demo", force=True, stdout=StringIO())
    return Vendor.objects.get()


def _org_url(org: Org) -> str:
    return f"/backoffice/accounts/org/{org.pk}/change/"


# ---------------------------------------------------------------- vendor


def test_vendor_cannot_be_added_twice(client, billing_ops, vendor):
    client.force_login(billing_ops)

    assert client.get(f"{VENDOR_URL}add/").status_code == 403
    assert client.post(f"{VENDOR_URL}add/", {"legal_name": "Zweite GmbH"}).status_code == 403
    assert Vendor.objects.count() == 1


def test_vendor_list_opens_the_one_vendor(client, billing_ops, vendor):
    client.force_login(billing_ops)

    response = client.get(VENDOR_URL)

    assert response.status_code == 302
    assert response["Location"] == f"{VENDOR_URL}{vendor.pk}/change/"


def test_vendor_cannot_be_deleted(client, billing_ops, vendor):
    client.force_login(billing_ops)

    response = client.post(f"{VENDOR_URL}{vendor.pk}/delete/", {"post": "yes"})

    assert response.status_code == 403
    assert Vendor.objects.count() == 1


def test_billing_ops_edits_the_vendor_and_the_change_is_audited(client, billing_ops, vendor):
    client.force_login(billing_ops)
    url = f"{VENDOR_URL}{vendor.pk}/change/"
    data = admin_form_data(client, url)
    data.update(iban="DE02 1203 0000 0000 2020 51", bic="byladem1001", default_payment_terms_days="30")

    response = client.post(url, data)

    assert response.status_code == 302
    vendor.refresh_from_db()
    assert (vendor.iban, vendor.bic, vendor.default_payment_terms_days) == ("DE02120300000000202051", "BYLADEM1001", 30)
    event = AuditEvent.objects.get(action="vendor.changed")
    assert event.actor_email == "ops@vendor.example"
    assert event.after == {"bic": "BYLADEM1001", "default_payment_terms_days": "30", "iban": "DE02120300000000202051"}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "vat_id",
            "DE123456789",
            "The VAT ID DE123456789 has a wrong check digit. Format: DE + 9 digits, e.g. DE123456788.",
        ),
        ("vat_id", "", "This field is required."),
        ("iban", "DE89 3704 0044 0532 0130 01", "Enter a valid IBAN, e.g. DE89 3704 0044 0532 0130 00."),
        ("bic", "NOTABIC", "Enter a valid BIC of 8 or 11 characters, e.g. COBADEFFXXX."),
        ("sepa_creditor_id", "DE00ZZZ09999999999", "Enter a valid SEPA creditor ID, e.g. DE98ZZZ09999999999."),
        ("invoice_number_format", "RE-{year}", "Use {year} and {seq} and keep numbers short, e.g. RE-{year}-{seq:06}."),
        (
            "invoice_number_format",
            "RE-{jahr}-{seq}",
            "Use {year} and {seq} and keep numbers short, e.g. RE-{year}-{seq:06}.",
        ),
        ("country", "US", "Select a valid choice. US is not one of the available choices."),
        ("default_payment_terms_days", "400", "Payment terms can be at most 365 days."),
        ("default_payment_terms_days", "-1", "Ensure this value is greater than or equal to 0."),
        ("legal_name", "x" * 201, "Ensure this value has at most 200 characters (it has 201)."),
    ],
)
def test_bad_vendor_data_is_refused_and_nothing_changes(client, billing_ops, vendor, field, value, message):
    client.force_login(billing_ops)
    url = f"{VENDOR_URL}{vendor.pk}/change/"
    data = admin_form_data(client, url)
    data[field] = value

    response = client.post(url, data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors[field] == [message]
    assert Vendor.objects.get().vat_id == "DE123456788"
    assert Vendor.objects.get().iban == "DE89370400440532013000"
    assert not AuditEvent.objects.filter(action="vendor.changed").exists()


def test_support_agent_cannot_edit_the_vendor(client, support_agent, vendor):
    client.force_login(support_agent)
    url = f"{VENDOR_URL}{vendor.pk}/change/"

    assert client.get(url).status_code == 200
    assert client.post(url, {"legal_name": "Gekapert GmbH"}).status_code == 403
    assert Vendor.objects.get().legal_name == "Nimbus CRM GmbH"


# ---------------------------------------------------------------- orgs


def test_billing_ops_changes_an_org_through_the_services(client, billing_ops, org):
    client.force_login(billing_ops)
    data = admin_form_data(client, _org_url(org))
    data.update(city="Potsdam", vat_id="de 123456788", edition="professional")

    response = client.post(_org_url(org), data)

    assert response.status_code == 302
    org.refresh_from_db()
    assert (org.city, org.vat_id, org.edition) == ("Potsdam", "DE123456788", "professional")
    profile_event = AuditEvent.objects.get(action="org.billing_profile_changed")
    assert profile_event.after == {"city": "Potsdam", "vat_id": "DE123456788"}
    terms_event = AuditEvent.objects.get(action="org.terms_changed")
    assert (terms_event.before, terms_event.after) == ({"edition": "essentials"}, {"edition": "professional"})
    assert terms_event.actor_email == "ops@vendor.example"


def test_org_with_invalid_vat_id_is_refused_and_nothing_changes(client, billing_ops, org):
    client.force_login(billing_ops)
    data = admin_form_data(client, _org_url(org))
    data.update(city="Potsdam", vat_id="DE123456789")

    response = client.post(_org_url(org), data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["vat_id"] == [
        "The VAT ID DE123456789 has a wrong check digit. Format: DE + 9 digits, e.g. DE123456788."
    ]
    org.refresh_from_db()
    assert (org.city, org.vat_id) == ("Berlin", "")
    assert not AuditEvent.objects.exists()


def test_account_executive_may_only_hand_the_org_to_another_executive(client, billing_ops, account_executive, org):
    colleague = make_staff("ae2@vendor.example", "account_executive")
    client.force_login(billing_ops)
    data = admin_form_data(client, _org_url(org))
    data.update(legal_name="Umbenannt GmbH", account_executive=str(colleague.pk))
    client.force_login(account_executive)

    response = client.post(_org_url(org), data)

    assert response.status_code == 302
    org.refresh_from_db()
    assert org.account_executive == colleague
    assert org.legal_name == "Bäckerei Test GmbH"  # read-only for account executives
    event = AuditEvent.objects.get(action="org.terms_changed")
    assert event.after == {"account_executive": "ae2@vendor.example"}


def test_only_account_executives_can_own_an_org(client, billing_ops, support_agent, org):
    client.force_login(billing_ops)
    data = admin_form_data(client, _org_url(org))
    data["account_executive"] = str(support_agent.pk)

    response = client.post(_org_url(org), data)

    assert response.status_code == 200
    assert "account_executive" in response.context["adminform"].form.errors
    org.refresh_from_db()
    assert org.account_executive is None


def test_support_agent_cannot_change_an_org(client, billing_ops, support_agent, org):
    client.force_login(billing_ops)
    data = admin_form_data(client, _org_url(org))
    data["city"] = "Potsdam"
    client.force_login(support_agent)

    assert client.get(_org_url(org)).status_code == 200
    assert client.post(_org_url(org), data).status_code == 403
    org.refresh_from_db()
    assert org.city == "Berlin"


def test_billing_ops_adds_an_org_with_its_license_pools(client, billing_ops, account_executive):
    client.force_login(billing_ops)
    data = admin_form_data(client, "/backoffice/accounts/org/add/")
    data.update(
        legal_name="Neukunde AG",
        street="Seestrasse 5",
        postal_code="8002",
        city="Zürich",
        country="CH",
        vat_id="CHE116281710MWST",
        currency="CHF",
        language="de",
        segment="commercial",
        edition="professional",
        status="active",
        account_executive=str(account_executive.pk),
    )

    response = client.post("/backoffice/accounts/org/add/", data)

    assert response.status_code == 302
    org = Org.objects.get(legal_name="Neukunde AG")
    assert org.vat_id == "CHE-116.281.710 MWST"
    assert sorted(LicensePool.objects.filter(org=org).values_list("license_type", "free_seats", "purchased_seats")) == [
        ("full", 0, 0),
        ("identity", 100, 0),
    ]
    assert AuditEvent.objects.get(action="org.created").org_id == org.pk


def test_org_add_with_bad_input_creates_nothing(client, billing_ops):
    client.force_login(billing_ops)
    data = admin_form_data(client, "/backoffice/accounts/org/add/")
    data.update(legal_name="", street="Weg 1", postal_code="1", city="Wien", country="AT", vat_id="ATU00000000")

    response = client.post("/backoffice/accounts/org/add/", data)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["legal_name"] == ["This field is required."]
    assert Org.objects.count() == 0


def test_license_seats_are_changed_and_audited(client, billing_ops, org):
    client.force_login(billing_ops)
    data = admin_form_data(client, _org_url(org))
    full_index = next(
        i for i in range(2) if LicensePool.objects.get(pk=data[f"license_pools-{i}-id"]).license_type == "full"
    )
    data[f"license_pools-{full_index}-purchased_seats"] = "12"

    response = client.post(_org_url(org), data)

    assert response.status_code == 302
    assert LicensePool.objects.get(org=org, license_type="full").purchased_seats == 12
    event = AuditEvent.objects.get(action="license_pool.changed")
    assert (event.before, event.after) == (
        {"license_type": "full", "free_seats": 0, "purchased_seats": 5},
        {"license_type": "full", "free_seats": 0, "purchased_seats": 12},
    )


def test_license_seats_cannot_drop_below_assigned_users(client, billing_ops, org, admin, standard_user):
    client.force_login(billing_ops)
    data = admin_form_data(client, _org_url(org))
    full_index = next(
        i for i in range(2) if LicensePool.objects.get(pk=data[f"license_pools-{i}-id"]).license_type == "full"
    )
    data[f"license_pools-{full_index}-purchased_seats"] = "1"

    response = client.post(_org_url(org), data)

    assert response.status_code == 200
    assert "2 users hold a Full license" in response.content.decode()
    assert LicensePool.objects.get(org=org, license_type="full").purchased_seats == 5
    assert not AuditEvent.objects.exists()


def test_orgs_cannot_be_deleted(client, billing_ops, org):
    client.force_login(billing_ops)

    assert client.post(f"/backoffice/accounts/org/{org.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Org.objects.filter(pk=org.pk).exists()


def test_org_search_finds_vat_id_and_public_id(client, billing_ops, org, other_org):
    Org.objects.filter(pk=org.pk).update(vat_id="DE123456788")
    client.force_login(billing_ops)

    by_vat = client.get("/backoffice/accounts/org/", {"q": "DE123456788"})
    by_id = client.get("/backoffice/accounts/org/", {"q": other_org.public_id})

    assert [o.pk for o in by_vat.context["cl"].result_list] == [org.pk]
    assert [o.pk for o in by_id.context["cl"].result_list] == [other_org.pk]


# ---------------------------------------------------------------- profiles and permission sets


def test_permission_set_refuses_unknown_permission_codes(client, superuser):
    permission_set = PermissionSet.objects.get(code="invoice_viewer")
    url = f"/backoffice/accounts/permissionset/{permission_set.pk}/change/"
    client.force_login(superuser)
    data = admin_form_data(client, url)
    data["permissions"] = ["view_invoices", "launch_rockets"]

    response = client.post(url, data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["permissions"] == [
        "Select a valid choice. launch_rockets is not one of the available choices."
    ]
    permission_set.refresh_from_db()
    assert permission_set.permissions == ["view_invoices"]


def test_permission_set_codes_are_ticked_and_saved_in_registry_order(client, superuser):
    permission_set = PermissionSet.objects.get(code="invoice_viewer")
    url = f"/backoffice/accounts/permissionset/{permission_set.pk}/change/"
    client.force_login(superuser)
    data = admin_form_data(client, url)
    data["permissions"] = ["pay_invoices", "view_invoices"]

    response = client.post(url, data)

    assert response.status_code == 302
    permission_set.refresh_from_db()
    assert permission_set.permissions == ["view_invoices", "pay_invoices"]
    event = AuditEvent.objects.get(action="permissionset.permissions_changed")
    assert (event.object_id, event.before, event.after) == (
        "invoice_viewer",
        {"permissions": ["view_invoices"]},
        {"permissions": ["view_invoices", "pay_invoices"]},
    )


def test_standard_permission_sets_cannot_be_deleted(client, superuser):
    permission_set = PermissionSet.objects.get(code="my_account_admin")
    client.force_login(superuser)

    response = client.post(f"/backoffice/accounts/permissionset/{permission_set.pk}/delete/", {"post": "yes"})

    assert response.status_code == 403
    assert PermissionSet.objects.filter(code="my_account_admin").exists()


def test_staff_roles_cannot_change_permission_sets(client, billing_ops):
    permission_set = PermissionSet.objects.get(code="invoice_viewer")
    client.force_login(billing_ops)

    response = client.post(
        f"/backoffice/accounts/permissionset/{permission_set.pk}/change/", {"permissions": ["manage_billing"]}
    )

    assert response.status_code == 403
    permission_set.refresh_from_db()
    assert permission_set.permissions == ["view_invoices"]


# ---------------------------------------------------------------- users


def test_superuser_adds_staff_who_lands_in_the_role_group(client, superuser):
    client.force_login(superuser)
    data = admin_form_data(client, "/backoffice/accounts/user/add/")
    data.update(
        email="New.Ops@Vendor.Example",
        full_name="Nora Neu",
        staff_role="billing_ops",
        usable_password="true",
        password1="lang-und-sicher-42",
        password2="lang-und-sicher-42",
    )

    response = client.post("/backoffice/accounts/user/add/", data)

    assert response.status_code == 302
    user = User.objects.get(email="new.ops@vendor.example")
    assert (user.is_staff, user.org_id, user.staff_role) == (True, None, "billing_ops")
    assert user.check_password("lang-und-sicher-42")
    assert list(user.groups.values_list("name", flat=True)) == ["Billing operations"]
    assert AuditEvent.objects.filter(action="staff_user.created", object_id=user.public_id).exists()


def test_staff_add_refuses_taken_email_and_weak_password(client, superuser, billing_ops):
    client.force_login(superuser)
    data = admin_form_data(client, "/backoffice/accounts/user/add/")
    data.update(
        email="OPS@vendor.example",
        full_name="Doppelt",
        staff_role="support_agent",
        usable_password="true",
        password1="123",
        password2="123",
    )

    response = client.post("/backoffice/accounts/user/add/", data)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["email"] == ["A user with the email address ops@vendor.example already exists."]
    assert "password2" in errors
    assert User.objects.filter(email="ops@vendor.example").count() == 1


def test_user_pages_never_show_password_hashes(client, superuser, admin, billing_ops):
    client.force_login(superuser)

    for user in (admin, billing_ops):
        page = client.get(f"/backoffice/accounts/user/{user.pk}/change/").content.decode()
        assert user.password not in page
        assert "md5$" not in page
        assert "pbkdf2" not in page
    listing = client.get("/backoffice/accounts/user/").content.decode()
    assert "md5$" not in listing


def test_org_users_are_read_only_in_the_back_office(client, superuser, admin):
    client.force_login(superuser)
    url = f"/backoffice/accounts/user/{admin.pk}/change/"

    assert client.get(url).status_code == 200
    response = client.post(url, {"email": "hijack@evil.example", "full_name": "X", "is_active": ""})

    assert response.status_code == 403
    admin.refresh_from_db()
    assert (admin.email, admin.is_active) == ("admin@test.example", True)
    assert client.get(f"/backoffice/accounts/user/{admin.pk}/password/").status_code == 403


def test_deactivating_org_users_goes_through_the_service(client, superuser, org, admin, standard_user):
    client.force_login(superuser)

    response = client.post(
        "/backoffice/accounts/user/",
        {"action": "deactivate_org_users", "_selected_action": [str(standard_user.pk), str(admin.pk)]},
        follow=True,
    )

    standard_user.refresh_from_db()
    admin.refresh_from_db()
    assert standard_user.is_active is False
    assert admin.is_active is True  # the org's only System Administrator stays
    messages = [str(m) for m in response.context["messages"]]
    assert "1 user deactivated." in messages
    assert any(m.startswith("admin@test.example: ") and "only active System Administrator" in m for m in messages)
    assert AuditEvent.objects.filter(action="user.deactivated", object_id=standard_user.public_id).count() == 1


def test_user_search_and_filters(client, billing_ops, support_agent, org, admin, standard_user, other_admin):
    client.force_login(support_agent)

    by_name = client.get("/backoffice/accounts/user/", {"q": "Sven"})
    org_users = client.get("/backoffice/accounts/user/", {"org__id__exact": str(org.pk)})
    staff = client.get("/backoffice/accounts/user/", {"kind": "staff"})

    assert [u.email for u in by_name.context["cl"].result_list] == ["sales@test.example"]
    assert sorted(u.email for u in org_users.context["cl"].result_list) == ["admin@test.example", "sales@test.example"]
    assert sorted(u.email for u in staff.context["cl"].result_list) == ["ops@vendor.example", "support@vendor.example"]


# ---------------------------------------------------------------- tokens, invitations, audit trail


def test_billing_ops_revokes_an_api_token_through_the_service(client, billing_ops, org, admin):
    token, _secret = create_api_token(org=org, user=admin, actor=Actor(user_id=admin.pk, email=admin.email), name="ERP")
    client.force_login(billing_ops)

    page = client.get("/backoffice/accounts/apitoken/").content.decode()
    response = client.post(
        "/backoffice/accounts/apitoken/", {"action": "revoke_tokens", "_selected_action": [str(token.pk)]}
    )

    assert token.token_hash not in page
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    event = AuditEvent.objects.get(action="api_token.revoked")
    assert (event.actor_email, event.object_id) == ("ops@vendor.example", token.public_id)


def test_support_agent_cannot_revoke_api_tokens(client, support_agent, org, admin):
    token, _secret = create_api_token(org=org, user=admin, actor=Actor(user_id=admin.pk, email=admin.email), name="ERP")
    client.force_login(support_agent)

    page = client.get("/backoffice/accounts/apitoken/")
    client.post("/backoffice/accounts/apitoken/", {"action": "revoke_tokens", "_selected_action": [str(token.pk)]})

    assert "revoke_tokens" not in page.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is None


def test_audit_events_are_read_only(client, superuser, org, admin):
    client.force_login(superuser)
    create_api_token(org=org, user=admin, actor=Actor(user_id=admin.pk, email=admin.email), name="ERP")
    event = AuditEvent.objects.get()
    url = f"/backoffice/core/auditevent/{event.pk}/change/"

    assert client.get(url).status_code == 200
    assert client.post(url, {"action": "forged"}).status_code == 403
    assert client.get("/backoffice/core/auditevent/add/").status_code == 403
    assert client.post(f"/backoffice/core/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    event.refresh_from_db()
    assert event.action == "api_token.created"


def test_audit_list_filters_by_org(client, support_agent, org, other_org, admin, other_admin):
    for user, user_org in ((admin, org), (other_admin, other_org)):
        create_api_token(org=user_org, user=user, actor=Actor(user_id=user.pk, email=user.email), name="ERP")
    client.force_login(support_agent)

    response = client.get("/backoffice/core/auditevent/", {"org_id": str(other_org.pk)})

    assert [e.actor_email for e in response.context["cl"].result_list] == ["admin@other.example"]
    assert "Fremdfirma AG" in response.content.decode()


def test_invitations_are_read_only(client, superuser, org):
    make_admin(org, "second@test.example")
    client.force_login(superuser)

    assert client.get("/backoffice/accounts/invitation/").status_code == 200
    assert client.get("/backoffice/accounts/invitation/add/").status_code == 403
