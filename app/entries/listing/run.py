"""Execute and shape: run a list request's statements and build the page a client gets.

The path of a list: `parse` (query values → ListRequest, every 4xx) → `plan` (kept
statements) → here (one connection for the page, its count and facets; rows shaped
into items with highlights and the sparse fieldset; the next cursor).
"""

from collections.abc import Iterator
from typing import Any

import orjson
from sqlalchemy import Connection

from app.core.config import get_settings
from app.core.db import json_loads
from app.entries.listing import fulltext, plan
from app.entries.listing.aggregates import Aggregates
from app.entries.listing.filters import Shape
from app.entries.listing.paging import encode_cursor
from app.entries.listing.parse import (
    ListRequest,
    Scope,
    check_references,
    parse,
    parse_filters,
)

INTEGER_FACETS = frozenset({"session", "year"})


def _count(aggregates: Aggregates, scope: Scope, shape: Shape, request: ListRequest,
           mode: str) -> tuple[int, bool]:
    """`total` and `total_exact` by a statement of their own (`mode`: capped or exact)."""
    capped = mode == "capped"
    cap = get_settings().count_cap
    stmt = plan.count(scope, shape, request.dialect, capped)
    counted = aggregates.rows(stmt, request.values | {"count_cap": cap + 1})[0][0] or 0
    if capped and counted > cap:
        return cap, False
    return counted, True


def _facets(aggregates: Aggregates, scope: Scope, request: ListRequest,
            within_cap: bool | None) -> tuple[dict[str, list], bool]:
    """Counts per value for each facet (ignoring its own filter), and whether all are exact.

    Facets whose matches are the same (no own filter in the request) share one statement.
    Unless `count=exact`, a facet whose matches outnumber the count cap counts the newest
    `count_cap` of them (`facets_exact: false`), as `total` stops at the cap.
    `within_cap`: whether the list's own matches are within the cap, when known.
    """
    capped = request.count != "exact"
    known = {request.shape: within_cap} if within_cap is not None else {}
    bound = request.values | {"facet_limit": request.facet_limit,
                              "count_cap": get_settings().count_cap}
    groups: dict[Shape, list[str]] = {}
    for name in request.facets:
        groups.setdefault(plan.facet_shape(scope, request.shape, name), []).append(name)
    counts: dict[str, list[dict[str, Any]]] = {name: [] for name in request.facets}
    exact = True
    for own, group in groups.items():
        stmt = plan.facets(scope, own, request.dialect, tuple(group), capped)
        for facet, value, n, *_ in aggregates.rows(stmt, bound):
            counts[facet].append({"value": int(value) if facet in INTEGER_FACETS else value,
                                  "count": n})
        if capped:
            if known.get(own) is None:
                known[own] = _count(aggregates, scope, own, request, "capped")[1]
            exact = exact and bool(known[own])
    return counts, exact


def _stored(text: str) -> Any:
    """A JSON column's text, to be written into a JSON answer as it is (`orjson.Fragment`:
    neither decoded nor encoded again). Text holding NaN or Infinity, which SQLite may
    keep but JSON has no word for, is decoded instead (orjson then writes null)."""
    if "NaN" in text or "Infinity" in text:
        return json_loads(text)
    return orjson.Fragment(text)


def _items(rows: list[Any], names: list[str], request: ListRequest, json_names: frozenset[str],
           embed_json: bool) -> list[dict[str, Any]]:
    """Rows as items: their first `len(names)` columns (the sort values and checks after
    them dropped), highlights added, the sparse fieldset applied.

    JSON columns come as the text stored (`json_names`): with `embed_json`, the JSON
    answer embeds it as it is (`_stored`), else it is decoded for a caller that reads the
    values (feeds)."""
    keep = {"id", "type", "href", "highlights", *request.fields} if request.fields else None
    text = request.criteria.text
    raw = [name for name in names if name in json_names]
    load = _stored if embed_json else json_loads
    items = []
    for row in rows:
        item = dict(zip(names, row))  # noqa: B905 - the row's extra columns are left out
        for name in raw:
            if item[name] is not None:
                item[name] = load(item[name])
        if text is not None:
            item["highlights"] = fulltext.highlights(text, item["title"],
                                                     item.get("summary") or "")
        items.append(item if keep is None else {k: v for k, v in item.items() if k in keep})
    return items


def page(connection: Connection, scope: Scope, params: dict[str, Any], *,
         embed_json: bool = False) -> dict[str, Any]:
    """Answer a list request: page, count, next cursor, facets, highlights.

    `embed_json`: the page is answered as JSON (`dumps`), so its items' JSON fields may
    stay as the text stored (`_items`); otherwise they are decoded."""
    request = parse(connection, scope, params)
    shape, limit, mode = request.shape, request.limit, request.count
    cap = get_settings().count_cap
    named = request.named
    stmt = plan.page(scope, shape, request.dialect, request.sort, request.ranked,
                     request.nulls, mode, tuple(named))
    bound = request.values | {"limit": limit + 1, "offset": request.offset,
                              "count_cap": cap + 1}
    bound |= {f"known_{name}": values for name, values in named.items()}
    result = connection.execute(stmt, bound)
    columns = list(result.keys())  # the item's, then `_sort0`…, `_total`, `_known_…` (plan)
    at = {name: i for i, name in enumerate(columns)}
    rows = result.all()
    if named and (not rows or any(rows[0][at[f"_known_{name}"]] < len(set(values))
                                  for name, values in named.items())):
        check_references(connection, request.criteria)  # names the unknown value: 422
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = encode_cursor(request.keys,
                                    [last[at[f"_sort{i}"]] for i in range(len(request.keys))])
    aggregates = None
    if mode == "none":
        total, exact = None, False
    elif rows and "_total" in at:  # counted by the page statement itself (plan)
        counted = rows[0][at["_total"]]
        total, exact = (cap, False) if counted > cap else (counted, True)
    else:  # exact, a text query's, or no row to carry it (past the end, or no match)
        aggregates = Aggregates(connection)
        total, exact = _count(aggregates, scope, shape, request, mode)
    items = _items(rows, columns[:at["_sort0"]], request, plan.json_columns(scope), embed_json)
    answer: dict[str, Any] = {"items": items,
                              "total": total,
                              "total_exact": exact, "limit": limit, "offset": request.offset,
                              "next_cursor": next_cursor}
    if request.facets:
        within_cap = exact if mode == "capped" else None
        answer["facets"], answer["facets_exact"] = _facets(
            aggregates or Aggregates(connection), scope, request, within_cap)
    return answer


def stream(connection: Connection, scope: Scope, params: dict[str, Any]
           ) -> Iterator[dict[str, Any]]:
    """Every matching row in id order, fetched in chunks (constant memory at any size)."""
    shape, values = parse_filters(connection, scope, params)
    stmt = plan.stream(scope, shape, connection.dialect.name)
    result = connection.execute(stmt, values, execution_options={"yield_per": 500})
    for row in result.mappings():
        yield dict(row)
