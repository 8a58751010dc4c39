"""How requests reach the routes: the API's routers, a route class that refuses NUL in
parameters, and the methods the app answers at a path."""

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope


def allowed_methods(app: Starlette, scope: Scope) -> list[str]:
    """The methods some route answers at the request's path: the `Allow` of a 405."""
    path, root = scope["path"], scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]  # routes match the path below the mount point
    methods: set[str] = set()
    for route in app.routes:  # flat: add_routes puts every route on the app's own list
        regex, route_methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and route_methods and regex.match(path):
            methods.update(route_methods)
    if "GET" in methods:
        methods.add("HEAD")  # app.core.head answers HEAD wherever GET is answered
    return sorted(methods)


# --- the API's routes -----------------------------------------------------------------

API_PREFIX = "/api/v1"

Handler = Callable[[Request], Coroutine[Any, Any, Response]]

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


def refusing_nul(handler: Handler) -> Handler:
    """The route's request handler, answering 422 first when a parameter value holds NUL."""

    async def guarded(request: Request) -> Response:
        errors = nul_errors(request.scope)
        if errors:
            raise RequestValidationError(errors)
        return await handler(request)

    return guarded


class ApiRoute(APIRoute):
    """FastAPI's route, refusing NUL in its parameters before FastAPI's own handling
    (`get_route_handler`: FastAPI's documented way to wrap a route's handler)."""

    def get_route_handler(self) -> Handler:
        """FastAPI's handler for this route, behind the NUL check."""
        return refusing_nul(super().get_route_handler())


def api_router(prefix: str = "", **kwargs: Any) -> APIRouter:
    """A router of the public API: its paths start with /api/v1 + `prefix`."""
    return APIRouter(prefix=API_PREFIX + prefix, route_class=ApiRoute, **kwargs)


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """Put the router's routes on the app itself, as they are (full paths, own settings).

    Not `include_router`: newer FastAPI keeps an included router as a branch that each
    request matches twice (once to choose it, once to pick the route). On the app's own
    list, each route is one regular expression to try, and `app.routes` lists every route
    with its full path (metrics labels, the `Allow` of a 405, the OpenAPI additions).
    """
    app.router.routes.extend(router.routes)
