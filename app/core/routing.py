"""How requests reach the routes: the API's routers and the methods the app answers at a
path."""

from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.applications import Starlette
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
        methods.add("HEAD")  # app.core.http answers HEAD wherever GET is answered
    return sorted(methods)


# --- the API's routes -----------------------------------------------------------------

API_PREFIX = "/api/v1"

def api_router(prefix: str = "", **kwargs: Any) -> APIRouter:
    """A router of the public API: its paths start with /api/v1 + `prefix`."""
    return APIRouter(prefix=API_PREFIX + prefix, **kwargs)


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """Put the router's routes on the app itself, as they are (full paths, own settings).

    Not `include_router`: newer FastAPI keeps an included router as a branch that each
    request matches twice (once to choose it, once to pick the route). On the app's own
    list, each route is one regular expression to try, and `app.routes` lists every route
    with its full path (metrics labels, the `Allow` of a 405, the OpenAPI additions).
    """
    app.router.routes.extend(router.routes)
