"""A route's query model: the values it parses, the errors it raises, the document it writes."""

from typing import Annotated, Literal

import pytest
from fastapi import FastAPI, Query
from fastapi.exceptions import RequestValidationError
from pydantic import Field
from starlette.requests import Request

from app.entries.params import Param, QueryModel

PARAMS = [
    Param("topic", str, "Topic slug. Repeatable.", "xinjiang", True, bounds={"max_length": 8}),
    Param("limit", int, "Page size.", 20, default=20, bounds={"ge": 1, "le": 100}),
    Param("count", Literal["capped", "exact"], "Counting.", "capped", default="capped"),
    Param("q", str | None, "Words.", "poverty", bounds={"max_length": 50}),
]


def request(query: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": [],
                    "query_string": query.encode()})


@pytest.fixture(scope="module")
def model() -> QueryModel:
    return QueryModel("test_query", PARAMS)


def test_absent_parameters_take_their_defaults(model):
    assert model.parse(request("")) == {"topic": None, "limit": 20, "count": "capped",
                                        "q": None}


def test_repeatable_values_are_collected_and_single_ones_converted(model):
    parsed = model.parse(request("topic=a&topic=b&limit=5&count=exact&q=x"))
    assert parsed == {"topic": ["a", "b"], "limit": 5, "count": "exact", "q": "x"}


def test_a_repeated_single_parameter_takes_its_last_value_as_fastapi_does(model):
    assert model.parse(request("limit=5&limit=7"))["limit"] == 7


@pytest.mark.parametrize(("query", "loc", "kind"), [
    ("limit=0", ("query", "limit"), "greater_than_equal"),
    ("limit=ten", ("query", "limit"), "int_parsing"),
    ("count=all", ("query", "count"), "literal_error"),
    ("topic=ok&topic=far-too-long", ("query", "topic", 1), "string_too_long"),
])
def test_a_bad_value_is_a_validation_error_naming_the_parameter(model, query, loc, kind):
    with pytest.raises(RequestValidationError) as caught:
        model.parse(request(query))
    [error] = caught.value.errors()
    assert error["loc"] == loc and error["type"] == kind


def test_the_documented_parameters_are_the_ones_fastapi_writes_for_declared_ones(model):
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

    written = app.openapi()["paths"]["/declared"]["get"]["parameters"]
    assert model.openapi_parameters() == written
