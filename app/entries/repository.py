"""All SQL for entries: one statement per read, set-based link maintenance.

Nothing here names a kind; the spec says which detail table and fields apply.
"""

from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime
from functools import cache
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Select,
    Text,
    bindparam,
    case,
    cast,
    delete,
    event,
    func,
    insert,
    literal_column,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from app.core import fetch
from app.core.clock import utcnow
from app.core.routing import API_PREFIX
from app.entries import tallies
from app.entries.fields import PLACEMENT_FIELDS
from app.entries.listing import fulltext
from app.entries.listing.aggregates import version_column
from app.entries.models import Entry, EntryChange, EntryCountry, EntryTopic
from app.entries.spec import KindSpec
from app.reference.models import CouncilSession

entries = Entry.__table__
entry_topics = EntryTopic.__table__
entry_countries = EntryCountry.__table__
entry_changes = EntryChange.__table__
sessions = CouncilSession.__table__

CORE_WRITE_FIELDS = (
    "slug", "title", "summary", "body", "url", "language", "session", "topics", "countries",
    "provenance",
)
CORE_READ_COLUMNS = (
    "id", "type", "slug", "title", "summary", "body", "url", "language", "session", "topics",
    "countries", "created_at", "updated_at", "version", "provenance", *PLACEMENT_FIELDS,
)


def kind_select(spec: KindSpec) -> Select[Any]:
    """SELECT of a kind's public fields: the core joined 1:1 with its detail row."""
    detail = spec.detail_table
    columns = [entries.c[name] for name in CORE_READ_COLUMNS]
    columns.append(primary_date(spec))
    columns.append(href((spec,)))
    columns.extend(detail.c[name] for name in spec.detail_fields)
    columns.extend(linked_slug(spec, alias) for alias in spec.reference_slugs)
    return (
        select(*columns)
        .select_from(entries.join(detail, detail.c.id == entries.c.id))
        .where(entries.c.type == spec.type)
    )


def primary_date(spec: KindSpec) -> Any:
    """The kind's primary date, read from the placement: `date` at `day` precision (the
    one place it is stored, app/entries/placement.py), else null."""
    return case((entries.c.date_precision == "day", entries.c.date),
                else_=None).label(spec.primary_date)


def _text(value: str) -> Any:
    """A constant string written into the statement itself (no bound parameter)."""
    return literal_column("'" + value.replace("'", "''") + "'", Text)


def href(kinds: Sequence[KindSpec]) -> Any:
    """An entry's own root-relative URL (`/api/v1/articles/12`), labelled `href`.

    Built by the database from the id (and, across kinds, the type) in the statement
    that reads the row: no Python work per row."""
    if len(kinds) == 1:
        path = _text(f"{API_PREFIX}/{kinds[0].plural}/")
    else:
        path = case(*((entries.c.type == _text(spec.type), _text(f"{API_PREFIX}/{spec.plural}/"))
                      for spec in kinds))
    return path.concat(cast(entries.c.id, Text)).label("href")


def linked_slug(spec: KindSpec, alias: str) -> Any:
    """The slug of the entry a reference points at, labelled as its natural-key alias.

    A correlated scalar subquery: one primary-key probe a row read, in the same statement
    (no N+1 on lists), and no join that could change the rows a page or a count sees.
    """
    reference = spec.reference_slugs[alias]
    linked = entries.alias(f"linked_{alias}")
    return (select(linked.c.slug)
            .where(linked.c.id == spec.detail_table.c[reference],
                   linked.c.type == spec.references[reference])
            .scalar_subquery().label(alias))


SESSION_NAME = "_session_name"
# Not body or provenance: a citation shows neither, and an export need not read them.
CITED_COLUMNS = ("id", "type", "slug", "title", "summary", "url", "language", "session",
                 "topics", *PLACEMENT_FIELDS)


def linked_title_label(reference: str) -> str:
    """The label under which a cited row carries the title of the entry `reference` names."""
    return f"_{reference}_title"


def cited_select(kinds: tuple[KindSpec, ...]) -> Select[Any]:
    """SELECT of what a citation shows: core fields and `date`, the kinds' own fields, the
    titles of linked entries and the session's name.

    One kind: its detail table joined. Several: each outer-joined, a field that several
    kinds have read from whichever row exists. Linked titles and the session's name are
    correlated subqueries (one key probe a row, in the same statement, as `linked_slug`).
    """
    from_clause: Any = entries
    columns: dict[str, list[Any]] = {name: [entries.c[name]] for name in CITED_COLUMNS}
    for spec in kinds:
        detail = spec.detail_table
        on = detail.c.id == entries.c.id
        from_clause = (from_clause.join(detail, on) if len(kinds) == 1
                       else from_clause.outerjoin(detail, on))
        for name in spec.detail_fields:
            columns.setdefault(name, []).append(detail.c[name])
        for alias in spec.reference_slugs:
            columns.setdefault(alias, []).append(linked_slug(spec, alias))
        for reference, linked_type in spec.references.items():
            linked = entries.alias(f"cited_{reference}")
            title = (select(linked.c.title).where(linked.c.id == detail.c[reference],
                                                  linked.c.type == linked_type)
                     .scalar_subquery())
            columns.setdefault(linked_title_label(reference), []).append(title)
    session_name = (select(sessions.c.name).where(sessions.c.number == entries.c.session)
                    .scalar_subquery())
    selected = [(found[0] if len(found) == 1 else func.coalesce(*found)).label(name)
                for name, found in columns.items()]
    stmt = select(*selected, session_name.label(SESSION_NAME)).select_from(from_clause)
    return stmt.where(entries.c.type == kinds[0].type) if len(kinds) == 1 else stmt


@cache
def _cited_by_key(spec: KindSpec, key: str) -> Select[Any]:
    return cited_select((spec,)).where(entries.c[key] == bindparam(key))


def get_cited(connection: Connection, spec: KindSpec, key: str, value: Any
              ) -> dict[str, Any] | None:
    """One entry of this kind by a unique column (`id`, `slug`) as `cited_select` reads
    it, or None."""
    row = connection.execute(_cited_by_key(spec, key), {key: value}).mappings().first()
    return dict(row) if row else None


@cache
def _by_key(spec: KindSpec, key: str, versioned: str | None = None) -> Select[Any]:
    """A kind's entry by the unique column `key` (bound as `key`), built once; with the
    data version it is read at as `_version` on the dialect `versioned` names (`app.entries.
    answers` keeps the answer under it)."""
    stmt = kind_select(spec).where(entries.c[key] == bindparam(key))
    return stmt if versioned is None else stmt.add_columns(
        version_column(versioned, answers=True))


def _one_by(session: Session, spec: KindSpec, key: str, value: Any) -> dict[str, Any] | None:
    """One entry of this kind by a unique column (a statement built once per kind and key)."""
    result = session.execute(_by_key(spec, key), {key: value})
    row = result.first()
    return dict(zip(result.keys(), row, strict=True)) if row else None


def read_by(engine: Engine, spec: KindSpec, key: str, value: Any, *,
            versioned: bool = False) -> dict[str, Any] | None:
    """`_one_by` for a read route: the same statement, on a connection of its own
    (`app.core.fetch`: a read that is one index lookup, without the cost of a Connection);
    with its data version as `_version` when `versioned`."""
    stmt = _by_key(spec, key, engine.dialect.name if versioned else None)
    return fetch.one(engine, stmt, {key: value})


def get_by_id(session: Session, spec: KindSpec, entry_id: int) -> dict[str, Any] | None:
    """One entry of this kind by id, or None."""
    return _one_by(session, spec, "id", entry_id)


def get_by_slug(session: Session, spec: KindSpec, slug: str) -> dict[str, Any] | None:
    """One entry of this kind by slug, or None."""
    return _one_by(session, spec, "slug", slug)


def lock_entry(session: Session, spec: KindSpec, entry_id: int, *, delete: bool = False
               ) -> bool:
    """Lock an entry of this kind for the rest of the transaction; False when absent.

    Taken before the entry is read for a write, so what the write is based on stays
    current until it commits: a concurrent writer of the same entry waits here, then
    reads what this one wrote. PostgreSQL: a row lock, FOR NO KEY UPDATE for an update
    (rows that point at the entry can still be written meanwhile), FOR UPDATE for a
    delete (a row about to point at it waits, then finds it gone, instead of being
    unlinked behind its version's back by the foreign key's ON DELETE SET NULL).
    SQLite: the write transaction already holds the database's write lock (core.db)."""
    stmt = _lock_statement(spec, delete)
    return session.execute(stmt, {"id": entry_id}).first() is not None


@cache
def _lock_statement(spec: KindSpec, delete: bool) -> Select[Any]:
    return select(entries.c.id).where(
        entries.c.id == bindparam("id"), entries.c.type == spec.type
    ).with_for_update(key_share=not delete)


def slugs_taken(session: Session, spec: KindSpec, candidates: Sequence[str]) -> set[str]:
    """Which of these slugs this kind already uses."""
    stmt = select(entries.c.slug).where(entries.c.type == spec.type,
                                        entries.c.slug.in_(candidates))
    return set(session.scalars(stmt))


def slugs_like(session: Session, spec: KindSpec, base: str) -> set[str]:
    """This kind's slugs that are `base` or `base-…` (slugs hold no LIKE wildcards)."""
    stmt = select(entries.c.slug).where(
        entries.c.type == spec.type,
        (entries.c.slug == base) | entries.c.slug.like(f"{base}-%"))
    return set(session.scalars(stmt))


def _name_values(spec: KindSpec, record: dict[str, Any]) -> Iterator[tuple[str, list[str]]]:
    """Each name field of the kind with its values (a list field's items; none when empty)."""
    for name in spec.name_fields:
        value = record.get(name)
        if isinstance(value, list):
            yield name, value
        else:
            yield name, [str(value)] if value else []


def search_texts(spec: KindSpec, record: dict[str, Any]) -> dict[str, str]:
    """The kind's name fields as full-text search indexes them: flattened into one text
    (`search_names`), and each word after its field's marker (`search_fields`: `q=speaker:`)."""
    named = list(_name_values(spec, record))
    return {"search_names": " ".join(v for _, values in named for v in values),
            "search_fields": " ".join(filter(None, (fulltext.field_text(name, values)
                                                    for name, values in named)))}


def core_values(spec: KindSpec, record: dict[str, Any]) -> dict[str, Any]:
    """A record's `entries` columns (all but type, timestamps and version)."""
    values = {name: record.get(name) for name in CORE_WRITE_FIELDS}
    # Placed by every write path first (placement.place_records, via reference_problems).
    values |= {name: record.get(name) for name in PLACEMENT_FIELDS}
    return values | search_texts(spec, record)


def new_entry_values(spec: KindSpec, record: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The `entries` row of a new entry (the database gives its id)."""
    return core_values(spec, record) | {"type": spec.type, "created_at": now, "updated_at": now,
                                        "version": 1}


def detail_values(spec: KindSpec, record: dict[str, Any]) -> dict[str, Any]:
    """A record's detail-table columns (all but the id)."""
    return {name: record.get(name) for name in spec.detail_fields}


@cache
def _by_slugs(spec: KindSpec, dialect: str, lock: bool) -> Select[Any]:
    """This kind's entries whose slug is in the bound list `slugs`.

    PostgreSQL: `slug = ANY(array)` (or `IN`) is planned as a scan of all the kind's
    entries, filtered, once the table is large (even with fresh statistics); as a
    LATERAL subquery (LIMIT 1 keeps the planner from flattening it) each slug is an
    equality on the (type, slug) unique index whatever the statistics. The list travels
    as one JSON text (cheaper to send). SQLite probes the index for each value of an IN
    list itself.

    `lock`: each found `entries` row is locked FOR UPDATE as it is probed, in the list's
    order (a nested loop over the list), so writers that sort their slugs take their row
    locks in one order and cannot deadlock on them. SQLite has no row locks (its writers
    queue for the database's): the clause is left out there.
    """
    if dialect != "postgresql":
        return kind_select(spec).where(entries.c.slug.in_(bindparam("slugs", expanding=True)))
    slugs = cast(bindparam("slugs", type_=Text), JSON)
    wanted = func.json_array_elements_text(slugs).table_valued("value").render_derived(
        "wanted")
    probe = kind_select(spec).where(entries.c.slug == wanted.c.value).limit(1)
    if lock:
        probe = probe.with_for_update(of=entries)
    found = probe.lateral("found")
    return select(found).select_from(wanted).join(found, true())


def fetch_by_slugs(session: Session, spec: KindSpec, slugs: Sequence[str], *,
                   lock: bool = False) -> dict[str, dict[str, Any]]:
    """This kind's entries with these slugs, by slug (one query, one index probe a slug);
    `lock`: locked for update, in slug order (see `_by_slugs`)."""
    if not slugs:
        return {}
    if lock:
        slugs = sorted(slugs)
    dialect = session.get_bind().dialect.name
    stmt = _by_slugs(spec, dialect, lock)
    bound = orjson.dumps(list(slugs)).decode() if dialect == "postgresql" else list(slugs)
    rows = session.execute(stmt, {"slugs": bound}).mappings()
    return {row["slug"]: dict(row) for row in rows}


def insert_ignoring_taken(session: Session, rows: list[dict[str, Any]]) -> dict[str, int]:
    """INSERT entries, skipping slugs another transaction took meanwhile; slug -> new id."""
    dialect = session.get_bind().dialect.name
    builder = postgresql_insert if dialect == "postgresql" else sqlite_insert
    stmt = (builder(entries).on_conflict_do_nothing(index_elements=["type", "slug"])
            .returning(entries.c.id, entries.c.slug))
    return {slug: entry_id for entry_id, slug in session.execute(stmt, rows)}


def insert_many(session: Session, spec: KindSpec, records: list[dict[str, Any]],
                now: datetime) -> dict[str, int]:
    """Insert entries in batched statements; slug -> id of those inserted.

    A slug that exists by the time the INSERT runs (a concurrent writer) is left
    out of the result rather than failing the batch; the caller decides.
    """
    if not records:
        return {}
    ids = insert_ignoring_taken(session, [new_entry_values(spec, r, now) for r in records])
    inserted = [r for r in records if r["slug"] in ids]
    if inserted:
        session.execute(insert(spec.detail_table),
                        [{"id": ids[r["slug"]]} | detail_values(spec, r) for r in inserted])
        _write_links(session, spec, [(ids[r["slug"]], r) for r in inserted])
        tallies.queue(session, tallies.written(spec.type, inserted))
        record_changes(session, spec, [(ids[r["slug"]], r["slug"], 1) for r in inserted],
                       "created", now)
    return ids


def _update_core(spec: KindSpec, conditional: bool) -> Any:
    """UPDATE of an entry's core row by id that bumps its version; `conditional`: only
    while it is still at the bound `_version` (the check and the write in one statement)."""
    condition = [entries.c.id == bindparam("_id")]
    if conditional:
        condition.append(entries.c.version == bindparam("_version"))
    columns = {name: bindparam(name) for name in
               (*core_values(spec, {}), "updated_at")}
    return (update(entries).where(*condition)
            .values(version=entries.c.version + 1, **columns)
            .execution_options(synchronize_session=False))


def update_many(session: Session, spec: KindSpec, updates: list[tuple[int, dict[str, Any]]],
                now: datetime, expected_version: int | None = None) -> bool:
    """Overwrite entries with full records (batched), bump versions, refresh links.

    With `expected_version` (one update only), nothing is written and False returned
    unless the entry is still at that version."""
    if not updates:
        return True
    ids = [entry_id for entry_id, _ in updates]
    core = [{"_id": entry_id, **core_values(spec, r), "updated_at": now}
            for entry_id, r in updates]
    before = tallies.counted(session, ids)  # the rows are locked by the caller
    if expected_version is not None:
        result = session.execute(_update_core(spec, True),
                                 core[0] | {"_version": expected_version})
        if result.rowcount != 1:
            return False
    else:
        session.execute(_update_core(spec, False), core)
    detail_table = spec.detail_table
    details = [{"_id": entry_id, **detail_values(spec, r)} for entry_id, r in updates]
    session.execute(update(detail_table).where(detail_table.c.id == bindparam("_id"))
                    .values({name: bindparam(name) for name in spec.detail_fields})
                    .execution_options(synchronize_session=False), details)
    session.execute(delete(entry_topics).where(entry_topics.c.entry_id.in_(ids)))
    session.execute(delete(entry_countries).where(entry_countries.c.entry_id.in_(ids)))
    _write_links(session, spec, updates)
    tallies.queue(session, tallies.written(spec.type, (r for _, r in updates)), before)
    versions = dict(session.execute(select(entries.c.id, entries.c.version)
                                    .where(entries.c.id.in_(ids))).all())
    record_changes(session, spec, [(i, r["slug"], versions[i]) for i, r in updates],
                   "updated", now)
    return True


def insert_entry(session: Session, spec: KindSpec, record: dict[str, Any], now: datetime
                 ) -> int | None:
    """Insert one entry; its id, or None when its slug was taken meanwhile."""
    return insert_many(session, spec, [record], now).get(record["slug"])


def update_entry(session: Session, spec: KindSpec, entry_id: int, record: dict[str, Any],
                 now: datetime, expected_version: int) -> bool:
    """Overwrite one entry with a full record if it is still at `expected_version`."""
    return update_many(session, spec, [(entry_id, record)], now, expected_version)


def delete_entry(session: Session, spec: KindSpec, entry_id: int, expected_version: int
                 ) -> bool:
    """Delete an entry of this kind at `expected_version` (recording the deletion); False
    when it is absent or at another version."""
    stmt = (delete(entries).where(entries.c.id == entry_id, entries.c.type == spec.type,
                                  entries.c.version == expected_version)
            .returning(entries.c.slug, entries.c.version))
    before = tallies.counted(session, [entry_id])  # the row is locked by the caller
    deleted = session.execute(stmt).first()
    # Detail and link rows go by ON DELETE CASCADE on PostgreSQL and SQLite alike.
    if deleted is None:
        return False
    tallies.queue(session, Counter(), before)
    record_changes(session, spec, [(entry_id, deleted.slug, deleted.version + 1)], "deleted",
                   utcnow())
    return True


def clear_links_to(session: Session, spec: KindSpec, column: str, target_id: int,
                   now: datetime) -> None:
    """Unlink this kind's entries whose `column` points at `target_id` (about to be
    deleted): the link set to null, a new version and a change row for each, as for any
    other change to their stored fields (the foreign key's ON DELETE SET NULL would do
    it behind their versions' backs)."""
    detail = spec.detail_table
    unlinked = select(detail.c.id).where(detail.c[column] == target_id)
    bumped = session.execute(
        update(entries).where(entries.c.id.in_(unlinked))
        .values(version=entries.c.version + 1, updated_at=now)
        .returning(entries.c.id, entries.c.slug, entries.c.version)
        .execution_options(synchronize_session=False)).all()
    if not bumped:
        return
    session.execute(update(detail).where(detail.c[column] == target_id).values({column: None})
                    .execution_options(synchronize_session=False))
    record_changes(session, spec, [(row.id, row.slug, row.version) for row in bumped],
                   "updated", now)


def _write_links(session: Session, spec: KindSpec,
                 records: list[tuple[int, dict[str, Any]]]) -> None:
    """Insert the entries' topic and country link rows (each carries the entry's kind)."""
    topic_rows, country_rows = link_rows(spec, records)
    if topic_rows:
        session.execute(insert(entry_topics), topic_rows)
    if country_rows:
        session.execute(insert(entry_countries), country_rows)


def link_rows(spec: KindSpec, records: list[tuple[int, dict[str, Any]]]
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The entries' topic and country link rows, as `_write_links` inserts them and the
    PostgreSQL bulk path copies them."""
    kind = spec.type
    topic_rows = [{"entry_id": i, "type": kind, "topic": t} for i, r in records
                  for t in r["topics"]]
    country_rows = [{"entry_id": i, "type": kind, "country": c} for i, r in records
                    for c in r["countries"]]
    return topic_rows, country_rows


def change_rows(spec: KindSpec, changed: list[tuple[int, str, int]], action: str,
                now: datetime) -> list[dict[str, Any]]:
    """Change-log rows (without txid) for (entry id, slug, version) triples."""
    return [{"entry_id": i, "type": spec.type, "slug": slug, "action": action,
             "version": version, "at": now} for i, slug, version in changed]


# --- the change log ----------------------------------------------------------------------
# A write's change rows are kept with its session and written as the last statement of
# its transaction (`_append_changes`, on the session's before_commit), so that `seq` is
# given in commit order on both engines and a /changes reader paging by `seq` never
# sees a change appear behind its position:
# - SQLite: a write transaction holds the database's write lock from its BEGIN to its
#   COMMIT (core.db), so transactions number their changes one after the other.
# - PostgreSQL: the rows are numbered under a transaction-level advisory lock, held from
#   that insert to the commit. The next writer gets the lock only after this commit is
#   visible (PostgreSQL releases locks after marking the transaction committed), so a
#   larger `seq` is always committed after a smaller one. Only this final step is
#   serialised: writers still lock and write their own rows concurrently.
# `at` is taken at the same moment (the database's clock on PostgreSQL), so it rises
# with `seq` and `since=<time>` can start from it.
PENDING = "pending_changes"  # Session.info key
CHANGE_LOG_LOCK = 0x68726364  # the advisory lock's key ("hrcd"): one per database


def record_changes(session: Session, spec: KindSpec, changed: list[tuple[int, str, int]],
                   action: str, now: datetime) -> None:
    """Queue change-log rows; they are written when the session commits."""
    session.info.setdefault(PENDING, []).extend(change_rows(spec, changed, action, now))


def txid_expression() -> Any:
    """The writing transaction's id on PostgreSQL, as the change log stores it."""
    return cast(cast(func.pg_current_xact_id(), Text), BigInteger)


@event.listens_for(Session, "before_commit")
def _append_changes(session: Session) -> None:
    """Write the transaction's queued change rows, numbered in commit order (above)."""
    rows = session.info.pop(PENDING, None)
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        locked = select(func.pg_advisory_xact_lock(CHANGE_LOG_LOCK), func.clock_timestamp(),
                        txid_expression())
        _, at, txid = session.execute(locked).one()
        rows = [row | {"at": at, "txid": txid} for row in rows]
    else:
        at = utcnow()
        rows = [row | {"at": at} for row in rows]
    session.execute(insert(entry_changes), rows)
    tallies.apply(session)  # under the same lock: writers never wait on a tally row


@event.listens_for(Session, "after_transaction_end")
def _forget_changes(session: Session, transaction: Any) -> None:
    """A rolled-back transaction's queued changes go with it."""
    if transaction.parent is None:
        session.info.pop(PENDING, None)
        tallies.discard(session)
