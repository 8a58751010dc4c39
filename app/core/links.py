"""Links the app writes into documents: from `HRC_DIGEST_PUBLIC_URL`, else root-relative.

Never from the request's `Host` header: any client sets it, and a shared cache that does
not key on it would serve one client's links to everyone (feeds are `Cache-Control:
public`).
"""

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
