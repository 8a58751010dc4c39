"""Lists as syndication documents: Atom feeds of each kind and of all kinds, an events calendar.

Each feed takes the filters of the list it mirrors (declared once in
`app.entries.listing.params`) and is answered by the same `run` as that list; only the
paging parameters are left out, and the order defaults to the newest change.
"""

import dataclasses
import re
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response
from sqlalchemy import Engine, Select, Table, select

from app.core.db import get_read_engine
from app.core.errors import problem_responses
from app.core.responses import public_link
from app.core.routing import api_router
from app.entries.listing import run
from app.entries.listing.filters import entries
from app.entries.listing.params import (
    Param,
    common_params,
    kind_filter_params,
    query_values,
    type_param,
)
from app.entries.listing.parse import SORT_KEYS, Scope, kind_scope
from app.entries.registry import BY_PLURAL, BY_TYPE, KINDS
from app.entries.spec import KindSpec
from app.feeds import atom, ical

router = api_router("/feeds", tags=["feeds"])

FEED_SORT = "-updated_at"  # a feed announces changes: the newest change comes first
CALENDAR_SORT = "-date"  # a calendar keeps the latest events when `limit` cuts
DEFAULT_LIMIT = 50
PAGING = {"offset": 0, "cursor": None, "fields": None, "facets": None, "facet_limit": 1,
          "count": "none"}
NOT_FILTERS = frozenset({"limit", "sort"})  # presentation, not which entries: not in feed ids
CASE_INSENSITIVE = frozenset({"language", "slug"} | {
    f.param for spec in KINDS for f in spec.filters if f.match in ("text", "list", "slug")})
AUTHOR_FIELDS = ("authors", "source", "speaker")
ALL_COLUMNS = ("id", "type", "slug", "title", "summary", "url", "topics", "created_at",
               "updated_at")
CACHE_HEADERS = {"Cache-Control": "public, max-age=60"}
TYPES = tuple(spec.type for spec in KINDS)


def _feed_param(param: Param, default_sort: str) -> Param:
    """A list parameter as a feed documents it (own limit default, fixed default order)."""
    if param.name == "limit":
        return dataclasses.replace(param, description="Entries in the document.",
                                   example=DEFAULT_LIMIT, default=DEFAULT_LIMIT)
    if param.name == "sort":
        return dataclasses.replace(param, description=(
            f"Comma list of {', '.join(SORT_KEYS)}; `-` for descending. Default "
            f"`{default_sort}`, with or without `q`."), example=default_sort)
    return param


def feed_params(kinds: tuple[KindSpec, ...], *, with_type: bool,
                default_sort: str = FEED_SORT) -> list[Param]:
    """The list's filters, sort and limit; no paging, fieldsets, facets or counts."""
    common = [_feed_param(p, default_sort) for p in common_params(
        facets=(), sort_keys=SORT_KEYS, default_sort=default_sort) if p.name not in PAGING]
    return ([type_param(TYPES)] if with_type else []) + common + kind_filter_params(kinds)


def _author_columns() -> Iterator[tuple[Table, list[str]]]:
    """Each kind's detail table (aliased) that has author-like columns, and those columns."""
    for spec in KINDS:
        names = [name for name in AUTHOR_FIELDS if name in spec.detail_table.c]
        if names:
            yield spec.detail_table.alias(f"feed_{spec.type}"), names


_AUTHORS = list(_author_columns())


def _all_select() -> Select[Any]:
    """Every kind's core columns plus the author-like columns, outer-joined."""
    from_clause: Any = entries
    columns: list[Any] = [entries.c[name] for name in ALL_COLUMNS]
    for detail, names in _AUTHORS:
        from_clause = from_clause.outerjoin(detail, detail.c.id == entries.c.id)
        columns.extend(detail.c[name] for name in names)
    return select(*columns).select_from(from_clause)


ALL_SCOPE = Scope("all_feed", KINDS, None, _all_select, ALL_COLUMNS, (),
                  default_sort=FEED_SORT)


def _normalised(name: str, value: Any) -> str:
    """One validated parameter value (a comma list's item: the query model splits them) in
    canonical form."""
    if isinstance(value, date):
        return value.isoformat()
    text = " ".join(str(value).split())
    if name == "id":  # `id=-015` excludes 15: leading zeros dropped
        return re.sub(r"^(-?)0+(?=[0-9])", r"\1", text)
    if name == "country":
        return text.upper()
    return text.lower() if name in CASE_INSENSITIVE else text


def canonical_filters(query: dict[str, Any]) -> list[tuple[str, str]]:
    """The filters that choose the entries, normalised, deduplicated and ordered."""
    pairs: set[tuple[str, str]] = set()
    for name, value in query.items():
        if name in NOT_FILTERS or name in PAGING or value is None:
            continue
        for one in value if isinstance(value, list) else [value]:
            pairs.add((name, _normalised(name, one)))
    return sorted(pairs)


def feed_id(name: str, filters: list[tuple[str, str]]) -> str:
    """A feed id stable per set of filters: `urn:hrc-digest:feed:NAME[:k=v&…]`."""
    base = f"urn:hrc-digest:feed:{name}"
    return f"{base}:{urlencode(filters)}" if filters else base


def feed_title(what: str, filters: list[tuple[str, str]]) -> str:
    """A human title naming the filters."""
    grouped: dict[str, list[str]] = {}
    for name, value in filters:
        grouped.setdefault(name, []).append(value)
    described = "; ".join(f"{name}: {', '.join(values)}" for name, values in grouped.items())
    return f"hrc-digest: {what}" + (f" ({described})" if described else "")


def api_root(request: Request) -> str:
    """The path of the API prefix this feed is served under."""
    return request.url.path.rsplit("/feeds/", 1)[0]


def _self(request: Request) -> str:
    """The feed's own link: the request's path and query, not its Host."""
    return public_link(request, request.url.path, request.url.query)


def _alternate(request: Request, list_path: str, default_sort: str) -> str:
    """The JSON list with the same filters, in the feed's order."""
    params = request.query_params.multi_items()
    if "sort" not in request.query_params:
        params.append(("sort", default_sort))
    return public_link(request, f"{api_root(request)}/{list_path}", urlencode(params))


def _entry_link(request: Request) -> Callable[[dict[str, Any]], str]:
    """The link to an item's JSON resource."""
    root = public_link(request, api_root(request))
    return lambda item: f"{root}/{BY_TYPE[item['type']].plural}/{item['id']}"


def _items(engine: Engine, scope: Scope, query: dict[str, Any]) -> list[dict[str, Any]]:
    """The entries a feed shows: the list's answer without paging."""
    query = query | PAGING | {"sort": query.get("sort") or scope.default_sort}
    with engine.connect() as connection:
        return run.page(connection, scope, query)["items"]


ATOM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "An Atom 1.0 feed (RFC 4287).",
          "content": {"application/atom+xml": {"schema": {"type": "string"}}}},
    **problem_responses(400, 422, 503)}
ICS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "An iCalendar (RFC 5545) with one all-day VEVENT per dated event.",
          "content": {"text/calendar": {"schema": {"type": "string"}}}},
    **problem_responses(400, 422, 503)}
FEED_NOTE = (" Takes the list's filters, `sort` and `limit` (1–100, default 50); no paging. "
             "Newest change first (`-updated_at`) unless `sort` says otherwise. Entry ids are "
             "`urn:hrc-digest:{type}:{slug}`, stable across reloads.")


def _register_atom(name: str, scope: Scope, params: list[Param], list_path: str,
                   what: str, summary: str, description: str) -> None:
    """GET /feeds/{name}.atom over a scope."""
    FeedQuery = query_values(f"feed_{name}_query", params)

    def endpoint(request: Request, model: FeedQuery) -> Response:
        engine = get_read_engine()
        query = model.model_dump(by_alias=True)
        items = _items(engine, scope, query)
        filters = canonical_filters(query)
        info = atom.FeedInfo(feed_id(name, filters), feed_title(what, filters),
                             _self(request), _alternate(request, list_path, FEED_SORT))
        return Response(atom.render(info, items, _entry_link(request)),
                        media_type=atom.ATOM_MEDIA_TYPE, headers=CACHE_HEADERS)

    endpoint.__name__ = f"{name}_atom_feed"
    router.add_api_route(f"/{name}.atom", endpoint, methods=["GET"],
                         response_class=Response, responses=ATOM_RESPONSES, summary=summary,
                         description=description + FEED_NOTE, operation_id=f"feed_{name}")


for _spec in KINDS:
    _register_atom(_spec.plural, dataclasses.replace(kind_scope(_spec), default_sort=FEED_SORT),
                   feed_params((_spec,), with_type=False), _spec.plural, _spec.plural,
                   f"Atom feed of {_spec.plural}",
                   f"{_spec.description} The filters of `GET /api/v1/{_spec.plural}`.")
_register_atom("all", ALL_SCOPE, feed_params(KINDS, with_type=True), "search", "all entries",
               "Atom feed of every kind",
               "Articles, events and statements in one feed, with the filters of "
               "`GET /api/v1/search` (`type` narrows the kinds).")

EVENTS = BY_PLURAL["events"]
CALENDAR_SCOPE = dataclasses.replace(kind_scope(EVENTS), name="events_calendar",
                                     default_sort=CALENDAR_SORT, dated_only=True)
CALENDAR_PARAMS = feed_params((EVENTS,), with_type=False, default_sort=CALENDAR_SORT)
CalendarQuery = query_values("events_calendar_query", CALENDAR_PARAMS)


def _known_days(query: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """A calendar's query narrowed to events placed on a known day, and whether the
    client's own `date_precision` leaves any (a session-long placement is no VEVENT)."""
    chosen = query.get("date_precision") or []
    kept = [value for value in chosen if not value.startswith("-")]
    return (query | {"date_precision": ["day"]},
            (not kept or "day" in kept) and "-day" not in chosen)


def events_calendar(model: CalendarQuery) -> Response:
    """GET /feeds/events.ics."""
    engine = get_read_engine()
    query = model.model_dump(by_alias=True)
    narrowed, any_days = _known_days(query)
    items = _items(engine, CALENDAR_SCOPE, narrowed) if any_days else []
    name = feed_title("events", canonical_filters(query))
    return Response(ical.render(name, items), media_type=ical.ICS_MEDIA_TYPE,
                    headers=CACHE_HEADERS)


router.add_api_route(
    "/events.ics", events_calendar, methods=["GET"],
    response_class=Response, responses=ICS_RESPONSES, summary="iCalendar of events",
    description="Events with a known start day (`date_precision` `day`) as all-day VEVENTs "
                "(UID `{slug}@hrc-digest`), with the filters of `GET /api/v1/events`, `sort` "
                "and `limit` (1–100, default 50). Latest start date first (`-date`) when "
                "`limit` cuts; events known only to their month or session, and undated "
                "ones, are left out. Subscribe to it from a calendar application.",
    operation_id="feed_events_calendar")
