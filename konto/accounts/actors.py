"""Who is acting in a request, for services and the audit trail."""

from __future__ import annotations

from django.http import HttpRequest

from konto.core.audit import Actor


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def actor_from_request(request: HttpRequest) -> Actor:
    user = request.user
    return Actor(
        user_id=user.pk if user.is_authenticated else None,
        email=getattr(user, "email", "") if user.is_authenticated else "anonymous",
        ip_address=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:400],
    )
