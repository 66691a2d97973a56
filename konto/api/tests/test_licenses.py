"""GET /licenses: bought, assigned and free per license type."""

from __future__ import annotations

from konto.accounts.models import Org, User
from konto.accounts.testing import make_user
from konto.api.tests.conftest import ApiClient


def test_licenses_count_bought_assigned_and_free_per_type(
    org: Org, admin: User, standard_user: User, billing_user: User, billing_api: ApiClient
) -> None:
    # given: a deactivated Full user does not hold a license
    make_user(org, "gone@test.example", is_active=False)
    # when
    response = billing_api.get("/licenses")
    # then
    assert response.status_code == 200
    assert response.json() == {
        "items": [
            {"type": "full", "name": "Full", "bought": 5, "assigned": 2, "free": 3},
            {"type": "identity", "name": "Identity", "bought": 100, "assigned": 1, "free": 99},
        ]
    }


def test_licenses_show_only_the_tokens_org(
    org: Org, other_org: Org, billing_api: ApiClient, billing_user: User, other_admin: User
) -> None:
    # given: the other org's admin holds one of the other org's Full licenses
    make_user(other_org, "two@other.example")
    # when
    response = billing_api.get("/licenses")
    # then
    assert response.json()["items"][0] == {"type": "full", "name": "Full", "bought": 5, "assigned": 0, "free": 5}
