"""The statuses every route shares, added to the OpenAPI document in one step.

Middleware and the error handlers can answer some statuses on any route: 429 (rate
limit), 413 (body size), 415 (a body that is not JSON), 503 (database unavailable, pool
exhausted, statement time-out), 500 (an unexpected error), 304 (conditional GET).
Declaring them route by route would repeat them everywhere and miss the next route, so
they are added here, after FastAPI has built the document, from what each route depends on.
"""

import inspect
import json
from collections.abc import Callable, Iterator
from typing import Annotated, Any, get_args, get_origin

from fastapi import FastAPI

from app.core.db import get_session, read_engine
from app.core.errors import PROBLEM_JSON
from app.core.ratelimit import EXEMPT_PATHS

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
UNCACHED_TAG = "operations"  # probes and metrics answer with Cache-Control: no-store

DESCRIPTIONS = {
    304: "Not modified: `If-None-Match` names the current ETag",
    400: "Malformed JSON body",
    413: "Request body larger than allowed",
    415: "Body is not `application/json`",
    429: "Too many requests from this client; see `Retry-After`",
    500: "Unexpected server error",
    503: "Database unavailable or overloaded (see `Retry-After`), or a query timed out",
}
FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def _retry_after(required: bool) -> dict[str, Any]:
    return {"Retry-After": {"description": "Seconds to wait before retrying.",
                            "required": required, "schema": {"type": "integer", "minimum": 0}}}


def _problem(status: int, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": DESCRIPTIONS[status],
                                "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}}}
    if headers:
        response["headers"] = headers
    return response


def _dependencies(call: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    """Every dependency a callable declares (`Annotated[..., Depends(f)]`), and theirs."""
    try:
        parameters = inspect.signature(call).parameters.values()
    except (TypeError, ValueError):  # a builtin or a class without a signature
        return
    for parameter in parameters:
        if get_origin(parameter.annotation) is not Annotated:
            continue
        for extra in get_args(parameter.annotation)[1:]:
            dependency = getattr(extra, "dependency", None)
            if callable(dependency):
                yield dependency
                yield from _dependencies(dependency)


def _database_operations(app: FastAPI) -> set[tuple[str, str]]:
    """(path, method) of each operation that opens a database session."""
    found = set()
    for route in app.routes:  # flat: see routing.add_routes
        endpoint = getattr(route, "endpoint", None)
        if endpoint is not None and any(call in (get_session, read_engine)
                                        for call in _dependencies(endpoint)):
            found.update((route.path_format, method.lower()) for method in route.methods)
    return found


def add_shared_responses(document: dict[str, Any], *, database: set[tuple[str, str]],
                         rate_limited: bool) -> dict[str, Any]:
    """Add the shared statuses to every operation of an OpenAPI document, in place.

    Error responses are RFC 9457 problems (install_error_handlers renders every error so):
    each is documented as `application/problem+json` only, FastAPI's own 422 included.
    """
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            if method == "get" and UNCACHED_TAG not in operation.get("tags", ()):
                responses.setdefault("304", {"description": DESCRIPTIONS[304]})
            if "requestBody" in operation:
                for status in (400, 413, 415):
                    responses.setdefault(str(status), _problem(status))
            if rate_limited and path not in EXEMPT_PATHS:
                responses.setdefault("429", _problem(429, _retry_after(True)))
            if (path, method) in database:
                responses["503"] = _problem(503, _retry_after(False))
            responses.setdefault("500", _problem(500))
            for status, response in responses.items():
                if status[0] in "45":
                    response["content"] = {PROBLEM_JSON: {"schema": PROBLEM_REF}}
    schemas = document.get("components", {}).get("schemas", {})
    if "#/components/schemas/HTTPValidationError" not in json.dumps(document):
        for name in FASTAPI_VALIDATION_SCHEMAS:  # FastAPI's 422 body, now never sent
            schemas.pop(name, None)
    return document


def install_openapi(app: FastAPI, *, rate_limited: bool) -> None:
    """Make `app.openapi()` return the document with the shared statuses added."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_shared_responses(
                build(), database=_database_operations(app), rate_limited=rate_limited)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
