"""Reference data: the topic taxonomy, countries and Council sessions."""

from datetime import date

from sqlalchemy import JSON, Text
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
