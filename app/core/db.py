"""Engine, sessions and the request's unit of work."""

import asyncio
import contextvars
import json
import math
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager, suppress
from functools import lru_cache, partial
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import Depends
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import get_settings


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """WAL for concurrent readers, enforced foreign keys, wait instead of failing on locks."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


WRITE_LOCK = "sqlite_begin_immediate"  # execution option of the write sessions' connections


def _sqlite_explicit_begin(engine: Engine) -> None:
    """SQLAlchemy, not the driver, begins SQLite transactions; a write session's begin
    takes the database's write lock at once (BEGIN IMMEDIATE).

    The driver on its own begins a transaction only at the first INSERT/UPDATE/DELETE,
    so a read-check-write (If-Match, a PATCH merging into the stored entry, a bulk
    lookup of existing slugs) read outside any transaction and two writers could both
    act on what they read: a lost update. With the lock taken at BEGIN, a write
    transaction reads what the previous writer committed and no other writer can come
    between its read and its write (SQLAlchemy's documented pysqlite recipe; the wait
    is busy_timeout). Other connections of the engine (readiness checks, key lookups)
    begin as usual (deferred) and take no lock for their reads.
    """

    def driver_autocommit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    def begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(WRITE_LOCK, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    event.listen(engine, "connect", driver_autocommit)
    event.listen(engine, "begin", begin)


def sqlite_file(url: str) -> Path | None:
    """The absolute path of a SQLite database file; None for PostgreSQL or in-memory."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).resolve()


def describe_database(url: str) -> str:
    """How messages name a database: a SQLite file's absolute path (the default one is
    relative to the working directory), else the URL with any password hidden."""
    path = sqlite_file(url)
    return str(path) if path is not None else make_url(url).render_as_string(
        hide_password=True)


def prepare_sqlite_folder(url: str) -> None:
    """Create the folder of a SQLite database file (./data/ on a fresh clone)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


# --- statement time-outs ----------------------------------------------------------------
# PostgreSQL enforces `statement_timeout` itself (set per connection at connect). SQLite
# has no such setting: a progress handler, called every PROGRESS_STEPS virtual-machine
# instructions, aborts the call into SQLite that has run past its budget (SQLITE_INTERRUPT,
# "interrupted"). The budget is per call, not per connection: each execute and each
# fetch of a streamed result starts a new one, and outside those calls (a commit, a
# client reading an export slowly) there is none.

# A few milliseconds of SQLite work between two checks: each check is a call back into
# Python (it takes the GIL), and much more often they cost a list page a visible share.
PROGRESS_STEPS = 200_000
_INTERRUPTED = "interrupted"  # sqlite3's message for SQLITE_INTERRUPT
_PG_QUERY_CANCELED = "57014"  # SQLSTATE of statement_timeout (and of a cancelled query)


class _TimedCursor(sqlite3.Cursor):
    """A cursor whose every call into SQLite gets the connection's time budget."""

    def _timed(self, call: Callable[..., Any], *args: Any) -> Any:
        connection = self.connection
        budget = getattr(connection, "budget", 0.0)
        connection.deadline = time.monotonic() + budget if budget else math.inf
        try:
            return call(*args)
        finally:
            connection.deadline = math.inf

    def execute(self, sql: str, parameters: Any = (), /) -> "_TimedCursor":
        return self._timed(super().execute, sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> "_TimedCursor":
        return self._timed(super().executemany, sql, seq_of_parameters)

    def fetchone(self) -> Any:
        return self._timed(super().fetchone)

    def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._timed(super().fetchmany, self.arraysize if size is None else size)

    def fetchall(self) -> list[Any]:
        return self._timed(super().fetchall)


class _TimedConnection(sqlite3.Connection):
    """A SQLite connection whose cursors are timed (see _TimedCursor)."""

    budget = 0.0  # seconds; 0 = no limit
    deadline = math.inf

    def cursor(self, factory: Any = None) -> sqlite3.Cursor:
        return super().cursor(factory or _TimedCursor)

    def past_deadline(self) -> bool:
        """The progress handler: True (abort the statement) once the budget is spent."""
        return time.monotonic() > self.deadline


def _sqlite_statement_timeout(seconds: float, dbapi_connection, _record) -> None:
    dbapi_connection.budget = seconds
    dbapi_connection.set_progress_handler(dbapi_connection.past_deadline, PROGRESS_STEPS)


def is_statement_timeout(exc: DBAPIError) -> bool:
    """True when the database stopped a statement at the statement time-out."""
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        return str(orig) == _INTERRUPTED
    return getattr(orig, "sqlstate", None) == _PG_QUERY_CANCELED


_LONG_DIGITS = {str: re.compile(r"\d{19}"), bytes: re.compile(rb"\d{19}")}


def json_loads(text: str | bytes) -> Any:
    """JSON columns as Python values: orjson, several times faster than the standard
    library, except for text it would read differently or refuse (19 digits or more in a
    row: an integer past 64 bits becomes a float in orjson; NaN or Infinity, which
    json.dumps may have written), which the standard library reads as before."""
    if _LONG_DIGITS[type(text)].search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def build_engine(url: str, *, pool_size: int = 20, statement_timeout_ms: int = 0,
                 autocommit: bool = False) -> Engine:
    """Create the engine for a database URL, preparing a SQLite file's folder.

    The pool keeps up to `pool_size` connections open and never opens more: requests
    beyond it wait for a free one. (Overflow connections, closed again on return, had a
    busy PostgreSQL process opening and closing a connection — a backend start, and the
    loss of its prepared statements — for every request past the pool's size; see
    docs/operations.md.)
    `statement_timeout_ms` > 0 stops any statement that runs longer (see above)."""
    prepare_sqlite_folder(url)
    isolation: dict[str, Any] = {"isolation_level": "AUTOCOMMIT",
                                 "skip_autocommit_rollback": True} if autocommit else {}
    if make_url(url).get_backend_name() == "sqlite":
        connect_args: dict[str, Any] = {"check_same_thread": False, "timeout": 10}
        if statement_timeout_ms:
            connect_args["factory"] = _TimedConnection
        # As many connections as PostgreSQL gets: requests wait for a free one, not fail.
        engine = create_engine(url, connect_args=connect_args, json_deserializer=json_loads,
                               pool_size=pool_size, max_overflow=0, **isolation)
        event.listen(engine, "connect", _sqlite_pragmas)
        if not autocommit:
            _sqlite_explicit_begin(engine)
        if statement_timeout_ms:
            event.listen(engine, "connect",
                         partial(_sqlite_statement_timeout, statement_timeout_ms / 1000))
        return engine
    # connect_timeout: an unreachable server fails the request instead of holding it;
    # keepalives: a connection whose server vanished without a reset is found dead
    # within about a minute instead of the operating system's two hours.
    connect_args = {"connect_timeout": 10, "keepalives_idle": 30, "keepalives_interval": 10,
                    "keepalives_count": 3}
    # Planner settings for a read API of short queries, chosen after measuring (see
    # docs/benchmarks.md): psycopg prepares a statement after 5 runs and PostgreSQL may
    # then switch to a generic plan that ignores the values (a topic + date range ran
    # many times slower so); a custom plan per run costs well under a millisecond.
    # JIT compiles expensive-looking plans for tens of milliseconds, which a page
    # query never wins back.
    # The same keepalives on the server's side of the connection: a session whose app
    # vanished mid-transaction is ended (and rolled back) within about a minute, instead
    # of holding its locks, and its transaction id, for two hours; while a writer's
    # transaction is open no answer is kept anywhere on the cluster (app.entries.listing.
    # aggregates).
    options = ["-c plan_cache_mode=force_custom_plan", "-c jit=off",
               "-c tcp_keepalives_idle=30", "-c tcp_keepalives_interval=10",
               "-c tcp_keepalives_count=3"]
    if statement_timeout_ms:
        options.append(f"-c statement_timeout={statement_timeout_ms}")
    connect_args["options"] = " ".join(options)
    engine = create_engine(
        url, pool_size=pool_size, max_overflow=0, pool_recycle=1800,
        connect_args=connect_args, json_deserializer=json_loads, **isolation,
    )
    _ping_when_idle(engine)
    return engine


PING_AFTER_IDLE_S = 5.0


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use when it has been idle a while.

    Like `pool_pre_ping`, a connection the server dropped (a restart, a failover, an idle
    time-out) is replaced before a request uses it; unlike it, a connection back in the
    pool within the last PING_AFTER_IDLE_S seconds is trusted, so a busy server does not
    pay a round trip per request. A connection lost within that window fails its request
    (503) and SQLAlchemy then discards the whole pool.
    """

    def returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    def checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("returned_at")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return  # new, or used moments ago
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True  # no BEGIN/ROLLBACK around the ping (no I/O)
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError("connection lost while idle") from exc  # pool retries
        finally:
            with suppress(Exception):  # a broken connection: the pool drops it anyway
                dbapi_connection.autocommit = autocommit

    event.listen(engine, "checkin", returned)
    event.listen(engine, "checkout", checked_out)


_statement_timeouts = True


def use_statement_timeout(enabled: bool) -> None:
    """Whether the process engine applies HRC_DIGEST_STATEMENT_TIMEOUT_MS.

    On (the default) wherever the API is served; the command line turns it off for its
    own jobs (migrate, seed, import, export), which may rightly run for minutes, and
    back on before `serve` hands over to uvicorn. A change drops the current engine."""
    global _statement_timeouts
    if enabled == _statement_timeouts:
        return
    _statement_timeouts = enabled
    reset_engines()


def reset_engines() -> None:
    """Close and forget the process's engines (they are made again from the settings)."""
    for cached in (get_read_engine, get_engine):
        if cached.cache_info().currsize:
            cached().dispose()
        cached.cache_clear()
    _session_factory.cache_clear()


@lru_cache
def get_engine() -> Engine:
    """The process-wide engine for writes (and the command line) on the primary database:
    transactions, a pool of HRC_DIGEST_DB_WRITE_POOL_SIZE connections."""
    settings = get_settings()
    timeout = settings.statement_timeout_ms if _statement_timeouts else 0
    return build_engine(settings.database_url, pool_size=settings.db_write_pool_size,
                        statement_timeout_ms=timeout)


@lru_cache
def get_read_engine() -> Engine:
    """The engine reads use: the replica when HRC_DIGEST_READ_DATABASE_URL is set, else the
    primary; a pool of its own (HRC_DIGEST_DB_POOL_SIZE) whose connections are in
    autocommit from the moment they open.

    What every read route (GET, HEAD) queries: it calls this (kept: no I/O after the
    first call), takes one connection for all its statements (`with engine.connect() as
    connection`) and gives it back at once. Called in the route, not declared as a FastAPI
    dependency: solving one costs every request some 10 µs (docs/benchmarks.md).

    Autocommit for the whole pool, not per checkout: a connection switched to autocommit
    for one request is switched back when it returns, and on SQLite that switch is a
    PRAGMA; one engine per mode saves that on every request."""
    settings = get_settings()
    timeout = settings.statement_timeout_ms if _statement_timeouts else 0
    return build_engine(settings.read_database_url or settings.database_url,
                        pool_size=settings.db_pool_size, statement_timeout_ms=timeout,
                        autocommit=True)


@lru_cache
def _session_factory() -> sessionmaker[Session]:
    # On SQLite a write session takes the write lock when it begins (_sqlite_explicit_begin);
    # PostgreSQL's writers lock the rows they are about to change (repository.lock_entry).
    engine = get_engine().execution_options(**{WRITE_LOCK: True})
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


def new_session() -> Session:
    """A write session for scripts and the CLI (the caller commits)."""
    return _session_factory()()


def _finish(session: Session, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


async def bounded_read(engine: Engine, read: Callable[..., Any], *args: Any) -> Any:
    """Run a read whose work is bounded by an index lookup (one entry by id or slug).

    On SQLite, on the event loop: the database is a library in this process, and such a
    read takes tens of microseconds of CPU, less than handing it to a worker thread and
    back (docs/benchmarks.md). In WAL mode a reader never waits for a writer, and the
    statement time-out bounds it.

    On PostgreSQL, which answers over a socket, in a worker thread of the event loop's own
    executor (`loop.run_in_executor`, asyncio's public API; a few threads, `min(32,
    CPUs + 4)`), with the request's context variables (its request id for log lines).
    Not AnyIO's thread pool, which FastAPI uses for `def` routes: its hand-off (capacity
    limiter, cancel scope) cost a detail request about a fifth of its throughput, measured
    under load (docs/benchmarks.md, "What each optimisation bought")."""
    if engine.dialect.name == "sqlite":
        return read(*args)
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(None, context.run, read, *args)


@contextmanager
def read_transaction() -> Iterator[Connection]:
    """A read connection inside a transaction, for exports: PostgreSQL's server-side
    cursors (results streamed in chunks) need one; on SQLite it is one snapshot."""
    engine = get_read_engine()
    level = "SERIALIZABLE" if engine.dialect.name == "sqlite" else "READ COMMITTED"
    with engine.connect() as connection:
        connection.execution_options(isolation_level=level)
        with connection.begin():
            yield connection


async def get_session() -> AsyncIterator[Session]:
    """The request's unit of work: commit when the route returns, roll back on any error.

    Async on purpose: making a Session does no I/O, so it is made on the event loop.
    The end (COMMIT or ROLLBACK, then returning the connection) goes to a worker thread.
    Read routes call get_read_engine instead.
    """
    session = _session_factory()()
    try:
        yield session
    except BaseException:
        await run_in_threadpool(_finish, session, False)
        raise
    await run_in_threadpool(_finish, session, True)


# scope="function": commit before the response is sent, so a client never sees
# a 2xx for a write that then fails to commit.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
