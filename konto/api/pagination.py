"""Keyset (cursor) pagination for API lists: newest first, `?limit=&cursor=`.

A cursor is opaque to clients: URL-safe base64 of the JSON pair (timestamp,
public id) of the last item of a page. The next page holds the items strictly
older than that pair in the order (timestamp desc, public id desc), so pages
neither repeat nor skip items when rows are added meanwhile, and each page
costs one indexed query whatever its depth.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from django.db.models import Model, Q, QuerySet
from django.utils.translation import gettext
from ninja import Field, Schema

from konto.api.schemas import is_public_id
from konto.core.exceptions import InvalidInput

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_CURSOR_LENGTH = 200

M = TypeVar("M", bound=Model)


class PageParams(Schema):
    """Query parameters of every paginated list."""

    limit: int = Field(
        DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=f"Items per page, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})."
    )
    cursor: str | None = Field(
        None,
        max_length=MAX_CURSOR_LENGTH,
        description="The `next_cursor` of the previous page; omit it for the first page.",
    )


@dataclass(frozen=True)
class CursorPage(Generic[M]):
    items: list[M]
    next_cursor: str | None  # None on the last page


def encode_cursor(timestamp: datetime, public_id: str) -> str:
    raw = json.dumps([timestamp.isoformat(), public_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (timestamp, public id) in a cursor, or InvalidInput (422) for anything else."""
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        timestamp_text, public_id = json.loads(raw)
        if not isinstance(timestamp_text, str) or not isinstance(public_id, str):
            raise ValueError("cursor members must be strings")
        if not is_public_id(public_id):
            raise ValueError("cursor names no public id")
        timestamp = datetime.fromisoformat(timestamp_text)
        if timestamp.tzinfo is None:
            raise ValueError("cursor timestamp must carry a time zone")
        timestamp = timestamp.astimezone(UTC)
    except (binascii.Error, ValueError, TypeError, OverflowError):
        message = gettext("This cursor is not valid. Pass the next_cursor of the previous page unchanged.")
        raise InvalidInput(message, fields={"cursor": message}) from None
    return timestamp, public_id


def paginate_newest_first(
    queryset: QuerySet[M],
    *,
    limit: int,
    cursor: str | None,
    timestamp_field: str,
    id_field: str = "public_id",
) -> CursorPage[M]:
    """One page of `queryset`, newest first by (timestamp_field, id_field).

    The queryset must already be scoped to the caller's org (a selector's
    result); this function only orders, filters by the cursor and slices.
    `id_field` must hold public ids (they break ties between equal timestamps).
    """
    if not 1 <= limit <= MAX_LIMIT:
        message = gettext("Enter a number from 1 to %(max)d.") % {"max": MAX_LIMIT}
        raise InvalidInput(message, fields={"limit": message})
    queryset = queryset.order_by(f"-{timestamp_field}", f"-{id_field}")
    if cursor:
        timestamp, public_id = decode_cursor(cursor)
        queryset = queryset.filter(
            Q(**{f"{timestamp_field}__lt": timestamp}) | Q(**{timestamp_field: timestamp, f"{id_field}__lt": public_id})
        )
    rows = list(queryset[: limit + 1])
    items = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_cursor(getattr(last, timestamp_field), getattr(last, id_field))
    return CursorPage(items=items, next_cursor=next_cursor)
