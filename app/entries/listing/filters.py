"""Filters and full-text matching as SQL predicates, for one kind or across kinds.

Shared code names no kind: what a kind may be filtered on comes from its spec
(an allow-list), and every value is a bound parameter.

A request's criteria are split in two (`bind`): its **shape** (which filters are
present, what kind of text query) and its **values**, by bound-parameter name. The
predicates are built from the shape alone, with named placeholders, so a statement
built once serves every request of that shape with the values bound at execution
(app/entries/listing/plan.py): building a SELECT costs more than running it.
"""

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Float,
    FromClause,
    Integer,
    Select,
    bindparam,
    case,
    cast,
    column,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    union_all,
)
from sqlalchemy import text as sql_text
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import Text

from app.entries.listing import fulltext
from app.entries.models import Entry, EntryCountry, EntryTopic
from app.entries.spec import FieldFilter, KindSpec

entries = Entry.__table__
entry_topics = EntryTopic.__table__
entry_countries = EntryCountry.__table__

UNDATED = "0001-01-01"  # undated entries sort as the oldest, on both engines


def undated(dialect: str) -> ColumnElement[Any]:
    """The stand-in date of undated entries, as an SQL literal (as the indexes hold it)."""
    return literal_column(f"DATE '{UNDATED}'" if dialect == "postgresql" else f"'{UNDATED}'")


def sort_date(dialect: str) -> ColumnElement[Any]:
    """The primary date as lists order it; written as the expression indexes have it."""
    return func.coalesce(entries.c.date, undated(dialect))


# What a matched word weighs in each column. `search_fields` repeats the name fields'
# words for fielded search (`speaker:`), so it adds nothing to a score.
COLUMN_WEIGHTS = {"title": 1.0, "summary": 0.4, "search_names": 0.4, "body": 0.2,
                  "search_fields": 0.0}
# PostgreSQL: the same weights by label, as ts_rank takes them ({D, C, B, A}): title A,
# summary B, body C, name fields D. `search_fields` is labelled D too (a label per field
# is what `title:` and the like restrict to, and there are four), so there a name's words
# count a second time, for less than the first (ts_rank's weights of repeats fall off).
RANK_WEIGHTS = literal_column("ARRAY[{search_names}, {body}, {summary}, {title}]::real[]"
                              .format(**COLUMN_WEIGHTS))


@dataclass
class Criteria:
    """What a list request asks for, validated: filters and the parsed text query."""

    text: fulltext.TextQuery | None = None
    topics: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    sessions: list[int] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    precisions: list[str] = field(default_factory=list)  # date_precision: any of
    ids: list[int] = field(default_factory=list)  # id: any of
    slugs: list[str] = field(default_factory=list)  # slug: any of (lowercase)
    date_from: date | None = None
    date_to: date | None = None
    dated_only: bool = False
    kind_values: dict[str, list[Any]] = field(default_factory=dict)  # filter param -> values
    # filter param -> the values a leading `-` excludes (any filter above, kind ones too)
    excluded: dict[str, list[Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Shape:
    """What a statement's SQL depends on: which values are bound, and the text query's form.

    `filters` names the bound values: a filter's values to match under its own name
    (`topic`, `statement_speaker`), those it excludes under `not_` and that name
    (`not_topic`), so a negated filter is a shape of its own.
    `text`: None (no query), "empty" (nothing to match: no rows), "positive" (words to
    match, maybe with exclusions), "prefixed" (the same with prefixes, on SQLite, which
    scores them otherwise) or "excluded" (exclusions only).
    """

    filters: frozenset[str] = frozenset()
    text: str | None = None
    dated_only: bool = False


def kind_key(spec: KindSpec, spec_filter: FieldFilter) -> str:
    """The bound-parameter name of a kind filter's values (unique across kinds)."""
    return f"{spec.type}_{spec_filter.param}"


def excluding(name: str) -> str:
    """The bound-parameter name of the values a filter bound as `name` excludes."""
    return f"not_{name}"


def _kind_values(spec_filter: FieldFilter, values: list[Any]) -> list[Any]:
    """A kind filter's values as bound: text and list matches are case-insensitive."""
    if spec_filter.match in ("text", "list", "slug"):
        return [str(v).lower() for v in values]
    return list(values)


def bind(criteria: Criteria, kinds: tuple[KindSpec, ...], dialect: str
         ) -> tuple[Shape, dict[str, Any]]:
    """The criteria's shape, and every value its SQL binds, by parameter name."""
    values: dict[str, Any] = {}
    excluded = criteria.excluded
    if excluded:  # `-value`s: bound as `not_<name>`, as their positive kin are
        for name in ("topic", "country", "session", "type", "date_precision", "id", "slug"):
            if name in excluded:
                values[excluding(name)] = excluded[name]
        if "language" in excluded:
            values[excluding("language")] = [v.lower() for v in excluded["language"]]
    if criteria.topics:
        values["topic"] = criteria.topics
    if criteria.countries:
        values["country"] = criteria.countries
    if criteria.sessions:
        values["session"] = criteria.sessions
    if criteria.languages:
        values["language"] = [v.lower() for v in criteria.languages]
    if criteria.types:
        values["type"] = criteria.types
    if criteria.precisions:
        values["date_precision"] = criteria.precisions
    if criteria.ids:
        values["id"] = criteria.ids
    if criteria.slugs:
        values["slug"] = criteria.slugs
    if criteria.date_from is not None:
        values["date_from"] = max(criteria.date_from, date(1, 1, 2))
    if criteria.date_to is not None:
        values["date_to"] = criteria.date_to
    for spec in kinds:
        for spec_filter in spec.filters:
            chosen = criteria.kind_values.get(spec_filter.param)
            if chosen:
                values[kind_key(spec, spec_filter)] = _kind_values(spec_filter, chosen)
            chosen = excluded.get(spec_filter.param)
            if chosen:
                values[excluding(kind_key(spec, spec_filter))] = _kind_values(spec_filter,
                                                                              chosen)
    text = None
    if criteria.text is not None:
        text, text_values = _text_binds(criteria.text, dialect)
        values |= text_values
    return Shape(frozenset(values), text, criteria.dated_only), values


def _in(name: str) -> Any:
    """A bound list, for `IN`."""
    return bindparam(name, expanding=True)


def json_elements(dialect: str, list_column: Any) -> Any:
    """A JSON array column's elements as a table-valued function with a `value` column."""
    if dialect == "postgresql":
        return func.json_array_elements_text(list_column).table_valued("value")
    return func.json_each(list_column).table_valued("value")


def _list_contains(dialect: str, list_column: Any, name: str) -> ColumnElement[bool]:
    """A JSON array column holds one of the bound values (case-insensitive)."""
    element = json_elements(dialect, list_column)
    return exists(select(literal(1)).select_from(element).where(
        func.lower(element.c.value).in_(_in(name))))


def field_predicate(spec_filter: FieldFilter, detail: Any, name: str,
                    dialect: str, *, negated: bool = False) -> ColumnElement[bool]:
    """One kind filter as a predicate on its detail table's column (values bound as `name`).

    `negated`: the rows holding none of the values, a NULL column included (it holds none).
    """
    target = detail.c[spec_filter.column]
    if spec_filter.match == "text":
        condition = func.lower(target).in_(_in(name))
    elif spec_filter.match == "list":  # NOT EXISTS holds for a NULL or empty list too
        condition = _list_contains(dialect, target, name)
        return ~condition if negated else condition
    elif spec_filter.match == "slug":  # the linked entry's id, found by its (lowercase) slug
        linked = entries.alias("linked")
        condition = target.in_(select(linked.c.id).where(linked.c.slug.in_(_in(name))))
    else:
        condition = target.in_(_in(name))
    return _none_of(target, condition) if negated else condition


def _none_of(target: Any, condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """`NOT condition`, where a NULL `target` (which matches no value) counts as excluded
    from nothing: `x NOT IN (…)` alone is NULL, not true, for a NULL x."""
    if not target.nullable:
        return ~condition
    return or_(target.is_(None), ~condition)


LINKS = {"topic": entry_topics, "country": entry_countries}


def tagged_ids(name: str, kind: KindSpec | None, bound: str | None = None) -> Select[Any]:
    """Ids of the entries (of one kind, if given) linked to a bound `topic`/`country` value
    (bound as `bound`, by default as `name`).

    A kind's own links are found on `(type, topic, entry_id)` without touching `entries`.
    """
    links = LINKS[name]
    stmt = select(links.c.entry_id).where(links.c[name].in_(_in(bound or name)))
    return stmt if kind is None else stmt.where(links.c.type == kind.type)


def _entry_terms(present: frozenset[str]) -> list[ColumnElement[bool]]:
    """`session`, `language`, `type`, `id` and `slug`: any of the values, none of the
    excluded ones."""
    columns = (("session", entries.c.session, entries.c.session),
               ("language", entries.c.language, func.lower(entries.c.language)),
               ("type", entries.c.type, entries.c.type),
               ("id", entries.c.id, entries.c.id),
               ("slug", entries.c.slug, entries.c.slug))
    terms: list[ColumnElement[bool]] = []
    for name, target, compared in columns:
        if name in present:
            terms.append(compared.in_(_in(name)))
        if excluding(name) in present:
            terms.append(_none_of(target, compared.in_(_in(excluding(name)))))
    return terms


def predicates(shape: Shape, kinds: tuple[KindSpec, ...], *, joined: KindSpec | None,
               dialect: str, skip: str | None = None) -> list[ColumnElement[bool]]:
    """WHERE terms for the shape's filters; `skip` leaves one facet's own filter out."""
    present = shape.filters - {skip} if skip else shape.filters
    terms: list[ColumnElement[bool]] = []
    # Both engines should walk the date index and probe the tagged ids (a page stops after
    # limit + 1 rows) rather than read every tagged row by id and sort them all (figures:
    # docs/benchmarks.md). SQLite: `0 + id` keeps its planner on that plan. PostgreSQL's
    # planner finds it when the links are not narrowed to the kind: narrowed, it takes the
    # links' kind and the entries' kind as independent and so expects 2.5 times too few
    # matches (at 10,000 articles it then read all 1,282 links of a topic and sorted them;
    # 2.1 → 1.2 ms). The entries' own kind condition keeps the answer the same.
    tagged = literal_column("0") + entries.c.id if dialect == "sqlite" else entries.c.id
    linked_kind = joined if dialect == "sqlite" else None
    for name in ("topic", "country"):
        if name in present:
            terms.append(tagged.in_(tagged_ids(name, linked_kind)))
        if excluding(name) in present:  # untagged entries too: not among the tagged ones
            terms.append(_outside(tagged_ids(name, joined, excluding(name)), dialect))
    terms.extend(_entry_terms(present))
    # Date bounds on the sort expression, so one index serves filter and order.
    by_date = sort_date(dialect)
    if "date_from" in present:
        terms.append(by_date >= bindparam("date_from", type_=Date()))
    if "date_to" in present:
        terms.append(by_date <= bindparam("date_to", type_=Date()))
    if "date_to" in present or shape.dated_only:
        terms.append(by_date > undated(dialect))
    terms.extend(placement_terms(present))
    for spec in kinds:
        for spec_filter in spec.filters:
            if skip == spec_filter.column:
                continue
            terms.extend(_kind_terms(spec, spec_filter, shape.filters, joined, dialect))
    return terms


def _kind_terms(spec: KindSpec, spec_filter: FieldFilter, present: frozenset[str],
                joined: KindSpec | None, dialect: str) -> list[ColumnElement[bool]]:
    """A kind filter's terms: on the joined kind's own column, else by id. Across kinds
    its values keep only entries of the kind that hold one; its exclusions remove only
    such entries (`/search?speaker=-chen xu` keeps every article and event)."""
    name = kind_key(spec, spec_filter)
    detail = spec.detail_table
    terms: list[ColumnElement[bool]] = []
    if name in present:
        condition = field_predicate(spec_filter, detail, name, dialect)
        terms.append(condition if joined is spec
                     else entries.c.id.in_(select(detail.c.id).where(condition)))
    if excluding(name) in present:
        if joined is spec:
            terms.append(field_predicate(spec_filter, detail, excluding(name), dialect,
                                         negated=True))
        else:
            condition = field_predicate(spec_filter, detail, excluding(name), dialect)
            terms.append(_outside(select(detail.c.id).where(condition), dialect))
    return terms


def _outside(ids: Select[Any], dialect: str) -> ColumnElement[bool]:
    """The entry's id is not among `ids` (a SELECT of one id column, never NULL).

    PostgreSQL: NOT EXISTS, which it plans as an anti-join; `NOT IN (subquery)` is a
    hashed subplan only while the ids fit in `work_mem`, else a rescan per row. SQLite:
    NOT IN, whose subquery it reads once into a temporary index. Correlated to `entries`
    alone: the list may join the very table `ids` reads (an export's cited rows join each
    kind's detail table), which must stay the subquery's own.
    """
    if dialect == "postgresql":
        return ~exists(ids.where(ids.selected_columns[0] == entries.c.id).correlate(entries))
    return entries.c.id.not_in(ids)


def placement_terms(present: frozenset[str]) -> list[ColumnElement[bool]]:
    """`date_precision` (any of), and the rule that a date range holds an entry only when
    it holds the entry's whole placement (`date_from`..`date_to`: a day, or all of its month
    or session). `date` is the placement's first day, so the lower bound is the sort-date
    term above; the upper bound also needs the placement's last day."""
    terms: list[ColumnElement[bool]] = []
    if "date_precision" in present:
        terms.append(entries.c.date_precision.in_(_in("date_precision")))
    if excluding("date_precision") in present:
        terms.append(entries.c.date_precision.not_in(_in(excluding("date_precision"))))
    if "date_to" in present:
        terms.append(entries.c.date_to <= bindparam("date_to", type_=Date()))
    return terms


@dataclass
class TextMatch:
    """How a text query narrows and scores rows on one engine."""

    where: list[ColumnElement[bool]]
    score: ColumnElement[Any]  # higher is better
    join: tuple[FromClause, ColumnElement[bool]] | None = None


fts_table = table("entries_fts", column("rowid"))


fts_instances = table("entries_fts_instances", column("term"), column("doc"), column("col"))


def _text_binds(query: fulltext.TextQuery, dialect: str) -> tuple[str, dict[str, Any]]:
    """A parsed text query's form (see Shape.text) and the values its SQL binds."""
    if query.is_empty:
        return "empty", {}
    if dialect == "postgresql":
        form = "positive" if query.groups else "excluded"
        return form, {"tsquery": fulltext.to_tsquery_text(query)}
    positive = fulltext.to_fts5(query)
    if positive is None:
        return "excluded", {"fts_excluded": fulltext.fts5_any(query.excluded)}
    values = {"fts": positive, "fts_terms": fulltext.index_terms(query)}
    prefixes = fulltext.index_prefixes(query)
    if not prefixes:
        return "positive", values
    return "prefixed", values | {"fts_prefixes": json.dumps(prefixes)}


def _fts5(name: str) -> Select[Any]:
    """Ids of the rows the FTS5 expression bound as `name` matches."""
    return select(fts_table.c.rowid).where(
        literal_column("entries_fts").op("MATCH")(bindparam(name, type_=Text())))


# The terms a prefix begins lie from the prefix (included) to the prefix followed by the
# last code point (excluded) in the vocabulary's sorted term index.
_PREFIXED = sql_text(
    "json_each(:fts_prefixes) AS prefix CROSS JOIN entries_fts_instances AS instance"
).bindparams(bindparam("fts_prefixes", type_=Text()))


def _instances(form: str, ids: Select[Any]) -> tuple[FromClause, list[ColumnElement[bool]]]:
    """Where the matched terms' instances (doc, col) in these rows are, and the terms: the
    query's words, and for a prefixed query also the terms each prefix begins.

    The prefixes are read from a JSON list, each one's terms found as a range of the
    vocabulary's term index: CROSS JOIN keeps the list outside (SQLite would otherwise
    scan every instance in the index and test each against the list).
    """
    words = [fts_instances.c.term.in_(bindparam("fts_terms", expanding=True)),
             fts_instances.c.doc.in_(ids)]
    if form != "prefixed":
        return fts_instances, words
    term, start = literal_column("instance.term"), literal_column("prefix.value")
    prefixed = (select(literal_column("instance.doc").label("doc"),
                       literal_column("instance.col").label("col"))
                .select_from(_PREFIXED)
                .where(term >= start, term < start.concat(func.char(0x10FFFF)),
                       literal_column("instance.doc").in_(ids)))
    both = union_all(select(fts_instances.c.doc, fts_instances.c.col).where(*words), prefixed)
    return both.subquery("found"), []


def _sqlite_match(form: str, pool: Select[Any] | None) -> TextMatch:
    """FTS5 finds the rows; each is scored from its own matched terms, weighted by column.

    Unlike bm25(), such a score depends on nothing but the row, so keyset cursors over
    relevance stay exact while other rows are written (and it ranks as ts_rank does).
    """
    if form == "excluded":  # only exclusions: every row without them, unranked
        return TextMatch([entries.c.id.not_in(_fts5("fts_excluded"))],
                         cast(literal(0.0), Float))
    # Read twice below (the rows scored, and the instances' documents): a common table
    # expression, which SQLite then materializes once, where a subquery would be run
    # again (a pool of 1,000 of 10,000 matches: the statement −30 %).
    if pool is not None:  # already matched and filtered: score only these
        matched = pool.with_only_columns(entries.c.id.label("id")).cte("matched")
    else:
        matched = _fts5("fts").with_only_columns(fts_table.c.rowid.label("id")).cte("matched")
    found, terms = _instances(form, select(matched.c.id))
    weight = case(*((found.c.col == name, w) for name, w in COLUMN_WEIGHTS.items()),
                  else_=1.0)
    scores = (select(found.c.doc.label("id"), func.sum(weight).label("score"))
              .where(*terms).group_by(found.c.doc).subquery("scores"))
    ranked = (select(matched.c.id, func.coalesce(scores.c.score, 0.0).label("score"))
              .select_from(matched.outerjoin(scores, scores.c.id == matched.c.id))
              .subquery("text_match"))
    return TextMatch([], cast(ranked.c.score, Float), (ranked, ranked.c.id == entries.c.id))


def _postgres_match(pool: Select[Any] | None) -> TextMatch:
    tsquery = func.to_tsquery(literal("english", postgresql.REGCONFIG),
                              bindparam("tsquery", type_=Text()))
    vector = literal_column("entries.search_vector", postgresql.TSVECTOR)
    # ts_rank is a float4; as float8 its value survives the cursor's JSON round trip exactly.
    score = cast(func.ts_rank(RANK_WEIGHTS, vector, tsquery), Float(precision=53))
    where = [vector.op("@@")(tsquery)]
    if pool is None:
        return TextMatch(where, score)
    # Scored in the pool, as its rows are read to be matched: the page then neither
    # matches nor scores a pooled row a second time. Joined as a derived table, not
    # `id IN (…)`: the planner then reads the pool's rows by primary key instead of
    # hashing a scan of the whole detail table.
    pooled = pool.add_columns(score.label("score")).subquery("pool")
    return TextMatch([], pooled.c.score, (pooled, pooled.c.id == entries.c.id))


def text_match(form: str, dialect: str, pool: Select[Any] | None = None) -> TextMatch:
    """The engine's own index for a text query of this form, scoring each matching row.

    The query itself is bound at execution (`bind`). `pool` (a SELECT of entry ids that
    already applies the match and the filters) bounds the rows that are scored: ranking
    then costs the pool's size, not the match count.
    """
    if dialect == "postgresql":
        return _postgres_match(pool)
    return _sqlite_match(form, pool)


def text_filter(form: str, dialect: str) -> TextMatch:
    """Which rows match, unscored: for counts, facets and the ranking pool."""
    if dialect == "postgresql":
        return TextMatch(_postgres_match(None).where, literal(0.0))
    if form == "excluded":
        return _sqlite_match(form, None)
    # `0 + id`, as for a topic (`predicates`): SQLite then walks the kind's date index and
    # tests each row against the matches (a page or the ranking pool stops after its
    # limit), rather than read every match by id and sort them all: the newest 1,000 of
    # 8,300 matches 41 → 4.4 ms; a rare word walks the whole index (10,000 rows, 1.3 ms).
    return TextMatch([(literal_column("0") + entries.c.id).in_(_fts5("fts"))], literal(0.0))


# A date histogram's bucket of the placement date: strftime (SQLite) and to_char
# (PostgreSQL) formats giving the same text, which sorts as the dates do.
BUCKETS = {"month": ("%Y-%m", "YYYY-MM"), "day": ("%Y-%m-%d", "YYYY-MM-DD")}


def date_bucket(interval: str, dialect: str, day: Any = None) -> ColumnElement[Any]:
    """The bucket of a date (by default the entry's placement date, `entries.date`; NULL
    when undated): the year as an integer, the month as `2021-03`, the day as
    `2021-03-05`."""
    day = entries.c.date if day is None else day
    if interval == "year":
        if dialect == "postgresql":
            return cast(func.extract("year", day), Integer)
        return cast(func.strftime("%Y", day), Integer)
    sqlite_format, postgres_format = BUCKETS[interval]
    if dialect == "postgresql":  # the format inline: a GROUP BY matches the same text
        return func.to_char(day, literal_column(f"'{postgres_format}'"))
    return func.strftime(literal_column(f"'{sqlite_format}'"), day)

