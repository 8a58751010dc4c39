"""RFC 9457 problem details: one error type hierarchy and the handlers that render it."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.routing import allowed_methods

logger = logging.getLogger("hrc_digest.errors")

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "/problems/"


class FieldError(BaseModel):
    """One invalid input: where it is and what is wrong."""

    loc: list[str | int] = Field(examples=[["body", "topics", 0]])
    msg: str = Field(examples=["unknown topic 'tibbet'"])


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = Field(examples=["/problems/validation-error"])
    title: str = Field(examples=["Validation error"])
    status: int = Field(examples=[422])
    detail: str = Field(examples=["body.topics.0: unknown topic 'tibbet'"])
    instance: str = Field(examples=["/api/v1/articles"])
    errors: list[FieldError] | None = None


class ProblemError(Exception):
    """An error the client can act on; rendered as problem+json."""

    status = 500
    title = "Internal server error"
    code = "internal-error"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers


class BadRequest(ProblemError):
    status, title, code = 400, "Bad request", "bad-request"


class Unauthorized(ProblemError):
    status, title, code = 401, "Unauthorized", "unauthorized"


class NotFound(ProblemError):
    status, title, code = 404, "Not found", "not-found"


class NotAcceptable(ProblemError):
    status, title, code = 406, "Not acceptable", "not-acceptable"


class Conflict(ProblemError):
    status, title, code = 409, "Conflict", "conflict"


class PreconditionFailed(ProblemError):
    status, title, code = 412, "Precondition failed", "precondition-failed"


class PayloadTooLarge(ProblemError):
    status, title, code = 413, "Payload too large", "payload-too-large"


class UnsupportedMediaType(ProblemError):
    status, title, code = 415, "Unsupported media type", "unsupported-media-type"


class Unprocessable(ProblemError):
    status, title, code = 422, "Validation error", "validation-error"


class ServiceUnavailable(ProblemError):
    status, title, code = 503, "Service unavailable", "service-unavailable"


_STATUS_CODES = {
    400: ("Bad request", "bad-request"),
    401: ("Unauthorized", "unauthorized"),
    403: ("Forbidden", "forbidden"),
    404: ("Not found", "not-found"),
    405: ("Method not allowed", "method-not-allowed"),
    406: ("Not acceptable", "not-acceptable"),
    409: ("Conflict", "conflict"),
    412: ("Precondition failed", "precondition-failed"),
    413: ("Payload too large", "payload-too-large"),
    415: ("Unsupported media type", "unsupported-media-type"),
    422: ("Validation error", "validation-error"),
    429: ("Too many requests", "too-many-requests"),
    500: ("Internal server error", "internal-error"),
    503: ("Service unavailable", "service-unavailable"),
}


def problem_response(
    request: Request,
    status: int,
    detail: str,
    *,
    title: str | None = None,
    code: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Render a problem document."""
    body = problem_body(status, detail, request.url.path, title=title, code=code,
                        errors=errors)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def problem_body(status: int, detail: str, instance: str, *, title: str | None = None,
                 code: str | None = None, errors: list[dict[str, Any]] | None = None
                 ) -> dict[str, Any]:
    """A problem document: what an error answers (and its example in the OpenAPI document)."""
    default_title, default_code = _STATUS_CODES.get(status, ("Error", "error"))
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (code or default_code),
        "title": title or default_title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if errors is not None:
        body["errors"] = errors
    return body


def _loc_text(loc: list[str | int]) -> str:
    return ".".join(str(part) for part in loc)


_ECHOED = frozenset({"literal_error", "enum"})  # "should be 'a' or 'b'": say what came


def _message(err: dict[str, Any]) -> str:
    """Pydantic's message; for a choice among values, or one item of a repeatable query
    parameter (`session=46,abc`: which one?), the short value given is named too."""
    msg = err.get("msg", "invalid")
    given, loc = err.get("input"), err.get("loc", ())
    item = len(loc) == 3 and loc[0] == "query" and isinstance(loc[2], int)
    if (err.get("type") in _ECHOED or item) and isinstance(given, str) and len(given) <= 64:
        msg += f", not '{given}'"
    return msg


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors reduced to loc and msg (no internals; inputs echoed only where
    short and a choice was wrong)."""
    return [{"loc": list(err.get("loc", ())), "msg": _message(err)} for err in exc.errors()]


async def _on_problem(request: Request, exc: ProblemError) -> JSONResponse:
    return problem_response(
        request, exc.status, exc.detail, title=exc.title, code=exc.code,
        errors=exc.errors, headers=exc.headers,
    )


async def _on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    headers = getattr(exc, "headers", None)
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route matches {request.method} {request.url.path}"
    elif exc.status_code == 405:
        detail = f"method {request.method} is not allowed on {request.url.path}"
        # Starlette names only the first route matching the path; every route's methods count.
        allow = allowed_methods(request.app, request.scope)
        headers = (headers or {}) | ({"Allow": ", ".join(allow)} if allow else {})
    elif exc.status_code == 400 and exc.__cause__ is not None:
        detail = _unparsable_body(exc.__cause__) or detail
    return problem_response(request, exc.status_code, detail, headers=headers)


def _unparsable_body(cause: BaseException) -> str | None:
    """Why FastAPI could not parse a body, said plainly (it only says 'an error')."""
    if isinstance(cause, UnicodeError):
        return "request body is not valid UTF-8"
    if isinstance(cause, RecursionError):
        return "request body JSON is nested too deeply"
    return None


def _unknown_query_names(exc: RequestValidationError) -> list[str]:
    """The query parameters a route's query model refused as unknown (extra="forbid")."""
    return sorted({str(err["loc"][1]) for err in exc.errors()
                   if err.get("type") == "extra_forbidden" and len(err.get("loc", ())) == 2
                   and err["loc"][0] == "query"})


def _documented_query_names(request: Request) -> list[str] | None:
    """The query parameters the OpenAPI document lists for the request's operation."""
    route, openapi = request.scope.get("route"), getattr(request.app, "openapi", None)
    path = getattr(route, "path_format", None)
    if path is None or openapi is None:
        return None
    method = "get" if request.method == "HEAD" else request.method.lower()
    operation = openapi().get("paths", {}).get(path, {}).get(method)
    if operation is None:
        return None
    return sorted(p["name"] for p in operation.get("parameters", ()) if p["in"] == "query")


def _unknown_parameters(request: Request, names: list[str]) -> JSONResponse:
    """400 naming each query parameter the route does not know (and those it knows)."""
    for name in names:
        if "\x00" in name:
            return problem_response(
                request, 400, f"query parameter '{name.replace(chr(0), '')}' contains a NUL "
                "character", errors=[{"loc": ["query", name], "msg": "NUL"}])
    detail = "unknown query parameter " + ", ".join(f"'{name}'" for name in names)
    allowed = _documented_query_names(request)
    if allowed is not None:
        detail += f"; allowed: {', '.join(allowed)}" if allowed else "; this route takes none"
    return problem_response(request, 400, detail, errors=[
        {"loc": ["query", name], "msg": "unknown parameter"} for name in names])


async def validation_problem(request: Request, exc: RequestValidationError) -> JSONResponse:
    """A request that failed validation as a problem: 400 for unknown parameters, else 422."""
    # An unknown query parameter is the client asking for something this route does not
    # do: a 400 naming it, before any complaint about the values of known ones.
    unknown = _unknown_query_names(exc)
    if unknown:
        return _unknown_parameters(request, unknown)
    if isinstance(exc.body, bytes):  # FastAPI leaves a body it did not parse as JSON raw
        media_type = request.headers.get("content-type") or "none"
        return problem_response(request, 415, f"the body must be application/json, not "
                                f"'{media_type}'")
    errors = _validation_errors(exc)
    if any(err.get("type") == "json_invalid" for err in exc.errors()):
        return problem_response(
            request, 400, "request body is not valid JSON", code="malformed-json", errors=errors
        )
    detail = "; ".join(f"{_loc_text(err['loc'])}: {err['msg']}" for err in errors[:5])
    return problem_response(request, 422, detail, errors=errors)


async def _on_integrity(request: Request, exc: IntegrityError) -> JSONResponse:
    logger.info("integrity error: %s", exc.orig)
    return problem_response(request, 409, "the request conflicts with existing data")


async def _on_database(request: Request, exc: DBAPIError) -> JSONResponse:
    from app.core.config import get_settings
    from app.core.db import is_statement_timeout

    if is_statement_timeout(exc):
        # Retrying the same request would time out again: no Retry-After.
        limit = get_settings().statement_timeout_ms
        logger.warning("a query ran past the statement time-out of %d ms on %s %s", limit,
                       request.method, request.url.path)
        return problem_response(request, 503, f"the query took longer than {limit / 1000:g} s; "
                                "narrow the filters", code="statement-timeout",
                                title="Query timed out")
    logger.error("database error: %s", exc.__class__.__name__, exc_info=exc)
    if isinstance(exc, OperationalError) or exc.connection_invalidated:
        return problem_response(
            request, 503, "the database is unavailable; try again shortly",
            headers={"Retry-After": "5"},
        )
    return problem_response(request, 500, "internal server error", title="Internal server error",
                            code="internal-error", headers={"Cache-Control": "no-store"})


async def _on_pool_timeout(request: Request, exc: SQLAlchemyTimeoutError) -> JSONResponse:
    logger.warning("no database connection free within the pool timeout")
    return problem_response(request, 503, "the service is overloaded; try again shortly",
                            headers={"Retry-After": "2"})


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """Log an unexpected error with its traceback; answer a 500 that shows none of it."""
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(request, 500, "internal server error", title="Internal server error",
                            code="internal-error", headers={"Cache-Control": "no-store"})



def install_error_handlers(app: FastAPI) -> None:
    """Every error the app can raise becomes problem+json."""
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(RequestValidationError, validation_problem)
    app.add_exception_handler(IntegrityError, _on_integrity)
    app.add_exception_handler(DBAPIError, _on_database)
    app.add_exception_handler(SQLAlchemyTimeoutError, _on_pool_timeout)
    app.add_exception_handler(Exception, internal_error)


_DESCRIPTIONS = {
    400: "Unknown or malformed parameter, or malformed JSON",
    401: "Missing, unknown, revoked or expired API key",
    404: "No such resource",
    406: "Accept names no media type the resource is available in",
    409: "Conflicts with existing data (e.g. a slug already taken)",
    412: "If-Match names a stale version",
    422: "Invalid field value or unknown reference",
    503: "Database unavailable",
}


def problem_responses(*codes: int, examples: dict[int, dict[str, Any]] | None = None
                      ) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the problem statuses a route can return.

    `examples`: by status, what the route's own example says (`detail`, and `errors`,
    `code` or `title` where they differ from the status's); app.core.openapi completes
    each status's example, giving the others one of its own.
    """
    examples = examples or {}
    return {
        code: {
            "model": Problem,
            "description": _DESCRIPTIONS.get(code, _STATUS_CODES.get(code, ("Error",))[0]),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}
                        | ({"example": examples[code]} if code in examples else {})},
        }
        for code in codes
    }
