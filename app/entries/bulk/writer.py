"""Bulk upsert by slug: validated item by item, written set-based batch by batch.

Used by `POST /{kind}/bulk` and `hrc-digest import`. Every batch costs a
fixed number of statements whatever its size: a lookup of existing slugs, then
the writes: a COPY per table on PostgreSQL (`bulk_postgres`), a multi-row
INSERT or an executemany per table on SQLite (`repository`).

Under contention: a batch's existing rows are locked (FOR UPDATE) by its lookup, in slug
order, and on PostgreSQL its new rows are copied in slug order, so two batches never
wait on each other in a cycle. A request's transaction spans all its batches, though,
and two requests over the same slugs in different orders can still each hold what the
other's next batch needs: PostgreSQL breaks such a deadlock by failing one of them.
`write_request` then runs the whole request again, from the items it kept, on a fresh
transaction (at most RETRY_ATTEMPTS times); past that, a 503 with Retry-After.
"""

import asyncio
import contextvars
import logging
import random
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi.concurrency import run_in_threadpool
from prometheus_client import Counter
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.core.clock import utcnow
from app.core.errors import ServiceUnavailable
from app.entries import repository as repo
from app.entries.bulk.statistics import StatisticsRefresh
from app.entries.fields import PLACEMENT_DERIVED
from app.entries.references import reference_problems
from app.entries.service import editable
from app.entries.slugs import slugify
from app.entries.spec import KindSpec

OnConflict = Literal["update", "skip", "error"]
MAX_ITEMS = 10_000
BATCH_SIZE = 1_000
# Accepted from exports, ignored (date_from/date_to: derived from the placement; href:
# the id's URL here).
READ_ONLY = ("id", "created_at", "updated_at", "version", "href", *PLACEMENT_DERIVED)
# Counted batch by batch as the request goes, before its commit: a load's progress.
BULK_ITEMS = Counter("hrc_bulk_items", "Bulk items processed (validated, and written into "
                     "the request's transaction unless it is atomic and already failed), "
                     "before the commit.", ["kind"])
BULK_RETRIES = Counter("hrc_bulk_retries", "Bulk requests run again from the start after a "
                       "deadlock, serialization failure or lock wait time-out.", ["kind"])
RETRY_ATTEMPTS = 3  # runs of a request in all
RETRY_BACKOFF_S = 0.1  # before the second run; doubled before each next; jittered
RETRY_AFTER_S = 2  # told to the client when every run failed
# SQLite's `database is locked` after a run this long came from waiting out the 10 s busy
# time-out (another writer holds the database): not waited for twice more, it fails as
# any write that met it (503, `the database is unavailable`).
SQLITE_WAITED_S = 5.0
# Deadlock, serialization failure, lock wait time-out (`lock_timeout`): another run of
# the same transaction may well succeed.
_PG_TRANSIENT = frozenset({"40P01", "40001", "55P03"})
logger = logging.getLogger("hrc_digest.bulk")


@dataclass
class BulkReport:
    """What a bulk request did, item by item."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def fail(self, index: int, slug: str | None, detail: str, *, line: int | None = None,
             title: str | None = None) -> None:
        """Record a bad item: where it was (index; NDJSON line) and what names it (slug;
        its title when the slug is not known)."""
        self.failed += 1
        self.errors.append({"index": index, "line": line, "slug": slug,
                            "title": title if slug is None else None, "detail": detail})

    def merge(self, other: "BulkReport") -> None:
        """Add another report's counts and errors to this one."""
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.failed += other.failed
        self.errors += other.errors

    def as_dict(self) -> dict[str, Any]:
        """The response body."""
        return {"created": self.created, "updated": self.updated,
                "unchanged": self.unchanged, "failed": self.failed,
                "errors": sorted(self.errors, key=lambda e: e["index"])}


# A raw item: (0-based index, parsed JSON or the Exception of a line that is not JSON,
# 1-based line of an NDJSON body or import file, or None where lines do not apply).
RawItem = tuple[int, Any, int | None]


@dataclass
class Item:
    """One valid record of the request, with its position."""

    index: int
    record: dict[str, Any]
    line: int | None = None

    def fail(self, report: BulkReport, detail: str) -> None:
        """Report this item as not written."""
        report.fail(self.index, self.record["slug"], detail, line=self.line)


def _validate(spec: KindSpec, raw_item: RawItem, report: BulkReport) -> Item | None:
    """An item as a full record, or None (reported) when it is not valid."""
    index, raw, line = raw_item
    if isinstance(raw, Exception):
        report.fail(index, None, str(raw), line=line)
        return None
    if not isinstance(raw, dict):
        report.fail(index, None, "item must be a JSON object", line=line)
        return None
    data = {k: v for k, v in raw.items() if k not in READ_ONLY}
    kind = data.pop("type", spec.type)
    provenance = data.pop("provenance", None)
    slug = data.get("slug") if isinstance(data.get("slug"), str) else None
    # What still names an item whose slug is not known: its title, if it is text.
    title = data.get("title") if isinstance(data.get("title"), str) else None
    if kind != spec.type:
        report.fail(index, slug, f"type is '{kind}', this endpoint takes '{spec.type}'",
                    line=line, title=title)
        return None
    if provenance is not None and not isinstance(provenance, dict):
        report.fail(index, slug, "provenance must be an object or null", line=line,
                    title=title)
        return None
    try:
        record = spec.create_model.model_validate(data).model_dump()
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        report.fail(index, slug, detail, line=line, title=title)
        return None
    record["slug"] = record["slug"] or slugify(record["title"])
    record["provenance"] = provenance
    return Item(index, record, line)


def _reference_errors(session: Session, spec: KindSpec, items: list[Item]) -> dict[int, str]:
    """Unknown references per item index, checked once per batch."""
    problems = reference_problems(session, spec, [item.record for item in items])
    return {items[position].index: "; ".join(msg for _, msg in found)
            for position, found in problems.items()}


class BulkWriter:
    """Consumes a request's items in batches; writes unless the request is atomic and failed.

    On PostgreSQL, `add_batch(..., wait=False)` returns while the batch is still being
    written, by a helper thread on the session's connection, so that the next batch is
    parsed and validated while the server writes this one (10 % more rows a second). The
    session is never used by two threads at once: each batch waits for the previous
    write before its own lookups, and `finish` (or `close`, on the way out of a
    failure) waits for the last.
    """

    def __init__(self, session: Session, spec: KindSpec, *, on_conflict: OnConflict,
                 atomic: bool) -> None:
        self.session, self.spec = session, spec
        self.on_conflict, self.atomic = on_conflict, atomic
        self.report = BulkReport()
        postgres = session.get_bind().dialect.name == "postgresql"
        # The engine's batch writes: COPY on PostgreSQL, executemany statements on SQLite.
        # Imported here: a process on SQLite never loads psycopg (a third of a worker's
        # imports on a server's start).
        if postgres:
            from app.entries.bulk import postgres as bulk_postgres

            self.store = bulk_postgres
        else:
            self.store = repo
        # Writing behind pays where the database server does the work; SQLite writes in
        # this process, taking the GIL back between rows (measured 10 % slower so).
        self.behind = postgres
        self.seen: dict[str, int] = {}
        self.count = 0
        self._writer: ThreadPoolExecutor | None = None
        self._pending: Future[BulkReport] | None = None  # the batch being written

    def add_batch(self, raw_items: Iterable[RawItem], *, wait: bool = True) -> None:
        """Validate and (unless an atomic request already failed) write one batch.

        With `wait=False` the write may still run on return: call `finish` before reading
        the report or ending the transaction, and `close` whatever happens."""
        items, counted = [], self.count
        for raw_item in raw_items:
            self.count += 1
            item = _validate(self.spec, raw_item, self.report)
            if item is None:
                continue
            slug = item.record["slug"]
            if slug in self.seen:
                item.fail(self.report, f"slug '{slug}' also at index {self.seen[slug]}")
                continue
            self.seen[slug] = item.index
            items.append(item)
        self._wait()
        errors = _reference_errors(self.session, self.spec, items) if items else {}
        for item in items:
            if item.index in errors:
                item.fail(self.report, errors[item.index])
        planned = self._plan_writes([item for item in items if item.index not in errors])
        if planned is None:
            BULK_ITEMS.labels(self.spec.plural).inc(self.count - counted)
        elif wait or not self.behind:
            self.report.merge(self._write(*planned, self.count - counted))
        else:
            if self._writer is None:
                self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulk-write")
            context = contextvars.copy_context()  # the request's (its id in any log line)
            self._pending = self._writer.submit(context.run, self._write, *planned,
                                                self.count - counted)

    def finish(self) -> BulkReport:
        """Wait for the last batch's write (raising its error); the request's report."""
        self._wait()
        self.close()
        return self.report

    def close(self) -> None:
        """Wait for a write still running, whatever its outcome (the transaction is being
        abandoned when this is what ends a request); idempotent."""
        if self._pending is not None:
            self._pending.exception()  # waits; the error, if any, is moot by now
            self._pending = None
        if self._writer is not None:
            self._writer.shutdown()
            self._writer = None

    def _wait(self) -> None:
        """The previous batch is written: its outcome joins the report."""
        if self._pending is not None:
            write, self._pending = self._pending, None
            self.report.merge(write.result())

    def _plan_writes(self, items: list[Item]
                     ) -> tuple[list[Item], list[tuple[int, dict[str, Any]]]] | None:
        """What to insert and what to update (existing rows locked, in slug order; on
        SQLite the write session holds the database's write lock since its BEGIN, core.db);
        None when nothing is to be written."""
        existing = repo.fetch_by_slugs(self.session, self.spec,
                                       [item.record["slug"] for item in items], lock=True)
        inserts, updates = self._plan(items, existing, self.report)
        if self.atomic and self.report.failed:
            return None  # nothing will be kept; keep validating to report every bad item
        return (inserts, updates) if inserts or updates else None

    def _write(self, inserts: list[Item], updates: list[tuple[int, dict[str, Any]]],
               counted: int) -> BulkReport:
        """Write a batch of `counted` items; what happened, to add to the report (the
        helper thread must not touch it while the next batch is validated)."""
        outcome = BulkReport()
        now = utcnow()
        ids = self.store.insert_many(self.session, self.spec, [i.record for i in inserts], now)
        outcome.created += len(ids)
        raced = [item for item in inserts if item.record["slug"] not in ids]
        if raced:  # created by a concurrent request since our lookup: treat as existing
            existing = repo.fetch_by_slugs(self.session, self.spec,
                                           [i.record["slug"] for i in raced], lock=True)
            more_inserts, more_updates = self._plan(raced, existing, outcome)
            updates = updates + more_updates
            for item in more_inserts:
                item.fail(outcome, "could not be written")
        self.store.update_many(self.session, self.spec, updates, now)
        outcome.updated += len(updates)
        BULK_ITEMS.labels(self.spec.plural).inc(counted)
        return outcome

    def _same(self, current: dict[str, Any], record: dict[str, Any]) -> bool:
        """True when writing the record would change nothing."""
        return editable(self.spec, current) | {"provenance": current["provenance"]} == record

    def _plan(self, items: list[Item], existing: dict[str, dict[str, Any]], report: BulkReport
              ) -> tuple[list[Item], list[tuple[int, dict[str, Any]]]]:
        """Split items into inserts and real updates; count the rest in `report`."""
        inserts: list[Item] = []
        updates: list[tuple[int, dict[str, Any]]] = []
        for item in items:
            current = existing.get(item.record["slug"])
            if current is None:
                inserts.append(item)
            elif self.on_conflict == "error":
                item.fail(report, "slug already exists")
            elif self.on_conflict == "skip" or self._same(current, item.record):
                report.unchanged += 1
            else:
                updates.append((current["id"], item.record))
        return inserts, updates


def transient(exc: BaseException) -> bool:
    """True for a failure that running the whole transaction again may well avoid: a
    deadlock, a serialization failure or a lock wait time-out on PostgreSQL, the busy
    time-out on SQLite (`database is locked`)."""
    if not isinstance(exc, DBAPIError):
        return False
    if isinstance(exc.orig, sqlite3.OperationalError):
        return str(exc.orig).startswith(("database is locked", "database table is locked"))
    return getattr(exc.orig, "sqlstate", None) in _PG_TRANSIENT


Batches = list[list[RawItem]]


async def write_request(session: Session, spec: KindSpec,
                        batches: AsyncIterator[list[RawItem]], *,
                        on_conflict: OnConflict, atomic: bool,
                        statistics: StatisticsRefresh) -> BulkWriter:
    """Write a request's batches in the session's transaction and commit it (an atomic
    request with bad items is left uncommitted, for the caller to refuse).

    The items are kept as parsed (the request is bounded: MAX_ITEMS, and the bulk byte
    cap for a JSON array) so that after a transient failure the whole request runs again
    on a fresh transaction, up to RETRY_ATTEMPTS runs with a jittered backoff; then 503.
    """
    kept: Batches = []
    run_started = time.monotonic()
    writer = BulkWriter(session, spec, on_conflict=on_conflict, atomic=atomic)
    try:
        async for batch in batches:
            kept.append(batch)
            # Returns while the batch is written: the next one is read meanwhile.
            await run_in_threadpool(writer.add_batch, batch, wait=False)
        return await run_in_threadpool(_commit, writer, statistics)
    except DBAPIError as exc:
        if not transient(exc):
            raise
        failure = exc
    finally:
        await run_in_threadpool(writer.close)  # no write outlives the request's session
    async for batch in batches:  # the rest of the body, for the next run
        kept.append(batch)
    for attempt in range(2, RETRY_ATTEMPTS + 1):
        if not _worth_another_run(failure, time.monotonic() - run_started):
            raise failure
        BULK_RETRIES.labels(spec.plural).inc()
        logger.info("bulk %s: run %d after %s", spec.plural, attempt, _reason(failure))
        await run_in_threadpool(session.rollback)
        await asyncio.sleep(RETRY_BACKOFF_S * 2 ** (attempt - 2) * random.uniform(0.5, 1.5))
        writer = BulkWriter(session, spec, on_conflict=on_conflict, atomic=atomic)
        run_started = time.monotonic()
        try:
            return await run_in_threadpool(_replay, writer, kept, statistics)
        except DBAPIError as exc:
            if not transient(exc):
                raise
            failure = exc
        finally:
            await run_in_threadpool(writer.close)
    logger.warning("bulk %s: gave up after %d runs: %s", spec.plural, RETRY_ATTEMPTS,
                   _reason(failure))
    raise ServiceUnavailable(
        f"the bulk request conflicted with concurrent writes {RETRY_ATTEMPTS} times and "
        "nothing was written; try again shortly", headers={"Retry-After": str(RETRY_AFTER_S)})


def _worth_another_run(exc: DBAPIError, ran_for: float) -> bool:
    """PostgreSQL's transient failures always are (a deadlock is found within a second);
    SQLite's `database is locked` only when it did not wait out the busy time-out."""
    return not isinstance(exc.orig, sqlite3.OperationalError) or ran_for < SQLITE_WAITED_S


def _reason(exc: DBAPIError) -> str:
    """A failure's kind for the log (its SQLSTATE, or SQLite's message)."""
    return getattr(exc.orig, "sqlstate", None) or str(exc.orig)


def _replay(writer: BulkWriter, kept: Batches, statistics: StatisticsRefresh) -> BulkWriter:
    """Run the whole request again from its kept items (pipelined as the first run)."""
    for batch in kept:
        writer.add_batch(batch, wait=False)
    return _commit(writer, statistics)


def _commit(writer: BulkWriter, statistics: StatisticsRefresh) -> BulkWriter:
    """Finish the writes and commit them, counting them for the statistics refresh;
    an atomic request with bad items is not committed."""
    report = writer.finish()
    if not (writer.atomic and report.failed):
        statistics.before_commit(writer.session, report.created + report.updated)
        writer.session.commit()
    return writer
