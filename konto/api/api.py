"""The REST API object at /api/v1/: bearer auth, problem+json errors, the resource routers.

Each resource has its router module (`me`, `org`, `users`, …); later flows
add theirs here. The OpenAPI document is at /api/v1/openapi.json and the
interactive docs at /api/v1/docs, served from Konto's own static files.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.http.response import HttpResponseBase
from django.urls import URLPattern, URLResolver, path, re_path
from ninja import NinjaAPI, Swagger
from ninja.errors import ValidationError, ValidationErrorContext
from ninja.openapi.schema import OpenAPISchema
from ninja.operation import Operation

from konto.api import contracts, credit_notes, invoices, licenses, me, orders, org, payments, products, users
from konto.api.auth import BearerToken
from konto.api.errors import (
    BODY_NOT_OBJECT,
    PROBLEM_CONTENT_TYPE,
    field_message,
    install_problem_handlers,
    method_not_allowed_response,
    not_found_response,
    validation_error,
)
from konto.api.schemas import Problem

DESCRIPTION = """\
The API of My Account: the same data, permissions and rules as the pages.

**Authentication**: `Authorization: Bearer <token>`. A token acts as one user of one org, with that
user's permissions; like every My Account page, each endpoint needs at least one billing permission.
Billing admins create and revoke tokens in My Account under Settings → API tokens.

**Errors** are `application/problem+json` (RFC 9457) with a stable `code`, a `detail` in the language
of `Accept-Language` (German or English) and, where inputs are at fault, `errors` per field.

**Lists** are paginated newest first with `?limit=` (1 to 200, default 50) and `?cursor=` (the
`next_cursor` of the previous page). Ids are opaque public ids; money is a decimal string.
"""

ViewFunction = Callable[..., HttpResponseBase]


class KontoAPI(NinjaAPI):
    """NinjaAPI that answers every error, including unknown paths and wrong methods, as problem+json."""

    def validation_error_from_error_contexts(
        self, error_contexts: list[ValidationErrorContext[Any]]
    ) -> ValidationError:
        """Name each field as the client sent it: `address.city`, `limit`, not ninja's internal path."""
        located: list[tuple[str, str]] = []
        for context in error_contexts:
            model = context.model
            flattened: dict[tuple[str | int, ...], tuple[str | int, ...]] = getattr(
                model, "__ninja_flatten_map_reverse__", {}
            )
            for error in context.pydantic_validation_error.errors(include_url=False):
                loc = flattened.get(error["loc"], error["loc"])
                message = field_message(error)
                if model.__ninja_param_source__ == "body":
                    loc = loc[1:]  # an endpoint takes its JSON body as one parameter; drop its name
                    if not loc:
                        message = str(BODY_NOT_OBJECT)
                located.append((".".join(str(part) for part in loc), message))
        return validation_error(located)

    def get_openapi_operation_id(self, operation: Operation) -> str:
        return operation.view_func.__name__

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        _document_problems(schema)
        return schema

    def _get_urls(self) -> list[URLResolver | URLPattern]:
        urls: list[URLResolver | URLPattern] = []
        for pattern in super()._get_urls():
            if isinstance(pattern, URLPattern) and pattern.name == "api-root":
                urls.append(path("", _not_found, name="api-root"))
            elif isinstance(pattern, URLPattern) and pattern.name not in {"openapi-json", "openapi-view"}:
                view = _problem_for_wrong_method(pattern.callback)
                urls.append(URLPattern(pattern.pattern, view, pattern.default_args, pattern.name))
            else:
                urls.append(pattern)
        urls.append(re_path(r"^", _not_found, name="not-found"))
        return urls


def _problem_for_wrong_method(view: ViewFunction) -> ViewFunction:
    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        if isinstance(response, HttpResponseNotAllowed):
            return method_not_allowed_response(request.method or "", response["Allow"].split(", "))
        return response

    return wrapped


def _not_found(request: HttpRequest) -> HttpResponse:
    """The API root and every path no endpoint has."""
    return not_found_response()


def _document_problems(schema: OpenAPISchema) -> None:
    """Add the Problem schema and the error answers every operation can give."""
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components = schema["components"]["schemas"]
    components.update(problem.pop("$defs", {}))
    components["Problem"] = problem
    answers = {
        401: "No valid token (`unauthorized`).",
        403: "The token's user lacks a permission (`permission_denied`; `missing_permission` names it).",
        404: "No such object in the token's org (`not_found`).",
        422: "Invalid input (`invalid_input` or a more specific code), with field errors.",
    }
    content = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for route, operations in schema["paths"].items():
        for operation in operations.values():
            statuses = [401, 403]
            if "{" in route:
                statuses.append(404)
            inputs = [parameter for parameter in operation.get("parameters", []) if parameter.get("in") != "path"]
            if inputs or operation.get("requestBody"):
                statuses.append(422)
            for status in statuses:
                operation["responses"].setdefault(status, {"description": answers[status], "content": content})


api = KontoAPI(
    title="Konto API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api",
    docs=Swagger(settings={"validatorUrl": None}),  # the validator badge would call an outside server
    docs_url="/docs",
    openapi_url="/openapi.json",
    auth=BearerToken(),
)
install_problem_handlers(api)

api.add_router("", me.router)
api.add_router("", org.router)
api.add_router("", users.router)
api.add_router("", licenses.router)
api.add_router("", products.router)
api.add_router("", contracts.router)
api.add_router("", orders.router)
api.add_router("", invoices.router)
api.add_router("", credit_notes.router)
api.add_router("", payments.router)
