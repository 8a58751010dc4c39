"""Execute and shape: run a list request's statements and build the page a client gets.

The path of a list: `parse` (query values → ListRequest, every 4xx) → `plan` (kept
statements; `facets` the facets') → here (one connection for the page, its count and
facets; rows shaped into items with highlights and the sparse fieldset; the next
cursor).
"""

from collections.abc import Iterator
from typing import Any

import orjson
from sqlalchemy import Connection

from app.core.config import get_settings
from app.core.db import json_loads
from app.entries.listing import facets, fulltext, plan
from app.entries.listing.aggregates import Aggregates
from app.entries.listing.filters import Shape
from app.entries.listing.paging import encode_cursor
from app.entries.listing.parse import (
    SEARCHING,
    ListRequest,
    Scope,
    check_references,
    parse,
    parse_filters,
)

Counts = dict[str, list[dict[str, Any]]]


def _count(connection: Connection, aggregates: Aggregates, scope: Scope, shape: Shape,
           request: ListRequest, mode: str) -> tuple[int, bool]:
    """`total` and `total_exact` by a statement of their own (`mode`: capped or exact):
    exact whenever the tallies hold it."""
    if plan.tallied_count(shape, request.values):
        return connection.execute(plan.tally_count(scope, shape), request.values).scalar_one(), True
    capped = mode == "capped"
    cap = get_settings().count_cap
    stmt = plan.count(scope, shape, request.dialect, capped)
    counted = aggregates.rows(stmt, request.values | {"count_cap": cap + 1})[0][0] or 0
    if capped and counted > cap:
        return cap, False
    return counted, True


def _facets(connection: Connection, aggregates: Aggregates, scope: Scope,
            request: ListRequest, within_cap: bool | None
            ) -> tuple[Counts, bool, dict[Shape, int]]:
    """Counts per value for each facet (ignoring its own filter), whether all are exact,
    and the count of the matches of each shape whose facets were counted by reading them.

    Facets whose matches are the same (no own filter in the request) share one statement:
    from the tallies when they hold them (exact), else by reading the matches. Only with
    `count=capped` does a facet read that way, whose matches outnumber the count cap,
    count the newest `count_cap` of them (`facets_exact: false`), as `total` stops there.
    `within_cap`: whether the list's own matches are within the cap, when known.
    """
    capped = request.count == "capped"
    known = {request.shape: within_cap} if within_cap is not None else {}
    bound = request.values | {"facet_limit": request.facet_limit,
                              "count_cap": get_settings().count_cap}
    groups: dict[tuple[Shape, bool], list[str]] = {}
    for name in request.facets:
        own = facets.facet_shape(scope, request.shape, name)
        groups.setdefault((own, facets.tallied(own, (name,))), []).append(name)
    counts: Counts = {name: [] for name in request.facets}
    totals: dict[Shape, int] = {}
    exact = True
    for (own, tallied), group in groups.items():
        if tallied:
            stmt = facets.tallied_statement(scope, own, request.dialect, tuple(group))
            rows = list(connection.execute(stmt, bound))
        else:
            rows = aggregates.rows(facets.statement(scope, own, request.dialect, tuple(group),
                                               capped), bound)
        for facet, value, n, *_ in rows:
            if facet == "":
                totals[own] = n
                continue
            counts[facet].append({"value": int(value) if facet in facets.INTEGER_FACETS
                                  else value, "count": n})
        if capped and not tallied:
            if known.get(own) is None:
                known[own] = _within_cap(*_count(connection, aggregates, scope, own, request,
                                                 "capped"))
            exact = exact and bool(known[own])
    return counts, exact, totals


def _within_cap(total: int | None, exact: bool) -> bool:
    """Whether a count says its matches are at most the count cap (a count from the
    tallies is exact past it too)."""
    return exact and total is not None and total <= get_settings().count_cap


def _labelled(connection: Connection, counts: Counts) -> Counts:
    """Each topic, country and session value with its name from the reference data (one
    statement for them all), as `{"value", "label", "count"}`."""
    named = tuple(name for name in facets.LABELLED if counts.get(name))
    if not named:
        return counts
    values = {f"{name}_values": [entry["value"] for entry in counts[name]] for name in named}
    labels = {(facet, key): label
              for facet, key, label in connection.execute(facets.labels(named), values)}
    for name in named:
        counts[name] = [{"value": entry["value"],
                         "label": labels.get((name, str(entry["value"])), str(entry["value"])),
                         "count": entry["count"]} for entry in counts[name]]
    return counts


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
    return versioned_page(connection, scope, params, embed_json=embed_json, versioned=False)[0]


def versioned_page(connection: Connection, scope: Scope, params: dict[str, Any], *,
                   embed_json: bool = False, versioned: bool = True
                   ) -> tuple[dict[str, Any], int | None]:
    """`page`, and the data version its page statement read at (`versioned`; `plan.page`):
    None when it has no row or may not be kept (`aggregates.version_column`)."""
    request = parse(connection, scope, params)
    shape, limit, mode = request.shape, request.limit, request.count
    cap = get_settings().count_cap
    named = request.named
    fold = _fold(request)
    stmt = plan.page(scope, shape, request.dialect, request.sort, request.ranked,
                     request.nulls, fold, tuple(named), versioned)
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
    version = rows[0][at["_version"]] if rows and versioned else None
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = encode_cursor(request.keys,
                                    [last[at[f"_sort{i}"]] for i in range(len(request.keys))])
    total: int | None = None
    exact = mode != "none"
    if rows and "_total" in at:  # counted by the page statement itself (plan)
        total = rows[0][at["_total"]]
        if fold == "capped" and total > cap:
            total, exact = cap, False
    # The kept aggregates (and the data version they are kept under) only when a count or
    # the facets are not carried by the page itself.
    aggregates = None
    if total is None and mode == "capped":  # a text query's, or no row to carry it
        aggregates = Aggregates(connection)
        total, exact = _count(connection, aggregates, scope, shape, request, mode)
    items = _items(rows, columns[:at["_sort0"]], request, plan.json_columns(scope), embed_json)
    answer: dict[str, Any] = {"items": items, "total": total, "total_exact": exact,
                              "limit": limit, "offset": request.offset,
                              "next_cursor": next_cursor}
    if request.facets:
        within_cap = _within_cap(total, exact) if mode == "capped" else None
        aggregates = aggregates or Aggregates(connection)
        counts, facets_exact, totals = _facets(connection, aggregates, scope, request,
                                               within_cap)
        answer["facets"], answer["facets_exact"] = _labelled(connection, counts), facets_exact
        if total is None and mode == "exact":
            total = totals.get(shape)
    if total is None and mode == "exact":  # not carried by the page or the facets
        total, exact = _count(connection, aggregates or Aggregates(connection), scope, shape,
                              request, mode)
    answer["total"], answer["total_exact"] = total, exact
    return answer, version


def _fold(request: ListRequest) -> str | None:
    """The count the page statement carries (plan._counted), if any: the tallies' whenever
    they hold it (exact, whatever the mode), else a capped count without a text query."""
    if request.count == "none":
        return None
    if plan.tallied_count(request.shape, request.values):
        return "tallied"
    if request.count == "capped" and request.shape.text not in SEARCHING:
        return "capped"
    return None


def stream(connection: Connection, scope: Scope, params: dict[str, Any]
           ) -> Iterator[dict[str, Any]]:
    """Every matching row in id order, fetched in chunks (constant memory at any size)."""
    shape, values = parse_filters(connection, scope, params)
    stmt = plan.stream(scope, shape, connection.dialect.name)
    result = connection.execute(stmt, values, execution_options={"yield_per": 500})
    for row in result.mappings():
        yield dict(row)
