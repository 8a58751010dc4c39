"""What every request meets before and after its route, in two ASGI layers.

`RequestLog`, outermost: a request id (`X-Request-ID`), one log line and the metrics
once the request is answered, and a 500 problem for an error no handler answered.
Starlette's CORS layer sits between the two, so every answer the inner layer gives
(429, 413, 304, 422 included) carries what a browser needs to read it.

`HttpPolicies`, innermost, in the order a request meets them:
1. the rate limit: 429 past the client's quota, RateLimit headers on every answer
   (`app.core.ratelimit` decides);
2. the body cap: 413 at once by Content-Length, else as soon as the body streams past it
   (before authentication; only the bulk routes get the larger cap);
3. the query string: a NUL in a path or query value is a 422 naming the parameter, a
   single-valued parameter given twice a 400 (a blank repeat is dropped instead: blank
   means absent) (only on a path some route answers: any other gets its 404 or 405);
4. HEAD answered as the GET it stands for, without the body (RFC 9110 §9.3.2);
5. conditional GET: a strong ETag (the route's own, else a hash of the exact bytes),
   Cache-Control, and 304 when `If-None-Match` names it. Streamed bodies get the
   Cache-Control alone. A request with `Authorization` is answered `private` (a shared
   cache must not hand one key's answer, its RateLimit headers included, to another
   client); every other answer (writes, problems, refusals) is `no-store`;
6. gzip when the client accepts it, whole bodies and streamed ones alike, with the
   compressed representation's own ETag (the gzip section below). An answer that could
   be compressed carries `Vary: Accept-Encoding`; for a request without Accept-Encoding
   that header and a few look-ups are all it costs.
"""

import logging
import random
import re
import time
import zlib
from functools import lru_cache
from hashlib import blake2b
from typing import Any
from urllib.parse import parse_qsl

from fastapi.exceptions import RequestValidationError
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core import observability
from app.core.errors import PROBLEM_JSON, internal_error, problem_response, validation_problem
from app.core.ratelimit import Decision, RateLimiter
from app.core.responses import GZIP, coded_tag, dumps

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_FIELD = REQUEST_ID_HEADER.lower().encode()
_VALID_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Given twice, one of these is a 400 rather than the last value silently winning.
SINGLE_VALUED = frozenset({"q", "date_from", "date_to", "sort", "limit", "offset", "cursor",
                           "fields", "facets", "facet_limit", "count", "used", "since",
                           "on_conflict", "atomic"})
NUL_MESSAGE = "must not contain NUL characters"
# Fields a 304 repeats from the 200 it stands for (RFC 9110 §15.4.5).
_KEPT_ON_304 = frozenset({"cache-control", "content-location", "date", "etag", "expires",
                          "vary", "link"})


# --- request ids and client addresses -------------------------------------------------

_ids = random.Random()  # seeded from os.urandom once per process


def request_id_from(incoming: str | None) -> str:
    """The caller's X-Request-ID (`incoming`) when it is safe to echo and log, else a new
    one."""
    if incoming is not None and _VALID_ID.fullmatch(incoming):
        return incoming
    # 128 random bits as 32 hex digits, like uuid4().hex, without its os.urandom system call
    # on every request (an id needs uniqueness, not secrecy).
    return f"{_ids.getrandbits(128):032x}"


def client_address(scope: Scope, *, trust_proxy: bool = False) -> str:
    """The client's address; the last X-Forwarded-For hop only when a proxy is trusted."""
    if trust_proxy:
        forwarded = Headers(scope=scope).get("x-forwarded-for", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1]
    client = scope.get("client")
    return client[0] if client else "unknown"


class RequestLog:
    """Assign a request id, then log and count every request once it has been answered."""

    def __init__(self, app: ASGIApp, *, trust_proxy: bool = False) -> None:
        self.app, self.trust_proxy = app, trust_proxy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(_header(scope, b"x-request-id"))
        token = observability.request_id_var.set(request_id)
        started, status, answered = time.perf_counter(), 500, False

        async def send_with_id(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status, answered = message["status"], True
                message["headers"] = [*(field for field in message.get("headers", ())
                                        if field[0] != _REQUEST_ID_FIELD),
                                      (_REQUEST_ID_FIELD, request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if answered:
                raise  # mid-body: nothing else can be sent; the server closes the connection
            # Answered here, not by Starlette's outermost error layer: so the 500 carries
            # its X-Request-ID and its log line the request id.
            response = await internal_error(Request(scope), exc)
            await response(scope, receive, send_with_id)
        finally:
            try:
                address = client_address(scope, trust_proxy=self.trust_proxy)
                observability.record(scope, status, time.perf_counter() - started,
                                     request_id, address)
            except Exception:  # bookkeeping must never turn an answer into an error
                logging.getLogger("hrc_digest.observability").exception("recording failed")
            observability.request_id_var.reset(token)


# --- gzip content coding -----------------------------------------------------------
# gzip content coding (RFC 9110 §8.4.1.3) of the app's text answers, decided by
# app.core.http.HttpPolicies for every GET and HEAD.
#
# - What: JSON (pages, entries, problems, CSL-JSON), NDJSON, CSV, Atom, iCalendar, RIS,
#   BibTeX and the docs' HTML, JavaScript and CSS; a whole body of at least
#   `MINIMUM_SIZE` bytes, or a streamed one (an export: compressed as it streams, in
#   constant memory).
# - When: the request's Accept-Encoding accepts gzip (`gzip`, `x-gzip` or `*`, with a
#   non-zero weight). Such an answer carries `Vary: Accept-Encoding` whether it was
#   compressed or not, so that a shared cache keeps the two apart.
# - Entity tags: a compressed representation is another representation, so it gets its own
#   strong tag, the identity's with `-gzip` inside the quotes (`"27-3"` → `"27-3-gzip"`,
#   as RFC 9110 §8.8.3.3 illustrates). If-None-Match matches either form (304), and
#   If-Match on a write takes either form of the entry's current tag.
#
# Only gzip: every HTTP client decodes it, and zlib is in the standard library. Brotli or
# Zstandard would take compiled dependencies and a middleware of their own; the one
# maintained for Starlette (starlette-compress) leaves strong ETags unchanged on the
# compressed bodies, which a conditional request then confuses with the identity bytes.

MINIMUM_SIZE = 500  # bytes: smaller bodies gain little and cost a header more
LEVEL = 6  # zlib's default: ~10x smaller pages at ~1 ms per 100 KB
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # a gzip header and trailer (mtime 0: same bytes each time)
_TEXT_TYPES = frozenset({"application/javascript", "application/x-research-info-systems",
                         "application/x-bibtex", "application/xml"})


@lru_cache(maxsize=64)
def compressible(content_type: str) -> bool:
    """Whether a Content-Type is text that gzip shrinks (JSON, XML, CSV, …)."""
    media_type = content_type.partition(";")[0].strip().lower()
    return (media_type.startswith("text/") or media_type.endswith(("json", "+xml"))
            or media_type in _TEXT_TYPES)


def _weight(params: str) -> float:
    """The `q` of one Accept-Encoding member (1 when absent; 0 when malformed)."""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


@lru_cache(maxsize=256)
def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding field value accepts gzip (RFC 9110 §12.5.3): named
    (`gzip`, or `x-gzip`, its alias) with a weight above 0, or else `*` with one."""
    named = star = None
    for member in accept_encoding.split(","):
        coding, _, params = member.partition(";")
        coding = coding.strip().lower()
        if coding in ("gzip", "x-gzip"):
            named = _weight(params)
        elif coding == "*":
            star = _weight(params)
    if named is not None:
        return named > 0
    return star is not None and star > 0


def compress(body: bytes) -> bytes:
    """A whole body as gzip."""
    encoder = zlib.compressobj(LEVEL, zlib.DEFLATED, _GZIP_WBITS)
    return encoder.compress(body) + encoder.flush()


def encoder() -> Any:
    """A gzip stream for a body sent in parts (`.compress(part)`, then `.flush()`)."""
    return zlib.compressobj(LEVEL, zlib.DEFLATED, _GZIP_WBITS)


# --- conditional GET ------------------------------------------------------------------


UNCACHED = "no-store"  # writes, problems and refusals: never kept by any cache


def cache_control(max_age: int) -> str:
    """The reads' policy: revalidate every time (0), or let caches keep a page `max_age` s."""
    return "no-cache" if max_age <= 0 else f"public, max-age={max_age}"


def _read_policy(scope: Scope, headers: MutableHeaders, policy: str) -> None:
    """Cache-Control on a successful read: the route's own, else `policy`; `private` for a
    request with an API key, whatever the route said."""
    value = headers.setdefault("cache-control", policy)
    if "public" in value and _header(scope, b"authorization") is not None:
        headers["cache-control"] = value.replace("public", "private")


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


def _stream_gzip(scope: Scope, headers: MutableHeaders) -> bool:
    """Whether to gzip a streamed answer (its size not known): compressible text, not
    already coded, not a small file sent in parts, and the client accepts gzip. Such an
    answer varies by Accept-Encoding (`Vary`), whether it is compressed or not."""
    content_type = headers.get("content-type")
    if content_type is None or not compressible(content_type) \
            or "content-encoding" in headers:
        return False
    if int(headers.get("content-length", MINIMUM_SIZE)) < MINIMUM_SIZE:
        return False  # a small file sent in parts
    headers.add_vary_header("Accept-Encoding")
    accepted = _header(scope, b"accept-encoding")
    return accepted is not None and accepts_gzip(accepted)


def _whole_gzip(scope: Scope, fields: dict[bytes, bytes], size: int) -> bool | None:
    """`_stream_gzip` for a whole body, on its fields as sent: None when it is not to be
    compressed whoever asks (at least MINIMUM_SIZE bytes of compressible text not already
    coded; no `Vary` then), else whether this client accepts gzip."""
    content_type = fields.get(b"content-type")
    if size < MINIMUM_SIZE or content_type is None or b"content-encoding" in fields \
            or not compressible(content_type.decode("latin-1")):
        return None
    accepted = _header(scope, b"accept-encoding")
    return accepted is not None and accepts_gzip(accepted)


def _changed(held: Message, changed: dict[bytes, bytes]) -> list[tuple[bytes, bytes]]:
    """A response start's fields with `changed` set (each replacing any of its name)."""
    if not changed:
        return held["headers"]
    kept = [(name, value) for name, value in held["headers"] if name not in changed]
    return kept + list(changed.items())


def _mark_gzip(headers: MutableHeaders) -> None:
    """The headers of a streamed gzip answer: its coding, no length (not known ahead) and,
    for a file's, its own entity tag."""
    headers["content-encoding"] = GZIP
    del headers["content-length"]
    if "etag" in headers:  # a file's (FileResponse): the identity bytes'
        headers["etag"] = coded_tag(headers["etag"])


def _header(scope: Scope, name: bytes) -> str | None:
    """One request header, looked up only when needed (most requests never need it)."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


# --- the query string -----------------------------------------------------------------


def _route_params(scope: Scope) -> dict[str, Any] | None:
    """The path parameters of the route that answers this path and method, or None."""
    for route in scope["app"].routes:
        match, child = route.matches(scope)
        if match is Match.FULL:
            return child.get("path_params", {})
    return None


def _query_problem(scope: Scope) -> tuple[int, list[dict[str, Any]]] | None:
    """(422, NUL errors) or (400, repeated names) for a routed request, else None.

    PostgreSQL refuses NUL in text, and no slug, code or name holds one: such a value is
    a 422 naming the parameter, before any SQL, whatever the route does with it.
    """
    query: bytes = scope.get("query_string", b"")
    nul = "\x00" in scope["path"] or b"%00" in query or b"\x00" in query
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True) if query else []
    names = [name for name, _ in pairs]
    repeated = len(names) != len(set(names)) and _repeated(scope, pairs)
    if not nul and not repeated:
        return None  # the common case: decided without matching a route
    params = _route_params(scope)
    if params is None:
        return None  # no route here: the app answers 404 or 405
    if nul:
        # A NUL in a parameter's name is left to the route: that parameter is unknown (400).
        values = Request(scope).query_params.multi_items()
        errors = [{"type": "value_error", "loc": ("path", name), "msg": NUL_MESSAGE,
                   "input": value} for name, value in params.items()
                  if isinstance(value, str) and "\x00" in value]
        errors += [{"type": "value_error", "loc": ("query", name), "msg": NUL_MESSAGE,
                    "input": value} for name, value in values
                   if "\x00" in value and "\x00" not in name]
        if errors:
            return 422, errors
    if repeated:
        return 400, [{"loc": ["query", n], "msg": "given more than once"} for n in repeated]
    return None


def _repeated(scope: Scope, pairs: list[tuple[str, str]]) -> list[str]:
    """The single-valued parameters given more than once with a value. A blank one is no
    value (the list conventions: app.entries.listing.params): when all but one of a name's
    repeats are blank, they leave the query string, so the route reads the one value."""
    names = [name for name, _ in pairs if name in SINGLE_VALUED]
    doubled = {name for name in names if names.count(name) > 1}
    valued = [name for name, value in pairs if name in doubled and value.strip()]
    refused = sorted({name for name in valued if valued.count(name) > 1})
    if doubled and not refused:
        scope["query_string"] = _without_blanks(scope["query_string"], doubled)
    return refused


def _without_blanks(query: bytes, names: set[str]) -> bytes:
    """The query string without the blank values of these parameters, as it was sent."""
    kept = []
    for part in query.split(b"&"):
        pair = parse_qsl(part.decode("latin-1"), keep_blank_values=True)
        if not (pair and pair[0][0] in names and not pair[0][1].strip()):
            kept.append(part)
    return b"&".join(kept)


async def _refuse_query(scope: Scope, receive: Receive, send: Send,
                        problem: tuple[int, list[dict[str, Any]]]) -> None:
    status, errors = problem
    request = Request(scope)
    if status == 422:
        response = await validation_problem(request, RequestValidationError(errors))
    else:
        name = errors[0]["loc"][1]
        response = problem_response(request, 400, f"query parameter '{name}' given more than "
                                    "once", errors=errors)
    await response(scope, receive, send)


# --- refusals sent before the app runs --------------------------------------------------


async def _send_problem(send: Send, scope: Scope, status: int, title: str, code: str,
                        detail: str, extra: list[tuple[bytes, bytes]]) -> None:
    body = dumps({"type": f"/problems/{code}", "title": title, "status": status,
                  "detail": detail, "instance": scope["path"]})
    headers = [(b"content-type", PROBLEM_JSON.encode()),
               (b"content-length", str(len(body)).encode()),
               (b"cache-control", UNCACHED.encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _too_many(scope: Scope, send: Send, decision: Decision) -> None:
    """Answer 429 as problem+json, without reading the body or calling the app."""
    policy = decision.policy
    who = "API key" if policy.name == "api-key" else "client address"
    detail = (f"rate limit exceeded: at most {policy.limit} requests per {policy.window} "
              f"seconds per {who}; retry in {decision.reset} seconds")
    await _send_problem(send, scope, 429, "Too many requests", "too-many-requests", detail,
                        decision.headers)


async def _too_large(scope: Scope, send: Send, limit: int) -> None:
    await _send_problem(send, scope, 413, "Payload too large", "payload-too-large",
                        f"the request body is larger than {limit:,} bytes",
                        [(b"connection", b"close")])


# --- the inner layer --------------------------------------------------------------------


class HttpPolicies:
    """Rate limit, body cap, query checks, HEAD as GET and conditional GET (see above)."""

    def __init__(self, app: ASGIApp, *, rate_limits: dict[str, Any] | None, max_body: int,
                 max_bulk_body: int, bulk_paths: frozenset[str], max_age: int = 0,
                 trust_proxy: bool = False) -> None:
        # The limiter (its counters, its store) is made with the layer: a rebuilt middleware
        # stack counts afresh, as a new process does.
        self.limiter = RateLimiter(**rate_limits) if rate_limits is not None else None
        self.app, self.trust_proxy = app, trust_proxy
        self.max_body, self.max_bulk_body, self.bulk_paths = max_body, max_bulk_body, bulk_paths
        self.policy = cache_control(max_age)

    def body_limit(self, scope: Scope) -> int:
        """The largest body this request may send."""
        if scope["method"] != "POST":
            return self.max_body
        path, root = scope["path"], scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]  # routes match the path below the mount point
        return self.max_bulk_body if path in self.bulk_paths else self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        decision = None
        if self.limiter is not None:
            address = client_address(scope, trust_proxy=self.trust_proxy)
            decision = await self.limiter.decide(scope, address)
            if decision is not None and not decision.allowed:
                await _too_many(scope, send, decision)
                return
        limit = self.body_limit(scope)
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(scope, _with_rate(send, decision), limit)
            return
        problem = _query_problem(scope)
        if problem is not None:
            await _refuse_query(scope, receive, _with_rate(send, decision), problem)
            return
        head = scope["method"] == "HEAD"
        conditional = head or scope["method"] == "GET"
        state = {"start": None, "ended": False, "refused": False, "received": 0}
        has_body = not (declared is None and b"transfer-encoding" not in headers
                        or declared == b"0")

        async def counted() -> Message:
            if state["refused"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    # Answer now; to the app the client has gone away.
                    state["refused"] = True
                    await _too_large(scope, _with_rate(send, decision), limit)
                    return {"type": "http.disconnect"}
            return message

        async def answer(message: Message) -> None:
            if state["refused"]:
                return
            if message["type"] == "http.response.start":
                if head:
                    # The answer starts: the server frames it by the method (a HEAD answer
                    # of unknown length must not be sent chunked, with a chunk terminator
                    # the next answer on the connection would be read behind).
                    scope["method"] = "HEAD"
                if decision is not None:
                    fields = MutableHeaders(scope=message)
                    for name, value in decision.headers:
                        fields[name.decode()] = value.decode()
                if conditional and message["status"] == 200:
                    state["start"] = message  # held until the body shows whether it is whole
                    return
                if message["status"] != 304:  # a 304 repeats its 200's policy
                    MutableHeaders(scope=message).setdefault("cache-control", UNCACHED)
                await self._body(message, head, state, send)
                return
            held = state["start"]
            if held is None or message["type"] != "http.response.body":
                await self._body(message, head, state, send)
                return
            state["start"] = None
            await self._conditional(scope, held, message, head, state, send)

        if head:
            # The scope is changed in place, not copied: the route the router records on it
            # must reach the request log and metrics, which read it from the same dict, and
            # they must see the method the client sent, so it is put back afterwards.
            scope["method"] = "GET"
        try:
            await self.app(scope, counted if has_body else receive, answer)
        finally:
            if head:
                scope["method"] = "HEAD"

    async def _conditional(self, scope: Scope, held: Message, message: Message, head: bool,
                           state: dict[str, Any], send: Send) -> None:
        """Send a held 200 start with its ETag and Cache-Control, or a 304 in its place;
        gzip the body when the client accepts it (app.core.http)."""
        body: bytes = message.get("body", b"")
        if message.get("more_body", False):  # streamed: compressed as it goes, no 304
            headers = MutableHeaders(scope=held)
            _read_policy(scope, headers, self.policy)
            if _stream_gzip(scope, headers):
                _mark_gzip(headers)
                state["encoder"] = None if head else encoder()
            await send(held)
            await self._body(message, head, state, send)
            return
        # A whole body: its fields read once and changed in one pass (the common answer;
        # the same decisions as above, without a MutableHeaders look-up per field).
        fields = dict(held["headers"])  # names as Starlette sends them: lower case
        changed: dict[bytes, bytes] = {}
        gzip = _whole_gzip(scope, fields, len(body))
        if gzip is not None:
            vary = fields.get(b"vary")
            changed[b"vary"] = vary + b", Accept-Encoding" if vary else b"Accept-Encoding"
        policy = fields.get(b"cache-control", b"")
        if UNCACHED.encode() not in policy:  # else not to be kept: no tag
            policy = policy or self.policy.encode()
            if b"public" in policy and _header(scope, b"authorization") is not None:
                policy = policy.replace(b"public", b"private")
            changed[b"cache-control"] = policy
            tag = fields[b"etag"].decode() if b"etag" in fields else body_tag(body)
            changed[b"etag"] = (coded_tag(tag) if gzip else tag).encode()
            asked = _header(scope, b"if-none-match")
            if asked and (none_match(asked, tag) or none_match(asked, coded_tag(tag))):
                kept = [(k, v) for k, v in _changed(held, changed)
                        if k.decode().lower() in _KEPT_ON_304]
                await send({"type": "http.response.start", "status": 304, "headers": kept})
                await send({"type": "http.response.body", "body": b""})
                state["ended"] = True
                return
        if gzip:
            message["body"] = body = compress(body)
            changed[b"content-encoding"] = GZIP.encode()
            changed[b"content-length"] = str(len(body)).encode()
        held["headers"] = _changed(held, changed)
        await send(held)
        await self._body(message, head, state, send)

    @staticmethod
    async def _body(message: Message, head: bool, state: dict[str, Any], send: Send) -> None:
        """Pass a message on (through the stream's gzip encoder, if any); for HEAD, end the
        answer at the first body message."""
        encoder = state.get("encoder")
        if encoder is not None and message["type"] == "http.response.body":
            more = message.get("more_body", False)
            part = encoder.compress(message.get("body", b""))
            if more and not part:
                return  # nothing out of the encoder yet: no empty message
            message = {"type": "http.response.body", "more_body": more,
                       "body": part if more else part + encoder.flush()}
        if not head or message["type"] != "http.response.body":
            await send(message)
        elif not state["ended"]:
            # A client waits for no more, even while a streamed export goes on producing
            # bytes nobody is sent.
            state["ended"] = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})


def _with_rate(send: Send, decision: Decision | None) -> Send:
    """A send that adds the RateLimit headers to a refusal sent before the app runs."""
    if decision is None:
        return send

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message.setdefault("headers", [])
            message["headers"] = [*message["headers"], *decision.headers]
        await send(message)

    return wrapped
