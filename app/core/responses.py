"""Fast JSON responses (orjson; timestamps in UTC with a Z), and the links answers carry.

Links the app writes into documents come from `HRC_DIGEST_PUBLIC_URL`, else they are
root-relative. Never from the request's `Host` header: any client sets it, and a shared
cache that does not key on it would serve one client's links to everyone (feeds are
`Cache-Control: public`).
"""

import json
from datetime import date, datetime, time
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse

from app.core.config import get_settings

_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC
NO_STORE = {"Cache-Control": "no-store"}  # probes and metrics: never from a cache
GZIP = "gzip"


def coded_tag(tag: str, coding: str = GZIP) -> str:
    """The entity tag of a representation in a content coding (app.core.http gzips): the
    identity's, suffixed inside its quotes (a weak tag stays weak)."""
    return f'{tag[:-1]}-{coding}"'


class StoredJSON:
    """A JSON column's text as the database keeps it, to be written into an answer as it
    is: neither decoded into Python values nor encoded again (a list page's topics,
    countries, provenance …; `app.entries.listing.run`)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _embedded(value: Any) -> Any:
    """orjson's hook for what it does not know: stored JSON, embedded as it is."""
    if type(value) is StoredJSON:
        return orjson.Fragment(value.text)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _iso(value: Any) -> Any:
    """For the standard library: dates and times as orjson writes them (UTC as Z, naive
    as UTC); stored JSON decoded."""
    if isinstance(value, datetime | time):
        return orjson.dumps(value, option=_OPTIONS).decode()[1:-1]
    if isinstance(value, date):
        return value.isoformat()
    if type(value) is StoredJSON:
        return json.loads(value.text)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(content: Any) -> bytes:
    """Serialise to JSON bytes the way every response does.

    orjson refuses integers past 64 bits (a decoded provenance may hold one); such
    content is written by the standard library instead, with the same dates."""
    try:
        return orjson.dumps(content, default=_embedded, option=_OPTIONS)
    except TypeError:
        return json.dumps(content, default=_iso, ensure_ascii=False,
                          separators=(",", ":")).encode()


class FastJSONResponse(JSONResponse):
    """JSONResponse rendered by orjson."""

    def render(self, content: Any) -> bytes:
        return dumps(content)

def public_link(request: Request, path: str, query: str = "") -> str:
    """`path` (a path of this app as requests carry it) with `query`, as a link to publish:
    under the configured public URL, or root-relative when none is set."""
    base = get_settings().public_url
    if base is not None:
        root = request.scope.get("root_path", "")
        # The public URL names the API root, so the mount prefix the server sees is dropped.
        path = base + (path[len(root):] if root and path.startswith(root) else path)
    return f"{path}?{query}" if query else path


def page_links(request: Request, next_cursor: str | None, offset: int, limit: int
               ) -> dict[str, str]:
    """The RFC 8288 `Link` header of a list page: the request's own query with its paging
    replaced. `first` always; `prev` on an offset page past the first; `next` (by the
    keyset cursor) while there is more. A cursor page has no `prev`: its cursor leads
    forward only."""
    params = [(k, v) for k, v in request.query_params.multi_items()
              if k not in ("cursor", "offset")]
    path = request.url.path
    links = [f'<{public_link(request, path, urlencode(params))}>; rel="first"']
    if offset > 0:
        back = [("offset", offset - limit)] if offset > limit else []
        links.append(f'<{public_link(request, path, urlencode(params + back))}>; rel="prev"')
    if next_cursor is not None:
        ahead = urlencode([*params, ("cursor", next_cursor)])
        links.append(f'<{public_link(request, path, ahead)}>; rel="next"')
    return {"Link": ", ".join(links)}
