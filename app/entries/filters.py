"""Filters and full-text matching as SQL predicates, for one kind or across kinds.

Shared code names no kind: what a kind may be filtered on comes from its spec
(an allow-list), and every value is a bound parameter.
"""

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    FromClause,
    Integer,
    Select,
    case,
    cast,
    column,
    exists,
    func,
    literal,
    literal_column,
    select,
    table,
)
from sqlalchemy.dialects import postgresql

from app.entries import fulltext
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


# What a matched word weighs in each column (PostgreSQL: labels A, B, B, C with ts_rank's
# defaults 1.0, 0.4, 0.4, 0.2, the same proportions).
COLUMN_WEIGHTS = {"title": 1.0, "summary": 0.4, "search_names": 0.4, "body": 0.2}


@dataclass
class Criteria:
    """What a list request asks for, validated: filters and the parsed text query."""

    text: fulltext.TextQuery | None = None
    topics: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    sessions: list[int] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    date_from: date | None = None
    date_to: date | None = None
    dated_only: bool = False
    kind_values: dict[str, list[Any]] = field(default_factory=dict)  # filter param -> values


def _list_contains(dialect: str, list_column: Any, values: list[str]) -> ColumnElement[bool]:
    """A JSON array column holds one of these values (case-insensitive)."""
    lowered = [v.lower() for v in values]
    if dialect == "postgresql":
        element = func.json_array_elements_text(list_column).table_valued("value")
    else:
        element = func.json_each(list_column).table_valued("value")
    return exists(select(literal(1)).select_from(element).where(
        func.lower(element.c.value).in_(lowered)))


def field_predicate(spec_filter: FieldFilter, detail: Any, values: list[Any],
                    dialect: str) -> ColumnElement[bool]:
    """One kind filter as a predicate on its detail table's column."""
    target = detail.c[spec_filter.column]
    if spec_filter.match == "text":
        return func.lower(target).in_([str(v).lower() for v in values])
    if spec_filter.match == "list":
        return _list_contains(dialect, target, [str(v) for v in values])
    return target.in_(values)


def predicates(criteria: Criteria, kinds: tuple[KindSpec, ...], *, joined: KindSpec | None,
               dialect: str, skip: str | None = None) -> list[ColumnElement[bool]]:
    """WHERE terms for the criteria; `skip` leaves one facet's own filter out."""
    terms: list[ColumnElement[bool]] = []
    if criteria.topics and skip != "topic":
        terms.append(entries.c.id.in_(select(entry_topics.c.entry_id).where(
            entry_topics.c.topic.in_(criteria.topics))))
    if criteria.countries and skip != "country":
        terms.append(entries.c.id.in_(select(entry_countries.c.entry_id).where(
            entry_countries.c.country.in_(criteria.countries))))
    if criteria.sessions and skip != "session":
        terms.append(entries.c.session.in_(criteria.sessions))
    if criteria.languages and skip != "language":
        terms.append(func.lower(entries.c.language).in_([v.lower() for v in criteria.languages]))
    if criteria.types and skip != "type":
        terms.append(entries.c.type.in_(criteria.types))
    # Date bounds on the sort expression, so one index serves filter and order.
    by_date = sort_date(dialect)
    if criteria.date_from is not None:
        terms.append(by_date >= max(criteria.date_from, date(1, 1, 2)))
    if criteria.date_to is not None:
        terms.append(by_date <= criteria.date_to)
    if criteria.date_to is not None or criteria.dated_only:
        terms.append(by_date > undated(dialect))
    for spec in kinds:
        for spec_filter in spec.filters:
            values = criteria.kind_values.get(spec_filter.param)
            if not values or skip == spec_filter.column:
                continue
            detail = spec.detail_table
            condition = field_predicate(spec_filter, detail, values, dialect)
            if joined is spec:
                terms.append(condition)
            else:
                terms.append(entries.c.id.in_(select(detail.c.id).where(condition)))
    return terms


@dataclass
class TextMatch:
    """How a text query narrows and scores rows on one engine."""

    where: list[ColumnElement[bool]]
    score: ColumnElement[Any]  # higher is better
    join: tuple[FromClause, ColumnElement[bool]] | None = None


fts_table = table("entries_fts", column("rowid"))


fts_instances = table("entries_fts_instances", column("term"), column("doc"), column("col"))


def _fts5(expression: str) -> Select[Any]:
    """Ids of the rows an FTS5 expression matches."""
    return select(fts_table.c.rowid).where(literal_column("entries_fts").op("MATCH")(expression))


def _sqlite_match(query: fulltext.TextQuery, pool: Select[Any] | None) -> TextMatch:
    """FTS5 finds the rows; each is scored from its own matched terms, weighted by column.

    Unlike bm25(), such a score depends on nothing but the row, so keyset cursors over
    relevance stay exact while other rows are written (and it ranks as ts_rank does).
    """
    positive = fulltext.to_fts5(query)
    if positive is None:  # only exclusions: every row without them, unranked
        excluded = _fts5(fulltext.fts5_any(query.excluded))
        return TextMatch([entries.c.id.not_in(excluded)], cast(literal(0.0), Float))
    if pool is not None:  # already matched and filtered: score only these
        matched = pool.with_only_columns(entries.c.id.label("id")).subquery("matched")
    else:
        matched = _fts5(positive).with_only_columns(
            fts_table.c.rowid.label("id")).subquery("matched")
    weight = case(*((fts_instances.c.col == name, w) for name, w in COLUMN_WEIGHTS.items()),
                  else_=1.0)
    scores = (select(fts_instances.c.doc.label("id"), func.sum(weight).label("score"))
              .where(fts_instances.c.term.in_(fulltext.index_terms(query)),
                     fts_instances.c.doc.in_(select(matched.c.id)))
              .group_by(fts_instances.c.doc).subquery("scores"))
    ranked = (select(matched.c.id, func.coalesce(scores.c.score, 0.0).label("score"))
              .select_from(matched.outerjoin(scores, scores.c.id == matched.c.id))
              .subquery("text_match"))
    return TextMatch([], cast(ranked.c.score, Float), (ranked, ranked.c.id == entries.c.id))


def _postgres_match(query: fulltext.TextQuery, pool: Select[Any] | None) -> TextMatch:
    tsquery = func.to_tsquery(literal("english", postgresql.REGCONFIG),
                              fulltext.to_tsquery_text(query))
    vector = literal_column("entries.search_vector", postgresql.TSVECTOR)
    # ts_rank is a float4; as float8 its value survives the cursor's JSON round trip exactly.
    score = cast(func.ts_rank(vector, tsquery), Float(precision=53))
    where = [vector.op("@@")(tsquery)]
    if pool is None:
        return TextMatch(where, score)
    # Joined as a derived table, not `id IN (…)`: the planner then reads the pool's rows by
    # primary key instead of hashing a scan of the whole detail table.
    pooled = pool.subquery("pool")
    return TextMatch(where, score, (pooled, pooled.c.id == entries.c.id))


def text_match(query: fulltext.TextQuery, dialect: str,
               pool: Select[Any] | None = None) -> TextMatch:
    """The engine's own index for a parsed text query, scoring each matching row.

    `pool` (a SELECT of entry ids that already applies the match and the filters) bounds
    the rows that are scored: ranking then costs the pool's size, not the match count.
    """
    if dialect == "postgresql":
        return _postgres_match(query, pool)
    return _sqlite_match(query, pool)


def text_filter(query: fulltext.TextQuery, dialect: str) -> TextMatch:
    """Which rows match, unscored: for counts, facets and the ranking pool."""
    if dialect == "postgresql":
        return TextMatch(_postgres_match(query, None).where, literal(0.0))
    positive = fulltext.to_fts5(query)
    if positive is None:
        return _sqlite_match(query, None)
    return TextMatch([entries.c.id.in_(_fts5(positive))], literal(0.0))


def year_of(dialect: str) -> ColumnElement[Any]:
    """The primary date's year as an integer."""
    if dialect == "postgresql":
        return cast(func.extract("year", entries.c.date), Integer)
    return cast(func.strftime("%Y", entries.c.date), Integer)

