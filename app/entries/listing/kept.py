"""Where answers are kept until the data changes: this process, and Redis.

Two kinds of answer: counts and facets (`aggregates`), and whole answers (`app.entries.answers`:
`PageQuestion`, `Answer` and `answers` in the process, `Page` and `SharedPages` in Redis),
each kept apart, the same way.
`aggregates.Aggregates` asks the stores in order, the process's first, and fills the
earlier ones from a later one's answer:
- `Remembered`: this process's latest answers (`HRC_DIGEST_AGGREGATE_CACHE` of them,
  least recently used out first). No round trip: the fastest place to find one.
- `Shared`: Redis, when `HRC_DIGEST_REDIS_URL` is set, so one worker's answer serves
  every worker on every machine using that Redis.
Both keep an answer with the data version it was computed at (`aggregates`) and give it
back only at exactly that version: wherever it was computed, an answer is never served
at another version.

In Redis:
- key: `<HRC_DIGEST_REDIS_PREFIX>:aggregate:` and a digest of the database (`identity`:
  the same database however it is reached, another one never), the SQL text of the
  statement on its dialect and every value it binds, its own literals included. So the
  same question has the same key in every process, and deployments sharing a Redis
  and a prefix never share answers of different databases.
- value: JSON (orjson) `[version, rows]`, rows of None, bools, numbers and text only (an
  answer holding anything else stays in its process). Never pickle: what is read from
  Redis is data, never code.
- each key expires `HRC_DIGEST_AGGREGATE_CACHE_TTL` seconds after it was written; an
  answer larger than `MAX_SHARED_BYTES` is not shared.
- a Redis that fails (down, slow, refusing) is left alone for `PAUSE_SECONDS`: answers
  are computed and kept in the process meanwhile, never failing a request; logged once
  per pause, counted in `hrc_aggregate_store_errors_total`.
"""

import logging
import os
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from functools import lru_cache
from hashlib import blake2b
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any, NamedTuple, Protocol
from weakref import WeakKeyDictionary

import orjson
import redis
from prometheus_client import Counter
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import Connection, Dialect, Engine, text
from sqlalchemy.exc import DBAPIError

from app.core.config import get_settings

PAUSE_SECONDS = 5.0
TIMEOUT_SECONDS = 0.5  # Redis answers in well under a millisecond when healthy
MAX_SHARED_BYTES = 256 * 1024  # larger than any facet answer (100 values a facet)
_SHAREABLE = (type(None), bool, int, float, str)

log = logging.getLogger("hrc_digest.kept")
ANSWERS = Counter("hrc_aggregate_answers", "Counts and facets answered, by where the answer "
                  "came from: the process's store, Redis, or the database.", ["source"])
ANSWERED = {source: ANSWERS.labels(source) for source in ("process", "redis", "database")}
STORE_ERRORS = Counter("hrc_aggregate_store_errors", "Failed calls to the shared store of "
                       "counts and facets (Redis); answers are then computed.")


class Question(NamedTuple):
    """An aggregate statement and the values it binds (sorted pairs): what an answer is kept
    under. Kept statements are the same object for the same shape (`plan`)."""

    statement: Any
    values: tuple[tuple[str, Any], ...]


class Store(Protocol):
    """A place answers are kept in, each with the data version it is exact at."""

    source: str  # the `source` label of `hrc_aggregate_answers`

    def get(self, question: Question, version: int) -> list[Any] | None:
        """The answer kept for `question` at exactly this version, if any."""

    def put(self, question: Question, version: int, answer: list[Any]) -> None:
        """Keep an answer computed at `version`."""

    def clear(self) -> None:
        """Forget every answer."""


class Remembered:
    """The latest answers, least recently used out first; shared by a process's threads.

    At most `size` of them and, when answers are weighed (`weigh`: an answer's size in
    bytes), at most `budget` bytes of them; each None: the setting named, read at each
    `put` (`HRC_DIGEST_…`)."""

    source = "process"

    def __init__(self, size: int | None = None, setting: str = "aggregate_cache", *,
                 weigh: Callable[[Any], int] | None = None, budget: int | None = None,
                 budget_setting: str | None = None) -> None:
        self.size, self.setting = size, setting
        self.weigh = weigh or (lambda _answer: 0)
        self.budget, self.budget_setting = budget, budget_setting
        self._answers: OrderedDict[Hashable, tuple[int, Any]] = OrderedDict()
        self._bytes = 0  # the weight of what is kept (0 when not weighed)
        self._lock = threading.Lock()

    def get(self, question: Hashable, version: int) -> Any:
        """The answer kept for `question` at exactly this version, if any."""
        with self._lock:
            kept = self._answers.get(question)
            if kept is None:
                return None
            if kept[0] != version:  # the data moved on: of no use again, and asking for
                self._drop(question)  # it would cost every request a version read
                return None
            self._answers.move_to_end(question)
            return kept[1]

    def put(self, question: Hashable, version: int, answer: Any) -> None:
        """Keep an answer (dropping the least recently used past the size or budget)."""
        settings = get_settings()
        size = self.size if self.size is not None else getattr(settings, self.setting)
        budget = self.budget if self.budget is not None or self.budget_setting is None \
            else getattr(settings, self.budget_setting)
        if budget is not None and self.weigh(answer) > budget:
            return  # never kept: making room for it would empty the store
        with self._lock:
            if question in self._answers:
                self._drop(question)
            self._answers[question] = (version, answer)
            self._bytes += self.weigh(answer)
            while len(self._answers) > size or budget is not None and self._bytes > budget:
                self._drop(next(iter(self._answers)))  # the least recently used

    def _drop(self, question: Hashable) -> None:
        """Forget one answer (under the lock)."""
        _, answer = self._answers.pop(question)
        self._bytes -= self.weigh(answer)

    def __contains__(self, question: Hashable) -> bool:
        """Whether an answer is kept for `question`, at any version."""
        return question in self._answers

    def clear(self) -> None:
        """Forget every answer."""
        with self._lock:
            self._answers.clear()
            self._bytes = 0


remembered = Remembered()
# Whole answers (`app.entries.answers`), weighed by their bodies.
answers = Remembered(setting="page_cache", weigh=lambda answer: len(answer.body),
                     budget_setting="page_cache_bytes")


def held(engine: Engine, question: "PageQuestion") -> tuple[str, "PageQuestion"] | None:
    """The key of the whole answer this process keeps for `question` on the engine's
    database (at some version), or None when it keeps none."""
    database = _identities.get(engine)
    key = (database, question)
    return key if database is not None and key in answers else None


def forget() -> None:
    """Forget what this process keeps (counts, facets, whole answers): for data changed
    behind the app's back (tests, a restore), which moves no data version."""
    remembered.clear()
    answers.clear()


# --- the database a question is asked of ------------------------------------------------


_identities: WeakKeyDictionary[Engine, str] = WeakKeyDictionary()


def identity(connection: Connection) -> str:
    """What names the connection's database wherever it is reached from, and changes when
    the database is made again (its data versions start over); read once per engine, on
    the request's own connection where it has one (a second one could wait on a full
    pool; `engine_identity` takes one, once, for a caller without).

    PostgreSQL: the cluster's system identifier (a physical replica shares it), and the
    database's name and oid. SQLite: the machine, the file's path and its inode.
    """
    engine = connection.engine
    known = _identities.get(engine)
    if known is None:
        known = _identities[engine] = (_postgres_identity(connection)
                                       if engine.dialect.name == "postgresql"
                                       else _sqlite_identity(engine))
    return known


def engine_identity(engine: Engine) -> str:
    """`identity` for a caller without a connection: known, or read on one of its own."""
    known = _identities.get(engine)
    if known is None:
        with engine.connect() as connection:
            known = identity(connection)
    return known


def _sqlite_identity(engine: Engine) -> str:
    path = engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return f"process:{os.getpid()}:{id(engine)}"  # not reachable from another process
    stat = os.stat(path)
    return f"sqlite:{socket.gethostname()}:{os.path.realpath(path)}:{stat.st_dev}:{stat.st_ino}"


_DATABASE = text("SELECT current_database(), (SELECT oid FROM pg_database WHERE datname = "
                 "current_database()), has_function_privilege('pg_control_system()', 'EXECUTE')")
_SYSTEM = text("SELECT system_identifier FROM pg_control_system()")


def _postgres_identity(connection: Connection) -> str:
    name, oid, allowed = connection.execute(_DATABASE).one()
    # A server that keeps the system identifier from this role: its address instead.
    system = connection.execute(_SYSTEM).scalar() if allowed else \
        connection.engine.url.render_as_string(hide_password=True)
    return f"postgresql:{system}:{name}:{oid}"


@lru_cache(maxsize=1024)
def _statement_text(statement: Any, dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """A statement's SQL on a dialect, and the values it binds by itself (its literals)."""
    compiled = statement.compile(dialect=dialect)
    return str(compiled), dict(compiled.params)


def _not_shareable(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not part of a shared key")


# --- Redis ------------------------------------------------------------------------------


class Shared:
    """Answers kept in Redis for every process using it (see the module's docstring): the
    aggregates' rows; `SharedPages` keeps list answers."""

    source = "redis"
    kind = "aggregate"

    def __init__(self, client: redis.Redis, prefix: str, database: str, dialect: Dialect,
                 ttl: int) -> None:
        self.client, self.prefix, self.ttl = client, f"{prefix}:{self.kind}:", ttl
        self.database, self.dialect = database, dialect
        self.paused_until = 0.0

    def key(self, question: Question) -> str | None:
        """The question's key, the same in every process; None when a value cannot be
        part of one."""
        sql, literals = _statement_text(question.statement, self.dialect)
        values = literals | dict(question.values)
        try:
            bound = orjson.dumps(sorted(values.items()), default=_not_shareable)
        except TypeError:
            return None
        return self.digest(sql.encode(), bound)

    def digest(self, *parts: bytes) -> str:
        """The key of these parts, of this database on this dialect."""
        digest = blake2b(digest_size=20)
        for part in (self.database.encode(), self.dialect.name.encode(), *parts):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
        return self.prefix + digest.hexdigest()

    def get(self, question: Any, version: int) -> Any:
        """The answer Redis keeps for `question` at exactly this version, if any."""
        key = self.key(question)
        if key is None or time.monotonic() < self.paused_until:
            return None
        try:
            stored = self.client.get(key)
        except redis.RedisError as error:
            self._pause(error)
            return None
        try:
            return self.decode(stored, version) if stored is not None else None
        except (orjson.JSONDecodeError, TypeError, ValueError):
            return None  # not a value this module wrote: a miss (and overwritten next)

    def decode(self, stored: bytes, version: int) -> Any:
        """The answer a stored value holds at exactly this version, else None."""
        kept, rows = orjson.loads(stored)
        if kept != version or not isinstance(rows, list):
            return None
        return [tuple(row) for row in rows]

    def encode(self, version: int, answer: Any) -> bytes | None:
        """An answer as stored, or None for one that is not plain data."""
        if not all(type(value) in _SHAREABLE for row in answer for value in row):
            return None
        try:
            return orjson.dumps([version, [list(row) for row in answer]])
        except TypeError:  # an integer beyond 64 bits
            return None

    def put(self, question: Any, version: int, answer: Any) -> None:
        """Keep an answer in Redis for `ttl` seconds (not one too large or not plain data)."""
        key = self.key(question)
        if key is None or time.monotonic() < self.paused_until:
            return
        value = self.encode(version, answer)
        if value is None or len(value) > MAX_SHARED_BYTES:
            return
        try:
            self.client.set(key, value, ex=self.ttl)
        except redis.RedisError as error:
            self._pause(error)

    def clear(self) -> None:
        """Forget every answer under this prefix (of every database)."""
        try:
            keys = list(self.client.scan_iter(match=self.prefix + "*", count=1000))
            if keys:
                self.client.delete(*keys)
        except redis.RedisError as error:
            self._pause(error)

    def _pause(self, error: Exception) -> None:
        """Leave Redis alone for a while; say so once per pause."""
        STORE_ERRORS.inc()
        now = time.monotonic()
        if now >= self.paused_until:  # not already said by a concurrent request
            log.warning("aggregate store unavailable (%s): counts and facets computed "
                        "without it for %s s", error, PAUSE_SECONDS)
        self.paused_until = now + PAUSE_SECONDS


class PageQuestion(NamedTuple):
    """A whole answer's question (`app.entries.answers`): the path, query string and
    `Accept` field as sent, and the settings that shape such an answer."""

    path: str
    query: bytes
    accept: bytes
    settings: tuple[Any, ...]


class Answer(NamedTuple):
    """A whole 200 answer as a process keeps it: its fields and body as the route sent
    them, and the route that answered (for the request's log line and metrics)."""

    headers: list[tuple[bytes, bytes]]
    body: bytes
    route: Any


class Page(NamedTuple):
    """A list answer as Redis keeps it: the JSON body and its `Link` header."""

    body: bytes
    link: str


class SharedPages(Shared):
    """List answers kept in Redis. Key: the database, the dialect, this release and its
    schema (another one may answer otherwise), the path, query and settings. Value: a
    JSON line `[version, link]`, then the body as sent."""

    kind = "page"

    def key(self, question: PageQuestion) -> str | None:
        try:
            settings = orjson.dumps(question.settings, default=_not_shareable)
        except TypeError:
            return None
        # Not the `Accept` field: a list answers JSON whatever it says, and one page
        # serves every client.
        return self.digest(_release(), question.path.encode(), question.query, settings)

    def decode(self, stored: bytes, version: int) -> Page | None:
        head, _, body = stored.partition(b"\n")
        kept, link = orjson.loads(head)
        return Page(body, link) if kept == version and isinstance(link, str) else None

    def encode(self, version: int, answer: Page) -> bytes:
        return orjson.dumps([version, answer.link]) + b"\n" + answer.body


@lru_cache(maxsize=1)
def _release() -> bytes:
    """This release and the newest migration it knows: answers of another differ."""
    from app.core.migrations import head_revision  # alembic's script directory, read once

    try:
        release = package_version("hrc-digest")
    except PackageNotFoundError:  # run from a source tree that was never installed
        release = "source"
    return f"{release}:{head_revision()}".encode()


def redis_client(url: str) -> redis.Redis:
    """A client that fails at once rather than wait or retry: a read never waits on Redis
    longer than `TIMEOUT_SECONDS` (redis-py's default retries would take seconds)."""
    return redis.Redis.from_url(url, socket_timeout=TIMEOUT_SECONDS,
                                socket_connect_timeout=TIMEOUT_SECONDS,
                                retry=Retry(NoBackoff(), 0))


@lru_cache(maxsize=8)
def _shared(kind: type[Shared], url: str, prefix: str, ttl: int, database: str,
            dialect: Dialect) -> Shared:
    return kind(redis_client(url), prefix, database, dialect, ttl)


def stores(connection: Connection) -> tuple[Store, ...]:
    """The stores to ask, in order, for a question on this connection's database."""
    shared = shared_store(connection, Shared)
    return (remembered,) if shared is None else (remembered, shared)


def shared_store(connection: Connection, kind: type[Shared]) -> Shared | None:
    """Redis's store of this kind of answer for this connection's database, when set."""
    settings = get_settings()
    if not settings.redis_url or settings.aggregate_cache_ttl <= 0:
        return None
    try:
        database = identity(connection)
    except (OSError, DBAPIError):  # the database itself fails: the request will say so
        return None
    return _shared(kind, settings.redis_url, settings.redis_prefix,
                   settings.aggregate_cache_ttl, database, connection.dialect)


def known_identity(engine: Engine) -> str | None:
    """The engine's database `identity`, once a connection of it has read it."""
    return _identities.get(engine)
