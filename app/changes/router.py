"""GET /changes: every create, update and delete since a point, for mirrors and indexes."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection, func, select

from app.core.clock import as_utc
from app.core.db import get_read_engine
from app.core.errors import BadRequest, Unprocessable, problem_responses
from app.core.responses import FastJSONResponse
from app.core.routing import api_router
from app.entries.fields import MAX_ID
from app.entries.listing.params import Param, query_values
from app.entries.registry import KINDS
from app.entries.repository import entry_changes

router = api_router(tags=["changes"])
TYPES = tuple(spec.type for spec in KINDS)
# What _start takes, for the OpenAPI document: a token (at most 18 digits stay within the
# largest sequence number) or an ISO 8601 date or time; anything else is a 422.
Since = Annotated[str, Field(json_schema_extra={"anyOf": [
    {"pattern": "^[0-9]{0,18}$"}, {"format": "date-time"}, {"format": "date"}]})]


class Change(BaseModel):
    """One write to an entry."""

    seq: int = Field(description="Position in the change log.", examples=[1042])
    action: str = Field(description="created, updated or deleted", examples=["updated"])
    type: str = Field(examples=["statement"])
    id: int = Field(examples=[18])
    slug: str = Field(examples=["chinas-un-envoy-stresses-people-centered-approach"])
    version: int = Field(examples=[2])
    at: datetime


class ChangePage(BaseModel):
    """A page of changes and where to continue."""

    items: list[Change]
    next_since: str = Field(description="Pass as `since` for the next page (also when empty).",
                            examples=["1042"])
    has_more: bool


def _bad_since(detail: str, msg: str) -> BadRequest:
    return BadRequest(f"query.since: {detail}", errors=[{"loc": ["query", "since"], "msg": msg}])


def _head(session: Connection) -> int:
    """The newest change's sequence number (0 while the log is empty)."""
    return session.scalar(select(func.coalesce(func.max(entry_changes.c.seq), 0)))


def _start(session: Connection, since: str | None) -> int:
    """The sequence number to continue after: a token, a time, or the beginning."""
    if since is None or since == "":
        return 0
    if since.isascii() and since.isdigit():
        if int(since) > MAX_ID:
            raise Unprocessable("query.since: a next_since token is at most "
                                f"{MAX_ID}", errors=[{"loc": ["query", "since"],
                                                      "msg": "token too large"}])
        return int(since)
    return _first_at_or_after(session, _moment(since)) - 1


def _moment(since: str) -> datetime:
    """An ISO 8601 date or time as a UTC time (no offset: UTC; a date: its midnight)."""
    try:
        moment = datetime.fromisoformat(since.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise Unprocessable("query.since: not a token from next_since nor an ISO 8601 time",
                            errors=[{"loc": ["query", "since"], "msg": "invalid since"}]
                            ) from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _first_at_or_after(session: Connection, moment: datetime) -> int:
    """The first change logged at or after a time; one past the head when none is yet.

    Change times rise with `seq` (they are taken when a transaction numbers its changes,
    in commit order: repository's change log), so every later change follows it."""
    first = session.scalar(select(func.min(entry_changes.c.seq))
                           .where(entry_changes.c.at >= moment))
    return first if first is not None else _head(session) + 1


ChangesQuery = query_values("changes_query", [
    Param("since", Since | None, "`next_since` of the previous page, or an ISO 8601 time.",
          "2021-03-01T00:00:00Z", bounds={"max_length": 40}),
    Param("type", Literal[TYPES], "Only these kinds (repeated or a comma list).",  # type: ignore[valid-type]
          "statement", True),
    Param("limit", int, "Page size.", default=100, bounds={"ge": 1, "le": 1000}),
])


@router.get("/changes", response_model=ChangePage, summary="Changes since a point",
            description="Creates, updates and deletes in commit order: polling with "
                        "`since=next_since` sees every change exactly once. Start with no "
                        "`since` (everything) or an ISO time (changes at or after it); then "
                        "pass `next_since`. A token past the newest change is a 400.",
            responses=problem_responses(400, 422))
def changes(query: ChangesQuery) -> Response:
    engine = get_read_engine()
    with engine.connect() as connection:
        return _changes(connection, query.model_dump(by_alias=True))


def _changes(db: Connection, query: dict[str, Any]) -> Response:
    since, type, limit = query["since"], query["type"], query["limit"]
    start = _start(db, since)
    stmt = (select(entry_changes).where(entry_changes.c.seq > start)
            .order_by(entry_changes.c.seq).limit(limit + 1))
    if type:
        stmt = stmt.where(entry_changes.c.type.in_(type))
    rows = [dict(r) for r in db.execute(stmt).mappings()]
    if not rows and start > (head := _head(db)):
        raise _bad_since(f"{start} is past the newest change ({head}): this log is not the "
                         "one the token came from (the database was replaced or restored); "
                         "start again without since", "token past the newest change")
    more = len(rows) > limit
    rows = rows[:limit]
    items = [{"seq": r["seq"], "action": r["action"], "type": r["type"], "id": r["entry_id"],
              "slug": r["slug"], "version": r["version"], "at": as_utc(r["at"])} for r in rows]
    next_since = str(rows[-1]["seq"]) if rows else str(start)
    return FastJSONResponse({"items": items, "next_since": next_since, "has_more": more})
