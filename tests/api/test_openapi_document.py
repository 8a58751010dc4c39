"""The OpenAPI document is precise enough to generate a typed client from.

Every list types its items (a page schema per kind; cross-kind lists a union told apart
by `type`), every parameter is described, every error response shows an example of its
own status, every example fits its schema, and the answers are what the document says.
The document only describes them: list and detail routes build their JSON themselves.
"""

import re
from typing import Any

import jsonschema_rs
import pytest
from fastapi.routing import APIRoute

from app.entries.listing.parse import kind_scope
from app.entries.registry import BY_TYPE, KINDS
from app.search.related import RELATED_FIELDS
from tests.helpers import assert_problem

HTTP_METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def document(_shared_app) -> dict[str, Any]:
    app, _ = _shared_app
    return app.openapi()


def _schema(document: dict[str, Any], ref_or_schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in ref_or_schema:
        ref_or_schema = document["components"]["schemas"][ref_or_schema["$ref"].split("/")[-1]]
    return ref_or_schema


def _answer(document: dict[str, Any], path: str, method: str = "get",
            status: str = "200") -> dict[str, Any]:
    response = document["paths"][path][method]["responses"][status]
    return response["content"]["application/json"]["schema"]


def _operations(document: dict[str, Any]):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def test_each_kind_lists_a_page_of_its_own_items(document):
    for spec in KINDS:  # a kind added to the registry gets its page with no code of its own
        answer = _answer(document, f"/api/v1/{spec.plural}")
        assert answer == {"$ref": f"#/components/schemas/{spec.title}Page"}
        page = _schema(document, answer)
        assert {"items", "total", "total_exact", "limit", "offset", "next_cursor",
                "facets", "facets_exact"} <= page["properties"].keys()
        items = page["properties"]["items"]
        assert items["items"] == {"$ref": f"#/components/schemas/{spec.title}Item"}
        item = _schema(document, items["items"])
        public = _schema(document, {"$ref": f"#/components/schemas/{spec.title}Public"})
        # Typed as the detail route types them; `fields=` may leave all but id and type out.
        assert set(item["properties"]) == {*public["properties"], "highlights"}
        for name, field in public["properties"].items():
            assert item["properties"][name] == field, (spec.type, name)
        assert item["required"] == ["id", "type"]
        assert item["properties"]["type"]["const"] == spec.type
        facets = _schema(document, page["properties"]["facets"]["anyOf"][0])
        assert list(facets["properties"]) == list(kind_scope(spec).facets)
        assert "required" not in facets  # only the facets asked for come


@pytest.mark.parametrize("path", ["/api/v1/articles", "/api/v1/search", "/api/v1/timeline"])
def test_topic_country_and_session_counts_are_typed_with_their_names(document, path):
    page = _schema(document, _answer(document, path))
    facets = _schema(document, page["properties"]["facets"]["anyOf"][0])
    for name, counts in facets["properties"].items():
        bucket = _schema(document, counts["items"])
        named = name in ("topic", "country", "session")
        assert counts["type"] == "array"
        assert bucket["required"] == (["value", "label", "count"] if named
                                      else ["value", "count"]), name
        assert ("label" in bucket["properties"]) is named


@pytest.mark.parametrize(("path", "member"), [
    ("/api/v1/search", "{title}SearchItem"),
    ("/api/v1/timeline", "{title}TimelineItem"),
    ("/api/v1/{kind}/{entry_id}/related", "Related{title}"),
])
def test_cross_kind_items_are_a_union_told_apart_by_type(document, path, member):
    items = _schema(document, _answer(document, path))["properties"]["items"]["items"]
    refs = {spec.type: f"#/components/schemas/{member.format(title=spec.title)}"
            for spec in KINDS}
    assert items["oneOf"] == [{"$ref": ref} for ref in refs.values()]
    assert items["discriminator"] == {"propertyName": "type", "mapping": refs}
    for type_, ref in refs.items():
        schema = _schema(document, {"$ref": ref})
        assert schema["properties"]["type"]["const"] == type_
        assert {"id", "type"} <= set(schema["required"])


def test_related_items_always_carry_their_fields_and_score(document):
    for spec in KINDS:
        schema = _schema(document, {"$ref": f"#/components/schemas/Related{spec.title}"})
        assert schema["required"] == [*RELATED_FIELDS, "score"]
        assert schema["properties"]["score"]["type"] == "integer"


def test_detail_answers_require_every_field(document):
    """Every field of the kind is always answered (`type` and `provenance` too); a relation
    that `include` adds (`statements` on events) only with it."""
    for spec in KINDS:
        detail = _schema(document, _answer(document, f"/api/v1/{spec.plural}/{{entry_id}}"))
        included = set(detail["properties"]) - set(spec.public_model.model_fields) - {"type"}
        assert set(detail["required"]) == set(detail["properties"]) - included


def test_every_parameter_is_described(document):
    for path, method, operation in _operations(document):
        for parameter in operation.get("parameters", ()):
            assert parameter.get("description"), (method, path, parameter["name"])


def test_the_kind_of_related_entries_is_an_enum_of_the_kinds(document, client):
    operation = document["paths"]["/api/v1/{kind}/{entry_id}/related"]["get"]
    kind = next(p for p in operation["parameters"] if p["name"] == "kind")
    assert kind["schema"]["enum"] == [spec.plural for spec in KINDS]
    # Documented, not validated: another kind is still the 404 that names the kinds.
    assert_problem(client.get("/api/v1/people/1/related"), 404,
                   "no kind 'people'; use articles, events, statements")


def test_operation_titles_use_the_right_article(document):
    summaries = [op["summary"] for _, _, op in _operations(document)]
    assert not [s for s in summaries if re.search(r"\ba [aeiou]|\ban [^aeiou\W]", s, re.I)]
    for spec in KINDS:
        assert f"Create {spec.a_type}" in summaries
        assert f"Get {spec.a_type}" in summaries
    assert BY_TYPE["article"].a_type == "an article"
    assert BY_TYPE["statement"].a_type == "a statement"


def test_every_error_shows_an_example_of_its_own_status(document):
    for path, method, operation in _operations(document):
        for status, response in operation["responses"].items():
            if status[0] not in "45":
                continue
            example = response["content"]["application/problem+json"]["example"]
            assert example["status"] == int(status), (method, path, status)
            assert example["type"].startswith("/problems/")
            assert example["instance"].startswith(path.split("{")[0]), (method, path, status)
    bulk = document["paths"]["/api/v1/articles/bulk"]["post"]["responses"]
    assert bulk["401"]["content"]["application/problem+json"]["example"]["title"] == \
        "Unauthorized"


def _examples(node: Any, where: str = "#"):
    """(where, schema, example) for each example of the document: a schema's `examples`,
    a media type's or parameter's `example`."""
    if isinstance(node, dict):
        if isinstance(node.get("examples"), list):
            schema = {k: v for k, v in node.items() if k != "examples"}
            yield from ((where, schema, example) for example in node["examples"])
        if "example" in node and isinstance(node.get("schema"), dict):
            yield where, node["schema"], node["example"]
        for key, value in node.items():
            yield from _examples(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _examples(value, f"{where}/{index}")


def test_every_example_fits_its_schema(document):
    components = document["components"]
    found = list(_examples(document))
    assert len(found) > 500
    invalid = []
    for where, schema, example in found:
        validator = jsonschema_rs.validator_for({**schema, "components": components})
        invalid += [f"{where}: {error.message}" for error in validator.iter_errors(example)]
    assert invalid == []


def test_a_bulk_result_example_counts_its_errors(document):
    result = _schema(document, {"$ref": "#/components/schemas/BulkResult"})
    for example in result["examples"]:
        assert example["failed"] == len(example["errors"])
    assert result["examples"][0]["errors"][0]["slug"] is None  # nulls are kept
    fields = result["properties"]
    assert fields["failed"]["examples"] == [len(fields["errors"]["examples"][0])]


@pytest.mark.parametrize(("method", "path", "status"), [
    ("get", "/api/v1/articles/{entry_id}", 404),
    ("get", "/api/v1/statements/{entry_id}", 422),
    ("get", "/api/v1/{kind}/{entry_id}/related", 404),
    ("post", "/api/v1/events/bulk", 401),
    ("delete", "/api/v1/articles/{entry_id}", 401),
    ("get", "/api/v1/sessions/{number}", 422),
    ("get", "/api/v1/countries/{code}", 404),
    ("get", "/api/v1/countries/{code}", 422),
])
def test_an_error_example_is_what_the_api_answers(document, client, method, path, status):
    example = document["paths"][path][method]["responses"][str(status)]["content"][
        "application/problem+json"]["example"]
    response = client.request(method.upper(), example["instance"])
    assert response.status_code == status
    assert response.json() == example


def test_list_and_detail_routes_are_documented_not_validated(app):
    """Their models only describe the answer: a route with a `response_model` would pass
    every answer that is not a Response already through it."""
    documented = {f"/api/v1/{spec.plural}" for spec in KINDS} | {
        "/api/v1/search", "/api/v1/timeline"}
    checked = 0
    for route in app.routes:
        if isinstance(route, APIRoute) and route.path.startswith("/api/v1/") and (
                route.path.split("/{")[0] in documented or route.path.endswith("/related")):
            assert route.response_model is None, route.path
            checked += 1
    assert checked >= 3 * 5 + 3


def test_the_document_is_built_once(fresh_app):
    from fastapi.testclient import TestClient

    first = fresh_app.openapi()
    with TestClient(fresh_app) as client:
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/api/v1/articles?colour=red").status_code == 400  # reads it too
    assert fresh_app.openapi() is first


def test_a_served_app_builds_the_document_at_start_up(engine):
    """No request of a server process pays for building it (some 0.5 s of CPU)."""
    import gc

    from app.main import serve_app

    try:
        served = serve_app()
        assert served.openapi_schema is not None
        assert served.openapi() is served.openapi_schema
    finally:
        gc.unfreeze()
