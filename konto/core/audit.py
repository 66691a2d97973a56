"""Writing audit events from services, inside their transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from konto.core.models import AuditEvent


@dataclass(frozen=True)
class Actor:
    """Who acts and from where; services receive it from views, API or commands."""

    user_id: int | None
    email: str
    ip_address: str | None = None
    user_agent: str = ""

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(user_id=None, email=name)


def record_event(
    *,
    actor: Actor,
    org_id: int | None,
    action: str,
    object_type: str,
    object_id: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        org_id=org_id,
        actor_id=actor.user_id,
        actor_email=actor.email,
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
        ip_address=actor.ip_address,
        user_agent=actor.user_agent[:400],
    )
