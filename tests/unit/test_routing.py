"""The query checks before any route (NUL in a value, a single-valued parameter repeated),
and every route on the app's own list."""

from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.core.errors import install_error_handlers
from app.core.http import HttpPolicies
from app.core.routing import add_routes


async def reader() -> str:
    return "reader"


def tagged(request: Request) -> str:
    return f"tag:{request.method}"


def item(item_id: Annotated[int, Path(ge=1, le=1000)],
         source: Annotated[str, Depends(reader)], tag: Annotated[str, Depends(tagged)],
         request: Request, limit: Annotated[int, Query(ge=1, le=50)] = 20,
         fields: Annotated[list[str] | None, Query()] = None,
         x_trace: Annotated[str | None, Header(max_length=8)] = None) -> Response:
    return JSONResponse({"id": item_id, "limit": limit, "fields": fields, "trace": x_trace,
                         "source": source, "tag": tag, "path": request.url.path})


async def named(name: str) -> Response:
    return JSONResponse({"name": name})


class Body_(BaseModel):
    name: str


def with_body(payload: Body_) -> Response:
    return JSONResponse({"name": payload.name})


def build() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    router = APIRouter(prefix="/api")
    router.add_api_route("/items/{item_id}", item, methods=["GET"])
    router.add_api_route("/named/{name}", named, methods=["GET"])
    router.add_api_route("/body", with_body, methods=["POST"])
    add_routes(app, router)
    app.add_middleware(HttpPolicies, rate_limits=None, max_body=1000, max_bulk_body=1000,
                       bulk_paths=frozenset())
    return app


@pytest.mark.parametrize(("url", "loc"), [
    ("/api/named/a%00b", ["path", "name"]),
    ("/api/items/7?fields=a&fields=b%00", ["query", "fields"]),
])
def test_nul_in_a_parameter_value_is_a_422_naming_it(url, loc):
    answer = TestClient(build()).get(url)
    assert answer.status_code == 422
    assert [error["loc"] for error in answer.json()["errors"]] == [loc]


def test_a_single_valued_parameter_given_twice_is_a_400_naming_it():
    answer = TestClient(build()).get("/api/items/7?limit=5&limit=6&fields=a")
    assert answer.status_code == 400
    assert answer.json()["detail"] == "query parameter 'limit' given more than once"
    assert TestClient(build()).get("/api/items/7?limit=5&fields=a").status_code == 200


@pytest.mark.parametrize("url", ["/api/nowhere/a%00b", "/api/nowhere?limit=1&limit=2"])
def test_query_checks_leave_a_path_no_route_answers_to_its_404(url):
    assert TestClient(build()).get(url).status_code == 404


def test_query_checks_leave_a_method_no_route_answers_to_its_405():
    answer = TestClient(build()).post("/api/items/7?limit=1&limit=2")
    assert answer.status_code == 405
    assert "GET" in answer.headers["allow"]


def test_every_route_of_the_app_is_on_its_own_list(engine):
    from app.main import create_app

    app = create_app()
    # Flat: every route on the app's own list (no included router to match twice).
    assert all(isinstance(route, Route) for route in app.routes)
    routes = [route for route in app.routes if isinstance(route, APIRoute)]
    assert routes
    assert all(route.path.startswith(("/api/v1/", "/healthz", "/readyz", "/metrics", "/docs",
                                      "/redoc")) or route.path in ("/", "/api/v1")
               for route in routes)
