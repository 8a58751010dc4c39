"""The API's route class answers as FastAPI's own, but first refuses NUL in parameters;
every route sits on the app's own list."""

from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.core.errors import install_error_handlers
from app.core.routing import ApiRoute, add_routes


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


def build(route_class: type[APIRoute]) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    router = APIRouter(prefix="/api", route_class=route_class)
    router.add_api_route("/items/{item_id}", item, methods=["GET"])
    router.add_api_route("/named/{name}", named, methods=["GET"])
    router.add_api_route("/body", with_body, methods=["POST"])
    add_routes(app, router)
    return app


REQUESTS = [
    ("GET", "/api/items/7", {}),
    ("GET", "/api/items/7?limit=5&fields=a&fields=b", {"X-Trace": "abc"}),
    ("HEAD", "/api/items/7", {}),
    ("GET", "/api/items/0?limit=99", {}),
    ("GET", "/api/items/x?limit=y", {"X-Trace": "far too long"}),
    ("POST", "/api/items/7", {}),  # 405 naming GET
    ("POST", "/api/body", {}),
]


@pytest.mark.parametrize(("method", "url", "headers"), REQUESTS)
def test_api_routes_answer_as_fastapi_does(method, url, headers):
    ours = TestClient(build(ApiRoute)).request(method, url, headers=headers)
    fastapi = TestClient(build(APIRoute)).request(method, url, headers=headers)
    assert (ours.status_code, ours.content) == (fastapi.status_code, fastapi.content)
    assert ours.headers.get("content-type") == fastapi.headers.get("content-type")
    assert ours.headers.get("allow") == fastapi.headers.get("allow")


@pytest.mark.parametrize(("url", "loc"), [
    ("/api/named/a%00b", ["path", "name"]),
    ("/api/items/7?fields=a&fields=b%00", ["query", "fields"]),
])
def test_nul_in_a_parameter_value_is_a_422_naming_it(url, loc):
    answer = TestClient(build(ApiRoute)).get(url)
    assert answer.status_code == 422
    assert [error["loc"] for error in answer.json()["errors"]] == [loc]


def test_every_route_of_the_app_is_on_its_own_list_and_refuses_nul(engine):
    from app.main import create_app

    app = create_app()
    # Flat: every route on the app's own list (no included router to match twice).
    assert all(isinstance(route, Route) for route in app.routes)
    routes = [route for route in app.routes if isinstance(route, APIRoute)]
    assert routes and all(isinstance(route, ApiRoute) for route in routes)
    assert all(route.path.startswith(("/api/v1/", "/healthz", "/readyz", "/metrics"))
               for route in routes)
