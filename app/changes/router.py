"""GET /changes: every create, update and delete since a point, for mirrors and indexes."""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import BigInteger, Text, cast, func, select
from sqlalchemy.orm import Session

from app.core.clock import as_utc
from app.core.db import ReadDep
from app.core.errors import Unprocessable, problem_responses
from app.core.responses import FastJSONResponse
from app.core.routing import api_router
from app.entries.fields import MAX_ID
from app.entries.query import reject_unknown
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


def _start(session: Session, since: str | None) -> int:
    """The sequence number to continue after: a token, an ISO timestamp, or the beginning."""
    if since is None or since == "":
        return 0
    if since.isascii() and since.isdigit():
        if int(since) > MAX_ID:
            raise Unprocessable("query.since: a next_since token is at most "
                                f"{MAX_ID}", errors=[{"loc": ["query", "since"],
                                                      "msg": "token too large"}])
        return int(since)
    try:
        moment = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError:
        raise Unprocessable("query.since: not a token from next_since nor an ISO 8601 time",
                            errors=[{"loc": ["query", "since"], "msg": "invalid since"}]
                            ) from None
    before = select(func.max(entry_changes.c.seq)).where(entry_changes.c.at < moment)
    return session.scalar(before) or 0


def _settled(session: Session) -> list[Any]:
    """On PostgreSQL, hold back changes of transactions that may still be running."""
    if session.get_bind().dialect.name != "postgresql":
        return []  # SQLite has one writer at a time: log order is commit order
    horizon = cast(cast(func.pg_snapshot_xmin(func.pg_current_snapshot()), Text), BigInteger)
    return [entry_changes.c.txid < horizon]


@router.get("/changes", response_model=ChangePage, summary="Changes since a point",
            description="Creates, updates and deletes in commit-safe order. Start with no "
                        "`since` (everything) or an ISO time; then pass `next_since`.",
            responses=problem_responses(400, 422))
def changes(
    request: Request, db: ReadDep,
    since: Annotated[Since | None, Query(max_length=40, description="`next_since` of the "
                                         "previous page, or an ISO 8601 time.",
                                         examples=["2021-03-01T00:00:00Z"])] = None,
    type: Annotated[list[Literal[TYPES]] | None, Query(  # type: ignore[valid-type]
        description="Only these kinds (repeatable).", examples=["statement"])] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size.")] = 100,
) -> Response:
    reject_unknown(request, frozenset({"since", "type", "limit"}))
    start = _start(db, since)
    stmt = (select(entry_changes).where(entry_changes.c.seq > start, *_settled(db))
            .order_by(entry_changes.c.seq).limit(limit + 1))
    if type:
        stmt = stmt.where(entry_changes.c.type.in_(type))
    rows = [dict(r) for r in db.execute(stmt).mappings()]
    more = len(rows) > limit
    rows = rows[:limit]
    items = [{"seq": r["seq"], "action": r["action"], "type": r["type"], "id": r["entry_id"],
              "slug": r["slug"], "version": r["version"], "at": as_utc(r["at"])} for r in rows]
    next_since = str(rows[-1]["seq"]) if rows else str(start)
    return FastJSONResponse({"items": items, "next_since": next_since, "has_more": more})
