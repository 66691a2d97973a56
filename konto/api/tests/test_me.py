"""GET /me: the token's user."""

from __future__ import annotations

from konto.accounts.models import Org, User
from konto.api.tests.conftest import NOW_JSON, ApiClient

BILLING = [
    "manage_billing",
    "manage_billing_contacts",
    "manage_cases",
    "manage_payment_methods",
    "manage_renewals",
    "pay_invoices",
    "purchase",
    "view_audit_log",
    "view_invoices",
]


def test_me_describes_a_system_administrator(org: Org, admin: User, admin_api: ApiClient) -> None:
    # when
    response = admin_api.get("/me")
    # then
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response.json() == {
        "id": admin.public_id,
        "email": "admin@test.example",
        "full_name": "Anna Admin",
        "license_type": "full",
        "profile": {"code": "system_administrator", "name": "System Administrator"},
        "permission_sets": [],
        "permissions": sorted([*BILLING, "manage_users"]),
        "language": None,
        "can_use_product": True,
        "is_active": True,
        "joined_at": NOW_JSON,
        "deactivated_at": None,
        "org_id": org.public_id,
    }


def test_me_describes_an_identity_user_with_billing_access(
    org: Org, billing_user: User, billing_api: ApiClient
) -> None:
    # given
    User.objects.filter(pk=billing_user.pk).update(language="en")
    # when
    response = billing_api.get("/me")
    # then
    assert response.status_code == 200
    assert response.json() == {
        "id": billing_user.public_id,
        "email": "billing@test.example",
        "full_name": "Bea Buchhaltung",
        "license_type": "identity",
        "profile": {"code": "identity_user", "name": "Identity User"},
        "permission_sets": [{"code": "my_account_admin", "name": "My Account Admin"}],
        "permissions": BILLING,
        "language": "en",
        "can_use_product": False,
        "is_active": True,
        "joined_at": NOW_JSON,
        "deactivated_at": None,
        "org_id": org.public_id,
    }
