"""The statuses every route shares, added to the OpenAPI document in one step.

Middleware and the error handlers can answer some statuses on any route: 429 (rate
limit), 413 (body size), 415 (a body that is not JSON), 503 (database unavailable, pool
exhausted, statement time-out), 500 (an unexpected error), 304 (conditional GET).
Declaring them route by route would repeat them everywhere and miss the next route, so
they are added here, after FastAPI has built the document, from what each route is (a
resource of the API reads or writes the database).
Then every error response gets an example of its own status (a 401 says 401).

The document is built once per app and kept (`serve_app` builds it at start-up): every
request for it, and the 400 that lists a route's parameters, reads the same object.
"""

import json
import re
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from app.core.config import Settings, get_settings
from app.core.errors import PROBLEM_JSON, problem_body
from app.core.ratelimit import EXEMPT_PATHS
from app.core.routing import API_PREFIX

SCHEMA_REF = "#/components/schemas/{model}"
PROBLEM_REF = {"$ref": SCHEMA_REF.format(model="Problem")}
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


def _database_operations(app: FastAPI) -> set[tuple[str, str]]:
    """(path, method) of each operation that reads or writes the database: every route of
    the API's resources (under /api/v1/). The index, the docs, the probes and the metrics
    answer without it (`/readyz` documents its own 503)."""
    return {(route.path_format, method.lower())
            for route in app.routes  # flat: see routing.add_routes
            if getattr(route, "path_format", "").startswith(f"{API_PREFIX}/")
            for method in getattr(route, "methods", None) or ()}


# --- answers documented by models FastAPI does not walk ----------------------------------
# FastAPI documents a `responses` model by making a validator (a TypeAdapter) for each
# field of it and of every model under it: for the page models (a dozen item models of
# some 25 fields) about 0.2 s of CPU more to build the document. Their schemas come from
# pydantic's own generator instead, in one call of some 50 ms; and the examples keep their
# nulls, which FastAPI's writing of the document (exclude_none) would drop.

ANSWER_MODELS: dict[str, type[BaseModel]] = {}


def answer(model: type[BaseModel], description: str) -> dict[str, Any]:
    """A `responses` entry whose JSON answer `model` documents (and never validates: the
    route builds its answer)."""
    ANSWER_MODELS[model.__name__] = model
    return {"description": description, "content": {
        "application/json": {"schema": {"$ref": SCHEMA_REF.format(model=model.__name__)}}}}


def add_answer_schemas(document: dict[str, Any]) -> None:
    """Add the schemas of the answer models the document refers to (and of the models
    they hold) to its components, in place."""
    text = json.dumps(document.get("paths", {}))
    used = [model for name, model in ANSWER_MODELS.items()
            if json.dumps(SCHEMA_REF.format(model=name)) in text]
    if not used:
        return
    _, definitions = models_json_schema([(model, "serialization") for model in used],
                                        ref_template=SCHEMA_REF)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in definitions.get("$defs", {}).items():
        schemas.setdefault(name, schema)
    document["components"]["schemas"] = dict(sorted(schemas.items()))


# --- an example per error status ---------------------------------------------------------
# Each error response shows a problem of its own status: the route's example where it gives
# one (app.core.errors.problem_responses), else one made here from the operation.

NOT_A = {"integer": "Input should be a valid integer, unable to parse string as an integer",
         "boolean": "Input should be a valid boolean, unable to interpret input"}
WRONG_TYPE = {"string": "Input should be a valid string", "integer": "Input should be a valid "
              "integer", "boolean": "Input should be a valid boolean", "array": "Input should "
              "be a valid list", "object": "Input should be a valid dictionary"}


def _parameters(operation: dict[str, Any], where: str) -> list[dict[str, Any]]:
    return [p for p in operation.get("parameters", ()) if p.get("in") == where]


def _example_value(parameter: dict[str, Any]) -> Any:
    schema = parameter.get("schema", {})
    if schema.get("examples"):
        return schema["examples"][0]
    return schema.get("enum", [1])[0]


def example_path(path: str, operation: dict[str, Any], given: dict[str, Any] | None = None
                 ) -> str:
    """The path with each parameter replaced by its example (or the value `given`): a
    problem's `instance`."""
    values = {p["name"]: _example_value(p) for p in _parameters(operation, "path")}
    values |= given or {}
    return re.sub(r"\{(\w+)\}", lambda m: str(values.get(m[1], 1)), path)


def _invalid(loc: list[str | int], message: str) -> dict[str, Any]:
    """A 422's detail and errors for one invalid value (what validation_problem answers)."""
    return {"detail": f"{'.'.join(map(str, loc))}: {message}",
            "errors": [{"loc": loc, "msg": message}]}


def _not_a(schema: dict[str, Any]) -> tuple[str, str] | None:
    kind = schema.get("type")
    return ("abc", NOT_A[kind]) if kind in NOT_A else None


def _not_one_of(schema: dict[str, Any]) -> tuple[str, str] | None:
    if not schema.get("enum"):
        return None
    choices = [f"'{value}'" for value in schema["enum"]]
    listed = " or ".join([", ".join(choices[:-1]), choices[-1]] if len(choices) > 1
                         else choices)
    return "xyz", f"Input should be {listed}, not 'xyz'"


def _too_long(schema: dict[str, Any]) -> tuple[str, str] | None:
    if "maxLength" not in schema:
        return None
    limit = schema["maxLength"]
    return "x" * (limit + 1), f"String should have at most {limit} characters"


def _invalid_parameter(path: str, operation: dict[str, Any]) -> dict[str, Any] | None:
    """A 422 for a parameter of the operation given a value it cannot take: of another
    type, else none of its choices, else too long (in the order FastAPI checks them)."""
    parameters = (*_parameters(operation, "path"), *_parameters(operation, "query"))
    for wrong_value in (_not_a, _not_one_of, _too_long):
        for parameter in parameters:
            schema = parameter.get("schema", {})
            schema = next((s for s in schema.get("anyOf", ()) if s.get("type") != "null"),
                          schema)
            loc: list[str | int] = [parameter["in"], parameter["name"]]
            if schema.get("type") == "array":  # a repeatable parameter: its first value
                schema, loc = schema.get("items", {}), [*loc, 0]
            wrong = wrong_value(schema)
            if wrong is None:
                continue
            value, message = wrong
            problem = _invalid(loc, message)
            if parameter["in"] == "path":  # the path that holds the wrong value
                problem["instance"] = example_path(path, operation, {parameter["name"]: value})
            return problem
    return None


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _invalid_body(document: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    """A 422 for the operation's JSON body: a required field left out, else a field of the
    wrong type."""
    media = operation["requestBody"].get("content", {}).get("application/json", {})
    schema = _resolve(document, media.get("schema", {}))
    if schema.get("type") == "array":
        schema = _resolve(document, schema.get("items", {}))
    if schema.get("required"):
        return _invalid(["body", schema["required"][0]], "Field required")
    for name, field in schema.get("properties", {}).items():
        types = [t.get("type") for t in field.get("anyOf", [field])]
        wrong = next((WRONG_TYPE[t] for t in types if t in WRONG_TYPE), None)
        if wrong and field.get("readOnly") is not True:
            return _invalid(["body", name], wrong)
    return _invalid(["body"], "Input should be a valid dictionary")


def default_example(document: dict[str, Any], status: int, path: str,
                    operation: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """What a problem of this status says on this operation, when the route gives none."""
    has_body = "requestBody" in operation
    if status == 400 and has_body:
        return {"detail": "request body is not valid JSON", "code": "malformed-json",
                "errors": [{"loc": ["body", 10], "msg": "JSON decode error"}]}
    if status == 400:
        known = sorted(p["name"] for p in _parameters(operation, "query"))
        return {"detail": "unknown query parameter 'colour'"
                          + (f"; allowed: {', '.join(known)}" if known else ""),
                "errors": [{"loc": ["query", "colour"], "msg": "unknown parameter"}]}
    if status == 422 and has_body:
        return _invalid_body(document, operation)
    if status == 422:
        return _invalid_parameter(path, operation) or _invalid(["query"], "invalid value")
    details = {
        401: "writes need 'Authorization: Bearer <api key>'",
        404: "no such resource",
        406: "the resource is not available in any media type Accept names",
        409: "the request conflicts with existing data",
        412: "If-Match names a version that is no longer current; fetch it again and retry",
        413: f"the request body is larger than {settings.max_body_bytes:,} bytes",
        415: "the body must be application/json, not 'text/plain'",
        429: f"rate limit exceeded: at most {settings.rate_limit} requests per "
             f"{settings.rate_limit_window} seconds per client address; retry in 12 seconds",
        500: "internal server error",
        503: "the database is unavailable; try again shortly",
    }
    return {"detail": details.get(status, "error")}


def _array_variant(schema: dict[str, Any]) -> dict[str, Any] | None:
    """The array a parameter's schema takes (itself, or a variant of its `anyOf`)."""
    variants = schema.get("anyOf", [schema])
    return next((v for v in variants if v.get("type") == "array"), None)


def fit_parameter_examples(document: dict[str, Any]) -> None:
    """A repeatable parameter's examples as lists, in place: its schema is an array, and
    an example of one value (`topic: xinjiang`) is one of its items, not the parameter's
    value (`["xinjiang"]`). Swagger UI shows them so in its item fields."""
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            for parameter in operation.get("parameters", ()):
                schema = parameter.get("schema", {})
                if _array_variant(schema) is not None and schema.get("examples"):
                    schema["examples"] = [value if isinstance(value, list) else [value]
                                          for value in schema["examples"]]


def add_problem_examples(document: dict[str, Any], settings: Settings) -> None:
    """Give every error response of the document an example of its own status, in place."""
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            instance = example_path(path, operation)
            for status, response in operation.get("responses", {}).items():
                media = response.get("content", {}).get(PROBLEM_JSON)
                if media is None or not status.isdigit():
                    continue
                given = media.get("example") or default_example(
                    document, int(status), path, operation, settings)
                media["example"] = problem_body(
                    int(status), given["detail"], given.get("instance", instance),
                    title=given.get("title"), code=given.get("code"),
                    errors=given.get("errors"))


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
                if status[0] in "45":  # the route's example kept (see add_problem_examples)
                    given = response.get("content", {}).get(PROBLEM_JSON, {})
                    response["content"] = {PROBLEM_JSON: {**given, "schema": PROBLEM_REF}}
    schemas = document.get("components", {}).get("schemas", {})
    if "#/components/schemas/HTTPValidationError" not in json.dumps(document):
        for name in FASTAPI_VALIDATION_SCHEMAS:  # FastAPI's 422 body, now never sent
            schemas.pop(name, None)
    return document


def install_openapi(app: FastAPI, *, rate_limited: bool) -> None:
    """Make `app.openapi()` return the document with the shared statuses added and an
    example for each error status, built on the first call and kept for the app's life."""
    build = app.openapi
    settings = get_settings()

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            add_answer_schemas(document)
            add_shared_responses(document, database=_database_operations(app),
                                 rate_limited=rate_limited)
            add_problem_examples(document, settings)
            fit_parameter_examples(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
