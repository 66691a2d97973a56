"""Konto's one error vocabulary: a translated message plus a stable code."""

from __future__ import annotations

from typing import Any

from django.utils.functional import Promise


class KontoError(Exception):
    """A refused business operation.

    `message` is shown to people (translated lazily, so it follows the active
    language); `code` is stable and is what API clients match on. `fields`
    maps form/API field names to messages where the error belongs to an input.
    """

    code = "error"
    status = 400

    def __init__(
        self,
        message: str | Promise,
        *,
        code: str | None = None,
        fields: dict[str, str | Promise] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(str(message))
        self.message = message
        if code is not None:
            self.code = code
        self.fields = fields or {}
        self.extra = extra or {}

    def __str__(self) -> str:
        return str(self.message)


class InvalidInput(KontoError):
    code = "invalid_input"
    status = 422


class NotFound(KontoError):
    code = "not_found"
    status = 404


class PermissionDenied(KontoError):
    code = "permission_denied"
    status = 403


class Conflict(KontoError):
    code = "conflict"
    status = 409
