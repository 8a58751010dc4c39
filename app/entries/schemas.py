"""The input and output shapes every entry kind shares, and how a kind's family is derived.

A kind declares one pydantic model of its own fields; `build_family` derives
its Create, Update and Public models from it, so the family cannot drift:
Update is Create with every field optional, Public is Create plus the
server-managed fields.
"""

import types
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from app.entries import fields as f


class EntryIn(BaseModel):
    """Fields a client writes on every kind."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    slug: f.Slug | None = None
    title: f.Title
    summary: f.Summary = ""
    body: f.Body | None = None
    url: f.Url | None = None
    language: f.Language = "en"
    session: f.SessionNumber | None = None
    topics: f.TopicList = Field(default_factory=list)
    countries: f.CountryList = Field(default_factory=list)
    date_precision: f.DatePrecision | None = Field(
        default=None, description="Usually left out: derived (a primary date gives `day`, "
        "else the session's dates `session`, else `unknown`). Send `month` with `date` for "
        "an entry known only to a month; any other value must match what is derived.",
        examples=[None])
    date: f.Day | None = Field(
        default=None, description="With `date_precision`: for `month` any day of the month; "
        "for `day` with no primary date, the primary date. Else usually left out.",
        examples=[None])


class EntryOut(BaseModel):
    """Fields every kind returns."""

    id: int = Field(examples=[1])
    slug: str
    title: str
    summary: str
    body: str | None
    url: str | None
    language: str
    session: int | None
    topics: list[str]
    countries: list[str]
    created_at: f.Timestamp
    updated_at: f.Timestamp
    version: int = Field(description="Increments on every change; drives the ETag.", examples=[1])
    provenance: f.Provenance = None
    date: f.Day | None = Field(description="Where the entry lies in time: the primary date "
                               "(`day`), the first day of its month (`month`) or session "
                               "(`session`), or null (`unknown`). Lists sort by it.",
                               examples=["2021-02-22"])
    date_precision: f.DatePrecision
    date_from: f.Day | None = Field(
        description="First day the entry may lie on (read-only): `date` for `day`, the "
        "month's or session's first day, null for `unknown`.",
        json_schema_extra={"readOnly": True}, examples=["2021-02-22"])
    date_to: f.Day | None = Field(
        description="Last day the entry may lie on (read-only): `date` for `day`, the "
        "month's or session's last day, null for `unknown`.",
        json_schema_extra={"readOnly": True}, examples=["2021-03-23"])
    href: str = Field(description="The entry's own URL, root-relative (read-only).",
                      json_schema_extra={"readOnly": True}, examples=["/api/v1/articles/1"])


# What a GET returns that no client writes: the server's own fields (provenance is the
# loader's alone; date_from and date_to are derived from the placement,
# app/entries/placement.py; href from the id). PUT and PATCH take them back as a GET gave
# them, and ignore them then: app.entries.service.check_read_only.
SERVER_FIELDS = ("id", "type", "created_at", "updated_at", "version", "provenance",
                 "date_from", "date_to", "href")
_SENT_BACK = ("Read-only: may be sent back as a GET returned it (then ignored); "
              "another value is a {status}{why}.")


def _sent_back(annotation: Any, status: int, why: str = "", nullable: bool = False,
               **kwargs: Any) -> tuple[Any, Any]:
    """A read-only field a write accepts back (optional; null only where a GET gives it)."""
    description = _SENT_BACK.format(status=status, why=why)
    if nullable:
        return annotation | None, Field(default=None, description=description, **kwargs)
    return annotation, f.omittable(description=description, **kwargs)


def _read_only_fields(type_name: str) -> dict[str, Any]:
    """The server's fields as a PUT or PATCH body may carry them."""
    return {
        "id": _sent_back(int, 409, " (the URL names the entry)"),
        "type": _sent_back(Annotated[str, Field(max_length=100)], 409,
                           f" (this endpoint takes `{type_name}`)"),
        "created_at": _sent_back(f.Timestamp, 409, "; compared to the millisecond"),
        "updated_at": _sent_back(f.Timestamp, 409, "; compared to the millisecond"),
        "version": _sent_back(int, 412, ", as a stale If-Match is (the entry changed since "
                              "it was read)"),
        "provenance": _sent_back(dict[str, Any], 409, nullable=True),
        "date_from": _sent_back(f.Day, 409, nullable=True),
        "date_to": _sent_back(f.Day, 409, nullable=True),
        "href": _sent_back(Annotated[str, Field(max_length=2048)], 409),
    }


def _optional(info: FieldInfo, nullable: bool) -> tuple[Any, Any]:
    """The same field, optional with no default (absent means 'leave as is').

    Null is accepted only where Create accepts it and the column can hold it (it clears
    the field); elsewhere a null would leave an invalid record, or mean "generate one"
    (slug) that only a create does, so it is refused up front, as the document says.
    """
    annotation = info.annotation
    if not nullable:  # `X | None` becomes `X`: null fails validation like any wrong type
        kept = tuple(arg for arg in get_args(annotation) if arg is not type(None))
        if type(None) in get_args(annotation):
            annotation = Union[kept] if len(kept) > 1 else kept[0]  # noqa: UP007
    inner = Annotated[(annotation, *info.metadata)] if info.metadata else annotation
    # Left out when unset, so what the annotation itself documents (the slug's) shows.
    documented = {key: value for key, value in (
        ("description", info.description), ("examples", info.examples),
        ("json_schema_extra", info.json_schema_extra)) if value is not None}
    if nullable and type(None) in get_args(annotation):
        return inner, Field(default=None, **documented)
    return inner, f.omittable(**documented)


def _not_a_boolean(kind: str, message: str) -> BeforeValidator:
    """Refuse JSON's true and false where a number is expected: pydantic's lax mode reads
    them as 1 and 0, which the document's `integer` and `number` do not allow."""
    def check(value: Any) -> Any:
        if isinstance(value, bool):
            raise PydanticCustomError(kind, message)
        return value

    return BeforeValidator(check)


_NUMBERS = {int: _not_a_boolean("int_type", "Input should be a valid integer"),
            float: _not_a_boolean("float_type", "Input should be a valid number")}


def _number_fields(*models: type[BaseModel]) -> dict[str, tuple[Any, FieldInfo]]:
    """The numeric fields of these models (the first model's field wins a name), each with
    its check against booleans, as `create_model` takes fields."""
    fields: dict[str, FieldInfo] = {}
    for model in reversed(models):
        fields |= model.model_fields
    found = {}
    for name, info in fields.items():
        held = info.annotation
        if get_origin(held) in (Union, types.UnionType):  # `X | None`
            held = next((a for a in get_args(held) if a is not type(None)), held)
        if get_origin(held) is Annotated:
            held = get_args(held)[0]
        if held in _NUMBERS:
            found[name] = (Annotated[info.annotation, _NUMBERS[held]], info)
    return found


def build_family(
    *, title: str, type_name: str, kind_fields: type[BaseModel], example: dict[str, Any],
    not_null: frozenset[str] = frozenset(),
) -> tuple[type[BaseModel], type[BaseModel], type[BaseModel], type[BaseModel]]:
    """Derive the Create, Replace, Update and Public models of a kind from its own fields.

    Replace (PUT) is Create plus the server's fields a GET returned, which it takes back
    unchanged; Update (PATCH) takes them too.
    `not_null`: fields stored in columns that cannot hold NULL (Update refuses null there).
    """
    create = create_model(
        f"{title}Create",
        __base__=(kind_fields, EntryIn),
        __config__=None,
        **_number_fields(kind_fields, EntryIn),
    )
    create.model_config["json_schema_extra"] = {"examples": [example]}
    create.model_rebuild(force=True)
    read_only = _read_only_fields(type_name)
    replace = create_model(f"{title}Replace", __base__=create, **read_only)
    update = create_model(
        f"{title}Update",
        __config__=ConfigDict(extra="forbid", json_schema_extra={"examples": [
            {"summary": example.get("summary", ""), "topics": example.get("topics", [])}]}),
        **{name: _optional(info, name not in not_null)
           for name, info in create.model_fields.items()},
        **read_only,
    )
    public = create_model(
        f"{title}Public",
        __base__=(kind_fields, EntryOut),
        # Every field is in every answer, those with a default (`type`, `provenance`) too.
        __config__=ConfigDict(json_schema_serialization_defaults_required=True),
        type=(Literal[type_name], Field(default=type_name, examples=[type_name])),
    )
    return create, replace, update, public


class FacetValue(BaseModel):
    """How many matches have one value."""

    value: str | int = Field(examples=["article"])
    count: int = Field(examples=[7])


LABELLED_FACETS = ("topic", "country", "session")  # facets whose values have a name


class LabelledFacetValue(BaseModel):
    """How many matches have one topic, country or session, and its name."""

    value: str | int = Field(description="The topic's slug, the country's code or the "
                             "session's number.", examples=["xinjiang"])
    label: str = Field(description="Its name in the reference data (/topics, /countries, "
                       "/sessions).", examples=["Xinjiang"])
    count: int = Field(examples=[7])


class Highlights(BaseModel):
    """With `q`: the item's title and a summary snippet, matched words in `<mark>`."""

    title: str = Field(examples=["<mark>China</mark> urges countries to stop double-standards"])
    summary: str = Field(examples=["<mark>China</mark> urges some related countries to "
                                   "abandon ideological prejudice…"])


class Page(BaseModel):
    """One page of a list: the fields beside `items` (see `page_model`)."""

    total: int | None = Field(
        description="Matches counted: every one (count=exact, the default), or up to the "
        "count cap (count=capped); null with count=none.", examples=[26])
    total_exact: bool = Field(description="True when `total` counts every match; false when "
                              "counting stopped at the cap (count=capped) or with count=none.")
    limit: int = Field(examples=[20])
    offset: int = Field(examples=[0])
    next_cursor: str | None = Field(
        description="Opaque keyset cursor for the next page; null on the last page.",
        examples=["eyJzIjoiLWRhdGUsLWlkIiwidiI6WyIyMDIxLTAyLTIyIiwyNl19"])
    facets: dict[str, list[FacetValue]] | None = Field(
        default=None, description="Counts per value of each facet asked for (`facets`); "
        "topics, countries and sessions with their names.",
        examples=[{"topic": [{"value": "xinjiang", "label": "Xinjiang", "count": 7}],
                   "type": [{"value": "statement", "count": 4}]}])
    facets_exact: bool | None = Field(
        default=None, description="With `facets`: true when every facet counted every match "
        "(always, unless count=capped); false when a facet had more matches than the count "
        "cap and counted only the newest `count_cap` of them.", examples=[True])


# --- documentation-only shapes -----------------------------------------------------------
# The models below describe answers in the OpenAPI document (app.core.openapi.answer); no
# answer is validated or serialised through them (routes build their JSON), so they are
# built only when the document is (`defer_build`).
DOCUMENTATION = ConfigDict(defer_build=True)

ALWAYS = ("id", "type")  # what a list item carries whatever `fields` asks for


HIGHLIGHTED = (Highlights, Field(default_factory=dict, description="With `q` only: the "
                                 "title and a summary snippet with the matched words marked."))


def _required(names: Sequence[str]) -> Any:
    def edit(schema: dict[str, Any]) -> None:
        schema["required"] = [name for name in schema["properties"] if name in names]
    return edit


def item_model(name: str, public: type[BaseModel], fields: Iterable[str], *,
               description: str, required: Sequence[str] = ALWAYS,
               **extra: Any) -> type[BaseModel]:
    """A list item of one kind: the kind's Public fields named in `fields` (as typed and
    described there), plus `extra` (pydantic field definitions); only `required` are
    required (the others may be left out by `fields=`)."""
    chosen = {n: (public.model_fields[n].annotation, public.model_fields[n])
              for n in fields if n in public.model_fields}
    return create_model(name, __doc__=description, __config__=ConfigDict(
        DOCUMENTATION, json_schema_extra=_required(required)), **chosen, **extra)


def by_type(models: Sequence[type[BaseModel]]) -> Any:
    """One of these item models, told apart by their `type` (a discriminated union)."""
    if len(models) == 1:
        return models[0]
    return Annotated[Union[tuple(models)], Field(discriminator="type")]  # noqa: UP007


def facets_model(name: str, facets: Sequence[str]) -> type[BaseModel]:
    """`{name}Facets`: a list of counts for each facet a list takes (only those asked for
    come); topics, countries and sessions carry their names."""
    fields: dict[str, Any] = {
        facet: (list[LabelledFacetValue if facet in LABELLED_FACETS else FacetValue],
                Field(default_factory=list, description=f"Counts per {facet}."))
        for facet in facets}
    return create_model(f"{name}Facets", __doc__="Counts per value of each facet asked "
                        "for.", __config__=DOCUMENTATION, **fields)


def page_model(name: str, item: Any, facets: Sequence[str], *,
               description: str) -> type[BaseModel]:
    """A page whose `items` are `item`s and whose `facets` are keyed by `facets`."""
    shared = {n: (info.annotation, info) for n, info in Page.model_fields.items()}
    shared["facets"] = (facets_model(name.removesuffix("Page"), facets) | None,
                        Page.model_fields["facets"])
    return create_model(
        name, __doc__=description, __config__=DOCUMENTATION,
        items=(list[item], Field(description="The page's entries, in the list's order.")),
        **shared)


class BulkError(BaseModel):
    """A bulk item that was not written, and where to find it in what was sent."""

    index: int = Field(description="0-based position among the items (NDJSON: blank lines "
                       "are not items).", examples=[3])
    line: int | None = Field(
        default=None, description="NDJSON: the 1-based line of the request body the item "
        "was on, blank lines counted. Null for a JSON array body.", examples=[5])
    slug: str | None = Field(description="The item's slug; null when it failed before its "
                             "slug was known (not JSON, or no valid slug).",
                             examples=["china-urges-west-to-halt-interference"])
    title: str | None = Field(
        default=None, description="When `slug` is null: the item's title, if it has one as "
        "text; else null.", examples=[None])
    detail: str = Field(examples=["title: String should have at least 1 character"])


class BulkResult(BaseModel):
    """What a bulk upsert did: counts, and every item that was not written."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "created": 24, "updated": 1, "unchanged": 1, "failed": 2, "errors": [
            {"index": 2, "line": 3, "slug": None, "title": "Xinhua Commentary: a draft",
             "detail": "genre: Input should be 'commentary', 'report', 'news', 'research' "
                       "or 'other'"},
            {"index": 5, "line": 7, "slug": "bulk-three", "title": None,
             "detail": "unknown topic 'tibbet'"}]}]})

    created: int = Field(description="Items written as new entries.", examples=[24])
    updated: int = Field(description="Items that changed an existing entry.", examples=[1])
    unchanged: int = Field(description="Items identical to the stored entry, or skipped "
                           "(`on_conflict=skip`).", examples=[1])
    failed: int = Field(description="Items not written: as many as `errors` lists.",
                        examples=[1])
    errors: list[BulkError] = Field(
        description="One per failed item, in index order.",
        examples=[[{"index": 5, "line": 7, "slug": "bulk-three", "title": None,
                    "detail": "unknown topic 'tibbet'"}]])
