"""Every kind field a list shows that can be filtered by nature has a working filter.

The fields are walked from each kind's spec (no kind is named here): a text, enum,
list-of-text, integer or integer-reference field must have a `FieldFilter` whose parameter finds
the entry holding a value (text case-insensitively), finds any of several values, and
leaves out the entry holding another value. A reference named by slug (a statement's
`event`) needs a filter by that slug, besides the one by id.
"""

import datetime as dt
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pytest

from app.entries.registry import KINDS
from app.entries.spec import KindSpec

Nature = Literal["text", "enum", "list", "integer", "reference", "slug"]


def _bare(annotation: Any) -> Any:
    """The type a field holds, without `| None` and `Annotated` constraints."""
    if get_origin(annotation) in (Union, types.UnionType):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    return get_args(annotation)[0] if get_origin(annotation) is Annotated else annotation


def _nature(spec: KindSpec, name: str) -> Nature | None:
    """What a kind field holds, as a filter sees it; None when it is not filterable by
    nature (dates: `date_from`/`date_to` bound the primary one)."""
    annotation = _bare(spec.public_model.model_fields[name].annotation)
    if name in spec.references:
        return "reference"
    if name in spec.reference_slugs:  # the same link, named by the linked entry's slug
        return "slug"
    if get_origin(annotation) is Literal:
        return "enum"
    if get_origin(annotation) is list:
        return "list"
    if annotation is str:
        return "text"
    if annotation is int:
        return "integer"
    return None


def filterable_fields() -> list[tuple[KindSpec, str, Nature]]:
    """(kind, field, nature) for every filterable-by-nature kind field a list shows."""
    found = []
    for spec in KINDS:
        for name in spec.kind_fields.model_fields:
            if name == spec.primary_date:
                continue
            nature = _nature(spec, name)
            if nature is not None:
                found.append((spec, name, nature))
    return found


FIELDS = filterable_fields()


def test_the_walk_finds_fields_of_every_kind():
    assert {spec.type for spec, _, _ in FIELDS} == {spec.type for spec in KINDS}
    assert {"text", "enum", "list", "reference", "slug"} <= {n for _, _, n in FIELDS}


def _values(client, auth, spec: KindSpec, name: str, nature: Nature) -> tuple[Any, Any]:
    """Two distinct values of the field, as written."""
    if nature == "enum":
        first, second = spec.enum_values(name)[:2]
        return first, second
    if nature == "list":
        return [f"Probe One {name}"], [f"Probe Two {name}"]
    if nature == "text":
        return f"Probe One {name}", f"Probe Two {name}"
    if nature == "integer":  # above the field's lower bound, and above 0 (-n excludes n)
        bounds = spec.create_model.model_fields[name].metadata
        low = max([0, *(getattr(b, "ge", getattr(b, "gt", 0) + 1) for b in bounds
                        if hasattr(b, "ge") or hasattr(b, "gt"))])
        return low + 1, low + 2
    reference = spec.reference_slugs.get(name, name)
    target = next(s for s in KINDS if s.type == spec.references[reference])
    linked = []
    for n in (1, 2):
        created = client.post(f"/api/v1/{target.plural}", headers=auth,
                              json={"title": f"Referenced {name} {n}"})
        assert created.status_code == 201, created.text
        linked.append(created.json()["slug" if nature == "slug" else "id"])
    return linked[0], linked[1]


def _query(value: Any, nature: Nature) -> Any:
    """A value as a filter is sent: text changed in case, a list's single element."""
    if nature == "list":
        value = value[0]
    return value.upper() if nature in ("text", "list", "slug") else value


def _titles(client, spec: KindSpec, param: str, values: tuple[Any, ...]) -> set[str]:
    """The titles starting "Holds" that a kind's list gives for these filter values."""
    response = client.get(f"/api/v1/{spec.plural}", params={param: list(values), "limit": 100})
    assert response.status_code == 200, response.text
    return {item["title"] for item in response.json()["items"]
            if item["title"].startswith("Holds")}


@pytest.mark.parametrize(("spec", "name", "nature"), FIELDS,
                         ids=[f"{spec.plural}.{name}" for spec, name, _ in FIELDS])
def test_every_filterable_field_has_a_working_filter(client, auth, spec, name, nature):
    column = spec.reference_slugs.get(name, name)
    matching = [f.param for f in spec.filters
                if f.column == column and (f.match == "slug") == (nature == "slug")]
    assert matching, f"{spec.plural}: no filter on '{name}'"
    param = matching[0]
    first, second = _values(client, auth, spec, name, nature)
    for title, value in (("Holds the first", first), ("Holds the second", second)):
        created = client.post(f"/api/v1/{spec.plural}", headers=auth,
                              json={"title": title, name: value})
        assert created.status_code == 201, created.text

    def titles(*values: Any) -> set[str]:
        return _titles(client, spec, param, values)

    assert titles(_query(first, nature)) == {"Holds the first"}
    assert titles(_query(first, nature), _query(second, nature)) == {
        "Holds the first", "Holds the second"}
    documented = {p["name"] for p in client.get("/openapi.json").json()["paths"]
                  [f"/api/v1/{spec.plural}"]["get"]["parameters"]}
    assert param in documented


def _excluded(value: Any) -> Any:
    """A filter value as an exclusion: a leading `-`, a negative id."""
    return -value if isinstance(value, int) else f"-{value}"


@pytest.mark.parametrize(("spec", "name", "nature"), FIELDS,
                         ids=[f"{spec.plural}.{name}" for spec, name, _ in FIELDS])
def test_every_filter_excludes_a_value_with_a_leading_minus(client, auth, spec, name, nature):
    """`-value` keeps the entries holding none of the excluded values, an entry whose field
    is empty among them; with a value to match, it narrows that value's matches."""
    column = spec.reference_slugs.get(name, name)
    param = next(f.param for f in spec.filters
                 if f.column == column and (f.match == "slug") == (nature == "slug"))
    first, second = _values(client, auth, spec, name, nature)
    stored = {}
    for title, value in (("Holds the first", first), ("Holds the second", second),
                         ("Holds neither", None)):
        fields = {"title": title} | ({name: value} if value is not None else {})
        created = client.post(f"/api/v1/{spec.plural}", headers=auth, json=fields)
        assert created.status_code == 201, created.text
        stored[title] = created.json()[name]

    def holds(held: Any, value: Any) -> bool:
        return value[0] in (held or []) if nature == "list" else held == value

    def titles(*values: Any) -> set[str]:
        return _titles(client, spec, param, values)

    without_first = {title for title, held in stored.items() if not holds(held, first)}
    assert "Holds the second" in without_first and "Holds the first" not in without_first
    assert titles(_excluded(_query(first, nature))) == without_first
    assert titles(_excluded(_query(first, nature)), _excluded(_query(second, nature))) == {
        title for title in without_first if not holds(stored[title], second)}
    assert titles(_query(second, nature), _excluded(_query(first, nature))) == {
        title for title in without_first if holds(stored[title], second)}


def test_dates_are_not_expected_to_have_a_filter():
    """The walk leaves out dates only (the primary one has date_from/date_to)."""
    left_out = [(spec.type, name) for spec in KINDS for name in spec.kind_fields.model_fields
                if name != spec.primary_date and _nature(spec, name) is None]
    for kind, name in left_out:
        spec = next(s for s in KINDS if s.type == kind)
        assert _bare(spec.public_model.model_fields[name].annotation) is dt.date, (kind, name)
