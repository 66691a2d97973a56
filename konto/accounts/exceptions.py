"""Errors refused by account services, each with a stable code."""

from __future__ import annotations

from konto.core.exceptions import Conflict, InvalidInput, KontoError, NotFound, PermissionDenied


class LicenseLimitReached(KontoError):
    code = "license_limit_reached"
    status = 409


class LastSystemAdministrator(KontoError):
    code = "last_system_administrator"
    status = 409


class EmailNotAvailable(Conflict):
    code = "email_not_available"


class InvitationInvalid(KontoError):
    code = "invitation_invalid"
    status = 400


class LoginLocked(KontoError):
    code = "login_locked"
    status = 429


class CurrencyLocked(KontoError):
    code = "currency_locked"
    status = 409


__all__ = [
    "CurrencyLocked",
    "EmailNotAvailable",
    "InvalidInput",
    "InvitationInvalid",
    "LastSystemAdministrator",
    "LicenseLimitReached",
    "LoginLocked",
    "NotFound",
    "PermissionDenied",
]
