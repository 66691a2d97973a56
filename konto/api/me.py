"""GET /me: the user the token acts as."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router

from konto.accounts.selectors import get_org_user
from konto.api.auth import org_of, user_of
from konto.api.schemas import UserOut

router = Router(tags=["me"])


@router.get("/me", response=UserOut, summary="The token's user")
def get_me(request: HttpRequest) -> UserOut:
    """The user this token acts as, with license type, profile, permission sets and effective permissions."""
    user = user_of(request)
    return UserOut.of(get_org_user(org=org_of(request), public_id=user.public_id))
