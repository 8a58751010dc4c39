"""Plain routes are served by the direct handler and answer as FastAPI's own handler does."""

from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.core.errors import install_error_handlers
from app.core.routing import DirectRoute, add_routes


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


async def item_async(item_id: Annotated[int, Path(ge=1)]) -> Response:
    return JSONResponse({"id": item_id})


def not_a_response() -> Any:
    return {"plain": "dict"}


class Body_(BaseModel):
    name: str


def with_body(payload: Body_) -> Response:
    return JSONResponse({"name": payload.name})


def session() -> Any:
    yield "session"


def with_yield(value: Annotated[str, Depends(session)]) -> Response:
    return JSONResponse({"value": value})


def build(route_class: type[APIRoute]) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    router = APIRouter(prefix="/api", route_class=route_class)
    router.add_api_route("/items/{item_id}", item, methods=["GET"])
    router.add_api_route("/async/{item_id}", item_async, methods=["GET"])
    router.add_api_route("/dict", not_a_response, methods=["GET"])
    router.add_api_route("/body", with_body, methods=["POST"])
    router.add_api_route("/yield", with_yield, methods=["GET"])
    add_routes(app, router)
    return app


REQUESTS = [
    ("GET", "/api/items/7", {}),
    ("GET", "/api/items/7?limit=5&fields=a&fields=b", {"X-Trace": "abc"}),
    ("HEAD", "/api/items/7", {}),
    ("GET", "/api/items/0?limit=99", {}),  # path and query errors, in FastAPI's order
    ("GET", "/api/items/x?limit=y", {"X-Trace": "far too long"}),
    ("GET", "/api/async/3", {}),
    ("GET", "/api/async/-3", {}),
    ("POST", "/api/items/7", {}),  # 405 naming GET
    ("POST", "/api/body", {}),  # missing body: FastAPI's handler (not direct)
    ("GET", "/api/yield", {}),
]


@pytest.mark.parametrize(("method", "url", "headers"), REQUESTS)
def test_direct_routes_answer_as_fastapi_does(method, url, headers):
    direct = TestClient(build(DirectRoute)).request(method, url, headers=headers)
    fastapi = TestClient(build(APIRoute)).request(method, url, headers=headers)
    assert (direct.status_code, direct.content) == (fastapi.status_code, fastapi.content)
    assert direct.headers.get("content-type") == fastapi.headers.get("content-type")
    assert direct.headers.get("allow") == fastapi.headers.get("allow")


def test_parameters_and_dependencies_reach_the_endpoint():
    answer = TestClient(build(DirectRoute)).get("/api/items/7?limit=5&fields=a&fields=b",
                                               headers={"X-Trace": "abc"})
    assert answer.json() == {"id": 7, "limit": 5, "fields": ["a", "b"], "trace": "abc",
                             "source": "reader", "tag": "tag:GET", "path": "/api/items/7"}
    bad = TestClient(build(DirectRoute)).get("/api/items/0?limit=99").json()
    assert [error["loc"] for error in bad["errors"]] == [["path", "item_id"], ["query", "limit"]]


def test_only_plain_routes_are_served_directly():
    routes = {route.path: route for route in build(DirectRoute).routes
              if isinstance(route, APIRoute)}
    assert routes["/api/items/{item_id}"].direct and routes["/api/async/{item_id}"].direct
    assert not routes["/api/body"].direct  # a body to read and validate
    assert not routes["/api/yield"].direct  # a dependency to close after the response


def test_a_direct_route_must_return_a_response():
    client = TestClient(build(DirectRoute), raise_server_exceptions=True)
    with pytest.raises(TypeError, match="not_a_response returned dict, not a Response"):
        client.get("/api/dict")


def test_every_read_of_the_app_is_direct_and_every_write_is_not(engine):
    from app.main import create_app

    app = create_app()
    # Flat: every route on the app's own list (no included router to match twice).
    assert all(isinstance(route, Route) for route in app.routes)
    routes = [route for route in app.routes if isinstance(route, APIRoute)]
    assert routes and all(isinstance(route, DirectRoute) for route in routes)
    for route in routes:
        assert route.direct == ("GET" in route.methods), (route.path, route.methods)


def test_sync_calls_run_on_the_worker_threads_in_the_callers_context():
    import asyncio
    import contextvars
    import threading

    from app.core.routing import in_thread

    request_id = contextvars.ContextVar("request_id", default=None)

    def where(suffix: str) -> tuple[str | None, str]:
        return f"{request_id.get()}{suffix}", threading.current_thread().name

    async def handle() -> tuple[str | None, str]:
        request_id.set("abc")
        return await in_thread(where, suffix="-1")

    seen, thread = asyncio.run(handle())
    assert seen == "abc-1"
    assert thread.startswith("hrc-digest")


def test_a_sync_call_raising_stop_iteration_fails_instead_of_hanging():
    import asyncio

    from app.core.routing import in_thread

    def first_of_nothing() -> int:
        return next(iter([]))

    async def handle() -> None:
        await asyncio.wait_for(in_thread(first_of_nothing), timeout=5)

    with pytest.raises(RuntimeError, match="StopIteration"):
        asyncio.run(handle())
