"""What a kind declares: its tables, its own fields and how the shared machinery treats it."""

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from pydantic import BaseModel
from sqlalchemy import Column, Table
from sqlmodel import SQLModel

from app.entries.fields import PLACEMENT_INPUT
from app.entries.models import Entry
from app.entries.schemas import EntryIn, build_family


@dataclass(frozen=True)
class FieldFilter:
    """A query parameter filtering on one of the kind's own columns (repeatable: any-of)."""

    param: str  # the query parameter, e.g. "author"
    column: str  # the detail column, e.g. "authors"
    # list: JSON array holds the value; slug: the column is a reference to an entry (of
    # the type `references` names), matched by that entry's slug
    match: Literal["text", "enum", "int", "list", "slug"]
    description: str = ""
    example: str = ""


@dataclass(frozen=True)
class Citation:
    """How an entry of the kind is cited (CSL-JSON, RIS, BibTeX): which fields fill what."""

    csl_type: str  # the CSL item type, e.g. "article-newspaper"
    type_field: str | None = None  # a field whose value may pick another CSL type ...
    types: dict[str, str] = field(default_factory=dict)  # ... by value, e.g. research: journal
    author: str | None = None  # a name or a list of names: the author(s), speaker, organisers
    container: str | None = None  # the publication it appeared in
    event: str | None = None  # a reference field: the linked entry's title names the event
    place: str | None = None  # where it happened
    end_date: str | None = None  # the last day of a span that starts on the primary date


@dataclass(frozen=True, eq=False)  # one object per kind: compared and hashed by identity
class KindSpec:
    """One entry kind, as the generic repository, service and router see it."""

    type: str  # "article": the value of `type` on every item
    plural: str  # "articles": the URL segment
    title: str  # "Article": the prefix of its schema names
    table: type[SQLModel]  # the detail table (kind columns, keyed by entry id)
    kind_fields: type[BaseModel]  # the kind's own API fields, primary date included
    primary_date: str  # the field stored as the entry's `date`
    name_fields: tuple[str, ...]  # kind fields that full-text search covers
    references: dict[str, str] = field(default_factory=dict)  # field -> type it must point at
    # Natural-key aliases of references: a kind field naming the linked entry by its slug
    # (e.g. "event" -> "event_id"). Not stored: resolved to the id on write, read back by a
    # subquery, so a record keeps its link across databases whose ids differ.
    reference_slugs: dict[str, str] = field(default_factory=dict)  # alias -> reference field
    filters: tuple[FieldFilter, ...] = ()  # the kind's own filters (an allow-list)
    facets: tuple[str, ...] = ()  # kind columns that `facets=` may count
    citation: Citation = Citation("document")
    example: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    # "an article", "a statement": how titles and messages name one entry of the kind
    # (by its first letter unless given, for a type like "user" or "hour").
    a_type: str = ""

    create_model: type[BaseModel] = field(init=False)
    replace_model: type[BaseModel] = field(init=False)
    update_model: type[BaseModel] = field(init=False)
    public_model: type[BaseModel] = field(init=False)

    def __post_init__(self) -> None:
        cited = self.citation
        for name in (cited.type_field, cited.author, cited.container, cited.place,
                     cited.end_date):
            if name is not None and name not in self.kind_fields.model_fields:
                raise ValueError(f"{self.type}: citation names no kind field '{name}'")
        if cited.event is not None and cited.event not in self.references:
            raise ValueError(f"{self.type}: citation event '{cited.event}' is no reference")
        for alias, reference in self.reference_slugs.items():
            if reference not in self.references or alias not in self.kind_fields.model_fields:
                raise ValueError(f"{self.type}: alias '{alias}' needs a kind field and a "
                                 f"reference '{reference}'")
        if not self.a_type:
            article = "an" if self.type[:1].lower() in "aeiou" else "a"
            object.__setattr__(self, "a_type", f"{article} {self.type}")
        create, replace, update, public = build_family(
            title=self.title, type_name=self.type, kind_fields=self.kind_fields,
            example=self.example, not_null=self.not_null_fields(),
        )
        object.__setattr__(self, "create_model", create)
        object.__setattr__(self, "replace_model", replace)
        object.__setattr__(self, "update_model", update)
        object.__setattr__(self, "public_model", public)

    def column(self, name: str) -> Column[Any] | None:
        """The column an API field is stored in (None for a field with no column of its own)."""
        entries = Entry.__table__.c  # type: ignore[attr-defined]
        if name == self.primary_date:
            return entries["date"]
        return entries.get(name) if name in entries else self.detail_table.c.get(name)

    def not_null_fields(self) -> frozenset[str]:
        """API fields of the kind whose columns cannot hold NULL."""
        # The placement a writer sends may be null (derive it), whatever its column holds.
        names = (*(n for n in EntryIn.model_fields if n not in PLACEMENT_INPUT),
                 *self.kind_fields.model_fields)
        return frozenset(name for name in names
                         if (column := self.column(name)) is not None and not column.nullable)

    @property
    def detail_table(self) -> Table:
        """The SQLAlchemy table of the kind's own columns."""
        return self.table.__table__  # type: ignore[attr-defined]

    @property
    def detail_fields(self) -> tuple[str, ...]:
        """Kind fields stored in the detail table (all but the primary date and aliases)."""
        return tuple(n for n in self.kind_fields.model_fields
                     if n != self.primary_date and n not in self.reference_slugs)

    @property
    def stored_fields(self) -> tuple[str, ...]:
        """Client-writable fields as stored: the Create model's, less natural-key aliases."""
        return tuple(n for n in self.create_model.model_fields if n not in self.reference_slugs)

    def enum_values(self, column: str) -> tuple[str, ...]:
        """The values a Literal-typed kind field allows."""
        annotation = self.kind_fields.model_fields[column].annotation
        return tuple(v for v in get_args(annotation) if isinstance(v, str))
