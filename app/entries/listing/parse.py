"""Parse: a list request's query values, validated into one typed `ListRequest`.

Every 4xx of a list is raised here, before any statement runs, but one: whether the
topics and sessions it names exist. A list page asks that in its own statement (`plan`
counts the named ones beside the page; `run` calls `check_references` only when a
count falls short or the page is empty, to name the first unknown value); an export or
a feed asks it here, before its stream starts.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import cache, lru_cache
from typing import Any

import pycountry
from sqlalchemy import ColumnElement, Connection, Float, Select, bindparam, func, literal_column
from sqlalchemy import select as select_

from app.core.config import get_settings
from app.core.errors import BadRequest, Unprocessable
from app.entries.fields import MAX_ENTRY_ID
from app.entries.listing import filters, fulltext
from app.entries.listing.filters import Criteria, Shape, entries
from app.entries.listing.paging import SortField, SortKey, cursor_values, decode_cursor, parse_sort
from app.entries.listing.params import COMMON_FACETS, ID_LIST_PATTERN, MAX_LOOKUPS
from app.entries.repository import cited_select, kind_select
from app.entries.spec import KindSpec
from app.reference.models import CouncilSession, Topic

SORT_KEYS = ("date", "title", "created_at", "updated_at", "id", "relevance")
COUNT_MODES = ("capped", "exact", "none")
SEARCHING = ("positive", "prefixed", "excluded")  # text forms with words to match


@dataclass(frozen=True, eq=False)  # one object per list route: compared and hashed by identity
class Scope:
    """What a list reads: one kind (joined with its detail table) or several kinds."""

    name: str
    kinds: tuple[KindSpec, ...]
    joined: KindSpec | None
    base: Callable[[], Select[Any]]
    item_fields: tuple[str, ...]
    facets: tuple[str, ...]
    default_sort: str = "-date"
    dated_only: bool = False


def kind_scope(spec: KindSpec) -> Scope:
    """A kind's own list: its fields and filters."""
    fields = tuple(spec.public_model.model_fields)
    return Scope(spec.plural, (spec,), spec, lambda: kind_select(spec), fields,
                 COMMON_FACETS + spec.facets)


def cited_scope(scope: Scope) -> Scope:
    """The same rows as `scope`, read as a citation shows them (`cited_select`)."""
    return replace(scope, name=f"{scope.name}_cited", base=lambda: cited_select(scope.kinds))


@dataclass(frozen=True)
class ListRequest:
    """A validated list request: what to match (shape and bound values), order, page, extras."""

    criteria: Criteria
    shape: Shape
    values: dict[str, Any]  # bound values by parameter name, the cursor's included
    dialect: str
    sort: str  # as the request wrote it (the plan parses it again when it builds)
    keys: tuple[SortKey, ...]
    ranked: bool  # ordered by the text score
    nulls: tuple[bool, ...] | None  # which cursor values are NULL; None without a cursor
    limit: int
    offset: int
    count: str  # capped, exact or none
    fields: tuple[str, ...]  # sparse fieldset; empty: every field
    facets: tuple[str, ...]
    facet_limit: int
    named: dict[str, list[Any]]  # the topic and session values the page checks (plan)


def _title_key(dialect: str) -> ColumnElement[Any]:
    """Case-insensitive title order, byte-wise on both engines so they agree."""
    return func.lower(entries.c.title).collate("C" if dialect == "postgresql" else "BINARY")


# Stands for the text score while a sort is parsed; the page statement puts the real one.
SCORE = literal_column("0.0", Float(precision=53))


@cache
def sort_fields(dialect: str, ranked: bool) -> dict[str, SortField]:
    """The keys a list sorts by (relevance only when there is a text query)."""
    fields = {
        "date": SortField("date", filters.sort_date(dialect), date),
        "title": SortField("title", _title_key(dialect), str),
        "created_at": SortField("created_at", entries.c.created_at, datetime),
        "updated_at": SortField("updated_at", entries.c.updated_at, datetime),
        "id": SortField("id", entries.c.id, int),
    }
    if ranked:
        fields["relevance"] = SortField("relevance", SCORE, float, best_first=True)
    return fields


@lru_cache(maxsize=256)  # few distinct sort texts (each at most 200 characters) come
def sort_keys(sort: str, dialect: str) -> tuple[SortKey, ...]:
    """The keys of a sort text (400 naming an unknown or repeated key)."""
    fields = sort_fields(dialect, "relevance" in sort)
    return tuple(parse_sort(sort, fields, fields["id"]))


def bad_value(param: str, message: str) -> Unprocessable:
    """422 naming the query parameter whose value is wrong."""
    return Unprocessable(f"query.{param}: {message}",
                         errors=[{"loc": ["query", param], "msg": message}])


def csv(value: str | None) -> list[str]:
    """The items of a comma list, blanks dropped."""
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _signed(values: list[Any] | None) -> tuple[list[Any], list[Any]]:
    """A filter's values split into those to match and those to exclude (a leading `-`,
    or a negative number), each once, in order. What is left after the `-` is checked as
    any value is (`topic=-` names the unknown topic '')."""
    kept: list[Any] = []
    dropped: list[Any] = []
    for value in values or []:
        if isinstance(value, int):
            (kept if value >= 0 else dropped).append(abs(value))
        elif value[:1] == "-":
            dropped.append(value[1:])
        else:
            kept.append(value)
    return list(dict.fromkeys(kept)), list(dict.fromkeys(dropped))


def _types(values: list[str] | None, scope: Scope) -> tuple[list[str], list[str]]:
    allowed = [spec.type for spec in scope.kinds]
    kept, dropped = _signed([t for value in values or [] for t in csv(value)])
    for value in kept + dropped:  # `- event` too: the `-` belongs to the name
        if value not in allowed:
            raise bad_value("type", f"unknown type '{value}'; use {', '.join(allowed)}")
    return kept, dropped


_ID_LIST = re.compile(ID_LIST_PATTERN)


def _lookups(param: str, values: list[str] | None) -> tuple[list[str], list[str]]:
    """`id=` or `slug=`: the items of its comma lists, split into those to match and those
    to exclude (422 past MAX_LOOKUPS in all)."""
    items = [item for value in values or [] for item in csv(value)]
    if len(items) > MAX_LOOKUPS:
        raise bad_value(param, f"at most {MAX_LOOKUPS} values in all")
    return _signed(items)


def _ids(values: list[str] | None) -> tuple[list[int], list[int]]:
    """`id=12,-15`: the ids to match and to exclude (422 naming `id` for a non-integer).

    An id past any entry's (MAX_ENTRY_ID) stands as 0, which no entry has: it matches
    nothing and fits the id column's parameter."""
    for value in values or []:
        if not _ID_LIST.fullmatch(value):
            raise bad_value("id", f"'{value[:40]}' is not a comma list of entry ids "
                            "(whole numbers, a leading `-` excludes)")
    kept, dropped = _lookups("id", values)
    return _entry_ids(kept), _entry_ids(dropped)


def _entry_ids(items: list[str]) -> list[int]:
    numbers = (int(item) for item in items)
    return list(dict.fromkeys(n if n <= MAX_ENTRY_ID else 0 for n in numbers))


def _countries(values: list[str]) -> list[str]:
    codes = [v.upper() for v in values]
    for code in codes:
        if pycountry.countries.get(alpha_2=code) is None:
            raise bad_value("country", f"unknown country '{code}'")
    return list(dict.fromkeys(codes))


_TOPICS, _SESSIONS = Topic.__table__, CouncilSession.__table__  # type: ignore[attr-defined]
# The filters whose values must name a reference row: the column each value is looked up in.
REFERENCES = {"topic": _TOPICS.c.slug, "session": _SESSIONS.c.number}


@cache
def _known(column: Any) -> Select[Any]:
    """Which of the bound `wanted` values a reference column holds (built once a column)."""
    return select_(column).where(column.in_(bindparam("wanted", expanding=True)))


def named_references(criteria: Criteria) -> dict[str, list[Any]]:
    """The values, kept or excluded, of each filter that names reference rows."""
    named = {"topic": criteria.topics + criteria.excluded.get("topic", []),
             "session": criteria.sessions + criteria.excluded.get("session", [])}
    return {param: values for param, values in named.items() if values}


def check_references(connection: Connection, criteria: Criteria) -> None:
    """422 naming the first topic or session value that its reference table does not hold."""
    for param, values in named_references(criteria).items():
        found = set(connection.scalars(_known(REFERENCES[param]), {"wanted": values}))
        for value in values:
            if value not in found:
                raise bad_value(param, f"unknown {param} '{value}'" if param == "topic"
                                else f"unknown {param} {value}")


def criteria_from(scope: Scope, params: dict[str, Any]) -> Criteria:
    """Validate the filter parameters (422 naming a bad value) into Criteria: the values to
    match, and in `excluded` (by parameter) those a leading `-` excludes. Whether the
    topics and sessions exist is `check_references`'s to say."""
    topics, not_topics = _signed(params.get("topic"))
    countries, not_countries = _signed(params.get("country"))
    sessions, not_sessions = _signed(params.get("session"))
    languages, not_languages = _signed(params.get("language"))
    types, not_types = _types(params.get("type"), scope)
    precisions, not_precisions = _signed(params.get("date_precision"))
    ids, not_ids = _ids(params.get("id"))
    slugs, not_slugs = _lookups("slug", params.get("slug"))
    criteria = Criteria(
        topics=topics, countries=_countries(countries), sessions=sessions,
        languages=languages, types=types, precisions=precisions, ids=ids,
        slugs=[slug.lower() for slug in slugs],
        date_from=params.get("date_from"), date_to=params.get("date_to"),
        dated_only=scope.dated_only,
    )
    excluded = {"topic": not_topics, "country": _countries(not_countries),
                "session": not_sessions, "language": not_languages, "type": not_types,
                "date_precision": not_precisions, "id": not_ids,
                "slug": [slug.lower() for slug in not_slugs]}
    criteria.excluded = {name: values for name, values in excluded.items() if values}
    if criteria.date_from and criteria.date_to and criteria.date_from > criteria.date_to:
        raise bad_value("date_to", "date_to is before date_from")
    for spec in scope.kinds:
        for spec_filter in spec.filters:
            param = spec_filter.param
            if params.get(param):
                kept, dropped = _signed(params[param])
                if kept:
                    criteria.kind_values[param] = kept
                if dropped:
                    criteria.excluded[param] = dropped
    q = (params.get("q") or "").strip()
    if q:
        criteria.text = _text_query(q, scope)
    return criteria


@cache
def text_fields(scope: Scope) -> tuple[str, ...]:
    """The fields `q` may name (`title:…`): the entry's text, and the name fields of the
    scope's kinds (an entry of a kind without the field matches no term on it)."""
    names = dict.fromkeys(name for spec in scope.kinds for name in spec.name_fields)
    return (*fulltext.CORE_FIELDS, *names)


def _text_query(q: str, scope: Scope) -> fulltext.TextQuery:
    """`q` parsed (400 naming it for an unknown field or a too short prefix)."""
    fields = text_fields(scope)
    try:
        return fulltext.parse(q, fields)
    except fulltext.UnknownField as error:
        owner = scope.joined.plural if scope.joined is not None else "entries"
        message = f"{owner} have no field '{error.name}' to search; use {', '.join(fields)}"
    except fulltext.QueryError as error:
        message = str(error)
    raise BadRequest(f"q: {message}", errors=[{"loc": ["query", "q"], "msg": message}])


def chosen(param: str, value: str | None, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """The names of a comma list, each once (400 naming `param` and the allowed names)."""
    names = csv(value)
    for name in names:
        if name not in allowed:
            raise BadRequest(f"{param}: unknown value '{name}'; use {', '.join(allowed)}",
                             errors=[{"loc": ["query", param], "msg": f"unknown '{name}'"}])
    return tuple(dict.fromkeys(names))


def parse(connection: Connection, scope: Scope, params: dict[str, Any]) -> ListRequest:
    """The query values of a list route (`params`), validated into a ListRequest."""
    dialect = connection.dialect.name
    criteria = criteria_from(scope, params)
    shape, values = filters.bind(criteria, scope.kinds, dialect)
    searching = shape.text in SEARCHING
    # Blank items dropped (`date,,id`); none left (`sort=,`) is no sort given.
    sort = ",".join(csv(params.get("sort"))) or (
        "relevance" if searching else scope.default_sort)
    ranked = "relevance" in csv(sort.replace("-", "").replace("+", ""))
    if ranked and not searching:
        raise BadRequest("sort: relevance needs a q with words to match",
                         errors=[{"loc": ["query", "sort"], "msg": "relevance without q"}])
    keys = sort_keys(sort, dialect)
    limit, offset, cursor = params["limit"], params["offset"], params.get("cursor")
    nulls = None
    if cursor is not None:
        if offset:
            raise BadRequest("use either offset or cursor, not both",
                             errors=[{"loc": ["query", "cursor"], "msg": "offset given too"}])
        after = decode_cursor(cursor, keys)
        nulls = tuple(value is None for value in after)
        values |= cursor_values(after)
    if ranked:
        values["rank_window"] = get_settings().rank_window
    return ListRequest(
        criteria=criteria, shape=shape, values=values, dialect=dialect,
        sort=sort, keys=keys, ranked=ranked,
        nulls=nulls, limit=limit, offset=offset, count=params["count"],
        fields=chosen("fields", params.get("fields"), scope.item_fields),
        facets=chosen("facets", params.get("facets"), scope.facets),
        facet_limit=params["facet_limit"], named=named_references(criteria))


def parse_filters(connection: Connection, scope: Scope, params: dict[str, Any]
                  ) -> tuple[Shape, dict[str, Any]]:
    """Only the filters (exports and streams take no paging, sort or extras)."""
    criteria = criteria_from(scope, params)
    check_references(connection, criteria)
    return filters.bind(criteria, scope.kinds, connection.dialect.name)
