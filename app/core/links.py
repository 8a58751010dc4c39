"""Links the app writes into documents: from `HRC_DIGEST_PUBLIC_URL`, else root-relative.

Never from the request's `Host` header: any client sets it, and a shared cache that does
not key on it would serve one client's links to everyone (feeds are `Cache-Control:
public`).
"""

from urllib.parse import urlencode

from starlette.requests import Request

from app.core.config import get_settings


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
