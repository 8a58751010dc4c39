"""Per-client rate limits: fixed windows per API key or client address.

`app.core.http` asks `RateLimiter.decide` for every request and answers 429 past the quota.

The counting is the `limits` library's, in process memory by default or in Redis
(`HRC_DIGEST_REDIS_URL`) shared by every process; this module keeps the policy: which
key and quota a request counts against, and the headers and 429 it gets.
"""

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from anyio import to_thread
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.strategies import FixedWindowRateLimiter
from limits.storage import storage_from_string
from prometheus_client import Counter
from starlette.datastructures import Headers
from starlette.types import Scope

from app.core.security import hash_key, look_up

EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
KEY_CHECK_SECONDS = 60.0
TOKEN_LOOKUPS = 10  # database lookups of unseen tokens per client address and window
# A shared store that fails is left alone this long (requests pass unlimited meanwhile),
# so an outage costs one failed call per process and pause, not one per request.
STORAGE_PAUSE_SECONDS = 5.0
STORAGE_TIMEOUT_SECONDS = 0.5  # Redis answers in well under a millisecond when healthy

log = logging.getLogger("hrc_digest.ratelimit")
STORAGE_ERRORS = Counter("hrc_rate_limit_storage_errors",
                         "Rate-limit store failures; requests then pass unlimited for a while.")


@dataclass(frozen=True)
class Policy:
    """A quota: `limit` requests per `window` seconds, named in the RateLimit headers."""

    name: str
    limit: int
    window: int

    @property
    def item(self) -> RateLimitItem:
        """The quota as the `limits` library counts it."""
        return RateLimitItemPerSecond(self.limit, self.window)

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
    headers: tuple[tuple[bytes, bytes], ...] = ()  # what the answer carries: `answer_headers`


def answer_headers(policy: Policy, remaining: int, reset: int, allowed: bool
                   ) -> tuple[tuple[bytes, bytes], ...]:
    """RateLimit and RateLimit-Policy, plus Retry-After when refused."""
    fields = [(b"ratelimit-policy", policy.header().encode()),
              (b"ratelimit", f'"{policy.name}";r={remaining};t={reset}'.encode())]
    if not allowed:
        fields.append((b"retry-after", str(reset).encode()))
    return tuple(fields)


def new_limiter(redis_url: str | None, prefix: str) -> FixedWindowRateLimiter:
    """Fixed windows in this process's memory, or in Redis when a URL is given."""
    if not redis_url:
        return FixedWindowRateLimiter(storage_from_string("async+memory://"))
    # redis-py's client (installed with limits[redis]; coredis is not). Short time-outs:
    # a store that does not answer at once is skipped (fail open), not waited for.
    storage = storage_from_string(
        "async+" + redis_url, implementation="redispy", key_prefix=prefix,
        wrap_exceptions=True, socket_timeout=STORAGE_TIMEOUT_SECONDS,
        socket_connect_timeout=STORAGE_TIMEOUT_SECONDS)
    return FixedWindowRateLimiter(storage)


class Windows:
    """Count hits in fixed windows; while the store fails, count nothing (fail open)."""

    def __init__(self, limiter: FixedWindowRateLimiter) -> None:
        self.limiter, self.paused_until = limiter, 0.0

    async def hit(self, policy: Policy, client: str) -> Decision | None:
        """Count one hit of a client; None when the store is unavailable (nothing limited)."""
        if time.monotonic() < self.paused_until:
            return None
        item = policy.item
        try:
            allowed = await self.limiter.hit(item, policy.name, client)
            stats = await self.limiter.get_window_stats(item, policy.name, client)
        except Exception as error:  # any store failure: the limiter must not fail a request
            self._pause(error)
            return None
        reset = max(1, math.ceil(stats.reset_time - time.time()))
        remaining = max(0, stats.remaining)
        return Decision(policy, remaining, reset, allowed,
                        answer_headers(policy, remaining, reset, allowed))

    def _pause(self, error: Exception) -> None:
        """Leave the store alone for a while; say so once per pause."""
        STORAGE_ERRORS.inc()
        if time.monotonic() >= self.paused_until:  # not already said by a concurrent request
            log.warning("rate-limit store unavailable (%s): requests pass unlimited for %s s",
                        error, STORAGE_PAUSE_SECONDS)
        self.paused_until = time.monotonic() + STORAGE_PAUSE_SECONDS


class KeyCheck:
    """Whether a bearer token is a live API key, cached briefly by its hash.

    A token this process has not seen is looked up in the database only while its client
    address has lookups left (`lookups` per `window`, counted in the limiter's store, so
    across processes when that is Redis); past that it counts as no key, without a query.
    So a client sending a new random token with every request costs at most `lookups`
    queries a window, however many requests it makes. A token seen valid before is
    looked up again when its cache entry ends, whatever the budget: there are only as
    many of those as there are keys.
    """

    def __init__(self, windows: Windows, ttl: float = KEY_CHECK_SECONDS, *, window: int = 60,
                 lookups: int = TOKEN_LOOKUPS, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.windows, self.ttl, self.max_entries, self.clock = windows, ttl, max_entries, clock
        self.budget = Policy("token-lookups", lookups, window)
        self._known: OrderedDict[str, tuple[float, bool]] = OrderedDict()

    async def is_valid(self, digest: str, secret: str, client: str) -> bool:
        """True for an active key; a database failure counts as 'not known' (uncached)."""
        cached = self._known.get(digest)
        if cached is not None and cached[0] > self.clock():
            return cached[1]
        seen_valid = cached is not None and cached[1]
        if not seen_valid and not await self._spend_lookup(client):
            return False  # this client's lookups are spent: no query, not a key
        try:
            valid = await to_thread.run_sync(look_up, secret) is not None
        except Exception:  # the limiter must not fail a request the app could answer
            return False
        self._known[digest] = (self.clock() + self.ttl, valid)
        self._known.move_to_end(digest)
        while len(self._known) > self.max_entries:
            self._known.popitem(last=False)
        return valid

    async def _spend_lookup(self, client: str) -> bool:
        """Take one lookup from the client's budget; False when it is spent.

        With the store unavailable nothing is limited, so the key would not change the
        quota: no lookup either (a flood of made-up tokens then costs no queries).
        """
        counted = await self.windows.hit(self.budget, client)
        return counted is not None and counted.allowed


def bearer_token(headers: Headers) -> str | None:
    """The token of an `Authorization: Bearer …` header, if any."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class RateLimiter:
    """Count each request against its client's quota (`app.core.http` refuses past it)."""

    def __init__(self, *, anonymous: int, keyed: int, window: int,
                 redis_url: str | None = None, redis_prefix: str = "hrc-digest") -> None:
        self.anonymous = Policy("anonymous", anonymous, window) if anonymous > 0 else None
        self.keyed = Policy("api-key", keyed, window) if keyed > 0 else None
        self.windows = Windows(new_limiter(redis_url, redis_prefix))
        self.keys = KeyCheck(self.windows, KEY_CHECK_SECONDS, window=window)

    async def decide(self, scope: Scope, address: str) -> Decision | None:
        """Count the request against its client's window; None when it is not limited."""
        if scope["path"] in EXEMPT_PATHS:
            return None
        policy, client = await self._classify(scope, "addr:" + address)
        if policy is None:
            return None
        return await self.windows.hit(policy, client)

    async def _classify(self, scope: Scope, address: str) -> tuple[Policy | None, str]:
        """The policy and counter key: a live API key's hash, else the client address."""
        token = bearer_token(Headers(scope=scope))
        if token is not None:
            digest = hash_key(token)
            if await self.keys.is_valid(digest, token, address):
                return self.keyed, "key:" + digest
        return self.anonymous, address
