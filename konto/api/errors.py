"""Every API error as application/problem+json (RFC 9457) with a stable `code`.

A problem carries `type` (a URI naming the code), `title` (short, per code),
`status`, `detail` (translated into the request's language), `code` (what
clients match on) and, where an input is at fault, `errors`: one
`{"field", "message"}` per field, with field names as the API spells them
(`address.city`, `limit`). Services' `KontoError`s, request validation,
unknown paths, wrong methods and authentication failures all end here; no
bad input ever turns into a 500.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.signals import got_request_exception
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, Throttled, ValidationError
from pydantic_core import ErrorDetails

from konto.core.exceptions import KontoError

if TYPE_CHECKING:
    from ninja import NinjaAPI

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://konto.dev/problems/"

# Titles per code; a code without its own title uses its HTTP status's title.
TITLES: dict[str, Promise] = {
    "invalid_input": _("Invalid input"),
    "invalid_vat_id": _("Invalid VAT ID"),
    "unauthorized": _("Authentication required"),
    "permission_denied": _("Permission denied"),
    "not_found": _("Not found"),
    "method_not_allowed": _("Method not allowed"),
    "conflict": _("Conflict"),
    "license_limit_reached": _("License limit reached"),
    "last_system_administrator": _("Last System Administrator"),
    "email_not_available": _("Email address not available"),
    "currency_locked": _("Currency locked"),
    "rate_limited": _("Too many requests"),
    "request_too_large": _("Request too large"),
    "server_error": _("Server error"),
}
STATUS_TITLES: dict[int, Promise] = {
    400: _("Bad request"),
    401: _("Authentication required"),
    403: _("Permission denied"),
    404: _("Not found"),
    405: _("Method not allowed"),
    409: _("Conflict"),
    422: _("Invalid input"),
    429: _("Too many requests"),
    500: _("Server error"),
}
STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "invalid_input",
    429: "rate_limited",
}
# Members a KontoError's `extra` may not overwrite.
_RESERVED_MEMBERS = frozenset({"type", "title", "status", "detail", "code", "errors", "instance"})

FIELDS_INVALID = _("Please correct the marked fields.")
BODY_NOT_JSON = _("The request body is not valid JSON.")
BODY_NOT_OBJECT = _("The request body must be a JSON object.")
UNAUTHORIZED = _("Send a valid API token in the header “Authorization: Bearer <token>”.")


def problem_response(
    *,
    status: int,
    code: str,
    detail: str | Promise,
    errors: Iterable[tuple[str, str | Promise]] = (),
    extra: Mapping[str, Any] | None = None,
) -> HttpResponse:
    """A problem+json response; strings are rendered in the active language."""
    title = TITLES.get(code) or STATUS_TITLES.get(status) or HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": str(title),
        "status": status,
        "detail": str(detail),
        "code": code,
    }
    field_errors = [{"field": field, "message": str(message)} for field, message in errors]
    if field_errors:
        body["errors"] = field_errors
    for key, value in (extra or {}).items():
        if key not in _RESERVED_MEMBERS:
            body[key] = value
    return HttpResponse(
        json.dumps(body, ensure_ascii=False, default=str),
        status=status,
        content_type=f"{PROBLEM_CONTENT_TYPE}; charset=utf-8",
    )


def not_found_response() -> HttpResponse:
    return problem_response(status=404, code="not_found", detail=_("Not found."))


def method_not_allowed_response(method: str, allowed: Iterable[str]) -> HttpResponse:
    allowed_methods = sorted(set(allowed))
    response = problem_response(
        status=405,
        code="method_not_allowed",
        detail=_("The method %(method)s is not allowed here. Allowed: %(allowed)s.")
        % {"method": method, "allowed": ", ".join(allowed_methods)},
    )
    response["Allow"] = ", ".join(allowed_methods)
    return response


def unauthorized_response() -> HttpResponse:
    response = problem_response(status=401, code="unauthorized", detail=UNAUTHORIZED)
    response["WWW-Authenticate"] = 'Bearer realm="konto"'
    return response


# ---------------------------------------------------------------- request validation


def field_message(error: ErrorDetails) -> str:
    """A translated message for one pydantic error (pydantic's own are English only)."""
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind == "missing":
        return gettext("This field is required.")
    if kind == "extra_forbidden":
        return gettext("Unknown field.")
    if kind == "json_invalid":
        return str(BODY_NOT_JSON)
    if kind == "null_character":
        return gettext("Null characters are not allowed.")
    if error.get("input", ...) is None:
        return gettext("This field cannot be null.")
    if kind in {"string_type", "string_sub_type"}:
        return gettext("Enter text.")
    if kind == "string_too_long":
        return gettext("Use at most %(max)d characters.") % {"max": ctx.get("max_length", 0)}
    if kind == "string_too_short":
        return gettext("Use at least %(min)d characters.") % {"min": ctx.get("min_length", 0)}
    if kind in {"int_type", "int_parsing", "int_from_float"}:
        return gettext("Enter a whole number.")
    if kind in {"greater_than_equal", "greater_than"}:
        return gettext("Enter a number of at least %(min)s.") % {"min": ctx.get("ge", ctx.get("gt", ""))}
    if kind in {"less_than_equal", "less_than"}:
        return gettext("Enter a number of at most %(max)s.") % {"max": ctx.get("le", ctx.get("lt", ""))}
    if kind in {"bool_type", "bool_parsing"}:
        return gettext("Enter true or false.")
    if kind in {"model_type", "model_attributes_type", "dict_type"}:
        return gettext("Enter an object.")
    if kind in {"list_type", "tuple_type", "set_type"}:
        return gettext("Enter a list.")
    if kind in {"literal_error", "enum"}:
        return gettext("Choose one of: %(choices)s.") % {"choices": ctx.get("expected", "")}
    return gettext("This value is not valid.")


def validation_error(errors: Iterable[tuple[str, str]]) -> ValidationError:
    """Shape (API field name, message) pairs for the ValidationError handler; "" names the whole body."""
    return ValidationError([{"field": field, "message": message} for field, message in errors])


def _validation_problem(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    field_errors: list[tuple[str, str]] = []
    body_errors: list[str] = []
    for error in exc.errors:
        field = error.get("field")
        if field is None:  # not shaped by KontoAPI: derive a name from pydantic's location
            loc = [str(part) for part in error.get("loc", ())]
            field = ".".join(loc[1:])
        message = str(error.get("message") or error.get("msg") or gettext("This value is not valid."))
        if field:
            field_errors.append((field, message))
        else:
            body_errors.append(message)
    detail: str | Promise = body_errors[0] if body_errors and not field_errors else FIELDS_INVALID
    return problem_response(status=422, code="invalid_input", detail=detail, errors=field_errors)


# ---------------------------------------------------------------- handlers


def _konto_error(request: HttpRequest, exc: KontoError) -> HttpResponse:
    return problem_response(
        status=exc.status,
        code=exc.code,
        detail=exc.message,
        errors=exc.fields.items(),
        extra=exc.extra,
    )


def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc, AuthenticationError):
        return unauthorized_response()
    if isinstance(exc, AuthorizationError):
        return problem_response(status=403, code="permission_denied", detail=_("You may not do this."))
    if isinstance(exc, Throttled):
        return problem_response(status=429, code="rate_limited", detail=_("Too many requests. Try again later."))
    if exc.status_code == 400 and exc.__cause__ is not None:
        # ninja wraps a body it cannot parse (malformed JSON, bad UTF-8, absurd nesting) in HttpError(400).
        return problem_response(status=422, code="invalid_input", detail=BODY_NOT_JSON)
    status = exc.status_code
    return problem_response(
        status=status, code=STATUS_CODES.get(status, "error"), detail=STATUS_TITLES.get(status, exc.message)
    )


def _suspicious(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    if isinstance(exc, RequestDataTooBig):
        return problem_response(status=413, code="request_too_large", detail=_("The request body is too large."))
    return problem_response(status=400, code="bad_request", detail=_("The request could not be understood."))


def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return not_found_response()


def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    """A bug, not bad input: logged and reported like Django's own 500, answered as problem+json."""
    logger.error("Unhandled error in API request %s %s", request.method, request.path, exc_info=exc)
    got_request_exception.send(sender=None, request=request)
    return problem_response(status=500, code="server_error", detail=_("Something went wrong on our side."))


def install_problem_handlers(api: NinjaAPI) -> None:
    # The most specific class of an exception picks its handler.
    api.exception_handler(Exception)(_unexpected)
    api.exception_handler(KontoError)(_konto_error)
    api.exception_handler(ValidationError)(_validation_problem)
    api.exception_handler(HttpError)(_http_error)
    api.exception_handler(Http404)(_not_found)
    api.exception_handler(SuspiciousOperation)(_suspicious)
