"""Login throttling: failed logins counted per email and IP, and the lock they cause."""

from __future__ import annotations

import math
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_ipv46_address
from django.utils import timezone

from konto.accounts.models import LoginFailure
from konto.accounts.services._common import EMAIL_MAX_LENGTH


def _throttle_key(email: str | None, ip_address: str | None) -> tuple[str, str | None]:
    """The (email, IP) pair failures are counted for, normalised the same way for writing and reading."""
    email = email.strip().lower()[:EMAIL_MAX_LENGTH] if isinstance(email, str) else ""
    if ip_address is not None:
        try:
            validate_ipv46_address(ip_address)
        except ValidationError:
            ip_address = None  # not an address a database column can hold: counted as "unknown client"
    return email, ip_address


def login_lock_remaining(*, email: str, ip_address: str | None) -> int:
    """Seconds until this email + IP may try again; 0 when not locked.

    The pair is locked once KONTO_LOGIN_MAX_FAILURES failures fall within one
    lockout period, for the lockout period counted from the last of them.
    Attempts while locked are not recorded, so the lock does not extend itself.
    """
    email, ip_address = _throttle_key(email, ip_address)
    now = timezone.now()
    period = timedelta(seconds=settings.KONTO_LOGIN_LOCKOUT_SECONDS)
    limit = settings.KONTO_LOGIN_MAX_FAILURES
    failures = list(
        LoginFailure.objects.filter(email=email, ip_address=ip_address, created_at__gt=now - 2 * period)
        .order_by("-created_at")
        .values_list("created_at", flat=True)[:limit]
    )
    if len(failures) < limit:
        return 0
    last, first = failures[0], failures[-1]
    if last - first >= period:  # the failures were spread over more than one period
        return 0
    remaining = (last + period - now).total_seconds()
    return math.ceil(remaining) if remaining > 0 else 0


def record_login_failure(*, email: str, ip_address: str | None) -> None:
    email, ip_address = _throttle_key(email, ip_address)
    LoginFailure.objects.create(email=email, ip_address=ip_address)


def clear_login_failures(*, email: str, ip_address: str | None) -> None:
    email, ip_address = _throttle_key(email, ip_address)
    LoginFailure.objects.filter(email=email, ip_address=ip_address).delete()
    # Old rows of anybody are pruned on the way.
    LoginFailure.objects.filter(created_at__lt=timezone.now() - timedelta(days=1)).delete()
