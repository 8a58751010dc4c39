"""The list conventions (docs/api.md, "List conventions"), through HTTP on a kind's list,
/search, export and a feed: `name[]=` is `name=`, comma lists mix with repeats, a quoted
item keeps its commas, a blank parameter is absent, and errors name the parameter (and the
value inside a comma list).

Expectations are taken from the entries themselves (the seeded digest), so the same test
holds on SQLite and PostgreSQL.
"""

import json
import re
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree as ET

import pytest

from app.entries.registry import BY_PLURAL, KINDS
from tests.helpers import assert_problem, sample

pytestmark = pytest.mark.usefixtures("seeded")

API = "/api/v1"
ATOM = "{http://www.w3.org/2005/Atom}"
STATEMENTS = BY_PLURAL["statements"]
ROUTES = ("list", "search", "export", "feed")
routes = pytest.mark.parametrize("route", ROUTES)
Item = dict[str, Any]


def url(route: str, spec=STATEMENTS) -> str:
    """The path of a route that takes the list filters, for a kind."""
    return {"list": f"{API}/{spec.plural}", "search": f"{API}/search",
            "export": f"{API}/{spec.plural}/export",
            "feed": f"{API}/feeds/{spec.plural}.atom"}[route]


def get(client, path: str, query: str) -> Any:
    """A 200 answer's entries as `type:slug` (every one: the seed holds fewer than 100)."""
    paged = "" if path.endswith("/export") else "&limit=100"
    response = client.get(f"{path}?{query}{paged}")
    assert response.status_code == 200, (query, response.text)
    if path.endswith("/export"):
        rows = [json.loads(line) for line in response.text.splitlines()]
        return {f"{row['type']}:{row['slug']}" for row in rows}
    if path.endswith(".atom"):
        entries = ET.fromstring(response.content).findall(f"{ATOM}entry")
        return {entry.find(f"{ATOM}id").text.removeprefix("urn:hrc-digest:")
                for entry in entries}
    page = response.json()
    assert page["total"] == len(page["items"]) < 100
    return {f"{item['type']}:{item['slug']}" for item in page["items"]}


def every(client, route: str, spec=STATEMENTS) -> list[Item]:
    """Every entry a route can show, as the JSON list of its kind (or /search) has it."""
    page = client.get(f"{url('search' if route == 'search' else 'list', spec)}?limit=100"
                      "&count=exact").json()
    assert page["total"] == len(page["items"]) < 100
    return page["items"]


def kept(items: list[Item], test: Callable[[Item], bool]) -> set[str]:
    return {f"{item['type']}:{item['slug']}" for item in items if test(item)}


def two_topics(items: list[Item]) -> tuple[str, str]:
    """The topic most entries carry, and the one most often beside it."""
    first = Counter(t for item in items for t in item["topics"]).most_common(1)[0][0]
    second = Counter(t for item in items if first in item["topics"]
                     for t in item["topics"] if t != first).most_common(1)[0][0]
    return first, second


def a_third_topic(items: list[Item], *taken: str) -> str:
    return next(t for t, _ in Counter(t for i in items for t in i["topics"]).most_common()
                if t not in taken)


class TestBrackets:
    """`name[]=v` (Axios's and PHP's habit) is `name=v` for a repeatable parameter."""

    @routes
    def test_brackets_are_the_plain_name(self, client, route):
        items = every(client, route)
        first, second = two_topics(items)
        path = url(route)
        expected = kept(items, lambda i: first in i["topics"] or second in i["topics"])
        assert 0 < len(expected) < len(items)
        assert get(client, path, f"topic[]={first}&topic[]={second}") == expected
        assert get(client, path, f"topic%5B%5D={first}&topic={second}") == expected
        assert get(client, path, f"topic[]={first}&topic[]=-{second}") == kept(
            items, lambda i: first in i["topics"] and second not in i["topics"])

    @routes
    @pytest.mark.parametrize("name", ["q[]", "date_from[]", "nosuch[]", "topic[0]"])
    def test_brackets_on_a_single_valued_or_unknown_name_are_400_naming_it(
            self, client, route, name):
        body = assert_problem(client.get(f"{url(route)}?{quote(name)}=x"), 400, f"'{name}'")
        assert body["errors"] == [{"loc": ["query", name], "msg": "unknown parameter"}]

    def test_a_name_repeatable_on_one_route_and_not_on_another(self, client):
        """`format` filters an event list (any of) but chooses an export's format (one)."""
        events = BY_PLURAL["events"]
        items = every(client, "list", events)
        expected = kept(items, lambda i: i["format"] in ("online", "hybrid"))
        assert 0 < len(expected) < len(items)
        assert get(client, url("list", events), "format[]=online&format[]=hybrid") == expected
        assert_problem(client.get(f"{API}/events/export?format[]=csv"), 400, "'format[]'")
        assert get(client, url("export", events), "event_format[]=online,hybrid") == expected

    def test_brackets_on_every_other_route_that_repeats(self, client):
        changes = client.get(f"{API}/changes?type[]=event&type[]=article&limit=1000").json()
        plain = client.get(f"{API}/changes?type=event&type=article&limit=1000").json()
        assert changes == plain and {c["type"] for c in changes["items"]} == {"event",
                                                                             "article"}
        event = client.get(f"{API}/events?limit=1").json()["items"][0]["id"]
        included = client.get(f"{API}/events/{event}?include[]=statements")
        assert included.status_code == 200 and "statements" in included.json()


class TestCommaLists:
    """Every any-of filter takes comma lists, mixed freely with repeats; `-` per item."""

    @routes
    def test_topics_in_comma_lists_and_repeats(self, client, route):
        items = every(client, route)
        first, second = two_topics(items)
        third = a_third_topic(items, first, second)
        path = url(route)
        either = kept(items, lambda i: {first, second} & set(i["topics"]))
        assert get(client, path, f"topic={first},{second}") == either
        assert get(client, path, f"topic=%20{first}%20,,{second},") == either  # blanks dropped
        assert get(client, path, f"topic={first},{second}&topic={third}") == kept(
            items, lambda i: {first, second, third} & set(i["topics"]))
        without = kept(items, lambda i: first in i["topics"] and second not in i["topics"])
        assert 0 < len(without) < len(either)
        assert get(client, path, f"topic={first},-{second}") == without
        assert get(client, path, f"topic=-{second},{first}") == without

    @routes
    def test_countries_languages_sessions_and_enums(self, client, route):
        items = every(client, route)
        codes = [c for c, _ in Counter(c for i in items for c in i["countries"]).most_common(2)]
        path = url(route)
        assert get(client, path, f"country={codes[0].lower()},{codes[1]}") == kept(
            items, lambda i: set(codes) & set(i["countries"]))
        assert get(client, path, f"country=-{codes[0]},-{codes[1]}") == kept(
            items, lambda i: not set(codes) & set(i["countries"]))
        assert get(client, path, "session=46,-46") == set()
        assert get(client, path, "language=EN,fr") == kept(
            items, lambda i: i["language"].lower() in ("en", "fr"))
        statements = every(client, "list")
        types = [t for t, _ in Counter(i["statement_type"] for i in statements).most_common(2)]
        spoke = kept(statements, lambda i: i["statement_type"] in types)
        assert 0 < len(spoke) < len(statements)
        assert get(client, path, f"statement_type={types[0]},{types[1]}") == spoke

    def test_type_on_changes_takes_a_comma_list(self, client):
        listed = client.get(f"{API}/changes?type=event,article&limit=1000").json()
        assert {c["type"] for c in listed["items"]} == {"event", "article"}


FREE_TEXT = [(spec, spec_filter) for spec in KINDS for spec_filter in spec.filters
             if spec_filter.match in ("text", "list")]


class TestQuotedItems:
    """A free-text filter's value may hold a comma: in double quotes it stays one item."""

    @pytest.mark.parametrize(("spec", "spec_filter"), FREE_TEXT,
                             ids=[f"{s.plural}-{f.param}" for s, f in FREE_TEXT])
    def test_a_quoted_item_keeps_its_commas(self, client, auth, spec, spec_filter):
        param = spec_filter.param

        def create(slug: str, value: str) -> str:
            text = [value] if spec_filter.match == "list" else value
            made = client.post(f"{API}/{spec.plural}", headers=auth, json=sample(
                spec, title=f"Quoted {slug}", slug=slug, **{spec_filter.column: text}))
            assert made.status_code == 201, made.text
            return f"{spec.type}:{slug}"

        both = create("quoted-both", "Doe, Jane")
        doe, jane = create("quoted-doe", "Doe"), create("quoted-jane", "Jane")
        lookup = "slug=quoted-both,quoted-doe,quoted-jane"
        for route in ROUTES:
            def found(value: str, path: str = url(route, spec)) -> set[str]:
                return get(client, path, f"{lookup}&{param}={quote(value)}")

            assert found('"Doe, Jane"') == {both}, route
            assert found(' "doe, JANE" ') == {both}, route  # case-insensitive, spaces around
            assert found("Doe, Jane") == {doe, jane}, route  # unquoted: two items
            assert found('"Doe, Jane",Doe') == {both, doe}, route
            assert found('-"Doe, Jane"') == {doe, jane}, route  # the `-` outside the quotes
            assert found('"-Doe, Jane"') == {doe, jane}, route  # or inside: always excludes
            assert found('"Doe, Jane') == {jane}, route  # unbalanced: `"Doe` and `Jane`

    def test_a_doubled_quote_inside_quotes_is_one_quote(self, client, auth):
        made = client.post(f"{API}/statements", headers=auth, json=sample(
            STATEMENTS, title="Nicknamed", slug="nicknamed", speaker='Li "Tiger", Wei'))
        assert made.status_code == 201, made.text
        value = quote('"li ""tiger"", wei"')
        assert get(client, url("list"), f"speaker={value}") == {"statement:nicknamed"}


def content(response) -> bytes:
    """A 200 answer's body, but for the query a feed repeats in its own links."""
    assert response.status_code == 200, (response.request.url, response.text)
    return re.sub(rb'(href="[^"?]*)\?[^"]*"', rb'\1"', response.content)


class TestBlankIsAbsent:
    """An empty or all-spaces parameter is no parameter, on every route for every one."""

    @staticmethod
    def operations(client) -> list[tuple[str, list[dict]]]:
        """Every GET of the document but the operations probes, its path filled in, and
        its query parameters."""
        statement = client.get(f"{API}/statements?limit=1").json()["items"][0]
        fill = {"{entry_id}": str(statement["id"]), "{slug}": statement["slug"],
                "{kind}": "statements", "{number}": "46", "{code}": "CN"}
        found = []
        for path, item in client.get("/openapi.json").json()["paths"].items():
            operation = item.get("get")
            if operation is None or "operations" in operation["tags"]:
                continue
            if path.startswith(f"{API}/topics/"):
                path = path.replace("{slug}", "xinjiang")
            elif "/by-slug/" in path or path.startswith((f"{API}/articles/", f"{API}/events/")):
                continue  # a statement fills the paths; the other kinds' share their code
            for hole, value in fill.items():
                path = path.replace(hole, value)
            found.append((path, [p for p in operation.get("parameters", [])
                                 if p["in"] == "query"]))
        return found

    def test_every_parameter_of_every_route_blank_is_absent(self, client):
        operations = self.operations(client)
        assert len(operations) >= 20
        for path, params in operations:
            plain = client.get(path)
            assert plain.status_code == 200, (path, plain.text)
            names = [p["name"] for p in params]
            listed = [p["name"] for p in params
                      if any(o.get("type") == "array" for o in p["schema"].get("anyOf", []))]
            for blanks in ("&".join(f"{n}=" for n in names),
                           "&".join(f"{n}=%20%20" for n in names),
                           "&".join(f"{n}[]=" for n in listed) + "&" + "&".join(
                               f"{n}=,%20," for n in listed)):
                assert content(client.get(f"{path}?{blanks}")) == content(plain), (path,
                                                                                 blanks)

    @routes
    def test_the_issue_s_four_cases(self, client, route):
        path = url(route)
        plain = content(client.get(path))
        for blank in ("q=", "topic=", "cursor=", "limit=", "offset=", "date_from=",
                      "fields=", "facets=", "sort=", "count=", "sort=,", "topic=,,"):
            if route in ("export", "feed") and blank.split("=")[0] in (
                    "cursor", "offset", "fields", "facets", "count") or (
                    route == "export" and blank.startswith(("limit", "sort"))):
                continue  # not a parameter there: a 400, blank or not
            assert content(client.get(f"{path}?{blank}")) == plain, (route, blank)

    @routes
    def test_a_blank_unknown_parameter_is_still_400(self, client, route):
        assert_problem(client.get(f"{url(route)}?topicz="), 400, "'topicz'")

    def test_a_blank_repeat_of_a_single_valued_parameter_is_dropped(self, client):
        for query in ("limit=&limit=3", "limit=3&limit=", "limit=3&limit=%20&limit="):
            page = client.get(f"{API}/statements?{query}").json()
            assert page["limit"] == 3 and len(page["items"]) == 3, query
        assert_problem(client.get(f"{API}/statements?limit=3&limit=4&limit="), 400,
                       "'limit' given more than once")

    def test_a_blank_write_parameter_takes_its_default(self, client, auth):
        items = [{"title": "Blank flags", "slug": "blank-flags"}]
        answer = client.post(f"{API}/articles/bulk?on_conflict=&atomic=%20", headers=auth,
                             json=items)
        assert answer.status_code == 200, answer.text
        again = client.post(f"{API}/articles/bulk?on_conflict=", headers=auth, json=items)
        assert again.json()["unchanged"] == 1  # `update`, the default: no 409 for the slug


class TestErrorsNameTheParameterAndTheItem:
    @routes
    @pytest.mark.parametrize(("query", "loc", "mentions"), [
        ("topic=xinjiang,tibbet", ["query", "topic"], ("topic", "'tibbet'")),
        ("topic[]=xinjiang&topic[]=-tibbet", ["query", "topic"], ("topic", "'tibbet'")),
        ("country=CN,XX", ["query", "country"], ("country", "'XX'")),
        ("country=CN,USA", ["query", "country", 1], ("country", "'USA'")),
        ("session=46,abc", ["query", "session", 1], ("session", "'abc'")),
        ("session=46&session[]=45,47", ["query", "session"], ("session", "45")),
        ("statement_type=speech,poem", ["query", "statement_type", 1],
         ("statement_type", "'poem'")),
    ])
    def test_a_bad_item_is_a_422_naming_the_parameter_and_the_item(
            self, client, route, query, loc, mentions):
        body = assert_problem(client.get(f"{url(route)}?{query}"), 422, *mentions)
        assert body["errors"][0]["loc"] == loc
