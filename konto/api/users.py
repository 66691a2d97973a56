"""GET /users and GET /users/{id}: the org's users (user administration)."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Query, Router

from konto.accounts.permissions import MANAGE_USERS
from konto.accounts.selectors import get_org_user, org_users
from konto.api.auth import org_of, require_permission
from konto.api.pagination import PageParams, paginate_newest_first
from konto.api.schemas import UserOut, UserPage, is_public_id
from konto.core.exceptions import NotFound

router = Router(tags=["users"])


@router.get("/users", response=UserPage, summary="List the org's users")
def list_users(request: HttpRequest, page: Query[PageParams]) -> UserPage:
    """The org's users, newest first (by the date they joined), active and deactivated.

    Needs the permission `manage_users` (user administration). Paginated:
    `?limit=` (1 to 200, default 50) and `?cursor=` (the `next_cursor` of the
    previous page).
    """
    require_permission(request, MANAGE_USERS)
    result = paginate_newest_first(
        org_users(org=org_of(request)), limit=page.limit, cursor=page.cursor, timestamp_field="date_joined"
    )
    return UserPage(items=[UserOut.of(user) for user in result.items], next_cursor=result.next_cursor)


@router.get("/users/{user_id}", response=UserOut, summary="One user of the org")
def get_user(request: HttpRequest, user_id: str) -> UserOut:
    """One user of the org by public id (`usr_…`). Needs the permission `manage_users`.

    Another org's user answers 404 exactly like an id that does not exist.
    """
    require_permission(request, MANAGE_USERS)
    if not is_public_id(user_id):
        raise NotFound(_("User not found."))
    return UserOut.of(get_org_user(org=org_of(request), public_id=user_id))
