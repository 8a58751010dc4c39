"""Fast JSON responses (orjson; timestamps in UTC with a Z), and the links answers carry.

Links the app writes into documents come from `HRC_DIGEST_PUBLIC_URL`, else they are
root-relative. Never from the request's `Host` header: any client sets it, and a shared
cache that does not key on it would serve one client's links to everyone (feeds are
`Cache-Control: public`).
"""

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


def _writable(value: Any) -> Any:
    """Content as orjson can write it: integers past 64 bits as their digits (a decoded
    provenance may hold one), mapping keys as plain `str` (a str subclass is refused)."""
    if isinstance(value, dict):
        return {str(key): _writable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_writable(item) for item in value]
    if type(value) is int and not -(2**63) <= value < 2**64:
        return orjson.Fragment(str(value))
    return value


def dumps(content: Any) -> bytes:
    """Serialise to JSON bytes the way every response does (orjson; stored JSON a page
    embeds as `orjson.Fragment` is written as it is)."""
    try:
        return orjson.dumps(content, option=_OPTIONS)
    except TypeError:  # rare: walk the content once and write it again
        return orjson.dumps(_writable(content), option=_OPTIONS)


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
