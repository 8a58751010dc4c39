"""Fast JSON responses (orjson; timestamps in UTC with a Z)."""

import json
from datetime import date, datetime, time
from typing import Any

import orjson
from starlette.responses import JSONResponse

_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC
NO_STORE = {"Cache-Control": "no-store"}  # probes and metrics: never from a cache


def _iso(value: Any) -> str:
    """What orjson writes for a date or time (UTC as Z, naive as UTC)."""
    if isinstance(value, datetime | time):
        return orjson.dumps(value, option=_OPTIONS).decode()[1:-1]
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(content: Any) -> bytes:
    """Serialise to JSON bytes the way every response does.

    orjson refuses integers past 64 bits (a stored record's provenance may hold one);
    such content is written by the standard library instead, with the same dates."""
    try:
        return orjson.dumps(content, option=_OPTIONS)
    except TypeError:
        return json.dumps(content, default=_iso, ensure_ascii=False,
                          separators=(",", ":")).encode()


class FastJSONResponse(JSONResponse):
    """JSONResponse rendered by orjson."""

    def render(self, content: Any) -> bytes:
        return dumps(content)
