"""User administration in My Account: list, invite, billing access, access changes, (de)activation."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from konto.accounts.models import Invitation, LicenseType, PermissionSetAssignment, Profile, User
from konto.accounts.services.users import deactivate_user, give_billing_access
from konto.accounts.testing import make_billing_user, make_user
from konto.core.audit import Actor
from konto.core.models import AuditEvent

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Kaffee-und-Kuchen-42"


def english_client(**defaults) -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en", **defaults)


@pytest.fixture
def client(admin) -> Client:
    """The org's System Administrator, signed in, reading English."""
    client = english_client()
    client.force_login(admin)
    return client


def user_state(user: User) -> tuple[object, ...]:
    """What user administration can change about a user, read fresh from the database."""
    user = User.objects.select_related("profile").get(pk=user.pk)
    sets = sorted(PermissionSetAssignment.objects.filter(user=user).values_list("permission_set__code", flat=True))
    profile = user.profile.code if user.profile else None
    return (user.full_name, user.email, user.license_type, profile, sets, user.is_active)


def org_snapshot(org) -> tuple[object, ...]:
    """Users, permission set assignments, invitations and audit events of an org."""
    return (
        sorted(user_state(user) for user in User.objects.filter(org=org)),
        Invitation.objects.filter(org=org).count(),
        AuditEvent.objects.filter(org_id=org.pk).count(),
    )


def fill_pool(org, license_type: str, *, count: int, profile: str) -> None:
    """Bulk-create `count` active users holding `license_type`."""
    profile_obj = Profile.objects.get(code=profile)
    User.objects.bulk_create(
        User(
            email=f"filler{n}-{license_type}@test.example",
            full_name=f"Filler {n}",
            org=org,
            license_type=license_type,
            profile=profile_obj,
        )
        for n in range(count)
    )


def form_errors(response, field: str) -> str:
    return " ".join(response.context["form"].errors.get(field, []))


def page_messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def invitation_path(message: mail.EmailMessage) -> str:
    match = re.search(r"http://testserver(/invitation/[^/\s]+/)", str(message.body))
    assert match, message.body
    return match.group(1)


INVITE = {
    "full_name": "Nina Neu",
    "email": "nina@test.example",
    "license_type": "full",
    "profile": "standard_user",
    "permission_sets": ["invoice_viewer"],
    "language": "en",
}


# ---------------------------------------------------------------- list


def test_user_list_shows_license_profile_permission_sets_and_status(client, org, admin, billing_user, standard_user):
    invited = make_user(org, "neu@test.example", full_name="Nina Neu", password=None)
    gone = make_user(org, "alt@test.example", full_name="Alf Alt", is_active=False)

    response = client.get("/account/users/")

    assert response.status_code == 200
    rows = {user.email: user for user in response.context["org_users"]}
    assert set(rows) == {admin.email, billing_user.email, standard_user.email, invited.email, gone.email}
    content = response.content.decode()
    for person in ("Anna Admin", "Bea Buchhaltung", "Sven Sales", "Nina Neu", "Alf Alt"):
        assert person in content
    assert "My Account Admin" in content
    assert "System Administrator" in content
    assert "Identity User" in content
    assert content.count('<span class="badge badge--ok">Active</span>') == 3
    assert content.count('<span class="badge badge--warn">Invited</span>') == 1
    assert content.count('<span class="badge badge--muted">Deactivated</span>') == 1


def test_user_list_shows_bought_assigned_and_free_licenses(client, org, admin, billing_user, standard_user):
    response = client.get("/account/users/")

    usage = {u.license_type: (u.total, u.assigned, u.available) for u in response.context["license_usage"]}
    assert usage == {"full": (5, 2, 3), "identity": (100, 1, 99)}
    content = response.content.decode()
    assert "Give billing access" in content
    assert "Invite user" in content


def test_user_list_leaves_out_other_orgs(client, admin, other_admin):
    response = client.get("/account/users/")

    assert [user.email for user in response.context["org_users"]] == [admin.email]
    assert "Otto Other" not in response.content.decode()


def test_user_list_shows_25_users_per_page(client, org, admin):
    fill_pool(org, LicenseType.IDENTITY, count=30, profile="identity_user")

    first = client.get("/account/users/")
    second = client.get("/account/users/?page=2")

    assert len(first.context["org_users"]) == 25
    assert len(second.context["org_users"]) == 6
    assert "Page 2 of 2" in second.content.decode()


@pytest.mark.parametrize("page_number", ["abc", "0", "-1", "99999", "1e9"])
def test_user_list_with_a_bad_page_number_shows_a_page(client, org, admin, page_number):
    response = client.get(f"/account/users/?page={page_number}")

    assert response.status_code == 200
    assert [user.email for user in response.context["org_users"]] == [admin.email]


def test_user_list_needs_the_same_number_of_queries_for_3_or_25_users(client, org, admin):
    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/account/users/").status_code == 200
        return len(queries)

    make_billing_user(org, "b1@test.example")
    make_user(org, "s1@test.example", permission_sets=("invoice_viewer", "purchasing"))
    few = queries_for_list()
    for n in range(22):
        make_user(
            org,
            f"extra{n}@test.example",
            license_type=LicenseType.IDENTITY,
            profile="identity_user",
            permission_sets=("invoice_viewer",),
        )
    many = queries_for_list()

    assert many == few


# ---------------------------------------------------------------- invite


def test_invite_creates_the_user_uses_a_license_and_mails_the_link(
    client, org, admin, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/account/users/invite/", INVITE)

    assert response.status_code == 302
    assert response["Location"] == "/account/users/"
    user = User.objects.get(email="nina@test.example")
    assert user_state(user) == ("Nina Neu", "nina@test.example", "full", "standard_user", ["invoice_viewer"], True)
    assert user.org == org
    assert user.language == "en"
    assert not user.has_usable_password()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["nina@test.example"]
    listing = client.get("/account/users/")
    assert {u.license_type: u.assigned for u in listing.context["license_usage"]}["full"] == 2
    assert "Invitation sent to nina@test.example. The link is valid for 72 hours." in page_messages(listing)
    accepted = english_client().post(
        invitation_path(mail.outbox[0]), {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}
    )
    assert accepted.status_code == 302


def test_invite_beyond_the_full_licenses_bought_is_refused(client, org, admin, django_capture_on_commit_callbacks):
    fill_pool(org, LicenseType.FULL, count=4, profile="standard_user")  # 5 of 5 assigned with the admin
    before = org_snapshot(org)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/account/users/invite/", INVITE)

    assert response.status_code == 200
    assert form_errors(response, "license_type") == (
        "No Full license is free: 5 bought, 5 assigned, 0 free. Buy more licenses or deactivate a user first."
    )
    assert 'value="Nina Neu"' in response.content.decode()  # the form keeps what was typed
    assert org_snapshot(org) == before
    assert mail.outbox == []


def test_invite_of_a_system_administrator_needs_a_full_license(client, org, admin):
    before = org_snapshot(org)

    response = client.post(
        "/account/users/invite/", {**INVITE, "license_type": "identity", "profile": "system_administrator"}
    )

    assert form_errors(response, "license_type") == "System Administrators need a Full license."
    assert org_snapshot(org) == before


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("email", "not-an-email", "Enter a valid email address, e.g. name@example.com."),
        ("email", "nina@", "Enter a valid email address, e.g. name@example.com."),
        ("email", "", "Enter the person's email address."),
        ("email", "n" * 250 + "@test.example", "The email address can have at most 254 characters."),
        ("email", "admin@other.example", "A user with the email address admin@other.example already exists."),
        ("full_name", "", "Enter the person's name."),
        ("full_name", "   ", "Enter the person's name."),
        ("full_name", "N" * 151, "The name can have at most 150 characters."),
        ("license_type", "platinum", "Choose a license type: Full or Identity."),
        ("license_type", "", "This field is required."),
        ("profile", "no_such_profile", "Choose a profile from the list."),
        ("profile", "1 OR 1=1", "Choose a profile from the list."),
        ("permission_sets", ["my_account_admin", "garbage"], "Choose permission sets from the list."),
        ("permission_sets", ["<script>"], "Choose permission sets from the list."),
        ("language", "fr", "Choose German or English."),
    ],
)
def test_invite_with_bad_input_is_refused_and_changes_nothing(
    client, org, admin, other_admin, django_capture_on_commit_callbacks, field, value, expected
):
    before = org_snapshot(org)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/account/users/invite/", {**INVITE, field: value})

    assert response.status_code == 200
    assert form_errors(response, field) == expected
    assert org_snapshot(org) == before
    assert mail.outbox == []


def test_invite_with_a_name_of_150_characters_is_accepted(client, org, admin):
    response = client.post("/account/users/invite/", {**INVITE, "full_name": "N" * 150})

    assert response.status_code == 302
    assert User.objects.get(email="nina@test.example").full_name == "N" * 150


# ---------------------------------------------------------------- billing access


def test_billing_access_for_a_new_person_creates_an_identity_user_with_an_invitation(
    client, org, admin, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/account/users/billing-access/", {"full_name": "Paula Payable", "email": "ap@test.example"}
        )

    assert response["Location"] == "/account/users/"
    user = User.objects.get(email="ap@test.example")
    assert user_state(user) == (
        "Paula Payable",
        "ap@test.example",
        "identity",
        "identity_user",
        ["my_account_admin"],
        True,
    )
    assert not user.has_usable_password()
    invitation = Invitation.objects.get(user=user)
    assert timedelta(hours=71, minutes=59) < invitation.expires_at - invitation.created_at <= timedelta(hours=72)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ap@test.example"]
    listing = client.get("/account/users/")
    assert page_messages(listing) == [
        (
            "Paula Payable now has billing access with an Identity license. "
            "An invitation to set a password has been sent to ap@test.example."
        )
    ]
    assert {u.license_type: u.assigned for u in listing.context["license_usage"]}["identity"] == 1

    path = invitation_path(mail.outbox[0])
    first = english_client().post(path, {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    second = english_client().post(path, {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert first.status_code == 302
    assert second.status_code == 400


def test_billing_access_for_an_existing_user_adds_my_account_admin(
    client, org, admin, standard_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/account/users/billing-access/", {"full_name": "Sven", "email": "SALES@test.example"})

    assert response.status_code == 302
    assert user_state(standard_user) == (
        "Sven Sales",
        "sales@test.example",
        "full",
        "standard_user",
        ["my_account_admin"],
        True,
    )
    assert User.objects.filter(org=org).count() == 2
    assert mail.outbox == []
    assert page_messages(client.get("/account/users/")) == [
        "Sven Sales already had an account and now has billing access (My Account Admin)."
    ]


def test_the_101st_identity_license_is_refused_with_bought_assigned_free(
    client, org, admin, django_capture_on_commit_callbacks
):
    fill_pool(org, LicenseType.IDENTITY, count=100, profile="identity_user")
    before = org_snapshot(org)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/account/users/billing-access/", {"full_name": "Paula Payable", "email": "ap@test.example"}
        )

    assert response.status_code == 200
    assert " ".join(response.context["form"].non_field_errors()) == (
        "No Identity license is free: 100 bought, 100 assigned, 0 free. Buy more licenses or deactivate a user first."
    )
    assert org_snapshot(org) == before
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("email", "not-an-email", "Enter a valid email address, e.g. name@example.com."),
        ("email", "", "Enter the person's email address."),
        ("email", "admin@other.example", "The email address admin@other.example cannot be used for this account."),
        ("full_name", "", "Enter the person's name."),
        ("full_name", "P" * 151, "The name can have at most 150 characters."),
    ],
)
def test_billing_access_with_bad_input_is_refused_and_changes_nothing(
    client, org, admin, other_admin, django_capture_on_commit_callbacks, field, value, expected
):
    before, before_other = org_snapshot(org), user_state(other_admin)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/account/users/billing-access/", {"full_name": "Paula Payable", "email": "ap@test.example", field: value}
        )

    assert response.status_code == 200
    assert form_errors(response, field) == expected
    assert org_snapshot(org) == before
    assert user_state(other_admin) == before_other
    assert mail.outbox == []


# ---------------------------------------------------------------- one user: access


def access(
    license_type: str = "full", profile: str = "standard_user", permission_sets: tuple[str, ...] | list[str] = ()
) -> dict[str, object]:
    return {"license_type": license_type, "profile": profile, "permission_sets": list(permission_sets)}


def test_user_page_shows_the_user_and_the_current_access(client, billing_user):
    response = client.get(f"/account/users/{billing_user.public_id}/")

    assert response.status_code == 200
    assert response.context["form"].initial == {
        "license_type": "identity",
        "profile": "identity_user",
        "permission_sets": ["my_account_admin"],
    }
    content = response.content.decode()
    assert "Bea Buchhaltung" in content
    assert "billing@test.example" in content
    assert "Deactivate user" in content


def test_changing_access_saves_license_profile_and_permission_sets(client, org, admin, standard_user):
    response = client.post(
        f"/account/users/{standard_user.public_id}/",
        access("identity", "identity_user", ["accounts_payable", "invoice_viewer"]),
    )

    assert response.status_code == 302
    assert user_state(standard_user) == (
        "Sven Sales",
        "sales@test.example",
        "identity",
        "identity_user",
        ["accounts_payable", "invoice_viewer"],
        True,
    )
    assert AuditEvent.objects.filter(org_id=org.pk, action="user.access_changed").count() == 1


def test_changing_to_a_full_license_beyond_the_pool_is_refused(client, org, admin, billing_user):
    fill_pool(org, LicenseType.FULL, count=4, profile="standard_user")
    before = org_snapshot(org)

    response = client.post(
        f"/account/users/{billing_user.public_id}/", access("full", "identity_user", ["my_account_admin"])
    )

    assert response.status_code == 200
    assert form_errors(response, "license_type") == (
        "No Full license is free: 5 bought, 5 assigned, 0 free. Buy more licenses or deactivate a user first."
    )
    assert org_snapshot(org) == before


def test_the_last_system_administrator_cannot_be_demoted(client, org, admin, standard_user):
    before = org_snapshot(org)

    response = client.post(f"/account/users/{admin.public_id}/", access("full", "standard_user", ["my_account_admin"]))

    assert response.status_code == 200
    assert " ".join(response.context["form"].non_field_errors()) == (
        "Anna Admin is the org's only active System Administrator. Make another user System Administrator first."
    )
    assert org_snapshot(org) == before


def test_a_system_administrator_can_be_demoted_while_another_remains(client, org, admin):
    second = make_user(org, "zweit@test.example", profile="system_administrator", full_name="Zora Zweit")

    response = client.post(f"/account/users/{second.public_id}/", access("full", "standard_user"))

    assert response.status_code == 302
    assert user_state(second)[3] == "standard_user"


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("license_type", "platinum", "Choose a license type: Full or Identity."),
        ("license_type", "", "This field is required."),
        ("profile", "no_such_profile", "Choose a profile from the list."),
        ("profile", "", "This field is required."),
        ("permission_sets", ["garbage"], "Choose permission sets from the list."),
        ("permission_sets", ["invoice_viewer", "' OR 1=1 --"], "Choose permission sets from the list."),
    ],
)
def test_changing_access_with_bad_input_is_refused_and_changes_nothing(
    client, org, admin, standard_user, field, value, expected
):
    before = org_snapshot(org)

    response = client.post(
        f"/account/users/{standard_user.public_id}/", {**access("identity", "identity_user"), field: value}
    )

    assert response.status_code == 200
    assert form_errors(response, field) == expected
    assert org_snapshot(org) == before


# ---------------------------------------------------------------- one user: actions


def test_deactivating_a_user_frees_the_license(client, org, admin, standard_user):
    response = client.post(f"/account/users/{standard_user.public_id}/deactivate/", follow=True)

    assert response.status_code == 200
    assert page_messages(response) == ["Sven Sales has been deactivated. The license is free again."]
    assert user_state(standard_user)[5] is False
    listing = client.get("/account/users/")
    assert {u.license_type: u.assigned for u in listing.context["license_usage"]}["full"] == 1


def test_the_last_system_administrator_cannot_be_deactivated(org, admin, standard_user):
    user_admin = make_user(org, "useradmin@test.example", permission_sets=("user_administration", "my_account_admin"))
    client = english_client()
    client.force_login(user_admin)
    before = org_snapshot(org)

    response = client.post(f"/account/users/{admin.public_id}/deactivate/", follow=True)

    assert page_messages(response) == [
        "Anna Admin is the org's only active System Administrator. Make another user System Administrator first."
    ]
    assert org_snapshot(org) == before


def test_nobody_can_deactivate_themselves(client, org, admin):
    make_user(org, "zweit@test.example", profile="system_administrator")
    before = org_snapshot(org)

    response = client.post(f"/account/users/{admin.public_id}/deactivate/", follow=True)

    assert page_messages(response) == ["You cannot deactivate yourself."]
    assert org_snapshot(org) == before


def test_reactivating_a_user_takes_a_license_again(client, org, admin, standard_user):
    client.post(f"/account/users/{standard_user.public_id}/deactivate/", follow=True)

    response = client.post(f"/account/users/{standard_user.public_id}/reactivate/", follow=True)

    assert page_messages(response) == ["Sven Sales has been reactivated."]
    assert user_state(standard_user)[5] is True


def test_reactivating_needs_a_free_license(client, org, admin, standard_user):
    client.post(f"/account/users/{standard_user.public_id}/deactivate/", follow=True)
    fill_pool(org, LicenseType.FULL, count=4, profile="standard_user")
    before = org_snapshot(org)

    response = client.post(f"/account/users/{standard_user.public_id}/reactivate/", follow=True)

    assert page_messages(response) == [
        "No Full license is free: 5 bought, 5 assigned, 0 free. Buy more licenses or deactivate a user first."
    ]
    assert org_snapshot(org) == before


def test_resending_an_invitation_mails_a_new_link_and_ends_the_old_one(
    client, org, admin, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/account/users/invite/", INVITE, follow=True)
    user = User.objects.get(email="nina@test.example")
    old_path = invitation_path(mail.outbox[0])

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/account/users/{user.public_id}/resend-invitation/", follow=True)

    assert page_messages(response) == [
        "A new invitation has been sent to nina@test.example. Earlier links no longer work."
    ]
    assert len(mail.outbox) == 2
    assert invitation_path(mail.outbox[1]) != old_path
    assert english_client().get(old_path).status_code == 400
    assert english_client().get(invitation_path(mail.outbox[1])).status_code == 200


def test_resending_to_a_user_who_has_joined_is_refused(client, org, admin, standard_user):
    before = org_snapshot(org)

    response = client.post(f"/account/users/{standard_user.public_id}/resend-invitation/", follow=True)

    assert page_messages(response) == ["This user has already joined."]
    assert org_snapshot(org) == before
    assert mail.outbox == []


@pytest.mark.parametrize("action", ["deactivate", "reactivate", "resend-invitation"])
def test_user_actions_need_post(client, org, admin, standard_user, action):
    before = org_snapshot(org)

    response = client.get(f"/account/users/{standard_user.public_id}/{action}/")

    assert response.status_code == 405
    assert org_snapshot(org) == before


# ---------------------------------------------------------------- tenants and CSRF


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("post", ""), ("post", "deactivate/"), ("post", "reactivate/"), ("post", "resend-invitation/")],
)
def test_another_orgs_user_is_not_found(client, org, admin, other_org, other_admin, method, suffix):
    other_user = make_user(other_org, "fremd@other.example", password=None)
    before = (org_snapshot(org), org_snapshot(other_org))

    response = getattr(client, method)(
        f"/account/users/{other_user.public_id}/{suffix}", access("identity", "identity_user")
    )

    assert response.status_code == 404
    assert (org_snapshot(org), org_snapshot(other_org)) == before


@pytest.mark.parametrize("public_id", ["usr_doesnotexist00000", "1", "%20", "usr_" + "x" * 300])
def test_an_unknown_user_is_not_found(client, admin, public_id):
    assert client.get(f"/account/users/{public_id}/").status_code == 404


def test_user_forms_need_the_csrf_token(org, admin, standard_user):
    client = english_client(enforce_csrf_checks=True)
    client.force_login(admin)
    before = org_snapshot(org)

    invite = client.post("/account/users/invite/", INVITE)
    billing = client.post("/account/users/billing-access/", {"full_name": "Paula", "email": "ap@test.example"})
    change = client.post(f"/account/users/{standard_user.public_id}/", access("identity", "identity_user"))
    deactivate = client.post(f"/account/users/{standard_user.public_id}/deactivate/")

    assert [r.status_code for r in (invite, billing, change, deactivate)] == [403, 403, 403, 403]
    assert org_snapshot(org) == before


# ---------------------------------------------------------------- services the pages rely on


def test_billing_access_reactivates_a_deactivated_user_of_the_org(org, admin, standard_user):
    actor = Actor(user_id=admin.pk, email=admin.email)
    deactivate_user(org=org, actor=actor, user=standard_user)

    result = give_billing_access(org=org, actor=actor, full_name="Sven", email="sales@test.example")

    assert result.created is False
    assert user_state(standard_user) == (
        "Sven Sales",
        "sales@test.example",
        "full",
        "standard_user",
        ["my_account_admin"],
        True,
    )


def test_invitation_timeout_setting_is_72_hours():
    assert settings.KONTO_INVITATION_TTL_SECONDS == 72 * 60 * 60
