"""Reference data: the topic taxonomy, countries and Council sessions."""

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, Integer, Text
from sqlmodel import Field, SQLModel


class Topic(SQLModel, table=True):
    """A topic of the taxonomy; `keywords` drive the digest loader."""

    __tablename__ = "topics"

    slug: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200, nullable=False)
    description: str = Field(default="", sa_type=Text, nullable=False)
    keywords: list[str] = Field(default_factory=list, sa_type=JSON, nullable=False)


class Country(SQLModel, table=True):
    """An ISO 3166-1 country (from pycountry)."""

    __tablename__ = "countries"

    code: str = Field(primary_key=True, max_length=2)
    name: str = Field(max_length=200, nullable=False)
    official_name: str | None = Field(default=None, max_length=300)


class CouncilSession(SQLModel, table=True):
    """A session of the Human Rights Council."""

    __tablename__ = "sessions"

    number: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    name: str = Field(max_length=200, nullable=False)
    starts_on: date | None = None
    ends_on: date | None = None
    location: str | None = Field(default=None, max_length=200)
    description: str = Field(default="", sa_type=Text, nullable=False)


class ReferenceChange(SQLModel, table=True):
    """One write to the reference data: a topic or session created, updated or deleted.

    List answers name topics and sessions (a filter's value that must exist, a facet's
    label), so a kept list answer (app/entries/answers.py) is exact only until
    the next such write as much as until the next write of an entry: the data version it
    is kept under counts these rows too (`aggregates.answer_version`). Not replayed by
    /changes, which carries entries only. `txid` (PostgreSQL only): the writing
    transaction's id, as in `entry_changes`.
    """

    __tablename__ = "reference_changes"
    __table_args__ = (Index("ix_reference_changes_txid", "txid"),
                      {"sqlite_autoincrement": True})

    seq: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                         autoincrement=True))
    collection: str = Field(max_length=16, nullable=False)  # topics, sessions, countries
    key: str = Field(max_length=64, nullable=False)
    action: str = Field(max_length=8, nullable=False)  # created, updated, deleted
    at: datetime = Field(sa_type=DateTime(timezone=True), nullable=False)
    txid: int | None = Field(default=None, sa_type=BigInteger)
