"""The app against its own OpenAPI document: schemathesis, every operation, every check.

Each operation gets schema-valid and schema-violating requests: the examples and fuzzing
phases everywhere, the coverage phase (every class of value of every parameter and
field) where it walks declarations no other operation walks (see CONFIG). A state machine
then chains operations along the links schemathesis infers (create -> get -> update ->
delete -> get ...), which is what the stateful checks (use_after_free,
ensure_resource_availability) need. Every built-in check runs, as schemathesis 4 does
unless told otherwise; positive_data_acceptance and negative_data_rejection are narrowed
to what a schema can state (below); max_response_time, off until given a limit, would
only time this machine.

Deterministic (derandomized, no example database) and bounded so the module runs well
under 90 seconds per engine: every operation runs in one test, on one app and one seeded
database (seeding per operation would cost more than the operations).
"""

import re
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jsonschema_rs  # schemathesis's own validator
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    positive_data_acceptance,
)

from app.core.config import get_settings
from app.core.security import create_key
from app.entries.listing.params import list_items
from app.entries.registry import KINDS
from app.entries.service import IF_MATCH_PATTERN
from app.main import create_app
from tests.helpers import empty_database

# Bulk takes NDJSON as well as a JSON array: the generated document is the text to send.
NDJSON = "application/x-ndjson"
schemathesis.serializer.alias(NDJSON, "text/plain")

# Health checks judge how fast and how often the generator finds input, not the API.
GENERATION = dict(derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))

# Schema-valid requests the API rightly refuses for a rule OpenAPI cannot state: it depends
# on the database (reference data, an entry a statement links to, a slug already taken),
# on an earlier response (a cursor is `next_cursor` of a page, If-Match an ETag), or ties
# one value to another. Matched per error of the problem document, and only these: any
# other refusal of valid input still fails positive_data_acceptance.
UNSTATABLE = {
    422: re.compile("|".join((
        r"^unknown (topic|country|session) ",  # not in /topics, /countries, /sessions
        r"^no \w+ has (id \d+|slug '[^']*')$",  # statement.event_id / event names no event
        r" do not name the same \w+; ",  # statement.event_id and event, both given, differ
        r"^slug already exists$",  # a bulk item with on_conflict=error
        r"^slug '[^']*' also at index \d+$",  # two bulk items with one slug
        r"ends_on must not be before starts_on$",
        r"^date_to is before date_from$",
        # a sent placement must be what the primary date / session dates give
        r"^is \S+ but the entry is placed at ",
        r"^date_precision 'month' needs a date ",
    ))),
    400: re.compile("|".join((
        r"^(invalid cursor|cursor does not match sort|offset given too)$",
        r"^relevance without q$",  # sort=relevance ranks the matches of q
        r"^unknown key 'relevance'$",  # the same, spelt `+relevance`
        r"^repeated key '",  # sort=date,-date
    ))),
}


def _error_messages(response: Any) -> list[str]:
    """The `msg` of each entry in a problem document's `errors`."""
    try:
        problem = response.json()
    except ValueError:
        return []
    errors = problem.get("errors") if isinstance(problem, dict) else None
    return [str(error.get("msg", "")) for error in errors or []]


def _refused_for_unstatable_rule(response: Any, case: Any) -> bool:
    if response.status_code == 412:  # If-Match names another version of the entry
        return any(name.lower() == "if-match" for name in case.headers or {})
    if response.status_code == 422 and case.media_type == NDJSON:
        # OpenAPI 3.1 can only call an NDJSON body a string: its lines' shape (each one a
        # `{Kind}Create`, as in the JSON array form, which is held to its schema) is unstated.
        return True
    rule = UNSTATABLE.get(response.status_code)
    messages = _error_messages(response) if rule else []
    return bool(messages) and all(rule.search(msg) for msg in messages)


def _body_is_schema_valid(case: Any) -> bool:
    """Whether a case's body fits its media type's schema.

    schemathesis 4.32's coverage phase can mark a case positive whose body is not: a
    bulk body (an array of `{Kind}Create`, which has a property named `body`) comes as
    `0` when a query parameter is varied. That is no valid input to judge the API by.
    """
    if isinstance(case.body, bytes):  # sent as it is: nothing to hold it to
        return True
    for body in case.operation.body:
        if body.media_type == case.media_type:
            return body.is_valid(case.body)
    return True


def _if_match_fits_its_pattern(case: Any) -> bool:
    """Whether an If-Match sent fits the pattern the document states for it.

    The coverage phase may send a header value outside a stated pattern (`0` for
    If-Match) and still call the case positive."""
    sent = {name.lower(): value for name, value in (case.headers or {}).items()}
    return "if-match" not in sent or re.match(IF_MATCH_PATTERN, sent["if-match"]) is not None


def positive_data_acceptance_of_statable_rules(ctx, response, case) -> bool | None:
    """positive_data_acceptance, minus refusals for rules no schema can state (above) and
    cases schemathesis takes for valid that are not."""
    if (_refused_for_unstatable_rule(response, case) or not _body_is_schema_valid(case)
            or not _if_match_fits_its_pattern(case)):
        return None
    return positive_data_acceptance(ctx, response, case)


def _bulk_reported_its_bad_items(response: Any, case: Any) -> bool:
    """Whether a bulk with `atomic=false` answered 200 listing items it refused: what the
    document says it does with a bad item (the good ones land), which no status can state."""
    if response.status_code != 200 or not case.operation.path.endswith("/bulk"):
        return False
    if str((case.query or {}).get("atomic")).lower() != "false":
        return False
    try:
        return response.json()["failed"] > 0
    except (ValueError, KeyError, TypeError):
        return False


def _as_received(schema: dict[str, Any], texts: list[str]) -> Any:
    """A query parameter's value as the server reads the texts sent for it, by the list
    conventions (docs/api.md) no schema states: a repeatable one's texts are comma lists,
    their items a list; a single one's last text; a blank text is none (None: absent).
    Integers where the schema says so."""
    options = [o for o in schema.get("anyOf", [schema]) if o.get("type") != "null"]
    listed = next((o["items"] for o in options if o.get("type") == "array"), None)
    one = listed or (options[0] if options else {})
    if listed is not None:
        texts = [item for text in texts for item in list_items(text)]
    else:
        texts = [text for text in texts if text.strip()][-1:]
    values = [int(t) if one.get("type") == "integer" and re.fullmatch(r"-?\d+", t) else t
              for t in texts]
    if not values:
        return None
    return values if listed is not None else values[-1]


def _only_a_query_that_fits_as_received(response: Any, case: Any) -> bool:
    """Whether an operation whose only inputs are query parameters got a query that fits
    their schemas as the server reads it. Every value on the wire is text: a `false` or
    `1.5` schemathesis puts in place of a repeatable text parameter's list arrives as the
    one-item list ["false"], a valid one, which its own wire check does not see."""
    operation = case.operation.definition.raw
    declared = {p["name"]: p for p in operation.get("parameters", [])}
    if "requestBody" in operation or any(p["in"] != "query" for p in declared.values()):
        return False
    received: dict[str, list[str]] = {}
    for name, text in parse_qsl(urlsplit(str(response.request.url)).query,
                                keep_blank_values=True):
        received.setdefault(name, []).append(text)
    if not received.keys() <= declared.keys():
        return False
    values = {name: value for name, texts in received.items()
              if (value := _as_received(declared[name]["schema"], texts)) is not None}
    query = {"type": "object", "properties": {n: p["schema"] for n, p in declared.items()},
             "required": [n for n, p in declared.items() if p.get("required")]}
    return jsonschema_rs.validator_for(query, validate_formats=True).is_valid(values)


def negative_data_rejection_of_statable_rules(ctx, response, case) -> bool | None:
    """negative_data_rejection, minus a non-atomic bulk reporting the bad items it was sent
    (a 200, as documented, whose `errors` name them), and a query that fits once sent."""
    if (_bulk_reported_its_bad_items(response, case)
            or _only_a_query_that_fits_as_received(response, case)):
        return None
    return negative_data_rejection(ctx, response, case)


CHECKS = dict(excluded_checks=[positive_data_acceptance, negative_data_rejection],
              additional_checks=[positive_data_acceptance_of_statable_rules,
                                 negative_data_rejection_of_statable_rules])


# The coverage phase walks every class of value of every parameter and body field (some
# 6,000 requests on all operations, twice the module's budget); it runs where it walks
# declarations no other operation walks. /search takes every list parameter (the common
# ones and each kind's filters, declared once in app.entries.listing.params and checked by
# criteria_from and run for every list), so the kinds' lists, the timeline, the feeds and
# the exports are left to the other phases; so are PUT and bulk, which take the
# `{Kind}Create` POST takes (bulk an array of them), and an entry's PATCH, whose
# `{Kind}Update` is derived from `{Kind}Create` field by field (app.entries.schemas).
# Those operations keep the examples and fuzzing phases, valid and invalid input both;
# test_undeclared_methods_are_405 covers the methods their paths do not declare.
NO_COVERAGE = {"phases": {"coverage": {"enabled": False}}}
PLURALS = "|".join(spec.plural for spec in KINDS)
LISTS_BUT_SEARCH = rf"^GET /api/v1/({PLURALS}|timeline|feeds/.*|[a-z]+/export)$"
ENTRY_PATCH = rf"^PATCH /api/v1/({PLURALS})/"
CONFIG = {
    "operations": [  # each entry: operations matching any of its filters
        {"include-name-regex": LISTS_BUT_SEARCH, **NO_COVERAGE},
        {"include-name-regex": ENTRY_PATCH, **NO_COVERAGE},
        {"include-path-regex": r"/bulk$", **NO_COVERAGE},
        {"include-method": "PUT", **NO_COVERAGE},
    ],
    # Values come from the schema alone, not from literals read out of the route handlers'
    # source (schemathesis does that for the routes it finds on a Starlette app): the cases
    # then follow the documented contract, and a refactoring of a handler's code does not
    # change what the state machine below generates against the shared database.
    "analysis": {"constants": {"enabled": False}},
}


@pytest.fixture
def contract_schema(engine, monkeypatch):
    """The app's own OpenAPI document, served and answered by one app on the test database."""
    settings_ = get_settings()
    # Thousands of requests a minute from one key and one address: quotas above that keep
    # the rate limiter (and the 429 it documents) in place without it refusing the run.
    monkeypatch.setattr(settings_, "rate_limit", 1_000_000)
    monkeypatch.setattr(settings_, "rate_limit_keyed", 1_000_000)
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(),
                                            config=schemathesis.Config.from_dict(CONFIG))
    # Reports show every value: the key is made for this test in a throw-away database,
    # and the default list would hide parameters that merely look secret (`session`).
    schema.config.output.sanitization.update(enabled=False)
    # A body over the size limit is refused with 413 before it is read (documented on every
    # route with a body); schemathesis's list of rejections leaves 413 out.
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    return schema


every_operation = schemathesis.pytest.from_fixture("contract_schema")


@pytest.fixture
def _node_id_for_schemathesis(request):
    """schemathesis 4.32's from_fixture relabels the running item through `_nodeid`,
    which pytest 9 items no longer have; give it one (reports name each operation anyway)."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@pytest.mark.usefixtures("_node_id_for_schemathesis")
@every_operation.parametrize()
@settings(max_examples=6, **GENERATION)
def test_every_operation_conforms(case, auth, seeded):
    case.call_and_validate(headers=auth, **CHECKS)


def test_linked_operations_conform(contract_schema, engine, db, seed_rows, seeded):
    class Workflow(contract_schema.as_state_machine()):
        def setup(self):
            # Every scenario starts from the same data: what a request answers (a 201, or
            # a 409 for a slug an earlier scenario took) decides what later steps can
            # draw, and hypothesis requires that to be the same when a prefix repeats.
            empty_database(engine)
            seed_rows.write(db)
            self.auth = {"Authorization": f"Bearer {create_key(db, 'contract')[1]}"}
            db.commit()

        def get_call_kwargs(self, case):
            return {"headers": self.auth}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, transport_kwargs=kwargs or None,
                                   recorder=self.recorder, **CHECKS)

    # No shrinking: scenarios share the database, so a replay would meet other data and a
    # failure would come back as a flaky-generation error instead of itself.
    Workflow.run(settings=settings(max_examples=15, stateful_step_count=6,
                                   phases=[Phase.generate], **GENERATION))


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("PUT", "/api/v1/articles/export", "GET, HEAD"),
    ("DELETE", "/api/v1/events/export", "GET, HEAD"),
    ("GET", "/api/v1/statements/bulk", "POST"),
    ("POST", "/api/v1/feeds/all.atom", "GET, HEAD"),
    ("PATCH", "/api/v1/topics", "GET, HEAD, POST"),
    ("POST", "/api/v1/articles/1", "DELETE, GET, HEAD, PATCH, PUT"),
])
def test_undeclared_methods_are_405_naming_the_declared_ones(client, auth, method, path, allow):
    response = client.request(method, path, headers=auth)
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allow
    assert response.headers["content-type"] == "application/problem+json"


def test_openapi_documents_the_statuses_every_route_shares(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path, item in paths.items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "500" in responses, (method, path)
            if path not in ("/healthz", "/readyz", "/metrics"):
                assert "429" in responses, (method, path)
                assert responses["429"]["headers"]["Retry-After"]["required"]
            if path not in ("/healthz", "/readyz", "/metrics", "/", "/api/v1"):  # no database
                assert "503" in responses, (method, path)
            if "requestBody" in operation:
                assert {"400", "413", "415"} <= responses.keys(), (method, path)
            if method == "get" and "operations" not in operation["tags"]:
                assert "304" in responses, (method, path)
            for status, response in responses.items():
                if status >= "400":
                    assert list(response["content"]) == ["application/problem+json"], (
                        method, path, status)


def test_only_a_non_atomic_bulk_listing_its_bad_items_passes_for_refusing_them(client, auth):
    """The narrowing of negative_data_rejection, on real answers: a bulk that wrote nothing
    and reported nothing, or was not asked for `atomic=false`, is still judged."""
    bad = [{"title": "A poem", "genre": "poem"}]
    path = "/api/v1/articles/bulk"
    for query, items, expected in (({"atomic": "false"}, bad, True),
                                   ({"atomic": "false"}, [{"title": "Fine"}], False),
                                   ({}, bad, False)):
        response = client.post(path, params=query, json=items, headers=auth)
        case = SimpleNamespace(operation=SimpleNamespace(path=path), query=query)
        assert _bulk_reported_its_bad_items(response, case) is expected, response.text


def test_a_query_is_judged_as_the_server_receives_it(contract_schema):
    """The other narrowing: texts in place of a repeatable text parameter's list fit; text
    where a number or a date is expected, an undeclared name, or a body do not."""
    export = SimpleNamespace(operation=contract_schema["/api/v1/search/export"]["GET"])

    def fits(query: str, case: Any = export) -> bool:
        sent = SimpleNamespace(request=SimpleNamespace(url=f"http://testserver/x?{query}"))
        return _only_a_query_that_fits_as_received(sent, case)

    assert fits("author=false&source=true&event=1.401298464324817e-45&session=46")
    # the list conventions: comma lists of a repeatable one, blank values none
    assert fits("session=46,-47&country=CN,,us&date_to=&date_from=%20&topic=&format=")
    assert not fits("limit=")  # undeclared here, blank or not: a 400
    assert not fits("session=46,forty-seven")
    assert not fits("country=CN,USA")
    assert not fits("session=forty-six")
    assert not fits("date_from=yesterday")
    assert not fits("author=x&no_such_parameter=1")
    assert not fits("", SimpleNamespace(operation=contract_schema["/api/v1/articles"]["POST"]))
