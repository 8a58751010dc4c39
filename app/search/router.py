"""Across kinds: one ranked search, the timeline, and related entries."""

from typing import Annotated, Any

from fastapi import Path, Request, Response
from sqlalchemy import select

from app.core.db import ReadDep
from app.core.errors import NotFound, problem_responses
from app.core.responses import FastJSONResponse
from app.core.routing import api_router
from app.entries import repository as repo
from app.entries.fields import MAX_ENTRY_ID
from app.entries.filters import entries
from app.entries.params import (
    COMMON_FACETS,
    Param,
    common_params,
    kind_filter_params,
    query_values,
    type_param,
)
from app.entries.query import SORT_KEYS, Scope, run, stamp
from app.entries.registry import BY_PLURAL, KINDS
from app.entries.router import _next_link
from app.entries.schemas import Page
from app.search.related import related

router = api_router(tags=["search"])
TYPES = tuple(spec.type for spec in KINDS)
ALL_FACETS = COMMON_FACETS + tuple(f for spec in KINDS for f in spec.facets)
SEARCH_COLUMNS = ("id", "type", "slug", "title", "summary", "url", "language", "session",
                  "topics", "countries", "created_at", "updated_at", "version")
TIMELINE_COLUMNS = ("type", "id", "title", "date", "date_precision", "date_from", "date_to",
                    "summary")
PLACEMENT_COLUMNS = ("date", "date_precision", "date_from", "date_to")


def _select(columns: tuple[str, ...]) -> Any:
    return lambda: select(*(entries.c[name] for name in columns))


SEARCH = Scope("search", KINDS, None, _select((*SEARCH_COLUMNS, *PLACEMENT_COLUMNS)),
               (*SEARCH_COLUMNS, *PLACEMENT_COLUMNS), ALL_FACETS)
TIMELINE = Scope("timeline", KINDS, None, _select(TIMELINE_COLUMNS), TIMELINE_COLUMNS,
                 ALL_FACETS, default_sort="date", dated_only=True)


def _register(path: str, scope: Scope, summary: str, description: str) -> None:
    """A cross-kind list endpoint over a scope."""
    params = [type_param(TYPES), *common_params(
        facets=scope.facets, sort_keys=SORT_KEYS, default_sort=scope.default_sort,
        fields=scope.item_fields),
        *kind_filter_params(KINDS)]
    ScopeQuery = query_values(f"{scope.name}_query", params)

    def endpoint(request: Request, db: ReadDep, query: ScopeQuery) -> Response:
        page = run(db, scope, query, stamp)
        return FastJSONResponse(page, headers=_next_link(request, page["next_cursor"]))

    endpoint.__name__ = f"{scope.name}_entries"
    router.add_api_route(path, endpoint, methods=["GET"],
                         response_model=Page, summary=summary, description=description,
                         responses=problem_responses(400, 422, 503),
                         operation_id=scope.name)


_register("/search", SEARCH, "Search every kind at once",
          "One ranked list over articles, events and statements; every item carries `type` "
          "and its placement in time (`date`, `date_precision`, `date_from`, `date_to`). Kind "
          "filters (e.g. `speaker`) keep only that kind.")
_register("/timeline", TIMELINE, "Timeline of every kind by date",
          "Articles, events and statements merged by `date` (oldest first by default): the "
          "primary date of `day` entries, the first day of a `month` or `session` entry's "
          "month or session. `date_precision` tells them apart (`date_precision=day` keeps "
          "known days only); `unknown` entries are left out.")


RelatedQuery = query_values("related_query", [
    Param("limit", int, "How many.", default=10, bounds={"ge": 1, "le": 50})])


@router.get("/{kind}/{entry_id}/related", summary="Entries related to one entry",
            description="Across kinds, ranked by shared topics (3 each), countries (2 each), "
                        "the same session (1) and shared title words (2).",
            responses=problem_responses(400, 404, 422), operation_id="related_entries")
def related_entries(
    db: ReadDep,
    kind: Annotated[str, Path(description="articles, events or statements",
                              examples=["statements"])],
    entry_id: Annotated[int, Path(ge=1, le=MAX_ENTRY_ID, examples=[1])],
    query: RelatedQuery,
) -> Response:
    limit = query["limit"]
    spec = BY_PLURAL.get(kind)
    if spec is None:
        raise NotFound(f"no kind '{kind}'; use {', '.join(BY_PLURAL)}")
    entry = repo.get_by_id(db, spec, entry_id)
    if entry is None:
        raise NotFound(f"{spec.type} {entry_id} does not exist")
    return FastJSONResponse({"items": related(db, entry, limit)})
