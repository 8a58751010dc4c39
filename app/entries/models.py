"""Tables every entry kind shares: the entry core and its topic and country links.

Lists sort and filter by `coalesce(date, '0001-01-01')` (undated entries count as
the oldest) through expression indexes written in migration 0004, since the
literal differs by engine.

A kind's own columns live in its detail table (`articles`, `events`,
`statements`), one row per entry, keyed by the entry id. The core row holds
the entry's placement in time (app/entries/placement.py): `date` with its
`date_precision` and the interval `date_from`..`date_to` it stands for. At `day`
precision `date` is the kind's primary date, which is stored nowhere else; so
lists, the timeline and cross-kind search sort and filter one table. `topics` and
`countries` are kept twice on purpose: the link tables are what filters use
(indexed on both engines), the JSON copies are what a page returns without a
join per row.
"""

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlmodel import Field, SQLModel


class Entry(SQLModel, table=True):
    """The common core of every article, event and statement."""

    __tablename__ = "entries"
    __table_args__ = (
        Index("uq_entries_type_slug", "type", "slug", unique=True),
        Index("ix_entries_session_type", "session", "type"),
        # Never reuse a deleted entry's id on SQLite (PostgreSQL sequences never do):
        # an old ETag or /changes record must not match a new entry.
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    type: str = Field(max_length=16, nullable=False)
    slug: str = Field(max_length=120, nullable=False)
    title: str = Field(max_length=500, nullable=False)
    summary: str = Field(default="", sa_type=Text, nullable=False)
    body: str | None = Field(default=None, sa_type=Text)
    url: str | None = Field(default=None, max_length=2048)
    language: str = Field(default="en", max_length=35, nullable=False)
    session: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("sessions.number", ondelete="RESTRICT")),
    )
    date: dt.date | None = Field(default=None)
    date_precision: str = Field(
        default="unknown",
        sa_column=Column(String(8), nullable=False, server_default="unknown"))
    date_from: dt.date | None = Field(default=None)
    date_to: dt.date | None = Field(default=None)
    topics: list[str] = Field(default_factory=list, sa_type=JSON, nullable=False)
    countries: list[str] = Field(default_factory=list, sa_type=JSON, nullable=False)
    search_names: str = Field(default="", sa_type=Text, nullable=False)
    # Each name field's words after its marker, for `q=speaker:…` (listing/fulltext.py).
    search_fields: str = Field(
        default="", sa_column=Column(Text, nullable=False, server_default=""))
    provenance: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    created_at: dt.datetime = Field(sa_type=DateTime(timezone=True), nullable=False)
    updated_at: dt.datetime = Field(sa_type=DateTime(timezone=True), nullable=False)
    version: int = Field(default=1, nullable=False)


class EntryTopic(SQLModel, table=True):
    """An entry tagged with a topic (primary key serves 'entries with topic X').

    `type` repeats the entry's kind (which never changes) so that a kind's list counts
    the entries with a topic from one index, without joining a row of `entries` per
    match (a common topic's capped count: docs/benchmarks.md).
    """

    __tablename__ = "entry_topics"
    __table_args__ = (Index("ix_entry_topics_entry_id", "entry_id"),
                      Index("ix_entry_topics_type_topic", "type", "topic", "entry_id"))

    topic: str = Field(
        sa_column=Column(
            String(64), ForeignKey("topics.slug", ondelete="RESTRICT"), primary_key=True
        )
    )
    entry_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True
        )
    )
    type: str = Field(max_length=16, nullable=False)


class EntryCountry(SQLModel, table=True):
    """An entry tagged with a country (primary key serves 'entries about country X').

    `type` repeats the entry's kind, as in `entry_topics`.
    """

    __tablename__ = "entry_countries"
    __table_args__ = (Index("ix_entry_countries_entry_id", "entry_id"),
                      Index("ix_entry_countries_type_country", "type", "country", "entry_id"))

    country: str = Field(
        sa_column=Column(
            String(2), ForeignKey("countries.code", ondelete="RESTRICT"), primary_key=True
        )
    )
    entry_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True
        )
    )
    type: str = Field(max_length=16, nullable=False)


def detail_id_column() -> Any:
    """The primary key of a kind's detail table: the entry it details."""
    return Field(
        sa_column=Column(Integer, ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True)
    )


class EntryChange(SQLModel, table=True):
    """One write to an entry, numbered in commit order: what /changes replays to mirrors.

    Rows are written as their transaction's last statement, numbered one transaction
    after the other (`repository`'s change log), so a reader paging by `seq` never sees
    a change appear behind its position. `txid` (PostgreSQL only) is the writing
    transaction's id: the data version of kept counts and facets (`aggregates`).
    """

    __tablename__ = "entry_changes"
    __table_args__ = (Index("ix_entry_changes_at", "at"), Index("ix_entry_changes_txid", "txid"),
                      # A consumer's position must never be handed out again (migration 0008).
                      {"sqlite_autoincrement": True})

    seq: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                         autoincrement=True))
    entry_id: int = Field(nullable=False)
    type: str = Field(max_length=16, nullable=False)
    slug: str = Field(max_length=120, nullable=False)
    action: str = Field(max_length=8, nullable=False)
    version: int = Field(nullable=False)
    at: dt.datetime = Field(sa_type=DateTime(timezone=True), nullable=False)
    txid: int | None = Field(default=None, sa_type=BigInteger)


class EntryTally(SQLModel, table=True):
    """How many entries of a kind have a value: the counts behind exact totals and facets
    of lists filtered by kind alone (app/entries/tallies.py).

    `facet` is `type`, `topic`, `country`, `session`, `language`, `year`, `month` or
    `day`, and `value` the value as a facet names it (`xinjiang`, `CN`, `46`, `2021-03`).
    `dated`: whether those entries are placed in time (the timeline holds only those).
    Kept current by every write of an entry, in its transaction (`tallies.queue`); a
    write that bypasses the app (a bulk load, a migration that changes entries) ends
    with `tallies.rebuild`.
    """

    __tablename__ = "entry_tallies"

    facet: str = Field(sa_column=Column(String(16), primary_key=True))
    value: str = Field(sa_column=Column(String(64), primary_key=True))
    type: str = Field(sa_column=Column(String(16), primary_key=True))
    dated: bool = Field(sa_column=Column(Boolean, primary_key=True))
    n: int = Field(nullable=False)
