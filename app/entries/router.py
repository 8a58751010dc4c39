"""The CRUD router every kind gets: built from its spec, never copied."""

import dataclasses
import itertools
from collections.abc import Iterator
from functools import cache
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, WithJsonSchema
from sqlalchemy import Engine
from starlette import status
from starlette.convertors import Convertor, register_url_convertor

from app.core.config import get_settings
from app.core.db import SessionDep, bounded_read, get_read_engine, read_transaction
from app.core.errors import NotAcceptable, Unprocessable, problem_responses
from app.core.negotiation import preferred
from app.core.openapi import answer
from app.core.responses import FastJSONResponse
from app.core.routing import api_router
from app.core.security import WriterDep
from app.entries import answers, citations, embedding, service
from app.entries.bulk import transfer
from app.entries.bulk.statistics import StatisticsRefresh, entry_tables
from app.entries.bulk.writer import BATCH_SIZE, MAX_ITEMS, OnConflict, write_request
from app.entries.fields import MAX_ENTRY_ID
from app.entries.listing import run
from app.entries.listing.aggregates import keepable_version
from app.entries.listing.params import Param, common_params, kind_filter_params, query_values
from app.entries.listing.parse import SORT_KEYS, Scope, cited_scope, kind_scope, parse_filters
from app.entries.schemas import HIGHLIGHTED, BulkResult, item_model, page_model
from app.entries.slugs import slugify
from app.entries.spec import KindSpec

EntryId = Annotated[int, Path(ge=1, le=MAX_ENTRY_ID, description="The entry's id.",
                                examples=[1])]
EntrySlug = Annotated[str, Path(description="The entry's slug (case-insensitive); an unknown "
                                "one is a 404.", examples=["chen-xu-remarks-at-hrc46"])]


class EntryIdSegment(Convertor[str]):
    """An item path segment: anything but the kind's own sub-resources (`bulk`, `export`,
    `by-slug`).

    So `GET /{kind}/bulk` is a 405 naming POST, not a 422 for an id 'bulk'; any other
    segment still reaches the item routes, where a non-numeric id is a 422.
    """

    regex = "(?!(?:bulk|export|by-slug)$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: Any) -> str:
        return str(value)


register_url_convertor("entry_id", EntryIdSegment())
ITEM_PATH = "/{entry_id:entry_id}"
# Documented, not declared: app.core.http answers it, and a declared header would be
# looked up and validated on every request. (FastAPI's own form of the declaration.)
IF_NONE_MATCH = {"name": "if-none-match", "in": "header", "required": False,
                 "description": "ETag from a previous GET; unchanged gives 304.",
                 "schema": {"anyOf": [{"type": "string"}, {"type": "null"}],
                            "description": "ETag from a previous GET; unchanged gives 304.",
                            "examples": ['"1-3"'], "title": "If-None-Match"}}
# The pattern is documented, not validated by FastAPI: a malformed If-Match is a 400 that
# says ETags are quoted (service.if_match_tags), not a generic 422.
IfMatch = Annotated[
    str | None,  # a header is absent or a string: no `null` in the document
    WithJsonSchema({"type": "string", "pattern": service.IF_MATCH_PATTERN}),
    Header(description="ETag(s) from a previous GET, in double quotes, or `*`; a stale one "
                       "gives 412, a malformed one 400.", examples=['"1-3"'])]


JSON = "application/json"
# What the detail route answers in, the default first (an Accept of */* gets JSON).
ENTRY_MEDIA_TYPES = (JSON, *citations.BY_MEDIA_TYPE)
VARY_ACCEPT = {"Vary": "Accept"}


def _entry_response(row: dict[str, Any], status_code: int = 200,
                    headers: dict[str, str] | None = None) -> FastJSONResponse:
    tag = {"ETag": service.etag(row)}
    return FastJSONResponse(row, status_code=status_code, headers=tag | (headers or {}))


def list_params(spec: KindSpec) -> list:
    """What a kind's list accepts: the common parameters, the kind's own filters and the
    relations it may include."""
    scope = kind_scope(spec)
    include = embedding.include_param(spec)
    return common_params(facets=scope.facets, sort_keys=SORT_KEYS, default_sort="-date",
                         fields=scope.item_fields) + kind_filter_params((spec,)) + (
        [include] if include else [])


def with_content(response: dict[str, Any], content: dict[str, Any]) -> dict[str, Any]:
    """A `responses` entry with more media types."""
    return response | {"content": response["content"] | content}


@cache
def kind_page(spec: KindSpec) -> type[BaseModel]:
    """`{Kind}Page`, the answer of `GET /{kind}`: its items are `{Kind}Item`s."""
    scope = kind_scope(spec)
    item = item_model(
        f"{spec.title}Item", spec.public_model, scope.item_fields,
        description=f"{spec.a_type.capitalize()} in a list: the fields of `{spec.title}Public`"
                    " (only `id`, `type` and those `fields` names when it is given), and "
                    "`highlights` with `q`.", highlights=HIGHLIGHTED)
    return page_model(f"{spec.title}Page", item, scope.facets,
                      description=f"One page of {spec.plural}.")


EXPORT_SKIPS = frozenset({"sort", "limit", "offset", "cursor", "fields", "facets",
                          "facet_limit", "count", "include"})
CITATION_FORMATS = tuple(citations.FORMATS)


def export_params(kinds: tuple[KindSpec, ...], params: list[Param], output: Param
                  ) -> tuple[list[Param], dict[str, str]]:
    """The list filters, plus `output` (the `format` parameter), and the renamed filters:
    a kind filter named `format` becomes `{type}_format`."""
    owner = next((spec.type for spec in kinds for spec_filter in spec.filters
                  if spec_filter.param == "format"), None)
    renamed = {f"{owner}_format": "format"} if owner else {}
    kept = [dataclasses.replace(param, name=f"{owner}_format") if param.name == "format"
            else param for param in params if param.name not in EXPORT_SKIPS]
    return [output, *kept], renamed


def export_query(model: Any, renamed: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """An export's format and its list filters by the names the list parser knows."""
    query = model.model_dump(by_alias=True)
    output = query.pop("format")
    return output, {renamed.get(k, k): v for k, v in query.items()}


def citation_export(output: str, scope: Scope, query: dict[str, Any], engine: Engine,
                    kinds: dict[str, KindSpec], filename: str) -> StreamingResponse:
    """A streamed CSL-JSON array, RIS or BibTeX file of the scope's matching entries."""
    fmt = citations.FORMATS[output]
    rows = export_rows(cited_scope(scope), query, engine)
    return StreamingResponse(citations.export_chunks(fmt, rows, kinds),
                             media_type=fmt.content_type, headers={
                                 "Content-Disposition":
                                     f'attachment; filename="{filename}.{fmt.extension}"'})


BulkQuery = query_values("bulk_query", [
    Param("on_conflict", OnConflict, "When a slug exists: `update` it, `skip` it, or report "
          "an `error`.", default="update"),
    Param("atomic", bool, "`true`: all or nothing (422 listing every bad item); `false`: good "
          "items land, bad ones are reported.", default=True),
])


BULK_ERROR = {"index": 5, "line": 7, "slug": "bulk-three", "detail": "unknown topic 'tibbet'"}
BULK_PROBLEMS = {
    413: {"detail": f"a bulk request takes at most {MAX_ITEMS:,} items; split it"},
    415: {"detail": "bulk takes application/json (an array) or application/x-ndjson, not "
                    "'text/plain'"},
    422: {"detail": "1 of 26 items are invalid; nothing was written",
          "errors": [{"loc": ["body", 5], "msg": BULK_ERROR["detail"]} | BULK_ERROR]},
}


def _add_transfer_routes(router: APIRouter, spec: KindSpec, scope: Any,
                         params: list[Param]) -> None:
    """POST /{kind}/bulk and GET /{kind}/export."""
    settings = get_settings()

    async def bulk_upsert(request: Request, db: SessionDep, _key: WriterDep,
                          query: BulkQuery) -> Response:
        values = query.model_dump(by_alias=True)
        on_conflict, atomic = values["on_conflict"], values["atomic"]
        statistics = StatisticsRefresh(entry_tables([spec]))
        batches = transfer.items(request, max_items=MAX_ITEMS, batch=BATCH_SIZE,
                                 max_bytes=settings.max_bulk_bytes)
        writer = await write_request(db, spec, batches, on_conflict=on_conflict,
                                     atomic=atomic, statistics=statistics)
        report = writer.report
        if atomic and report.failed:
            errors = [{"loc": ["body", e["index"]], "msg": e["detail"]} | e
                      for e in report.as_dict()["errors"]]
            raise Unprocessable(f"{report.failed} of {writer.count} items are invalid; "
                                "nothing was written", errors=errors)
        # Committed: a load large enough gets fresh statistics before the client's next query.
        await run_in_threadpool(statistics.after_commit, db.get_bind())
        return FastJSONResponse(report.as_dict())

    router.add_api_route(
        "/bulk", bulk_upsert, methods=["POST"],
        summary=f"Bulk upsert {spec.plural} by slug",
        description=f"Up to {MAX_ITEMS:,} items as a JSON array or NDJSON "
                    "(`application/x-ndjson`, streamed). Items may be exported records "
                    "(`id`, `href`, timestamps and `version` are ignored; `provenance` is kept). "
                    "Sending the same payload again reports every item `unchanged`. A "
                    "request that deadlocks with concurrent writes is run again, whole, "
                    "up to 3 times; then 503 with `Retry-After`, nothing written.",
        responses={200: answer(BulkResult, "What was written; with `atomic=false`, "
                                   "every item that was not")}
        | problem_responses(400, 401, 413, 415, 422, 503, examples=BULK_PROBLEMS),
        operation_id=f"bulk_{spec.plural}",
        openapi_extra={"requestBody": {"required": True, "content": {
            "application/json": {"schema": {"type": "array", "items": {
                "$ref": f"#/components/schemas/{spec.title}Create"}}},
            "application/x-ndjson": {"schema": {"type": "string"}, "example":
                                     '{"title": "First title"}\n{"title": "Second title"}\n'}}}})

    output = Param("format", Literal["ndjson", "csv", *CITATION_FORMATS],  # type: ignore[misc]
                   "NDJSON (one record per line, the bulk endpoint's input), CSV (header "
                   "row; lists joined with `|`), or a citation format for reference "
                   "managers: `csl-json` (a CSL-JSON array), `ris` or `bibtex`.",
                   "ndjson", default="ndjson")
    export_fields, renamed = export_params((spec,), params, output)
    ExportQuery = query_values(f"export_{spec.plural}_query", export_fields)
    kinds = {spec.type: spec}

    def export(model: ExportQuery) -> StreamingResponse:
        engine = get_read_engine()
        output, query = export_query(model, renamed)
        if output in citations.FORMATS:
            return citation_export(output, scope, query, engine, kinds, spec.plural)
        rows = export_rows(scope, query, engine)
        if output == "csv":
            columns = list(spec.public_model.model_fields)
            return StreamingResponse(transfer.csv_lines(columns, rows),
                                     media_type="text/csv; charset=utf-8", headers={
                                         "Content-Disposition":
                                             f'attachment; filename="{spec.plural}.csv"'})
        return StreamingResponse(transfer.ndjson_lines(rows), media_type="application/x-ndjson")

    router.add_api_route(
        "/export", export, methods=["GET"],
        response_class=StreamingResponse, summary=f"Export {spec.plural} (streamed)",
        description="Every matching record in id order, streamed in constant memory. "
                    "Takes the list filters. `format=csl-json`, `ris` or `bibtex` gives "
                    "citations (a file to import into Zotero or another reference manager).",
        responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}}
                         | citations.export_examples((spec,))}}
        | problem_responses(400, 422), operation_id=f"export_{spec.plural}")


def export_rows(scope: Scope, query: dict[str, Any], engine: Engine
                ) -> Iterator[dict[str, Any]]:
    """Validate now (errors become problems), then stream with a session of the export's own.

    The first row is fetched before the response starts, so a database that cannot be
    reached (or a query that fails) is a problem response (503) like any other read's,
    not a 500 or a stream cut off after its status line.
    """
    with engine.connect() as connection:
        parse_filters(connection, scope, query)  # raises 4xx before the response starts

    def generate() -> Iterator[dict[str, Any]]:
        with read_transaction() as connection:
            yield from run.stream(connection, scope, query)

    rows = generate()
    first = next(rows, None)
    return rows if first is None else itertools.chain((first,), rows)


def _detail(request: Request, engine: Engine, spec: KindSpec, key: tuple[str, Any],
            included: tuple[embedding.Relation, ...]) -> Response:
    """One entry, by id or slug (`key`): JSON, with the relations it includes, or the
    citation `Accept` prefers; keepable (`answers`) at the data version it was read at."""
    media_type = preferred(request.headers.get("accept"), ENTRY_MEDIA_TYPES)
    if media_type is None:
        raise NotAcceptable(f"{spec.a_type} is available as "
                            f"{', '.join(ENTRY_MEDIA_TYPES)}", headers=VARY_ACCEPT)
    keeping = answers.keeping()
    if media_type == JSON and not included:
        row, version = service.read_alone(engine, spec, *key, versioned=keeping)
        if keeping:
            answers.keep(request, version)
        return _entry_response(row, 200, VARY_ACCEPT)
    with engine.connect() as connection:
        # The version read before what it versions (`answers`), in a statement of its own.
        version = connection.scalar(keepable_version(engine.dialect.name)) \
            if keeping else None
        if media_type == JSON:
            row = service.read(connection, spec, *key)
            embedding.embed(connection, included, [row])
        else:
            row = service.get_cited(connection, spec, *key)
    if keeping:
        answers.keep(request, version)
    if media_type == JSON:
        # No ETag of the route's: the entry's version does not change with what it
        # includes; the HTTP layer tags the bytes.
        return FastJSONResponse(row, headers=VARY_ACCEPT)
    # No ETag of the route's: a citation also shows the linked event's title and the
    # session's name, which change without the entry's version; the HTTP layer tags
    # the bytes instead (so each representation has its own tag).
    fmt = citations.BY_MEDIA_TYPE[media_type]
    return Response(fmt.one(citations.csl_item(spec, row)), media_type=fmt.content_type,
                    headers=VARY_ACCEPT)


def build_router(spec: KindSpec) -> APIRouter:
    """GET/POST /{kind}, GET/PUT/PATCH/DELETE /{kind}/{id} for one kind."""
    router = api_router(f"/{spec.plural}", tags=[spec.plural])
    create_model, replace_model, update_model, public_model = (
        spec.create_model, spec.replace_model, spec.update_model, spec.public_model)
    said = {404: {"detail": f"{spec.type} 1 does not exist"},
            406: {"detail": f"{spec.a_type} is available as {', '.join(ENTRY_MEDIA_TYPES)}"},
            409: {"detail": f"{spec.type} slug '{slugify(spec.example['title'])}' already "
                            "exists"},
            412: {"detail": f"{spec.type} 1 is at version 3; fetch it again and retry"}}

    def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
        return problem_responses(*codes, examples={c: said[c] for c in codes if c in said})

    list_errors = errors(400, 422, 503)
    read_errors = errors(400, 404, 406, 422, 503)
    write_errors = errors(400, 401, 404, 409, 412, 422, 503)

    params = list_params(spec)
    scope = kind_scope(spec)
    ListQuery = query_values(f"list_{spec.plural}_query", params)

    async def list_entries(request: Request, query: ListQuery) -> Response:
        values = query.model_dump(by_alias=True)
        include = values.pop("include", None)
        included = embedding.requested(spec, include) if include else ()
        embed = (lambda connection, items: embedding.embed(connection, included, items)
                 ) if included else None
        return await answers.list_answer(request, scope, values, embed)

    router.add_api_route(
        "", list_entries, methods=["GET"],
        summary=f"List, filter and search {spec.plural}",
        description=f"{spec.description} Newest first unless `q` (then by relevance) or "
                    "`sort` says otherwise.",
        responses={200: answer(kind_page(spec), f"A page of {spec.plural}")} | list_errors,
        operation_id=f"list_{spec.plural}")

    _add_transfer_routes(router, spec, scope, params)

    one = spec.a_type
    entry = answer(public_model, f"The {spec.type} as stored")

    @router.post("", status_code=201, summary=f"Create {one}",
                 responses={201: answer(public_model, f"The {spec.type} created; "
                                            "`Location` is its URL")}
                 | errors(400, 401, 409, 422, 503),
                 operation_id=f"create_{spec.type}")
    def create_entry(
        request: Request, session: SessionDep, _key: WriterDep,
        payload: Annotated[create_model, Body()],  # type: ignore[valid-type]
    ) -> Response:
        row = service.create(session, spec, payload)
        location = str(request.url_for(f"get_{spec.type}", entry_id=row["id"]).path)
        return _entry_response(row, status.HTTP_201_CREATED, {"Location": location})

    detail_model = embedding.detail_model(spec)
    DetailQuery = embedding.detail_query(spec)
    detail_route = dict(
        description="JSON by default; a citation when `Accept` prefers "
                    f"{', '.join(f'`{t}`' for t in citations.BY_MEDIA_TYPE)} (CSL-JSON item, "
                    "RIS, BibTeX). An `Accept` that takes none of these "
                    "nor JSON is a 406. Answers carry `Vary: Accept`.",
        responses=read_errors | {
            200: with_content(answer(detail_model, f"The {spec.type}, or its citation"),
                              citations.entry_examples(spec)),
            304: {"description": "Not modified (If-None-Match)"}},
        openapi_extra={"parameters": [IF_NONE_MATCH]})

    # Before the id route, so that no `/by-slug/...` path is read as an id.
    @router.get("/by-slug/{slug}", summary=f"Get {one} by its slug",
                operation_id=f"get_{spec.type}_by_slug", **detail_route)
    async def get_entry_by_slug(request: Request, slug: EntrySlug,
                                query: DetailQuery) -> Response:
        engine = get_read_engine()
        return await bounded_read(engine, _detail, request, engine, spec,
                                  ("slug", slug.lower()), embedding.included(spec, query))

    @router.get(ITEM_PATH, summary=f"Get {one}", operation_id=f"get_{spec.type}",
                name=f"get_{spec.type}", **detail_route)
    async def get_entry(request: Request, entry_id: EntryId,
                        query: DetailQuery) -> Response:
        engine = get_read_engine()
        return await bounded_read(engine, _detail, request, engine, spec, ("id", entry_id),
                                  embedding.included(spec, query))

    @router.put(ITEM_PATH, summary=f"Replace {one}", responses={200: entry} | write_errors,
                operation_id=f"replace_{spec.type}")
    def replace_entry(
        session: SessionDep, _key: WriterDep, entry_id: EntryId,
        payload: Annotated[replace_model, Body()],  # type: ignore[valid-type]
        if_match: IfMatch = None,
    ) -> Response:
        return _entry_response(service.replace(session, spec, entry_id, payload, if_match))

    @router.patch(ITEM_PATH, summary=f"Update {one}", responses={200: entry} | write_errors,
                  operation_id=f"update_{spec.type}")
    def patch_entry(
        session: SessionDep, _key: WriterDep, entry_id: EntryId,
        payload: Annotated[update_model, Body()],  # type: ignore[valid-type]
        if_match: IfMatch = None,
    ) -> Response:
        changes = payload.model_dump(exclude_unset=True)
        return _entry_response(service.patch(session, spec, entry_id, changes, if_match))

    @router.delete(ITEM_PATH, status_code=204, summary=f"Delete {one}",
                   responses={204: {"description": f"The {spec.type} is gone"}}
                   | errors(400, 401, 404, 412, 422, 503),
                   operation_id=f"delete_{spec.type}")
    def delete_entry(session: SessionDep, _key: WriterDep, entry_id: EntryId,
                     if_match: IfMatch = None) -> Response:
        service.remove(session, spec, entry_id, if_match)
        return Response(status_code=204)

    return router
