"""The CRUD router every kind gets: built from its spec, never copied."""

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Header, Path, Request, Response
from starlette import status

from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.core.responses import FastJSONResponse
from app.core.security import WriterDep
from app.entries import service
from app.entries.params import common_params, kind_filter_params, with_signature
from app.entries.query import SORT_KEYS, kind_scope, reject_unknown, run
from app.entries.schemas import Page
from app.entries.spec import KindSpec

EntryId = Annotated[int, Path(ge=1, description="The entry's id.", examples=[1])]
IfMatch = Annotated[str | None, Header(
    description="ETag from a previous GET; a stale one gives 412.", examples=['"1-3"'])]
IfNoneMatch = Annotated[str | None, Header(
    description="ETag from a previous GET; unchanged gives 304.", examples=['"1-3"'])]


def _entry_response(row: dict[str, Any], status_code: int = 200,
                    headers: dict[str, str] | None = None) -> FastJSONResponse:
    tag = {"ETag": service.etag(row)}
    return FastJSONResponse(row, status_code=status_code, headers=tag | (headers or {}))


def _next_link(request: Request, cursor: str | None) -> dict[str, str]:
    """RFC 8288 Link to the next page: same query, offset replaced by the cursor."""
    if cursor is None:
        return {}
    params = [(k, v) for k, v in request.query_params.multi_items()
              if k not in ("cursor", "offset")]
    query = urlencode([*params, ("cursor", cursor)])
    return {"Link": f'<{request.url.path}?{query}>; rel="next"'}


def list_params(spec: KindSpec) -> list:
    """What a kind's list accepts: the common parameters and the kind's own filters."""
    facets = kind_scope(spec).facets
    return common_params(facets=facets, sort_keys=SORT_KEYS, default_sort="-date") + (
        kind_filter_params((spec,)))


def build_router(spec: KindSpec) -> APIRouter:
    """GET/POST /{kind}, GET/PUT/PATCH/DELETE /{kind}/{id} for one kind."""
    router = APIRouter(prefix=f"/{spec.plural}", tags=[spec.plural])
    create_model, update_model, public_model = (
        spec.create_model, spec.update_model, spec.public_model)
    read_errors = problem_responses(400, 404, 422, 503)
    write_errors = problem_responses(400, 401, 404, 409, 412, 422, 503)

    params = list_params(spec)
    allowed = frozenset(p.name for p in params)
    scope = kind_scope(spec)

    def list_entries(request: Request, db: SessionDep, **query: Any) -> Response:
        reject_unknown(request, allowed)
        page = run(db, scope, query, lambda row: service.public(spec, row))
        return FastJSONResponse(page, headers=_next_link(request, page["next_cursor"]))

    router.add_api_route(
        "", with_signature(list_entries, params), methods=["GET"], response_model=Page,
        summary=f"List, filter and search {spec.plural}",
        description=f"{spec.description} Newest first unless `q` (then by relevance) or "
                    "`sort` says otherwise.",
        responses=read_errors, operation_id=f"list_{spec.plural}")

    @router.post("", status_code=201, response_model=public_model,
                 summary=f"Create a {spec.type}", responses=write_errors,
                 operation_id=f"create_{spec.type}")
    def create_entry(
        request: Request, session: SessionDep, _key: WriterDep,
        payload: Annotated[create_model, Body()],  # type: ignore[valid-type]
    ) -> Response:
        row = service.create(session, spec, payload)
        location = str(request.url_for(f"get_{spec.type}", entry_id=row["id"]).path)
        return _entry_response(row, status.HTTP_201_CREATED, {"Location": location})

    @router.get("/{entry_id}", response_model=public_model, summary=f"Get a {spec.type}",
                responses=read_errors | {304: {"description": "Not modified (If-None-Match)"}},
                operation_id=f"get_{spec.type}", name=f"get_{spec.type}")
    def get_entry(session: SessionDep, entry_id: EntryId,
                  if_none_match: IfNoneMatch = None) -> Response:
        row = service.get(session, spec, entry_id)
        tag = service.etag(row)
        if if_none_match and (if_none_match.strip() == "*" or tag in
                              {t.strip() for t in if_none_match.split(",")}):
            return Response(status_code=304, headers={"ETag": tag})
        return _entry_response(row)

    @router.put("/{entry_id}", response_model=public_model, summary=f"Replace a {spec.type}",
                responses=write_errors, operation_id=f"replace_{spec.type}")
    def replace_entry(
        session: SessionDep, _key: WriterDep, entry_id: EntryId,
        payload: Annotated[create_model, Body()],  # type: ignore[valid-type]
        if_match: IfMatch = None,
    ) -> Response:
        return _entry_response(service.replace(session, spec, entry_id, payload, if_match))

    @router.patch("/{entry_id}", response_model=public_model, summary=f"Update a {spec.type}",
                  responses=write_errors, operation_id=f"update_{spec.type}")
    def patch_entry(
        session: SessionDep, _key: WriterDep, entry_id: EntryId,
        payload: Annotated[update_model, Body()],  # type: ignore[valid-type]
        if_match: IfMatch = None,
    ) -> Response:
        changes = payload.model_dump(exclude_unset=True)
        return _entry_response(service.patch(session, spec, entry_id, changes, if_match))

    @router.delete("/{entry_id}", status_code=204, summary=f"Delete a {spec.type}",
                   responses=write_errors, operation_id=f"delete_{spec.type}")
    def delete_entry(session: SessionDep, _key: WriterDep, entry_id: EntryId,
                     if_match: IfMatch = None) -> Response:
        service.remove(session, spec, entry_id, if_match)
        return Response(status_code=204)

    return router
