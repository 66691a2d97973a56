"""Email + password authentication with lockout after repeated failures."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from konto.accounts.actors import client_ip
from konto.accounts.models import User
from konto.accounts.services.login import clear_login_failures, login_lock_remaining, record_login_failure


class ThrottledEmailBackend(ModelBackend):
    """Refuses an email + IP pair for 15 minutes after 5 failures (portal and back office alike)."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        email: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        email = email or username
        if not isinstance(email, str) or not isinstance(password, str):
            return None
        email = email.strip().lower()
        if not email:
            return None
        ip_address = client_ip(request) if request is not None else None
        if login_lock_remaining(email=email, ip_address=ip_address) > 0:
            return None
        user = User.objects.filter(email=email).first()
        if user is not None and user.check_password(password) and self.user_can_authenticate(user):
            clear_login_failures(email=email, ip_address=ip_address)
            return user
        if user is None:
            User().set_password(password)  # same cost as a real check: no timing hint that the email is unknown
        record_login_failure(email=email, ip_address=ip_address)
        return None
