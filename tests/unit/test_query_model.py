"""A route's query-parameter model (params.query_values): the values it gives, the errors
it raises, the document FastAPI writes for it."""

from typing import Annotated, Any, Literal

import pytest
from fastapi import FastAPI, Query
from fastapi.testclient import TestClient
from pydantic import Field
from starlette.responses import JSONResponse, Response

from app.core.errors import install_error_handlers
from app.core.http import HttpPolicies
from app.entries.listing.params import Param, list_items, query_values

PARAMS = [
    Param("topic", str, "Topic slug. Repeatable.", "xinjiang", True, bounds={"max_length": 8}),
    Param("limit", int, "Page size.", 20, default=20, bounds={"ge": 1, "le": 100}),
    Param("count", Literal["capped", "exact"], "Counting.", "capped", default="capped"),
    Param("q", str | None, "Words.", "poverty", bounds={"max_length": 50}),
]
TestQuery = query_values("test_query", PARAMS)


def echo(query: TestQuery) -> Response:
    return JSONResponse(query.model_dump(by_alias=True))


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.add_api_route("/items", echo, methods=["GET"])
    # A repeated single-valued parameter is refused before any route (app.core.http).
    app.add_middleware(HttpPolicies, rate_limits=None, max_body=1000, max_bulk_body=1000,
                       bulk_paths=frozenset())
    return TestClient(app)


def test_absent_parameters_take_their_defaults(client):
    assert client.get("/items").json() == {"topic": None, "limit": 20, "count": "capped",
                                           "q": None}


def test_repeatable_values_are_collected_and_single_ones_converted(client):
    answer = client.get("/items?topic=a&topic=b&limit=5&count=exact&q=x").json()
    assert answer == {"topic": ["a", "b"], "limit": 5, "count": "exact", "q": "x"}


@pytest.mark.parametrize(("query", "topics"), [
    ("topic[]=a&topic[]=b", ["a", "b"]),
    ("topic=a,b&topic[]=c&topic=-d", ["a", "b", "c", "-d"]),
    ("topic=%20a%20,,b,", ["a", "b"]),
    ("topic=&topic[]=&topic=%20,%20", None),
])
def test_brackets_comma_lists_and_blanks_of_a_repeatable_parameter(client, query, topics):
    given = client.get(f"/items?{query}").json()["topic"]
    assert (sorted(given) if given else given) == (sorted(topics) if topics else topics)


def test_blank_single_valued_parameters_take_their_defaults(client):
    assert client.get("/items?limit=&count=%20&q=").json() == client.get("/items").json()
    assert client.get("/items?limit=&limit=5").json()["limit"] == 5


@pytest.mark.parametrize("name", ["limit[]", "q[]", "nosuch[]"])
def test_brackets_on_a_single_valued_or_unknown_name_are_400_naming_it(client, name):
    answer = client.get(f"/items?{name}=5")
    assert answer.status_code == 400
    assert answer.json()["errors"] == [{"loc": ["query", name], "msg": "unknown parameter"}]


@pytest.mark.parametrize(("text", "items"), [
    ("xinjiang", ["xinjiang"]),
    ("  ", []),
    (" a , -b ,, c,", ["a", "-b", "c"]),
    ('"Smith, John"', ["Smith, John"]),
    (' "Smith, John" , Li', ["Smith, John", "Li"]),
    ('-"Smith, John",x', ["-Smith, John", "x"]),
    ('"a ""b"", c",d', ['a "b", c', "d"]),
    ('"", " "', []),
    ('"Smith, John', ['"Smith', "John"]),  # unbalanced: the quote is a character
    ('x"y, z', ['x"y', "z"]),
    ('"a"b,c', ['"a"b', "c"]),
])
def test_list_items(text, items):
    assert list_items(text) == items


def test_a_repeated_single_valued_parameter_is_400_naming_it(client):
    answer = client.get("/items?limit=5&limit=7")
    assert answer.status_code == 400
    assert answer.json()["detail"] == "query parameter 'limit' given more than once"


@pytest.mark.parametrize(("query", "loc", "message"), [
    ("limit=0", ["query", "limit"], "greater than or equal to 1"),
    ("limit=ten", ["query", "limit"], "valid integer"),
    ("count=all", ["query", "count"], "'capped' or 'exact', not 'all'"),
    ("topic=ok&topic=far-too-long", ["query", "topic", 1],
     "at most 8 characters, not 'far-too-long'"),
    ("topic=ok,far-too-long", ["query", "topic", 1], "not 'far-too-long'"),
])
def test_a_bad_value_is_a_422_naming_the_parameter(client, query, loc, message):
    answer = client.get(f"/items?{query}")
    assert answer.status_code == 422
    [error] = answer.json()["errors"]
    assert error["loc"] == loc and message in error["msg"]


def test_unknown_parameters_are_one_400_naming_them_and_the_known_ones(client):
    answer = client.get("/items?topc=x&limit=0&zz=1&zz=2")  # unknown wins over a bad value
    assert answer.status_code == 400
    body = answer.json()
    assert body["detail"] == ("unknown query parameter 'topc', 'zz'; allowed: count, limit, "
                              "q, topic")
    assert [error["loc"] for error in body["errors"]] == [["query", "topc"], ["query", "zz"]]


def test_the_documented_parameters_are_the_ones_fastapi_writes_for_declared_ones(client):
    app = FastAPI()

    @app.get("/declared")
    def declared(
        topic: Annotated[list[Annotated[str, Field(max_length=8, json_schema_extra={
            "not": {"pattern": "\\u0000"}})]] | None, Query(
            description="Topic slug. Repeatable.", examples=["xinjiang"])] = None,
        limit: Annotated[int, Query(description="Page size.", examples=[20], ge=1,
                                    le=100)] = 20,
        count: Annotated[Literal["capped", "exact"], Query(
            description="Counting.", examples=["capped"])] = "capped",
        q: Annotated[str | None, Query(description="Words.", examples=["poverty"],
                                       max_length=50, json_schema_extra={
                                           "not": {"pattern": "\\u0000"}})] = None,
    ) -> None:
        """Declared the way FastAPI validates each parameter itself."""

    written: Any = app.openapi()["paths"]["/declared"]["get"]["parameters"]
    documented = client.app.openapi()["paths"]["/items"]["get"]["parameters"]
    assert documented == written
