"""Per-client rate limits: a fixed window per API key or client address, in process memory."""

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from anyio import to_thread
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.db import new_session
from app.core.errors import PROBLEM_JSON
from app.core.observability import client_address
from app.core.responses import dumps
from app.core.security import authenticate, hash_key

EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
MAX_CLIENTS = 100_000
KEY_CHECK_SECONDS = 60.0
TOKEN_LOOKUPS = 10  # database lookups of unseen tokens per client address and window


@dataclass(frozen=True)
class Policy:
    """A quota: `limit` requests per `window` seconds, named in the RateLimit headers."""

    name: str
    limit: int
    window: int

    def header(self) -> str:
        """The RateLimit-Policy field value (draft-ietf-httpapi-ratelimit-headers)."""
        return f'"{self.name}";q={self.limit};w={self.window}'


@dataclass(frozen=True)
class Decision:
    """The outcome of counting one request."""

    policy: Policy
    remaining: int
    reset: int
    allowed: bool

    def headers(self) -> list[tuple[bytes, bytes]]:
        """RateLimit and RateLimit-Policy, plus Retry-After when refused."""
        fields = [(b"ratelimit-policy", self.policy.header().encode()),
                  (b"ratelimit", f'"{self.policy.name}";r={self.remaining};t={self.reset}'
                   .encode())]
        if not self.allowed:
            fields.append((b"retry-after", str(self.reset).encode()))
        return fields


class FixedWindows:
    """Request counts per client, each in a window opened by its first request.

    Entries stay ordered by window start, so expired ones are dropped from the front
    in amortised constant time; past `max_clients` the oldest window is dropped too.
    """

    def __init__(self, window: int, *, max_clients: int = MAX_CLIENTS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.window, self.max_clients, self.clock = window, max_clients, clock
        self._counts: OrderedDict[str, list[float]] = OrderedDict()

    def hit(self, client: str) -> tuple[int, float]:
        """Count one request; return the count in the window and seconds until it ends."""
        now = self.clock()
        self._evict(now)
        entry = self._counts.get(client)
        if entry is None:
            if len(self._counts) >= self.max_clients:
                self._counts.popitem(last=False)
            entry = self._counts[client] = [now, 0]
        entry[1] += 1
        return int(entry[1]), entry[0] + self.window - now

    def _evict(self, now: float) -> None:
        """Drop every window that has ended."""
        while self._counts:
            start, _ = next(iter(self._counts.values()))
            if start + self.window > now:
                return
            self._counts.popitem(last=False)

    def __len__(self) -> int:
        return len(self._counts)


class KeyCheck:
    """Whether a bearer token is a live API key, cached briefly by its hash.

    A token this process has not seen is looked up in the database only while its client
    address has lookups left (`lookups` per `window`); past that it counts as no key,
    without a query. So a client sending a new random token with every request costs at
    most `lookups` queries a window, however many requests it makes. A token seen valid
    before is looked up again when its cache entry ends, whatever the budget: there are
    only as many of those as there are keys.
    """

    def __init__(self, ttl: float = KEY_CHECK_SECONDS, *, window: int = 60,
                 lookups: int = TOKEN_LOOKUPS, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.lookups, self.max_entries, self.clock = ttl, lookups, max_entries, clock
        self._known: OrderedDict[str, tuple[float, bool]] = OrderedDict()
        self._budgets = FixedWindows(window, clock=clock)

    async def is_valid(self, digest: str, secret: str, client: str) -> bool:
        """True for an active key; a database failure counts as 'not known' (uncached)."""
        cached = self._known.get(digest)
        if cached is not None and cached[0] > self.clock():
            return cached[1]
        seen_valid = cached is not None and cached[1]
        if not seen_valid and self._budgets.hit(client)[0] > self.lookups:
            return False  # this client's lookups are spent: no query, not a key
        try:
            valid = await to_thread.run_sync(_lookup, secret)
        except Exception:  # the limiter must not fail a request the app could answer
            return False
        self._known[digest] = (self.clock() + self.ttl, valid)
        self._known.move_to_end(digest)
        while len(self._known) > self.max_entries:
            self._known.popitem(last=False)
        return valid


def _lookup(secret: str) -> bool:
    """Look the key up in the database (runs in a worker thread)."""
    with new_session(read=True) as session:  # a read: no write lock, the replica if any
        return authenticate(session, secret) is not None


def bearer_token(headers: Headers) -> str | None:
    """The token of an `Authorization: Bearer …` header, if any."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class RateLimit:
    """Refuse a client's requests past its quota with 429; report the quota on every answer."""

    def __init__(self, app: ASGIApp, *, anonymous: int, keyed: int, window: int,
                 trust_proxy: bool = False) -> None:
        self.app, self.trust_proxy = app, trust_proxy
        self.anonymous = Policy("anonymous", anonymous, window) if anonymous > 0 else None
        self.keyed = Policy("api-key", keyed, window) if keyed > 0 else None
        self.windows, self.keys = FixedWindows(window), KeyCheck(KEY_CHECK_SECONDS, window=window)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        decision = await self._decide(scope)
        if decision is None:
            await self.app(scope, receive, send)
        elif not decision.allowed:
            await _refuse(scope, send, decision)
        else:
            await self.app(scope, receive, _with_headers(send, decision))

    async def _decide(self, scope: Scope) -> Decision | None:
        """Count the request against its client's window; None when it is not limited."""
        policy, client = await self._classify(scope)
        if policy is None:
            return None
        count, left = self.windows.hit(client)
        reset = max(1, math.ceil(left))
        return Decision(policy, max(0, policy.limit - count), reset, count <= policy.limit)

    async def _classify(self, scope: Scope) -> tuple[Policy | None, str]:
        """The policy and counter key: a live API key's hash, else the client address."""
        address = "addr:" + client_address(scope, trust_proxy=self.trust_proxy)
        token = bearer_token(Headers(scope=scope))
        if token is not None:
            digest = hash_key(token)
            if await self.keys.is_valid(digest, token, address):
                return self.keyed, "key:" + digest
        return self.anonymous, address


def _with_headers(send: Send, decision: Decision) -> Send:
    """A send that adds the RateLimit headers to the response start."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            for name, value in decision.headers():
                headers[name.decode()] = value.decode()
        await send(message)

    return wrapped


async def _refuse(scope: Scope, send: Send, decision: Decision) -> None:
    """Answer 429 as problem+json, without reading the body or calling the app."""
    policy = decision.policy
    who = "API key" if policy.name == "api-key" else "client address"
    detail = (f"rate limit exceeded: at most {policy.limit} requests per {policy.window} "
              f"seconds per {who}; retry in {decision.reset} seconds")
    body = dumps({"type": "/problems/too-many-requests", "title": "Too many requests",
                  "status": 429, "detail": detail, "instance": scope["path"]})
    headers = [(b"content-type", PROBLEM_JSON.encode()),
               (b"content-length", str(len(body)).encode()), *decision.headers()]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})
