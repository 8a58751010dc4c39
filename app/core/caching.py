"""Conditional GET for every read: a strong ETag, `If-None-Match` → 304, a Cache-Control.

One ASGI layer serves all read routes (entries, pages, search, reference data, feeds).
A route that knows its own validator (an entry's `"id-version"`) sets `ETag` itself;
otherwise the tag is a hash of the exact bytes sent, so it is strong by construction
(RFC 9110 §8.8.1) and changes whenever any byte of the page would. Streamed responses
(exports) pass through untouched: their bytes are not known before they are sent.
"""

from hashlib import blake2b

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NO_STORE = {"Cache-Control": "no-store"}  # probes and metrics: never from a cache

# Fields a 304 repeats from the 200 it stands for (RFC 9110 §15.4.5).
_KEPT_ON_304 = frozenset({"cache-control", "content-location", "date", "etag", "expires",
                          "vary", "link"})


def cache_control(max_age: int) -> str:
    """The reads' policy: revalidate every time (0), or let caches keep a page `max_age` s."""
    return "no-cache" if max_age <= 0 else f"public, max-age={max_age}"


def body_tag(body: bytes) -> str:
    """A strong entity tag for these exact bytes."""
    return f'"{blake2b(body, digest_size=16).hexdigest()}"'


def none_match(header: str | None, tag: str) -> bool:
    """True when `If-None-Match` names this tag or `*` (weak comparison, RFC 9110 §13.1.2)."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    bare = tag.removeprefix("W/")
    return any(candidate.strip().removeprefix("W/") == bare for candidate in header.split(","))


def _header(scope: Scope, name: bytes) -> str | None:
    """One request header, looked up only when needed (most requests never need it)."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


class ConditionalGet:
    """Add ETag and Cache-Control to 200 answers to GET; answer 304 when the client has them."""

    def __init__(self, app: ASGIApp, *, max_age: int = 0) -> None:
        self.app, self.policy = app, cache_control(max_age)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        start: Message | None = None

        async def conditional_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                if message["status"] == 200:
                    start = message  # held until the body shows whether it is whole
                    return
                await send(message)
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            held, start = start, None
            headers = MutableHeaders(scope=held)
            if message.get("more_body", False) or "no-store" in headers.get(
                    "cache-control", ""):
                await send(held)  # streamed or not to be kept: as it is
                await send(message)
                return
            headers.setdefault("cache-control", self.policy)
            tag = headers.get("etag") or body_tag(message.get("body", b""))
            headers["etag"] = tag
            if none_match(_header(scope, b"if-none-match"), tag):
                kept = [(k, v) for k, v in held["headers"] if k.decode().lower() in _KEPT_ON_304]
                await send({"type": "http.response.start", "status": 304, "headers": kept})
                await send({"type": "http.response.body", "body": b""})
                return
            await send(held)
            await send(message)

        await self.app(scope, receive, conditional_send)
