"""Request bodies in (JSON array or NDJSON, streamed) and exports out (NDJSON or CSV, streamed)."""

import csv
import io
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
from fastapi import Request

from app.core.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from app.core.responses import dumps

NDJSON_TYPES = frozenset({"application/x-ndjson", "application/jsonl", "application/ndjson"})
MAX_LINE_BYTES = 4 * 1024 * 1024
LIST_SEPARATOR = "|"


def media_type(request: Request) -> str:
    """The request's media type without parameters."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _too_many(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"a bulk request takes at most {limit:,} items; split it")


async def items(request: Request, *, max_items: int, max_bytes: int, batch: int
                ) -> AsyncIterator[list[tuple[int, Any, int | None]]]:
    """Batches of (index, parsed item, NDJSON line); a line that is not JSON comes as an
    Exception. Lines count from 1, blank ones included; a JSON array's items have none."""
    kind = media_type(request)
    if kind in NDJSON_TYPES:
        async for chunk in _ndjson(request, max_items=max_items, batch=batch):
            yield chunk
    elif kind == "application/json":
        body = bytearray()
        async for part in request.stream():
            body += part
            if len(body) > max_bytes:
                raise PayloadTooLarge(f"a JSON bulk body is at most {max_bytes:,} bytes; "
                                      "send NDJSON to stream larger loads")
        try:
            data = orjson.loads(bytes(body))
        except orjson.JSONDecodeError:
            raise BadRequest("request body is not valid JSON") from None
        if not isinstance(data, list):
            raise BadRequest("a JSON bulk body must be an array of objects")
        if len(data) > max_items:
            raise _too_many(max_items)
        for start in range(0, len(data), batch):
            yield [(index, item, None)
                   for index, item in enumerate(data[start:start + batch], start)]
    else:
        raise UnsupportedMediaType(
            f"bulk takes application/json (an array) or application/x-ndjson, not "
            f"'{kind or 'none'}'")


async def _ndjson(request: Request, *, max_items: int, batch: int
                  ) -> AsyncIterator[list[tuple[int, Any, int | None]]]:
    """Parse NDJSON as it arrives: at most one batch and one partial line in memory."""
    pending, buffer, index, number = [], b"", 0, 0
    async for part in request.stream():
        buffer += part
        if len(buffer) > MAX_LINE_BYTES and b"\n" not in buffer:
            raise PayloadTooLarge(f"an NDJSON line is at most {MAX_LINE_BYTES:,} bytes")
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            number += 1
            if line.strip():
                pending.append((index, _parse_line(line), number))
                index += 1
                if index > max_items:
                    raise _too_many(max_items)
            if len(pending) >= batch:
                yield pending
                pending = []
    if buffer.strip():
        pending.append((index, _parse_line(buffer), number + 1))
        if index + 1 > max_items:
            raise _too_many(max_items)
    if pending:
        yield pending


def _parse_line(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return ValueError(f"not valid JSON: {exc.msg if hasattr(exc, 'msg') else exc}")


def ndjson_lines(rows: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    """One JSON document per line."""
    for row in rows:
        yield dumps(row) + b"\n"


def _cell(value: Any) -> Any:
    """CSV cell: lists joined with |, objects as JSON, None as empty."""
    if value is None:
        return ""
    if isinstance(value, list):
        return LIST_SEPARATOR.join(str(v) for v in value)
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    if hasattr(value, "isoformat"):
        return dumps(value).decode().strip('"')
    return value


def csv_lines(columns: list[str], rows: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    """A header row, then one row per record (RFC 4180, CRLF)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()
