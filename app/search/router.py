"""Across kinds: one ranked search, the timeline, and related entries."""

from typing import Annotated, Any, Literal

from fastapi import Path, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, WithJsonSchema, create_model
from sqlalchemy import select

from app.core.db import get_read_engine
from app.core.errors import NotFound, problem_responses
from app.core.openapi import answer
from app.core.responses import FastJSONResponse
from app.core.routing import api_router
from app.entries import answers, citations
from app.entries import repository as repo
from app.entries.listing.filters import entries
from app.entries.listing.params import (
    COMMON_FACETS,
    Param,
    common_params,
    kind_filter_params,
    query_values,
    type_param,
)
from app.entries.listing.parse import SORT_KEYS, Scope
from app.entries.registry import BY_PLURAL, BY_TYPE, KINDS
from app.entries.router import (
    CITATION_FORMATS,
    EntryId,
    citation_export,
    export_params,
    export_query,
)
from app.entries.schemas import DOCUMENTATION, HIGHLIGHTED, by_type, item_model, page_model
from app.search.related import (
    COUNTRY_WEIGHT,
    PER_VALUE,
    RELATED_FIELDS,
    SESSION_WEIGHT,
    TEXT_WEIGHT,
    TITLE_WINDOW,
    TOPIC_WEIGHT,
    related,
)

router = api_router(tags=["search"])
TYPES = tuple(spec.type for spec in KINDS)
ALL_FACETS = COMMON_FACETS + tuple(f for spec in KINDS for f in spec.facets)
SEARCH_COLUMNS = ("id", "type", "slug", "title", "summary", "url", "language", "session",
                  "topics", "countries", "created_at", "updated_at", "version")
TIMELINE_COLUMNS = ("type", "id", "title", "date", "date_precision", "date_from", "date_to",
                    "summary")
PLACEMENT_COLUMNS = ("date", "date_precision", "date_from", "date_to")


def _select(columns: tuple[str, ...]) -> Any:
    """The entries' `columns`, then each one's `href` (by its type)."""
    return lambda: select(*(entries.c[name] for name in columns), repo.href(KINDS))


SEARCH = Scope("search", KINDS, None, _select((*SEARCH_COLUMNS, *PLACEMENT_COLUMNS)),
               (*SEARCH_COLUMNS, *PLACEMENT_COLUMNS, "href"), ALL_FACETS)
TIMELINE = Scope("timeline", KINDS, None, _select(TIMELINE_COLUMNS),
                 (*TIMELINE_COLUMNS, "href"), ALL_FACETS, default_sort="date", dated_only=True)


def _params(scope: Scope) -> list[Param]:
    """What a cross-kind list over a scope takes: `type`, the common and the kind filters."""
    return [type_param(TYPES), *common_params(
        facets=scope.facets, sort_keys=SORT_KEYS, default_sort=scope.default_sort,
        fields=scope.item_fields), *kind_filter_params(KINDS)]


def _page(scope: Scope, what: str) -> type[BaseModel]:
    """`{Scope}Page`: items of any kind (`{Kind}{Scope}Item`), told apart by `type`."""
    name = scope.name.capitalize()
    items = [item_model(f"{spec.title}{name}Item", spec.public_model, scope.item_fields,
                        description=f"{spec.a_type.capitalize()} in {what} (only `id`, "
                                    "`type` and those `fields` names when it is given).",
                        highlights=HIGHLIGHTED)
             for spec in scope.kinds]
    return page_model(f"{name}Page", by_type(items), scope.facets,
                      description=f"One page of {what}.")


def _register(path: str, scope: Scope, what: str, summary: str, description: str) -> None:
    """A cross-kind list endpoint over a scope."""
    ScopeQuery = query_values(f"{scope.name}_query", _params(scope))

    async def endpoint(request: Request, query: ScopeQuery) -> Response:
        return await answers.list_answer(request, scope, query.model_dump(by_alias=True))

    endpoint.__name__ = f"{scope.name}_entries"
    router.add_api_route(path, endpoint, methods=["GET"], summary=summary,
                         description=description,
                         responses={200: answer(_page(scope, what), f"A page of {what}")}
                         | problem_responses(400, 422, 503),
                         operation_id=scope.name)


_register("/search", SEARCH, "search matches", "Search every kind at once",
          "One ranked list over articles, events and statements; every item carries `type` "
          "and its placement in time (`date`, `date_precision`, `date_from`, `date_to`). Kind "
          "filters (e.g. `speaker`) keep only that kind; an excluded value "
          "(`speaker=-Chen Xu`) removes only that kind's entries holding it.")
_register("/timeline", TIMELINE, "the timeline", "Timeline of every kind by date",
          "Articles, events and statements merged by `date` (oldest first by default): the "
          "primary date of `day` entries, the first day of a `month` or `session` entry's "
          "month or session. `date_precision` tells them apart (`date_precision=day` keeps "
          "known days only); `unknown` entries are left out.")


def _register_export() -> None:
    """GET /search/export: the /search filters' matches of every kind, as citations."""
    output = Param("format", Literal[CITATION_FORMATS],  # type: ignore[valid-type]
                   "`csl-json` (a CSL-JSON array), `ris` or `bibtex`.", "ris",
                   default="csl-json")
    export_fields, renamed = export_params(KINDS, _params(SEARCH), output)
    SearchExportQuery = query_values("search_export_query", export_fields)

    def export_search(model: SearchExportQuery) -> StreamingResponse:
        engine = get_read_engine()
        output, query = export_query(model, renamed)
        return citation_export(output, SEARCH, query, engine, BY_TYPE, "search")

    router.add_api_route(
        "/search/export", export_search, methods=["GET"], response_class=StreamingResponse,
        summary="Export search matches as citations (streamed)",
        description="Every entry of any kind that the /search filters match, in id order, "
                    "as a CSL-JSON array, RIS or BibTeX file for a reference manager; "
                    "streamed in constant memory. Renamed here: "
                    + ", ".join(f"`{kept}` filter as `{name}`"
                                for name, kept in renamed.items()) + ".",
        responses={200: {"content": citations.export_examples(KINDS)}}
        | problem_responses(400, 422, 503), operation_id="export_search")


_register_export()


RelatedQuery = query_values("related_query", [
    Param("limit", int, "How many.", default=10, bounds={"ge": 1, "le": 50})])
SCORE = (int, Field(description=f"How related, best first: {TOPIC_WEIGHT} per shared topic, "
                                f"{COUNTRY_WEIGHT} per shared country, {SESSION_WEIGHT} for the "
                                f"same session, {TEXT_WEIGHT} for a word of the title shared "
                                f"(among the {TITLE_WINDOW:,} entries added last).",
                    examples=[8]))
RELATED_DESCRIPTION = (
    f"Across kinds, best first. Candidates (so the cost does not grow with the table): for "
    f"each topic and country of the entry, the {PER_VALUE} entries added last that share "
    f"it; and of the {TITLE_WINDOW:,} entries added last, the {PER_VALUE} latest that share "
    f"a significant word of its title. Each is scored: {TOPIC_WEIGHT} per shared topic, "
    f"{COUNTRY_WEIGHT} per shared country, {SESSION_WEIGHT} for the same session, "
    f"{TEXT_WEIGHT} for a shared title word (among those {TITLE_WINDOW:,}); ties go to the "
    "entry with the later date.")
RELATED_ITEMS = [item_model(f"Related{spec.title}", spec.public_model, RELATED_FIELDS,
                            description=f"{spec.a_type.capitalize()} related to the entry.",
                            required=(*RELATED_FIELDS, "score"), score=SCORE)
                 for spec in KINDS]
RelatedPage = create_model(
    "RelatedPage", __doc__="The entries most related to one entry, best first.",
    __config__=DOCUMENTATION,
    items=(list[by_type(RELATED_ITEMS)],  # type: ignore[misc]
           Field(description="Entries of any kind, best first.")))
# Documented, not validated: a kind that is none of these is a 404 naming the kinds.
Kind = Annotated[str, WithJsonSchema({"type": "string", "enum": list(BY_PLURAL),
                                      "title": "Kind", "examples": ["statements"]}),
                 Path(description="The entry's kind, as in its URL: "
                                  + ", ".join(BY_PLURAL) + ".")]


@router.get("/{kind}/{entry_id}/related", summary="Entries related to one entry",
            description=RELATED_DESCRIPTION,
            responses={200: answer(RelatedPage, "The related entries, best first")}
            | problem_responses(400, 404, 422, examples={
                404: {"detail": "statement 1 does not exist"}}),
            operation_id="related_entries")
def related_entries(kind: Kind, entry_id: EntryId,
                    query: RelatedQuery) -> Response:
    engine = get_read_engine()
    limit = query.model_dump(by_alias=True)["limit"]
    spec = BY_PLURAL.get(kind)
    if spec is None:
        raise NotFound(f"no kind '{kind}'; use {', '.join(BY_PLURAL)}")
    with engine.connect() as connection:
        entry = repo.get_by_id(connection, spec, entry_id)
        if entry is None:
            raise NotFound(f"{spec.type} {entry_id} does not exist")
        return FastJSONResponse({"items": related(connection, entry, limit)})
