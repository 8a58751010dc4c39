"""How requests reach the routes: the API's routers, a direct handler for plain routes, and
the app's routes with their full path templates, whichever FastAPI version is installed."""

import asyncio
import inspect
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from functools import partial
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_params_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import request_response
from starlette.types import ASGIApp, Receive, Scope, Send

try:
    from fastapi.routing import iter_route_contexts
except ImportError:  # FastAPI before nested routers: app.routes is already flat
    iter_route_contexts = None


def app_routes(app: Starlette) -> Iterator[Any]:
    """Every route, each with `path_format`, `path_regex` and `methods` (router prefixes in)."""
    return iter(iter_route_contexts(app.routes)) if iter_route_contexts else iter(app.routes)


def allowed_methods(app: Starlette, scope: Scope) -> list[str]:
    """The methods some route answers at the request's path: the `Allow` of a 405."""
    path, root = scope["path"], scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]  # routes match the path below the mount point
    methods: set[str] = set()
    for route in app_routes(app):
        regex, route_methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and route_methods and regex.match(path):
            methods.update(route_methods)
    if "GET" in methods:
        methods.add("HEAD")  # app.core.head answers HEAD wherever GET is answered
    return sorted(methods)


# --- the API's routes -----------------------------------------------------------------

API_PREFIX = "/api/v1"

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


# Sync endpoints and dependencies of direct routes run on this pool, as many threads as
# AnyIO's default limiter lets Starlette's run_in_threadpool use. Handing a call to it
# and back costs ~15 µs, against ~43 µs through AnyIO (sniffio, a capacity limiter, a
# cancel scope per call), measured with 16 concurrent callers on one core.
THREADS = ThreadPoolExecutor(max_workers=40, thread_name_prefix="hrc-digest")


async def in_thread(call: Callable[..., Any], /, **kwargs: Any) -> Any:
    """`call(**kwargs)` on a worker thread, in a copy of the caller's context (the request
    id that log lines carry), as run_in_threadpool does."""
    job = partial(copy_context().run, _no_stop_iteration, call, kwargs)
    return await asyncio.get_running_loop().run_in_executor(THREADS, job)


def _no_stop_iteration(call: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    # An asyncio future cannot carry StopIteration (the awaiting request would hang):
    # raise what AnyIO raises in its place.
    try:
        return call(**kwargs)
    except StopIteration as exc:
        raise RuntimeError(f"{call.__name__} raised StopIteration") from exc


def _needs_fastapi(dependant: Dependant) -> bool:
    """Whether a call asks for what only FastAPI's handler provides: a body, the injected
    Response, background tasks, security scopes, a websocket."""
    return bool(dependant.body_params or dependant.response_param_name
                or dependant.background_tasks_param_name
                or dependant.security_scopes_param_name or dependant.websocket_param_name)


def _is_plain(dependency: Dependant) -> bool:
    """A dependency that is one call with nothing to solve: no parameters of its own (bar
    the request), no dependencies, no clean-up after the response (not a generator)."""
    return not (_needs_fastapi(dependency) or dependency.path_params
                or dependency.query_params or dependency.header_params
                or dependency.cookie_params or dependency.dependencies
                or inspect.isgeneratorfunction(dependency.call)
                or inspect.isasyncgenfunction(dependency.call))


def direct_handler(dependant: Dependant, name: str) -> Handler | None:
    """The request handler of a route with only parameters and plain dependencies, or None.

    It does what FastAPI's general handler does for such a route, in the same order and
    with FastAPI's own parameter validation (so the same 422 errors): path, query, header
    and cookie parameters, then the dependencies, then the endpoint (in the thread pool
    when it is not async). It leaves out what these routes never use: a body, dependencies
    with yield (and the two exit stacks kept for them), background tasks, the injected
    Response, and serialising a returned model (every such endpoint returns a Response).
    Sync calls go to THREADS rather than AnyIO's thread pool.
    """
    call = dependant.call
    if call is None or _needs_fastapi(dependant) or not all(
            _is_plain(sub) for sub in dependant.dependencies):
        return None
    sources = [(fields, source) for fields, source in (
        (dependant.path_params, "path_params"), (dependant.query_params, "query_params"),
        (dependant.header_params, "headers"), (dependant.cookie_params, "cookies")) if fields]
    dependencies = [(sub.name, sub.call, inspect.iscoroutinefunction(sub.call),
                     sub.request_param_name) for sub in dependant.dependencies]
    request_name, is_async = dependant.request_param_name, inspect.iscoroutinefunction(call)

    async def handle(request: Request) -> Response:
        values: dict[str, Any] = {}
        errors: list[Any] = []
        for fields, source in sources:
            found, wrong = request_params_to_args(fields, getattr(request, source))
            values.update(found)
            errors.extend(wrong)
        if errors:
            raise RequestValidationError(errors)
        for key, dependency, awaitable, wants_request in dependencies:
            args = {wants_request: request} if wants_request else {}
            values[key] = (await dependency(**args) if awaitable
                           else await in_thread(dependency, **args))
        if request_name:
            values[request_name] = request
        response = await call(**values) if is_async else await in_thread(call, **values)
        if not isinstance(response, Response):
            raise TypeError(f"route {name} returned {type(response).__name__}, not a Response")
        return response

    return handle


NUL_MESSAGE = "must not contain NUL characters"


def nul_errors(scope: Scope) -> list[dict[str, Any]]:
    """A validation error for each path or query parameter value holding NUL.

    PostgreSQL refuses NUL in text, and no slug, code or name can hold one: such a value
    is a 422 naming the parameter, before any SQL, whatever the route does with it.
    """
    query: bytes = scope.get("query_string", b"")
    if "\x00" not in scope.get("path", "") and b"%00" not in query and b"\x00" not in query:
        return []  # the common case, decided without parsing anything
    errors = [{"type": "value_error", "loc": ("path", name), "msg": NUL_MESSAGE, "input": value}
              for name, value in scope.get("path_params", {}).items()
              if isinstance(value, str) and "\x00" in value]
    # A NUL in a parameter's name is left to the route: that parameter is unknown (400).
    errors += [{"type": "value_error", "loc": ("query", name), "msg": NUL_MESSAGE, "input": value}
               for name, value in Request(scope).query_params.multi_items()
               if "\x00" in value and "\x00" not in name]
    return errors


def refusing_nul(app: ASGIApp) -> ASGIApp:
    """The route's ASGI app, answering 422 first when a parameter value holds NUL."""

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        errors = nul_errors(scope)
        if errors:
            raise RequestValidationError(errors)
        await app(scope, receive, send)

    return guarded


class DirectRoute(APIRoute):
    """An API route that serves plain routes (every read) with `direct_handler`.

    FastAPI's general request handler prepares for everything a route might declare (a
    body, dependencies with yield, background tasks, response models) on every request:
    measured on an entry's GET, it cost about 100 µs of the ~430 µs the whole request
    took. A route with only parameters and plain dependencies is served by the direct
    handler instead, wrapped as Starlette wraps a plain route (exceptions go to the app's
    handlers as before). Any other route (the writes: a body, a session that commits after
    the endpoint) keeps FastAPI's handler. Matching and the OpenAPI document are unchanged.
    Every route refuses NUL in its parameters (`refusing_nul`).
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        handler = direct_handler(self.dependant, self.name)
        self.direct = handler is not None
        if handler is not None:
            self.app = request_response(handler)
        self.app = refusing_nul(self.app)


def api_router(prefix: str = "", **kwargs: Any) -> APIRouter:
    """A router of the public API: its paths start with /api/v1 + `prefix`."""
    return APIRouter(prefix=API_PREFIX + prefix, route_class=DirectRoute, **kwargs)


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """Put the router's routes on the app itself, as they are (full paths, own settings).

    Not `include_router`: newer FastAPI keeps an included router as a branch that each
    request matches twice (once to choose it, once to pick the route), and replaces a
    route's handler with one of its own making. On the app's own list, each route is one
    regular expression to try and keeps the handler it was built with.
    """
    app.router.routes.extend(router.routes)
