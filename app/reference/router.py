"""Topics, countries and sessions: read by everyone, curated with an API key."""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Path, Request, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, Engine, select

from app.core.clock import utcnow
from app.core.db import SessionDep, get_read_engine
from app.core.errors import Unprocessable, problem_responses
from app.core.openapi import answer
from app.core.responses import FastJSONResponse, page_links
from app.core.routing import api_router
from app.core.security import WriterDep
from app.entries.listing.params import Param, query_values
from app.entries.models import Entry, EntryTopic
from app.entries.placement import replace_session
from app.entries.registry import KINDS
from app.reference import listing, schemas
from app.reference import service as ref
from app.reference.service import sessions, topics

router = api_router()
KIND_TYPES = tuple(spec.type for spec in KINDS)
TopicSlugPath = Annotated[str, Path(max_length=64, description="The topic's slug.",
                                    examples=["xinjiang"])]
COUNTRY_CODE = "^[A-Za-z]{2}$"
NOT_A_CODE = f"String should match pattern '{COUNTRY_CODE}'"
CountryCodePath = Annotated[str, Path(pattern=COUNTRY_CODE, description="The country's "
                                     "ISO 3166-1 alpha-2 code, either case.", examples=["CN"])]
SessionNumberPath = Annotated[int, Path(ge=1, le=10_000, description="The session's number "
                                        "(46 for HRC46).", examples=[46])]

def _write_errors(*codes: int, **said: str) -> dict[int | str, dict[str, Any]]:
    """The problems a curator's write can meet, with the route's own words for some
    (`e404="..."`)."""
    return problem_responses(*codes, examples={int(k[1:]): {"detail": v}
                                               for k, v in said.items()})


NO_TOPIC, NO_SESSION = "topic 'xinjiang' does not exist", "session '46' does not exist"
NO_COUNTRY = "country 'XK' does not exist"


def _topic(connection: Connection, slug: str) -> dict[str, Any]:
    """A topic with its counts, or 404."""
    return listing.member(connection, listing.TOPICS, KIND_TYPES, slug)


def _session(connection: Connection, number: int) -> dict[str, Any]:
    """A session with its counts, or 404."""
    return listing.member(connection, listing.SESSIONS, KIND_TYPES, number)


def _validate_merged(model, current: dict, changes: dict) -> dict:
    """Validate the row that a partial update would leave."""
    merged = {k: v for k, v in (current | changes).items() if k in model.model_fields}
    try:
        return model.model_validate(merged).model_dump()
    except ValidationError as exc:
        errors = [{"loc": ["body", *e["loc"]], "msg": e["msg"]} for e in exc.errors()]
        raise Unprocessable("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                      for e in errors), errors=errors) from None


# Reference collections are small lookup tables a client often loads whole: pages of up
# to 1,000 (every country in one), 100 by default. Any other parameter is a 400.
PAGING = [
    Param("limit", int, "Page size.", 100, default=100, bounds={"ge": 1, "le": 1000}),
    Param("offset", int, "Members to skip (at most 10,000); or page with `cursor`.", 0,
          default=0, bounds={"ge": 0, "le": 10_000}),
    Param("cursor", str | None, "`next_cursor` of the previous page.",
          bounds={"max_length": 4096}),
]
PageQuery = query_values("reference_page_query", PAGING)
CountriesQuery = query_values("countries_query", [
    Param("used", bool, "Only countries some entry concerns.", default=False), *PAGING])


def _page(request: Request, engine: Engine, collection: listing.Collection,
          query: BaseModel, **filters: Any) -> Response:
    """A page of a collection as JSON, with its `Link` header (first, prev, next)."""
    values = query.model_dump(by_alias=True)
    with engine.connect() as connection:
        page = listing.page(connection, collection, KIND_TYPES, limit=values["limit"],
                            offset=values["offset"], cursor=values["cursor"], **filters)
    return FastJSONResponse(page, headers=page_links(request, page["next_cursor"],
                                                     page["offset"], page["limit"]))


def _list_route(collection: listing.Collection, page: type[BaseModel], summary: str,
                description: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """GET on a collection: a page of its members in the list envelope."""
    return router.get(f"/{collection.path}", tags=[collection.path], summary=summary,
                      description=description,
                      responses={200: answer(page, f"A page of {collection.path}")}
                      | problem_responses(400, 422))


@_list_route(listing.TOPICS, schemas.TopicPage, "List topics",
             "Every topic by name, with its entries per kind.")
def list_topics(request: Request, query: PageQuery) -> Response:
    engine = get_read_engine()
    return _page(request, engine, listing.TOPICS, query)


@router.get("/topics/{slug}", tags=["topics"], summary="Get a topic",
            response_model=schemas.TopicPublic,
            responses=problem_responses(404, examples={404: {"detail": NO_TOPIC}}))
def get_topic(slug: TopicSlugPath) -> Response:
    engine = get_read_engine()
    with engine.connect() as connection:
        return FastJSONResponse(_topic(connection, slug))


@router.post("/topics", tags=["topics"], status_code=201, summary="Create a topic",
             response_model=schemas.TopicPublic,
             responses=_write_errors(400, 401, 409, 422, e409="topic 'xinjiang' already exists"))
def create_topic(request: Request, session: SessionDep, _key: WriterDep,
                 payload: schemas.TopicCreate) -> Response:
    ref.create_row(session, topics, topics.c.slug, payload.model_dump(), "topic")
    row = _topic(session.connection(), payload.slug)
    location = str(request.url_for("get_topic", slug=payload.slug).path)
    return FastJSONResponse(row, status_code=201, headers={"Location": location})


@router.patch("/topics/{slug}", tags=["topics"], summary="Update a topic",
              response_model=schemas.TopicPublic,
              responses=_write_errors(400, 401, 404, 422, e404=NO_TOPIC))
def update_topic(session: SessionDep, _key: WriterDep, slug: TopicSlugPath,
                 payload: schemas.TopicUpdate) -> Response:
    current = ref.get_row(session, topics, topics.c.slug, slug, "topic")
    values = _validate_merged(schemas.TopicFields, current, payload.model_dump(exclude_unset=True))
    ref.update_row(session, topics, topics.c.slug, slug, values, "topic")
    return FastJSONResponse(_topic(session.connection(), slug))


@router.delete("/topics/{slug}", tags=["topics"], status_code=204, summary="Delete a topic",
               responses=_write_errors(400, 401, 404, 409, 422, e404=NO_TOPIC, e409="topic "
                                       "'xinjiang' is used by 12 entries; retag them first"))
def delete_topic(session: SessionDep, _key: WriterDep, slug: TopicSlugPath) -> Response:
    usage = select(EntryTopic.__table__.c.entry_id).where(EntryTopic.__table__.c.topic == slug)
    ref.delete_row(session, topics, topics.c.slug, slug, "topic", usage)
    return Response(status_code=204)


@_list_route(listing.COUNTRIES, schemas.CountryPage, "List countries",
             "Every ISO 3166-1 country by name (or, with `used=true`, those some entry "
             "concerns), with its entries per kind.")
def list_countries(request: Request, query: CountriesQuery) -> Response:
    engine = get_read_engine()
    return _page(request, engine, listing.COUNTRIES, query,
                 used_only=query.model_dump(by_alias=True)["used"])


@router.get("/countries/{code}", tags=["countries"], summary="Get a country",
            response_model=schemas.CountryPublic,
            responses=problem_responses(404, 422, examples={
                404: {"detail": NO_COUNTRY, "instance": "/api/v1/countries/XK"},
                422: {"detail": f"path.code: {NOT_A_CODE}", "instance": "/api/v1/countries/CHN",
                      "errors": [{"loc": ["path", "code"], "msg": NOT_A_CODE}]}}))
def get_country(code: CountryCodePath) -> Response:
    engine = get_read_engine()
    with engine.connect() as connection:
        return FastJSONResponse(listing.member(connection, listing.COUNTRIES, KIND_TYPES,
                                               code.upper()))


@_list_route(listing.SESSIONS, schemas.SessionPage, "List Council sessions",
             "Every session, newest first, with its entries per kind.")
def list_sessions(request: Request, query: PageQuery) -> Response:
    engine = get_read_engine()
    return _page(request, engine, listing.SESSIONS, query)


@router.get("/sessions/{number}", tags=["sessions"], summary="Get a session",
            response_model=schemas.SessionPublic,
            responses=problem_responses(404, 422, examples={404: {"detail": NO_SESSION}}))
def get_session(number: SessionNumberPath) -> Response:
    engine = get_read_engine()
    with engine.connect() as connection:
        return FastJSONResponse(_session(connection, number))


@router.post("/sessions", tags=["sessions"], status_code=201, summary="Create a session",
             response_model=schemas.SessionPublic,
             responses=_write_errors(400, 401, 409, 422, e409="session '46' already exists"))
def create_session(request: Request, session: SessionDep, _key: WriterDep,
                   payload: schemas.SessionCreate) -> Response:
    ref.create_row(session, sessions, sessions.c.number, payload.model_dump(), "session")
    row = _session(session.connection(), payload.number)
    location = str(request.url_for("get_session", number=payload.number).path)
    return FastJSONResponse(row, status_code=201, headers={"Location": location})


@router.patch("/sessions/{number}", tags=["sessions"], summary="Update a session",
              response_model=schemas.SessionPublic,
              responses=_write_errors(400, 401, 404, 422, e404=NO_SESSION))
def update_session(session: SessionDep, _key: WriterDep, number: SessionNumberPath,
                   payload: schemas.SessionUpdate) -> Response:
    current = ref.get_row(session, sessions, sessions.c.number, number, "session")
    values = _validate_merged(schemas.SessionFields, current,
                              payload.model_dump(exclude_unset=True))
    ref.update_row(session, sessions, sessions.c.number, number, values, "session")
    # Its entries placed by its dates move along (only those whose placement changes).
    replace_session(session, number, utcnow())
    return FastJSONResponse(_session(session.connection(), number))


@router.delete("/sessions/{number}", tags=["sessions"], status_code=204,
               summary="Delete a session",
               responses=_write_errors(400, 401, 404, 409, 422, e404=NO_SESSION, e409="session "
                                       "'46' is used by 26 entries; retag them first"))
def delete_session(session: SessionDep, _key: WriterDep, number: SessionNumberPath) -> Response:
    entries = Entry.__table__
    usage = select(entries.c.id).where(entries.c.session == number)
    ref.delete_row(session, sessions, sessions.c.number, number, "session", usage)
    return Response(status_code=204)
