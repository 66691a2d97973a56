"""The access rule of My Account: billing permission on every page, the explaining 403, identity users."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, reverse

from konto.accounts.models import User
from konto.accounts.testing import PASSWORD, make_user
from konto.portal import urls as portal_urls

pytestmark = pytest.mark.django_db


def english_client(**defaults) -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en", **defaults)


def signed_in(user: User, **defaults) -> Client:
    client = english_client(**defaults)
    client.force_login(user)
    return client


def _patterns(patterns: Sequence[object], prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    """(route, pattern) of every URL pattern, walking included URL modules."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _patterns(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            assert isinstance(pattern, URLPattern)
            yield prefix + str(pattern.pattern), pattern


def my_account_urls() -> list[str]:
    """Every My Account page (everything under /account/), read from the URL map so new pages are covered."""
    urls = []
    for route, pattern in _patterns(portal_urls.urlpatterns):
        if not route.startswith("account/"):
            continue
        kwargs = dict.fromkeys(pattern.pattern.regex.groupindex, "usr_placeholder0000000")
        urls.append(reverse(f"portal:{pattern.name}", kwargs=kwargs))
    return urls


MY_ACCOUNT_URLS = my_account_urls()
USERS_URLS = [url for url in MY_ACCOUNT_URLS if url.startswith("/account/users/")]


def test_the_url_map_lists_the_pages_these_tests_walk():
    assert "/account/" in MY_ACCOUNT_URLS
    assert "/account/users/" in USERS_URLS
    assert "/account/users/billing-access/" in USERS_URLS
    assert "/account/settings/" in MY_ACCOUNT_URLS


@pytest.mark.parametrize("url", MY_ACCOUNT_URLS)
def test_user_without_billing_permission_gets_the_explaining_403_everywhere(url, org, admin, standard_user):
    other_grantor = make_user(
        org, "useradmin@test.example", full_name="Ulla Useradmin", permission_sets=("user_administration",)
    )
    make_user(org, "alt@test.example", full_name="Alf Alt", profile="system_administrator", is_active=False)
    client = signed_in(standard_user)

    for response in (client.get(url), client.post(url, {"full_name": "X", "email": "x@test.example"})):
        assert response.status_code == 403
        content = response.content.decode()
        assert "This page needs the permission <strong>Manage Billing</strong>." in content
        assert [person.email for person in response.context["grantors"]] == [admin.email, other_grantor.email]
        assert "Anna Admin" in content
        assert "admin@test.example" in content
        assert "Ulla Useradmin" in content
        assert "Alf Alt" not in content  # deactivated people cannot grant anything
    assert User.objects.filter(email="x@test.example").exists() is False


def test_the_403_page_is_in_german_for_a_german_user(org, admin, standard_user):
    User.objects.filter(pk=standard_user.pk).update(language="de")

    response = signed_in(standard_user).get("/account/users/")

    content = response.content.decode()
    assert response.status_code == 403
    assert '<html lang="de">' in content
    assert "Anna Admin" in content
    assert "admin@test.example" in content


def test_the_403_page_hides_the_navigation_from_people_without_billing_access(org, admin, standard_user):
    response = signed_in(standard_user).get("/account/")

    assert response.status_code == 403
    assert 'class="sidenav"' not in response.content.decode()


@pytest.mark.parametrize("url", USERS_URLS)
def test_billing_user_without_manage_users_gets_403_on_the_users_pages(url, org, admin, billing_user):
    response = signed_in(billing_user).get(url)

    assert response.status_code == 403
    assert "This page needs the permission <strong>Manage users</strong>." in response.content.decode()
    assert [person.email for person in response.context["grantors"]] == [admin.email]


def test_billing_user_reaches_my_account_but_not_the_users_link(org, admin, billing_user):
    response = signed_in(billing_user).get("/account/")

    assert response.status_code == 200
    assert 'href="/account/users/"' not in response.content.decode()


def test_user_administration_alone_does_not_open_my_account(org, admin):
    user_admin = make_user(org, "useradmin@test.example", permission_sets=("user_administration",))

    response = signed_in(user_admin).get("/account/users/")

    assert response.status_code == 403
    assert "This page needs the permission <strong>Manage Billing</strong>." in response.content.decode()


def test_system_administrator_opens_the_users_pages(org, admin):
    client = signed_in(admin)

    assert client.get("/account/users/").status_code == 200
    assert client.get("/account/users/invite/").status_code == 200
    assert client.get("/account/users/billing-access/").status_code == 200
    assert client.get(f"/account/users/{admin.public_id}/").status_code == 200


@pytest.mark.parametrize("url", MY_ACCOUNT_URLS)
def test_visitors_are_sent_to_login_from_every_page(url, db):
    response = english_client().get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("url", MY_ACCOUNT_URLS)
def test_vendor_staff_are_sent_to_the_back_office(url, db):
    staff = make_user(None, "ops@vendor.example", staff_role=User.StaffRole.BILLING_OPS)

    response = signed_in(staff).get(url)

    assert response.status_code == 302
    assert response["Location"] == "/backoffice/"


def test_a_user_deactivated_while_signed_in_is_signed_out(org, admin, standard_user):
    client = signed_in(admin)
    User.objects.filter(pk=admin.pk).update(is_active=False)

    response = client.get("/account/users/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/account/users/"


@pytest.mark.parametrize("fixture", ["billing_user", "admin", "standard_user"])
def test_org_users_cannot_open_the_back_office(request, fixture):
    user = request.getfixturevalue(fixture)
    client = signed_in(user)

    response = client.get("/backoffice/")
    models_page = client.get("/backoffice/accounts/org/")

    assert response.status_code == 302
    assert response["Location"] == "/backoffice/login/?next=/backoffice/"
    assert models_page.status_code == 302
    assert models_page["Location"].startswith("/backoffice/login/")


def test_identity_user_cannot_log_in_to_the_back_office(billing_user):
    client = english_client()

    response = client.post("/backoffice/login/", {"username": billing_user.email, "password": PASSWORD})

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert client.get("/backoffice/").status_code == 302
