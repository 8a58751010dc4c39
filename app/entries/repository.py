"""All SQL for entries: one statement per read, set-based link maintenance.

Nothing here names a kind; the spec says which detail table and fields apply.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, insert, select, update
from sqlalchemy.orm import Session

from app.entries.models import Entry, EntryCountry, EntryTopic
from app.entries.spec import KindSpec

entries = Entry.__table__
entry_topics = EntryTopic.__table__
entry_countries = EntryCountry.__table__

CORE_WRITE_FIELDS = (
    "slug", "title", "summary", "body", "url", "language", "session", "topics", "countries",
    "provenance",
)
CORE_READ_COLUMNS = (
    "id", "type", "slug", "title", "summary", "body", "url", "language", "session", "topics",
    "countries", "created_at", "updated_at", "version", "provenance",
)


def kind_select(spec: KindSpec) -> Select[Any]:
    """SELECT of a kind's public fields: the core joined 1:1 with its detail row."""
    detail = spec.detail_table
    columns = [entries.c[name] for name in CORE_READ_COLUMNS]
    columns.append(entries.c.date.label(spec.primary_date))
    columns.extend(detail.c[name] for name in spec.detail_fields)
    return (
        select(*columns)
        .select_from(entries.join(detail, detail.c.id == entries.c.id))
        .where(entries.c.type == spec.type)
    )


def get_by_id(session: Session, spec: KindSpec, entry_id: int) -> dict[str, Any] | None:
    """One entry of this kind by id, or None."""
    row = session.execute(kind_select(spec).where(entries.c.id == entry_id)).mappings().first()
    return dict(row) if row else None


def get_by_slug(session: Session, spec: KindSpec, slug: str) -> dict[str, Any] | None:
    """One entry of this kind by slug, or None."""
    row = session.execute(kind_select(spec).where(entries.c.slug == slug)).mappings().first()
    return dict(row) if row else None


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


def entry_type(session: Session, entry_id: int) -> str | None:
    """The kind of an entry id, whatever its kind, or None."""
    return session.scalar(select(entries.c.type).where(entries.c.id == entry_id))


def _search_names(spec: KindSpec, record: dict[str, Any]) -> str:
    """The kind's name fields flattened into one text for full-text search."""
    parts: list[str] = []
    for name in spec.name_fields:
        value = record.get(name)
        if isinstance(value, list):
            parts.extend(value)
        elif value:
            parts.append(str(value))
    return " ".join(parts)


def _core_values(spec: KindSpec, record: dict[str, Any]) -> dict[str, Any]:
    values = {name: record.get(name) for name in CORE_WRITE_FIELDS}
    values["date"] = record.get(spec.primary_date)
    values["search_names"] = _search_names(spec, record)
    return values


def insert_entry(session: Session, spec: KindSpec, record: dict[str, Any], now: datetime) -> int:
    """Insert an entry (core, detail and links); return its id."""
    core = _core_values(spec, record) | {
        "type": spec.type, "created_at": now, "updated_at": now, "version": 1,
    }
    entry_id = session.execute(insert(entries).values(core).returning(entries.c.id)).scalar_one()
    detail = {name: record.get(name) for name in spec.detail_fields}
    session.execute(insert(spec.detail_table).values(id=entry_id, **detail))
    _write_links(session, entry_id, record["topics"], record["countries"])
    return entry_id


def update_entry(
    session: Session, spec: KindSpec, entry_id: int, record: dict[str, Any], now: datetime
) -> None:
    """Overwrite an entry with a full record, bump its version, refresh its links."""
    core = _core_values(spec, record) | {"updated_at": now, "version": entries.c.version + 1}
    session.execute(update(entries).where(entries.c.id == entry_id).values(core))
    detail = {name: record.get(name) for name in spec.detail_fields}
    detail_table = spec.detail_table
    session.execute(update(detail_table).where(detail_table.c.id == entry_id).values(detail))
    session.execute(delete(entry_topics).where(entry_topics.c.entry_id == entry_id))
    session.execute(delete(entry_countries).where(entry_countries.c.entry_id == entry_id))
    _write_links(session, entry_id, record["topics"], record["countries"])


def delete_entry(session: Session, spec: KindSpec, entry_id: int) -> bool:
    """Delete an entry of this kind; True when it existed."""
    stmt = delete(entries).where(entries.c.id == entry_id, entries.c.type == spec.type)
    # Detail and link rows go by ON DELETE CASCADE on PostgreSQL and SQLite alike.
    return session.execute(stmt).rowcount > 0


def _write_links(
    session: Session, entry_id: int, topics: Iterable[str], countries: Iterable[str]
) -> None:
    topic_rows = [{"entry_id": entry_id, "topic": topic} for topic in topics]
    country_rows = [{"entry_id": entry_id, "country": code} for code in countries]
    if topic_rows:
        session.execute(insert(entry_topics), topic_rows)
    if country_rows:
        session.execute(insert(entry_countries), country_rows)
