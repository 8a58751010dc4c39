"""The floor: raw Starlette + one hand-written SQL statement per request + orjson.

It serves the product's read paths on the same schema and data, with the same
JSON envelope, so the product/floor ratio shows what the framework, ORM and
validation layers cost. Run it with uvicorn (the bench does):

    BENCH_DATABASE_URL=sqlite:///bench/data/hrc_bench_10k.db \
        uvicorn bench.floor:app --host 127.0.0.1 --port 8101
"""

import base64
import datetime as dt
import os
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from bench import floor_sql as fs
from bench import store

URL = os.environ.get("BENCH_DATABASE_URL", store.bench_url("sqlite", 10_000))
SQLITE = store.is_sqlite(URL)
KIND = "article"
CONSTANT = orjson.dumps({"items": [], "total": 0, "total_exact": True, "limit": 20,
                         "offset": 0, "next_cursor": None})
_local = threading.local()


def _open() -> Any:
    """A new connection, configured like the product's (WAL, FKs, NORMAL sync on SQLite)."""
    if SQLITE:
        conn = sqlite3.connect(store.sqlite_path(URL), check_same_thread=False, timeout=10)
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=10000",
                       "synchronous=NORMAL"):
            conn.execute(f"PRAGMA {pragma}")
        return conn
    import psycopg

    return psycopg.connect(store.pg_dsn(URL), autocommit=True)


def connection() -> Any:
    """This worker thread's connection (opened once, reused for every request)."""
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = _open()
    return conn


def fetch(sql: fs.Sql) -> list[tuple]:
    """Run one statement on this thread's connection."""
    return connection().execute(sql.text, sql.params).fetchall()


def _json(value: Any) -> Any:
    """A JSON column: text on SQLite, already decoded by psycopg on PostgreSQL."""
    return orjson.loads(value) if SQLITE and value is not None else value


def _stamp(value: Any) -> Any:
    """A timestamp as the product prints it (UTC, ISO 8601, Z)."""
    if SQLITE:
        return value.replace(" ", "T") + "Z"
    return value


def article(row: tuple) -> dict[str, Any]:
    """A stored row as the product's article item."""
    item = dict(zip(fs.ITEM_COLUMNS, row[:19], strict=True))
    for name in ("topics", "countries", "provenance", "authors"):
        item[name] = _json(item[name])
    item["created_at"] = _stamp(item["created_at"])
    item["updated_at"] = _stamp(item["updated_at"])
    return item


def _cursor(values: list[Any]) -> str:
    raw = orjson.dumps(values, option=orjson.OPT_PASSTHROUGH_DATETIME, default=str)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _uncursor(text: str) -> tuple[Any, int]:
    last_date, last_id = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    return _day(last_date), int(last_id)


def _day(text: str | None) -> Any:
    """A date parameter: text for SQLite, a date for PostgreSQL."""
    if text is None or SQLITE:
        return text
    return dt.date.fromisoformat(text)


def _json_response(content: Any, status: int = 200, headers: dict | None = None) -> Response:
    body = orjson.dumps(content, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC)
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _envelope(rows: list[tuple], limit: int, offset: int, total_column: int,
              cursor_of: Any, highlights: bool = False) -> dict[str, Any]:
    """The product's list envelope from limit + 1 rows carrying the capped count."""
    items = [article(row) for row in rows[:limit]]
    if highlights:
        for item, row in zip(items, rows, strict=False):
            item["highlights"] = {"title": row[19]}
    total = rows[0][total_column] if rows else 0
    next_cursor = _cursor(cursor_of(rows[limit - 1])) if len(rows) > limit else None
    return {"items": items, "total": min(total, fs.COUNT_CAP),
            "total_exact": total <= fs.COUNT_CAP, "limit": limit, "offset": offset,
            "next_cursor": next_cursor}


def _date_key(row: tuple) -> list[Any]:
    return [row[15], row[0]]


def _highlight_key(row: tuple) -> list[Any]:
    return [row[0]]


def list_articles(request: Request) -> Response:
    """GET /api/v1/articles: topic, date range, q, offset or cursor."""
    params = request.query_params
    limit = min(int(params.get("limit", 20)), 100)
    offset = min(int(params.get("offset", 0)), 10_000)
    filters = fs.Filters(topic=params.get("topic"), date_from=_day(params.get("date_from")),
                         date_to=_day(params.get("date_to")), q=params.get("q"))
    if filters.q:
        rows = fetch(fs.list_by_rank(SQLITE, KIND, filters, limit))
        return _json_response(_envelope(rows, limit, 0, 20, _highlight_key, True))
    after = _uncursor(params["cursor"]) if "cursor" in params else None
    rows = fetch(fs.list_by_date(SQLITE, KIND, filters, limit, offset, after))
    return _json_response(_envelope(rows, limit, offset, 19, _date_key))


def get_article(request: Request) -> Response:
    """GET /api/v1/articles/{id}, with the product's ETag."""
    rows = fetch(fs.detail(SQLITE, KIND, int(request.path_params["entry_id"])))
    if not rows:
        return _json_response({"type": "about:blank", "title": "Not Found", "status": 404},
                              404)
    item = article(rows[0])
    item["type"] = KIND
    return _json_response(item, headers={"ETag": f'"{item["id"]}-{item["version"]}"'})


def _search_item(row: tuple) -> dict[str, Any]:
    item = dict(zip(fs.SEARCH_COLUMNS, row[:11], strict=True))
    item["topics"] = _json(item["topics"])
    item["countries"] = _json(item["countries"])
    return item


def search(request: Request) -> Response:
    """GET /api/v1/search?q=&facets=type,topic: ranked across kinds, capped count, facets."""
    q = request.query_params.get("q", "")
    limit = min(int(request.query_params.get("limit", 20)), 100)
    rows = fetch(fs.search_page(SQLITE, q, limit))
    total = rows[0][11] if rows else 0
    facets: dict[str, list[dict[str, Any]]] = {"type": [], "topic": []}
    if request.query_params.get("facets"):
        for facet, value, count in fetch(fs.search_facets(SQLITE, q)):
            facets[facet].append({"value": value, "count": count})
        for values in facets.values():
            values.sort(key=lambda v: (-v["count"], v["value"]))
    return _json_response({
        "items": [_search_item(row) for row in rows[:limit]],
        "total": min(total, fs.COUNT_CAP), "total_exact": total <= fs.COUNT_CAP,
        "limit": limit, "offset": 0,
        "next_cursor": _cursor([rows[limit - 1][0]]) if len(rows) > limit else None,
        "facets": facets})


def naive_search(request: Request) -> Response:
    """GET /naive-search?q=: rank every match and count them all (what not to do)."""
    q = request.query_params.get("q", "")
    rows = fetch(fs.naive_search(SQLITE, q, 20))
    total = rows[0][11] if rows else 0
    return _json_response({"items": [_search_item(row) for row in rows], "total": total,
                           "total_exact": True, "limit": 20, "offset": 0, "next_cursor": None})


def _export_lines() -> Iterator[bytes]:
    """NDJSON of every article, 1,000 lines a chunk, from a server-side cursor."""
    conn = _open()
    try:
        sql = fs.export_all(SQLITE, KIND)
        if SQLITE:
            cursor = conn.execute(sql.text, sql.params)
        else:
            cursor = conn.cursor(name="export")
            conn.autocommit = False
            cursor.itersize = 2000
            cursor.execute(sql.text, sql.params)
        while rows := cursor.fetchmany(1000):
            opts = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC | orjson.OPT_APPEND_NEWLINE
            yield b"".join(orjson.dumps(article(row) | {"type": KIND}, option=opts)
                           for row in rows)
    finally:
        conn.close()


def export(request: Request) -> Response:
    """GET /api/v1/articles/export?format=ndjson, streamed in constant memory."""
    return StreamingResponse(_export_lines(), media_type="application/x-ndjson")


def constant(request: Request) -> Response:
    """GET /constant: a fixed body, the pure HTTP cost."""
    return Response(CONSTANT, media_type="application/json")


def healthz(request: Request) -> Response:
    """GET /healthz."""
    return Response(b'{"status":"ok"}', media_type="application/json")


app = Starlette(routes=[
    Route("/constant", constant),
    Route("/healthz", healthz),
    Route("/naive-search", naive_search),
    Route("/api/v1/search", search),
    Route("/api/v1/articles", list_articles),
    Route("/api/v1/articles/export", export),
    Route("/api/v1/articles/{entry_id:int}", get_article),
])
