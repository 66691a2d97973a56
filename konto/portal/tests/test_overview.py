"""My Account home: edition, license usage, users, billing profile, alerts, access and query count."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from konto.accounts.models import LicensePool, LicenseType, Org, User
from konto.accounts.testing import make_admin, make_org, make_user

pytestmark = pytest.mark.django_db

OVERVIEW = reverse("portal:overview")


def _english(user: User) -> User:
    user.language = "en"
    user.save(update_fields=["language"])
    return user


def _page(client, user: User) -> str:
    client.force_login(user)
    response = client.get(OVERVIEW)
    assert response.status_code == 200
    return str(response.content.decode())


@pytest.fixture
def admin_en(admin: User) -> User:
    return _english(admin)


@pytest.fixture
def billing_user_en(billing_user: User) -> User:
    return _english(billing_user)


def test_overview_shows_edition_usage_and_profile_to_an_admin(client, org, admin_en, billing_user):
    org.vat_id = "DE123456788"
    org.billing_email = "rechnung@baeckerei.example"
    org.save()

    html = _page(client, admin_en)

    assert "<h1>Overview</h1>" in html
    assert "Essentials" in html
    # Admin (Full) and the billing user (Identity) each hold one license.
    assert 'aria-label="Full licenses: 1 of 5 assigned, 4 free"' in html
    assert 'aria-label="Identity licenses: 1 of 100 assigned, 99 free"' in html
    assert '<span class="usage-bar__fill" style="width: 20%">' in html
    assert '<span class="usage-bar__fill" style="width: 1%">' in html
    assert "<dt>Bought</dt><dd>5</dd>" in html
    assert "<dt>Included</dt><dd>100</dd>" in html
    assert "<dt>Free</dt><dd>4</dd>" in html
    assert "<dt>Free</dt><dd>99</dd>" in html
    assert escape("Bäckerei Test GmbH") in html
    assert escape("Teststraße 1") in html
    assert "10115 Berlin<br>Germany" in html
    assert "DE123456788" in html
    assert "rechnung@baeckerei.example" in html
    assert "Euro (EUR)" in html
    assert "<dd>German</dd>" in html


def test_overview_counts_active_users_and_links_users_page_for_user_admins(client, org, admin_en, billing_user):
    make_user(org, "former@test.example", is_active=False)

    html = _page(client, admin_en)

    assert '<p class="card__value">2</p>' in html
    assert "active users" in html
    assert f'href="{reverse("portal:users")}"' in html


def test_overview_for_an_identity_billing_user_shows_everything_but_user_administration(
    client, org, admin, billing_user_en
):
    html = _page(client, billing_user_en)

    assert "Essentials" in html
    assert 'aria-label="Full licenses: 1 of 5 assigned, 4 free"' in html
    assert escape("Teststraße 1") in html
    # Manage Billing includes managing billing contacts, not users.
    assert f'href="{reverse("portal:settings")}"' in html
    assert f'href="{reverse("portal:users")}"' not in html


def test_user_with_only_invoice_viewing_sees_the_profile_without_edit_link(client, org, admin):
    viewer = _english(make_user(org, "viewer@test.example", permission_sets=("invoice_viewer",)))

    html = _page(client, viewer)

    assert escape("Teststraße 1") in html
    assert "Edit billing profile" not in html
    assert f'href="{reverse("portal:settings")}"' not in html


def test_edit_link_leads_billing_admins_to_the_settings(client, admin_en):
    html = _page(client, admin_en)

    assert f'<a class="no-print" href="{reverse("portal:settings")}" aria-label="Edit billing profile">Edit</a>' in html


def test_country_name_follows_the_active_language(client):
    austrian = make_org(legal_name="Alpenblick GmbH", country="AT", city="Wien", postal_code="1010")
    admin = make_admin(austrian, "admin@alpenblick.example", language="de")

    html = _page(client, admin)

    assert "1010 Wien<br>Österreich" in html

    admin.language = "en"
    admin.save(update_fields=["language"])
    html = _page(client, admin)
    assert "1010 Wien<br>Austria" in html


def test_overview_shows_the_orgs_edition(client):
    org = make_org(edition="enterprise")
    admin = make_admin(org, "admin@enterprise.example", language="de")

    html = _page(client, admin)

    assert '<p class="card__value">Enterprise</p>' in html


def test_nonprofit_org_shows_the_nonprofit_badge(client):
    org = make_org(country="CH", segment=Org.Segment.NONPROFIT, city="Zürich", postal_code="8001")
    admin = _english(make_admin(org, "admin@tierhilfe.example"))

    html = _page(client, admin)

    assert '<span class="badge badge--info">Nonprofit</span>' in html
    assert "Swiss franc (CHF)" in html


def test_commercial_org_has_no_nonprofit_badge(client, admin_en):
    assert "badge--info" not in _page(client, admin_en)


@pytest.mark.parametrize(
    ("status", "banner", "title"),
    [
        (Org.Status.OVERDUE, "alert alert--warn", "Payment overdue"),
        (Org.Status.SUSPENDED, "alert alert--danger", "Account suspended"),
        (Org.Status.CLOSED, "alert alert--info", "Account closed"),
    ],
)
def test_account_status_shows_a_banner(client, org, admin_en, status, banner, title):
    org.status = status
    org.save(update_fields=["status"])

    html = _page(client, admin_en)

    assert f'<div class="{banner}"' in html
    assert f'<p class="alert__title">{title}</p>' in html


def test_active_org_shows_no_banner(client, admin_en):
    assert 'class="alert ' not in _page(client, admin_en)


def test_full_pool_draws_a_full_bar_and_over_assignment_a_danger_bar(client, org, admin_en):
    LicensePool.objects.filter(org=org, license_type=LicenseType.FULL).update(purchased_seats=1)
    assert "usage-bar usage-bar--full" in _page(client, admin_en)

    LicensePool.objects.filter(org=org, license_type=LicenseType.FULL).update(purchased_seats=0)
    html = _page(client, admin_en)
    assert "usage-bar usage-bar--over" in html
    assert 'aria-label="Full licenses: 1 of 0 assigned, 0 free"' in html


def test_standard_user_gets_the_403_page(client, admin, standard_user):
    client.force_login(standard_user)

    response = client.get(OVERVIEW)

    assert response.status_code == 403
    assert response.templates[0].name == "portal/forbidden.html"


def test_anonymous_visitor_is_sent_to_login(client, db):
    response = client.get(OVERVIEW)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:login"))


def _overview_queries(client, user: User) -> int:
    client.force_login(user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(OVERVIEW)
    assert response.status_code == 200
    return len(queries)


def test_overview_needs_the_same_number_of_queries_for_1_and_20_users(client):
    small = make_org(legal_name="Klein GmbH")
    small_admin = make_admin(small, "admin@klein.example")
    large = make_org(legal_name="Groß GmbH", full_seats=30)
    large_admin = make_admin(large, "admin@gross.example")
    for number in range(19):
        make_user(large, f"user{number}@gross.example", permission_sets=("invoice_viewer",))

    assert User.objects.filter(org=large).count() == 20
    small_count = _overview_queries(client, small_admin)

    assert small_count == _overview_queries(client, large_admin)
    assert small_count <= 12
