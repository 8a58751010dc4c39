"""List requests, the same for one kind, all kinds (/search) and the timeline.

A request is validated into Criteria, then becomes one SELECT (filters,
full-text match and score, keyset or offset page), one capped count, and one
GROUP BY per requested facet. Unknown parameters are refused before any SQL.
"""

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import pycountry
from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    Text,
    bindparam,
    cast,
    false,
    func,
    literal,
    literal_column,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import Session

from app.core.clock import as_utc
from app.core.config import get_settings
from app.core.errors import BadRequest, Unprocessable
from app.core.statements import statements
from app.entries import filters, fulltext
from app.entries import repository as repo
from app.entries.aggregates import Aggregates, version_column
from app.entries.filters import Criteria, Shape, entries
from app.entries.paging import (
    SortField,
    SortKey,
    cursor_values,
    decode_cursor,
    encode_cursor,
    keyset_after,
    parse_sort,
    sort_token,
)
from app.entries.params import COMMON_FACETS
from app.entries.spec import KindSpec
from app.reference.service import missing, sessions, topics

SORT_KEYS = ("date", "title", "created_at", "updated_at", "id", "relevance")
SEARCHING = ("positive", "excluded")  # text forms with words to match


@dataclass(frozen=True)
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
    return Scope(spec.plural, (spec,), spec, lambda: repo.kind_select(spec), fields,
                 COMMON_FACETS + spec.facets)


def _title_key(dialect: str) -> ColumnElement[Any]:
    """Case-insensitive title order, byte-wise on both engines so they agree."""
    return func.lower(entries.c.title).collate("C" if dialect == "postgresql" else "BINARY")


# Stands for the text score while a sort is parsed; the page statement puts the real one.
_SCORE = literal_column("0.0", Float(precision=53))


@lru_cache
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
        fields["relevance"] = SortField("relevance", _SCORE, float, best_first=True)
    return fields


def _bad(param: str, message: str) -> Unprocessable:
    return Unprocessable(f"query.{param}: {message}",
                         errors=[{"loc": ["query", param], "msg": message}])


def _csv(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _types(values: list[str] | None, scope: Scope) -> list[str]:
    allowed = [spec.type for spec in scope.kinds]
    chosen = [t for value in values or [] for t in _csv(value)]
    for value in chosen:
        if value not in allowed:
            raise _bad("type", f"unknown type '{value}'; use {', '.join(allowed)}")
    return list(dict.fromkeys(chosen))


def _countries(values: list[str] | None) -> list[str]:
    codes = [v.upper() for v in values or []]
    for code in codes:
        if pycountry.countries.get(alpha_2=code) is None:
            raise _bad("country", f"unknown country '{code}'")
    return codes


def criteria_from(session: Session, scope: Scope, params: dict[str, Any]) -> Criteria:
    """Validate the filter parameters (422 naming a bad value) into Criteria."""
    criteria = Criteria(
        topics=list(dict.fromkeys(params.get("topic") or [])),
        countries=_countries(params.get("country")),
        sessions=list(dict.fromkeys(params.get("session") or [])),
        languages=params.get("language") or [],
        types=_types(params.get("type"), scope),
        precisions=list(dict.fromkeys(params.get("date_precision") or [])),
        date_from=params.get("date_from"),
        date_to=params.get("date_to"),
        dated_only=scope.dated_only,
    )
    for value in missing(session, topics.c.slug, criteria.topics):
        raise _bad("topic", f"unknown topic '{value}'")
    for value in missing(session, sessions.c.number, criteria.sessions):
        raise _bad("session", f"unknown session {value}")
    if criteria.date_from and criteria.date_to and criteria.date_from > criteria.date_to:
        raise _bad("date_to", "date_to is before date_from")
    for spec in scope.kinds:
        for spec_filter in spec.filters:
            if params.get(spec_filter.param):
                criteria.kind_values[spec_filter.param] = params[spec_filter.param]
    q = (params.get("q") or "").strip()
    if q:
        criteria.text = fulltext.parse(q)
    return criteria


def _chosen(param: str, value: str | None, allowed: tuple[str, ...]) -> list[str]:
    chosen = _csv(value)
    for name in chosen:
        if name not in allowed:
            raise BadRequest(f"{param}: unknown value '{name}'; use {', '.join(allowed)}",
                             errors=[{"loc": ["query", param], "msg": f"unknown '{name}'"}])
    return list(dict.fromkeys(chosen))


def _filtered(scope: Scope, shape: Shape, dialect: str, stmt: Select[Any],
              match: filters.TextMatch | None, skip: str | None = None) -> Select[Any]:
    """Apply the text match and the filters to a SELECT over the scope."""
    if match is not None:
        if match.join is not None:
            stmt = stmt.join(*match.join)
        stmt = stmt.where(*match.where)
    if shape.text == "empty":
        stmt = stmt.where(false())
    return stmt.where(*filters.predicates(shape, scope.kinds, joined=scope.joined,
                                          dialect=dialect, skip=skip))


def _base_from(scope: Scope, shape: Shape, join: tuple[Any, Any] | None = None,
               *, detail: bool = False) -> Select[Any]:
    """SELECT id over the scope's rows (for counts and facets), optionally joined.

    A kind's detail table is joined only when a filter or facet needs its columns:
    every entry of a kind has its detail row, so `type` alone counts the same rows.
    """
    from_clause: Any = entries
    where = []
    if scope.joined is not None:
        spec = scope.joined
        where.append(entries.c.type == spec.type)
        if detail or any(filters.kind_key(spec, f) in shape.filters for f in spec.filters):
            table = spec.detail_table
            from_clause = from_clause.join(table, table.c.id == entries.c.id)
    if join is not None:
        from_clause = from_clause.join(*join)
    return select(entries.c.id).select_from(from_clause).where(*where)


def _matched(shape: Shape, dialect: str) -> filters.TextMatch | None:
    """The unscored text match of the shape, if it has words to match."""
    if shape.text not in SEARCHING:
        return None
    return filters.text_filter(shape.text, dialect)


def _ranking_pool(scope: Scope, shape: Shape, dialect: str,
                  matched: filters.TextMatch) -> Select[Any]:
    """The newest `rank_window` matching rows: the only ones a relevance order scores.

    Scoring every match of a common word costs seconds at 200,000 rows; the pool is found
    by walking the date index (or, for a rare word, the text index) and stops at the
    window (bound as `rank_window`). Trade-off: when more rows match than the window
    holds, older matches are not ranked (sort by date to reach them). Counts and facets
    still cover every match.
    """
    return (_filtered(scope, shape, dialect, _base_from(scope, shape), matched)
            .order_by(filters.sort_date(dialect).desc(), entries.c.id.desc())
            .limit(bindparam("rank_window")))


def _page_statement(scope: Scope, shape: Shape, dialect: str, keys: list[SortKey],
                    ranked: bool, nulls: tuple[bool, ...] | None) -> Select[Any]:
    """One page: the page's ids and sort values first, then those rows whole.

    A deferred join: the ids are found over the filters' indexes alone (for the default
    order, an index-only scan that stops after `limit + 1` keys); only those rows are then
    read whole and joined to their detail row. Offsets and rank pools never read the wide
    rows they skip. The sort values come back as `_sort0`, `_sort1`, … for the cursor.
    """
    match = matched = _matched(shape, dialect)
    if ranked and matched is not None:
        # Scored only when the order uses the score: `q` with `sort=-date` just filters.
        match = filters.text_match(shape.text, dialect,
                                   _ranking_pool(scope, shape, dialect, matched))
        keys = [SortKey(dataclasses.replace(key.field, expression=match.score), key.descending)
                if key.field.name == "relevance" else key for key in keys]
    ids = _filtered(scope, shape, dialect, _base_from(scope, shape), match)
    if nulls is not None:
        ids = ids.where(keyset_after(keys, nulls))
    labels = [key.field.expression.label(f"_sort{i}") for i, key in enumerate(keys)]
    page_ids = (ids.add_columns(*labels).order_by(*(key.order_by() for key in keys))
                .limit(bindparam("limit")).offset(bindparam("offset")).subquery("page_ids"))
    sorted_by = [page_ids.c[label.name] for label in labels]
    return (scope.base().join(page_ids, page_ids.c.id == entries.c.id).add_columns(*sorted_by)
            .order_by(*(key.order_by(column) for key, column in zip(keys, sorted_by,
                                                                     strict=True))))


def _linked_only(scope: Scope, shape: Shape) -> Select[Any] | None:
    """The matches of a kind's list filtered by topics (or countries) alone, from the links.

    With no other filter and no text query, they are exactly the kind's links to those
    values, counted from the `(type, topic, entry_id)` index without reading a row of
    `entries` per match (a common topic at 200,000 articles on PostgreSQL: 68 -> 7 ms).
    DISTINCT: an entry linked to two of the values counts once.
    """
    if scope.joined is None or shape.text is not None or shape.dated_only:
        return None
    if len(shape.filters) != 1 or not shape.filters <= filters.LINKS.keys():
        return None
    (name,) = shape.filters
    return filters.tagged_ids(name, scope.joined).distinct()


def _count_statement(scope: Scope, shape: Shape, dialect: str, capped: bool) -> Select[Any]:
    inner = _linked_only(scope, shape)  # DISTINCT ids: each entry counts once
    if inner is None:
        # Counted rows select a constant, not the id: SQLite then reads no column of
        # the index entries it walks (the capped count of a list: 670 -> 430 µs).
        inner = _filtered(scope, shape, dialect, _base_from(scope, shape),
                          _matched(shape, dialect)).with_only_columns(
            literal_column("1"), maintain_column_froms=True)
    if capped:
        inner = inner.limit(bindparam("count_cap"))
    return select(func.count()).select_from(inner.subquery())


def _folds_count(shape: Shape, mode: str) -> bool:
    """Whether the page statement carries the count itself (see `_counted`)."""
    return mode == "capped" and shape.text not in SEARCHING


def _counted(page: Select[Any], scope: Scope, shape: Shape, dialect: str,
             mode: str) -> Select[Any]:
    """The page with its count as one more column (`_total`): one statement, one round trip.

    The count is an uncorrelated scalar subquery, which both engines run once per
    statement. A page with no rows carries no count; `run` then asks `_count`. Only the
    capped count of a list without a text query (bounded, index-served work) is folded
    in: `count=exact` keeps its own statement, so it gets its own statement time-out, and
    a text query's count reads its matches, so it is one `aggregates` may keep.
    """
    if not _folds_count(shape, mode):
        return page
    count = _count_statement(scope, shape, dialect, capped=True)
    return page.add_columns(count.scalar_subquery().label("_total"))


def _count(aggregates: Aggregates, scope: Scope, shape: Shape, dialect: str,
           values: dict[str, Any], mode: str) -> tuple[int, bool]:
    """`total` and `total_exact` by a statement of their own (`mode`: capped or exact)."""
    capped = mode == "capped"
    key = ("count", scope.name, dialect, shape, capped)
    stmt = statements.get(key, lambda: _count_statement(scope, shape, dialect, capped)
                          .add_columns(version_column(dialect)))
    cap = get_settings().count_cap
    counted = aggregates.rows(key, stmt, values | {"count_cap": cap + 1})[0][0] or 0
    if capped and counted > cap:
        return cap, False
    return counted, True


INTEGER_FACETS = frozenset({"session", "year"})
LINK_LISTS = {"topic": "topics", "country": "countries"}  # facet -> the entry's JSON list


def _facet_column(name: str, scope: Scope, dialect: str) -> tuple[Any, Any, Any]:
    """The column a facet (not a link list) groups by, its table, and its entry id column."""
    if name == "year":
        return filters.year_of(dialect), entries, entries.c.id
    if name in ("session", "type", "language"):
        return entries.c[name], entries, entries.c.id
    detail = next(s for s in scope.kinds if name in s.facets).detail_table
    return detail.c[name], detail, detail.c.id


def _facet_shape(scope: Scope, shape: Shape, name: str) -> Shape:
    """The shape of a facet's matches: the list's, without the facet's own filter."""
    own = {name} | {filters.kind_key(spec, f) for spec in scope.kinds for f in spec.filters
                    if f.column == name}
    return dataclasses.replace(shape, filters=shape.filters - own)


def _facets_statement(scope: Scope, shape: Shape, dialect: str, names: tuple[str, ...],
                      capped: bool) -> Any:
    """Counts per value of several facets over the same matches, in one statement.

    The matches are read once (a CTE holding their ids and the entry columns the facets
    group by); each facet is one branch of a UNION ALL: (facet, value as text, count).
    Capped: over the newest `count_cap` matches only, found as a page is (the date
    index, stopping at the cap), so facets never read more rows than a capped count.
    """
    ids = _filtered(scope, shape, dialect, _base_from(scope, shape), _matched(shape, dialect))
    on_entries = {}
    for name in names:
        if name in LINK_LISTS:  # the entry's own JSON copy of its links: no join
            on_entries[name] = entries.c[LINK_LISTS[name]].label(f"facet_{name}")
            continue
        value, table, _ = _facet_column(name, scope, dialect)
        if table is entries:
            on_entries[name] = value.label(f"facet_{name}")
    ids = ids.add_columns(*on_entries.values())
    if capped:
        ids = (ids.order_by(filters.sort_date(dialect).desc(), entries.c.id.desc())
               .limit(bindparam("count_cap")))
    matched = ids.cte("matched")
    branches = []
    for name in names:
        if name in LINK_LISTS:
            elements = filters.json_elements(dialect, matched.c[f"facet_{name}"])
            value, source = elements.c.value, matched.join(elements, true())
        elif name in on_entries:
            value, source = matched.c[f"facet_{name}"], matched
        else:
            value, table, entry_id = _facet_column(name, scope, dialect)
            source = matched.join(table, entry_id == matched.c.id)
        order = (func.count().desc(), value)
        counted = (select(literal(name).label("facet"), cast(value, Text).label("value"),
                          func.count().label("n"), literal(len(branches)).label("branch"),
                          func.row_number().over(order_by=order).label("position"))
                   .select_from(source).where(value.is_not(None)).group_by(value)
                   .order_by(*order).limit(bindparam("facet_limit"))
                   .subquery(f"counted_{name}"))
        branches.append(select(counted, version_column(dialect)))
    return union_all(*branches).order_by(literal_column("branch"), literal_column("position"))


def _facets(aggregates: Aggregates, scope: Scope, shape: Shape, dialect: str,
            values: dict[str, Any], names: list[str], limit: int, mode: str,
            within_cap: bool | None) -> tuple[dict[str, list], bool]:
    """Counts per value for each facet (ignoring its own filter), and whether all are exact.

    Facets whose matches are the same (no own filter in the request) share one statement.
    Unless `count=exact`, a facet whose matches outnumber the count cap counts the newest
    `count_cap` of them (`facets_exact: false`), as `total` stops at the cap.
    `within_cap`: whether the list's own matches are within the cap, when known.
    """
    capped = mode != "exact"
    known = {shape: within_cap} if within_cap is not None else {}
    bound = values | {"facet_limit": limit, "count_cap": get_settings().count_cap}
    groups: dict[Shape, list[str]] = {}
    for name in names:
        groups.setdefault(_facet_shape(scope, shape, name), []).append(name)
    counts: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    exact = True
    for own, group in groups.items():
        key = ("facets", scope.name, dialect, own, tuple(group), capped)
        stmt = statements.get(key, lambda own=own, group=tuple(group): _facets_statement(
            scope, own, dialect, group, capped))
        for facet, value, n, *_ in aggregates.rows(key, stmt, bound):
            counts[facet].append({"value": int(value) if facet in INTEGER_FACETS else value,
                                  "count": n})
        if capped:
            if known.get(own) is None:
                known[own] = _count(aggregates, scope, own, dialect, values, "capped")[1]
            exact = exact and bool(known[own])
    return counts, exact


def run(session: Session, scope: Scope, params: dict[str, Any],
        to_item: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """Answer a list request: page, count, next cursor, facets, highlights."""
    dialect = session.get_bind().dialect.name
    criteria = criteria_from(session, scope, params)
    shape, values = filters.bind(criteria, scope.kinds, dialect)
    searching = shape.text in SEARCHING
    sort = params.get("sort") or ("relevance" if searching else scope.default_sort)
    ranked = "relevance" in _csv(sort.replace("-", ""))
    if ranked and not searching:
        raise BadRequest("sort: relevance needs a q with words to match",
                         errors=[{"loc": ["query", "sort"], "msg": "relevance without q"}])
    fields = sort_fields(dialect, ranked)
    keys = parse_sort(sort, fields, fields["id"])
    fieldset = _chosen("fields", params.get("fields"), scope.item_fields)
    facet_names = _chosen("facets", params.get("facets"), scope.facets)
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
    mode = params["count"]
    aggregates = Aggregates(session)
    page = statements.get(
        ("page", scope.name, dialect, shape, sort_token(keys), nulls, mode),
        lambda: _counted(_page_statement(scope, shape, dialect, keys, ranked, nulls),
                         scope, shape, dialect, mode))
    cap = get_settings().count_cap
    bound = values | {"limit": limit + 1, "offset": offset, "count_cap": cap + 1}
    rows = [dict(row) for row in session.execute(page, bound).mappings()]
    more = len(rows) > limit
    rows = rows[:limit]
    labels = [f"_sort{i}" for i in range(len(keys))]
    next_cursor = None
    if more and rows:
        next_cursor = encode_cursor(keys, [rows[-1][label] for label in labels])
    if mode == "none":
        total, exact = None, False
    elif rows and _folds_count(shape, mode):  # counted by the page statement itself
        counted = rows[0]["_total"]
        total, exact = (cap, False) if counted > cap else (counted, True)
    else:  # exact, a text query's, or no row to carry it (past the end, or no match)
        total, exact = _count(aggregates, scope, shape, dialect, values, mode)
    items = []
    for row in rows:
        for label in labels:
            row.pop(label)
        row.pop("_total", None)
        item = to_item(row)
        if criteria.text is not None:
            item["highlights"] = fulltext.highlights(criteria.text, row["title"],
                                                     row.get("summary") or "")
        if fieldset:
            keep = {"id", "type", "highlights", *fieldset}
            item = {k: v for k, v in item.items() if k in keep}
        items.append(item)
    result: dict[str, Any] = {"items": items, "total": total, "total_exact": exact,
                              "limit": limit, "offset": offset, "next_cursor": next_cursor}
    if facet_names:
        within_cap = exact if mode == "capped" else None
        result["facets"], result["facets_exact"] = _facets(
            aggregates, scope, shape, dialect, values, facet_names, params["facet_limit"], mode,
            within_cap)
    return result


def stamp(row: dict[str, Any]) -> dict[str, Any]:
    """Timestamps of a cross-kind row as aware UTC."""
    for key in ("created_at", "updated_at"):
        if key in row:
            row[key] = as_utc(row[key])
    return row


def stream(session: Session, scope: Scope, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every matching row in id order, fetched in chunks (constant memory at any size)."""
    dialect = session.get_bind().dialect.name
    criteria = criteria_from(session, scope, params)
    shape, values = filters.bind(criteria, scope.kinds, dialect)
    stmt = statements.get(("stream", scope.name, dialect, shape), lambda: _filtered(
        scope, shape, dialect, scope.base(), _matched(shape, dialect)).order_by(entries.c.id))
    result = session.execute(stmt, values, execution_options={"yield_per": 500})
    for row in result.mappings():
        yield dict(row)
