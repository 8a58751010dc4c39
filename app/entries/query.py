"""List parameters → one validated query → one page (rows, count, next cursor).

The parameters a list accepts are an allow-list; anything else is a 400
naming it, before any SQL runs, so a frontend typo never returns everything.
"""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from fastapi import Request
from sqlalchemy import ColumnElement, func
from sqlalchemy.orm import Session

from app.core.config import get_settings
from app.core.errors import BadRequest
from app.entries import repository as repo
from app.entries.paging import (
    SortField,
    decode_cursor,
    encode_cursor,
    keyset_after,
    parse_sort,
)
from app.entries.service import public
from app.entries.spec import KindSpec

entries = repo.entries
CountMode = Literal["capped", "exact", "none"]
PAGING_PARAMS = frozenset({"limit", "offset", "cursor", "sort", "count"})


def _title_key(dialect: str) -> ColumnElement[Any]:
    """Case-insensitive title order, byte-wise on both engines so they agree."""
    return func.lower(entries.c.title).collate("C" if dialect == "postgresql" else "BINARY")


def sort_fields(dialect: str) -> dict[str, SortField]:
    """The keys a kind's list sorts by."""
    return {
        "date": SortField("date", entries.c.date, date, nullable=True),
        "title": SortField("title", _title_key(dialect), str),
        "created_at": SortField("created_at", entries.c.created_at, datetime),
        "updated_at": SortField("updated_at", entries.c.updated_at, datetime),
        "id": SortField("id", entries.c.id, int),
    }


@dataclass(frozen=True)
class ListParams:
    """A validated list request."""

    limit: int
    offset: int
    cursor: str | None
    sort: str | None
    count: CountMode


def reject_unknown(request: Request, allowed: frozenset[str]) -> None:
    """400 naming every query parameter the route does not know, or repeats needlessly."""
    names = [name for name, _ in request.query_params.multi_items()]
    unknown = sorted({name for name in names if name not in allowed})
    if unknown:
        listed = ", ".join(f"'{name}'" for name in unknown)
        raise BadRequest(
            f"unknown query parameter {listed}; allowed: {', '.join(sorted(allowed))}",
            errors=[{"loc": ["query", name], "msg": "unknown parameter"} for name in unknown])
    repeated = sorted({n for n in names if n in PAGING_PARAMS and names.count(n) > 1})
    if repeated:
        raise BadRequest(f"query parameter '{repeated[0]}' given more than once",
                         errors=[{"loc": ["query", n], "msg": "given more than once"}
                                 for n in repeated])


def list_page(session: Session, spec: KindSpec, params: ListParams) -> dict[str, Any]:
    """Run a list request: the page, its count and the cursor to the next page."""
    settings = get_settings()
    dialect = session.get_bind().dialect.name
    fields = sort_fields(dialect)
    keys = parse_sort(params.sort or "-date", fields, fields["id"])
    where: list[ColumnElement[bool]] = []
    if params.cursor is not None:
        if params.offset:
            raise BadRequest("use either offset or cursor, not both",
                             errors=[{"loc": ["query", "cursor"], "msg": "offset given too"}])
        where.append(keyset_after(keys, decode_cursor(params.cursor, keys)))
    rows = repo.fetch_page(
        session, spec, where=where, order_by=[key.order_by() for key in keys],
        sort_values=[key.field.expression for key in keys],
        limit=params.limit, offset=params.offset)
    has_more = len(rows) > params.limit
    rows = rows[: params.limit]
    next_cursor = encode_cursor(keys, rows[-1]["_sort"]) if has_more and rows else None
    for row in rows:
        del row["_sort"]
    total, exact = _total(session, spec, params, settings.count_cap)
    return {
        "items": [public(spec, row) for row in rows],
        "total": total,
        "total_exact": exact,
        "limit": params.limit,
        "offset": params.offset,
        "next_cursor": next_cursor,
    }


def _total(session: Session, spec: KindSpec, params: ListParams, cap: int
           ) -> tuple[int | None, bool]:
    """How many rows match, as the client's `count` mode asks."""
    if params.count == "none":
        return None, False
    counted = repo.count(session, spec, where=[],
                         cap=None if params.count == "exact" else cap)
    if params.count == "capped" and counted > cap:
        return cap, False
    return counted, True


