"""The app's routes with their full path templates, whichever FastAPI version is installed."""

from collections.abc import Iterator
from typing import Any

from starlette.applications import Starlette
from starlette.types import Scope

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
    return sorted(methods)
