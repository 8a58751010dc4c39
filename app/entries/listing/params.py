"""The query parameters of every endpoint that takes a query, declared once.

Each endpoint's FastAPI query-parameter model (what the OpenAPI document and Swagger UI
show, and what is validated: types, bounds, enum values) is generated from these
declarations with `extra="forbid"`, so a parameter cannot be documented but ignored, or
accepted but undocumented: an unknown one is a 400 naming it (app.core.errors).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, get_args

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from app.core.config import get_settings
from app.entries.fields import MAX_ENTRY_ID, NO_NUL, PRECISIONS, IsoDate
from app.entries.registry import KINDS
from app.entries.spec import FieldFilter, KindSpec

MAX_LIMIT = 100
HISTOGRAMS = ("year", "month", "day")  # date facets: a bucket per interval, in date order
COMMON_FACETS = ("topic", "country", "session", "type", *HISTOGRAMS, "language")
NEGATE = "A leading `-` excludes (`{example}`); alone, such values keep every other entry."
ANY_OF = "Repeated or a comma list: any matches."  # the list conventions (docs/api.md)
# A text filter's values may hold commas: a double-quoted item keeps them.
QUOTED = 'A value with a comma goes in double quotes (`"Smith, John"`).' 
# `id=` and `slug=`: values a request may name, repeats and comma lists together (a bound
# IN list of each); a value is at most LOOKUP_LENGTH characters, so one holds no more.
MAX_LOOKUPS = 1000
LOOKUP_LENGTH = 2 * MAX_LOOKUPS
# A comma list of ids, each maybe `-` (excluded); spaces around items, blank items dropped.
ID_LIST_PATTERN = r"^ *(?:-?[0-9]+ *)?(?:, *(?:-?[0-9]+ *)?)*$"


def negated(values: tuple[str, ...]) -> tuple[str, ...]:
    """An enum filter's values and their exclusions (`-value`), as the query may send them."""
    return (*values, *(f"-{value}" for value in values))


@dataclass(frozen=True)
class Param:
    """One query parameter: its type, whether it repeats, and its documentation."""

    name: str
    annotation: Any
    description: str
    example: Any = None
    repeatable: bool = False
    default: Any = None
    bounds: dict[str, Any] = field(default_factory=dict)
    pattern: str | None = None  # documented only: the route answers a mismatch itself

    @property
    def title(self) -> str:
        """The schema title FastAPI would give the parameter ("date_from" → "Date From")."""
        return self.name.replace("_", " ").title()

    def model_field(self) -> tuple[Any, Any]:
        """The parameter as a field of the route's query model: (annotation, FieldInfo)."""
        examples = [self.example] if self.example is not None else None
        text = str in (self.annotation, *get_args(self.annotation)) and (
            "pattern" not in self.bounds)
        # Every route refuses a value with NUL (core.routing); for text the document says so.
        rules = {"pattern": self.pattern} if self.pattern else dict(NO_NUL) if text else None
        extra = {"json_schema_extra": rules} if rules else {}
        info = {"alias": self.name, "title": self.title, "description": self.description,
                "examples": examples}
        if self.repeatable:  # bounds apply to each value
            constraints = self.bounds | extra
            item = Annotated[self.annotation, Field(**constraints)] if constraints else (
                self.annotation)
            return list[item] | None, Field(self.default, **info)  # type: ignore[valid-type]
        return self.annotation, Field(self.default, **info, **self.bounds, **extra)


# One item of a comma list in double quotes (RFC 4180: `""` inside stands for `"`), maybe
# after a `-`, up to the comma that ends it; or, failing that, plain text up to a comma.
_QUOTED_ITEM = re.compile(r'\s*(-?)"((?:[^"]|"")*)"\s*(,|\Z)')
_PLAIN_ITEM = re.compile(r"([^,]*)(,|\Z)")


def list_items(text: str) -> list[str]:
    """The items of one value of a repeatable parameter (`a, b,,-c` → a, b, -c): split at
    commas, each stripped, blank ones dropped. An item in double quotes keeps its commas
    (`"Smith, John"`, `-"Smith, John"`); any other `"` is an ordinary character."""
    if '"' not in text:
        if "," not in text:
            item = text.strip()
            return [item] if item else []
        return [item for part in text.split(",") if (item := part.strip())]
    items, position = [], 0
    while True:
        match = _QUOTED_ITEM.match(text, position)
        if match is not None:
            item = match[1] + match[2].replace('""', '"')
        else:
            match = _PLAIN_ITEM.match(text, position)
            item = match[1]  # type: ignore[index]  # `[^,]*` then `,` or the end: matches
        if item := item.strip():
            items.append(item)
        if not match[0].endswith(","):  # type: ignore[index]
            return items
        position = match.end()  # type: ignore[union-attr]


def _normaliser(repeatable: frozenset[str], single: frozenset[str]
                ) -> Callable[[type[BaseModel], Any], Any]:
    """The list conventions, applied to a route's query values before its model validates
    them: `name[]` is `name` for a repeatable parameter, each value of one is a comma list
    (`list_items`), and a blank value (empty or only spaces) is no value. Whatever else the
    query holds is left for `extra="forbid"` to refuse by its own name (`limit[]`, `x[]`)."""

    def normalise(cls: type[BaseModel], data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        query: dict[str, Any] = {}
        for name, value in data.items():
            if name in single:
                if not isinstance(value, str) or value.strip():
                    query[name] = value
                continue
            listed = name if name in repeatable else name[:-2] if (
                name[-2:] == "[]" and name[:-2] in repeatable) else None
            if listed is None:  # unknown: refused by its own name
                query[name] = value
                continue
            items = query.get(listed) or []
            for text in value if isinstance(value, list) else (value,):
                if "," in text or '"' in text:
                    items += list_items(text)
                elif text := text.strip():
                    items.append(text)
            if items:
                query[listed] = items
        return query

    return normalise


def query_model(name: str, params: list[Param]) -> type[BaseModel]:
    """A route's query-parameter model: a field per parameter, any other name refused, and
    the list conventions (`_normaliser`) applied to the values first.

    Fields are `p_<name>` with the parameter's name as alias, so no parameter name can
    clash with pydantic's own attributes."""
    fields: dict[str, Any] = {f"p_{p.name}": p.model_field() for p in params}
    normalise = _normaliser(frozenset(p.name for p in params if p.repeatable),
                            frozenset(p.name for p in params if not p.repeatable))
    return create_model(name, __config__=ConfigDict(extra="forbid"),
                        __validators__={"conventions": model_validator(mode="before")(normalise)},
                        **fields)


def query_values(name: str, params: list[Param]) -> Any:
    """The type of a route's query: its query model (`name`) under FastAPI's `Query()`.

    `model_dump(by_alias=True)` gives the values by parameter name, defaults for absent
    ones. A single-valued parameter given twice is a 400 before any route runs
    (app.core.http)."""
    return Annotated[query_model(name, params), Query()]


def comma_list_pattern(names: tuple[str, ...], *, sign: bool = False,
                       negate: bool = False) -> str:
    """What a comma list of these names may look like: spaces around items; with `sign`, a
    leading `-`/`+` on each and no blank item, else blank items allowed (and dropped);
    with `negate`, a leading `-` allowed on each."""
    name = "(?:" + "|".join(re.escape(n) for n in names) + ")"
    minus = "-?" if negate else ""
    item = rf"\s*[-+]*{name}\s*" if sign else rf"\s*(?:{minus}{name}\s*)?"
    return rf"^(?:{item}(?:,{item})*)?$"


def _filter_param(spec_filter: FieldFilter, spec: KindSpec) -> Param:
    excluded = f"-{spec_filter.example}"
    if spec_filter.match == "enum":
        values = spec.enum_values(spec_filter.column)
        annotation: Any = Literal[negated(values)]  # type: ignore[valid-type]
        description = (f"{spec_filter.description} One of: {', '.join(values)}. {ANY_OF} "
                       f"{NEGATE.format(example=excluded)}")
        return Param(spec_filter.param, annotation, description, spec_filter.example, True)
    if spec_filter.match == "int":  # a negative number excludes
        return Param(spec_filter.param, int, f"{spec_filter.description} {ANY_OF} A negative "
                     f"number excludes (`{excluded}`).",
                     int(spec_filter.example) if spec_filter.example else None, True,
                     bounds={"ge": -MAX_ENTRY_ID, "le": MAX_ENTRY_ID})
    quoted = f" {QUOTED}" if spec_filter.match in ("text", "list") else ""  # free text
    return Param(spec_filter.param, str, f"{spec_filter.description} {ANY_OF}{quoted} "
                 f"{NEGATE.format(example=excluded)}", spec_filter.example, True,
                 bounds={"max_length": 301})


def _q_description() -> str:
    """What `q` takes, with the fields of every kind (the registry's name fields)."""
    names = "; ".join(f"{spec.plural}: " + ", ".join(f"`{n}`" for n in spec.name_fields)
                      for spec in KINDS)
    return (
        'Full-text query: words ANDed, "a phrase", `OR` between two items, `-item` to '
        "exclude. Stemmed (alleviate finds Poverty-Alleviation). `field:item` searches one "
        f"field: `title`, `summary`, `body`, or one of the kind's names ({names}); a field "
        "the list's kinds lack is a 400. A `*` after a word makes it a prefix of at least "
        "3 characters (`pover*`; shorter: 400). All combine: `poverty alleviation -Tibet`, "
        '`title:"poverty alleviation"`, `speaker:"chen xu" -summary:covid`, '
        "`title:pover* OR summary:pover*`, `-organizers:geneva`.")


Q_DESCRIPTION = _q_description()


def common_params(*, facets: tuple[str, ...], sort_keys: tuple[str, ...],
                  default_sort: str, fields: tuple[str, ...] = ()) -> list[Param]:
    """Search, filters and paging that every list-like endpoint takes (`fields`: the item
    fields a sparse fieldset may name)."""
    max_offset = get_settings().max_offset
    return [
        Param("q", str | None, Q_DESCRIPTION, 'title:pover* "human rights" -tibet',
              bounds={"max_length": 500}),
        Param("topic", str, f"Topic slug (see /api/v1/topics). {ANY_OF} "
              + NEGATE.format(example="topic=xinjiang&topic=-tibet"), "xinjiang", True,
              bounds={"max_length": 65}),
        Param("country", str, f"ISO 3166-1 alpha-2 code, either case. {ANY_OF} "
              + NEGATE.format(example="-US"), "CN", True, bounds={"pattern": "^-?[A-Za-z]{2}$"}),
        Param("session", int, f"Council session number. {ANY_OF} A negative "
              "number excludes (`-46`).", 46, True, bounds={"ge": -10_000, "le": 10_000}),
        Param("language", str, f"BCP 47 language tag. {ANY_OF} "
              + NEGATE.format(example="-zh"), "en", True, bounds={"max_length": 36}),
        *lookup_params(),
        Param("date_from", IsoDate | None, "Placed on or after (YYYY-MM-DD): a `day` entry's "
              "date, all of a `month` or `session` entry's dates (`date_from`..`date_to`).",
              "2021-02-22"),
        Param("date_to", IsoDate | None, "Placed on or before (YYYY-MM-DD): a `day` entry's "
              "date, all of a `month` or `session` entry's dates. An entry known only to a "
              "session is in a range that covers the whole session.", "2021-03-24"),
        date_precision_param(),
        Param("sort", str | None, f"Comma list of {', '.join(sort_keys)}; `-` for descending. "
              f"Default: `relevance` with q, else `{default_sort}`.", default_sort,
              bounds={"max_length": 200}, pattern=comma_list_pattern(sort_keys, sign=True)),
        Param("limit", int, "Page size.", 20, default=20, bounds={"ge": 1, "le": MAX_LIMIT}),
        Param("offset", int, f"Rows to skip (at most {max_offset:,}); prefer `cursor`.", 0,
              default=0, bounds={"ge": 0, "le": max_offset}),
        Param("cursor", str | None, "`next_cursor` of the previous page (keyset paging: "
              "constant cost at any depth).", bounds={"max_length": 4096}),
        Param("fields", str | None, "Sparse fieldset: comma list of item fields "
              "(`id`, `type` and `href` always come).", "title,summary", bounds={"max_length": 500},
              pattern=comma_list_pattern(fields) if fields else None),
        Param("facets", str | None, f"Comma list of {', '.join(facets)}: counts over the "
              "filtered set; each facet ignores its own filter (its exclusions too). `year`, "
              "`month`, `day`: date histograms of the placement date (`2021`, `2021-03`, "
              "`2021-03-05`), oldest bucket first.", "topic,month",
              bounds={"max_length": 300}, pattern=comma_list_pattern(facets)),
        Param("facet_limit", int, "Values per facet, most frequent first; a date histogram "
              "keeps its newest buckets.", 20, default=20, bounds={"ge": 1, "le": 100}),
        Param("count", Literal["exact", "capped", "none"], "`exact` (default): `total` and "
              "facets count every match. `capped`: faster on very large match sets, "
              f"approximate there: `total` exact up to {get_settings().count_cap:,} matches, "
              "then that number with `total_exact: false`, and a facet over more matches "
              "counts only the newest that many (`facets_exact: false`). `none`: no "
              "`total` (facets stay exact).", "exact", default="exact"),
    ]


def lookup_params() -> list[Param]:
    """`id=` and `slug=`: a known set of entries, by id or by slug."""
    lists = (f"Comma list or repeated (at most {MAX_LOOKUPS:,} values in all): any matches. "
             "A leading `-` excludes (`{example}`).")
    return [
        Param("id", str, "Entry id. " + lists.format(example="id=-12") + " An id no entry "
              "has matches nothing.", "12,15", True, bounds={"max_length": LOOKUP_LENGTH},
              pattern=ID_LIST_PATTERN),
        Param("slug", str, "Entry slug (case-insensitive; unique within a kind, so on "
              "`/search` one slug may name an entry of each kind). "
              + lists.format(example="slug=-geneva-forum") + " An unknown slug matches "
              "nothing.", "china-urges-countries-to-stop-double-standards-on-human-rights-"
              "issues", True, bounds={"max_length": LOOKUP_LENGTH}),
    ]


def date_precision_param() -> Param:
    """`date_precision=day&date_precision=session`: how precisely entries are placed in time."""
    return Param("date_precision", Literal[negated(PRECISIONS)],  # type: ignore[valid-type]
                 f"How precisely the entry is placed in time. One of: {', '.join(PRECISIONS)}. "
                 f"{ANY_OF} " + NEGATE.format(example="-session"), "day", True)


def kind_filter_params(specs: tuple[KindSpec, ...]) -> list[Param]:
    """The kind-specific filters of these kinds (each name once)."""
    params: dict[str, Param] = {}
    for spec in specs:
        for spec_filter in spec.filters:
            params.setdefault(spec_filter.param, _filter_param(spec_filter, spec))
    return list(params.values())


def type_param(types: tuple[str, ...]) -> Param:
    """`type=article,event`: restrict a cross-kind list to some kinds."""
    return Param("type", str, f"Comma list or repeated: {', '.join(types)}. A leading `-` "
                 "excludes a kind (`-event`).", "article,event", True,
                 bounds={"max_length": 100}, pattern=comma_list_pattern(types, negate=True))
