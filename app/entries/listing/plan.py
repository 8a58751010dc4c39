"""Plan: the statements that answer a list request, built once per shape and kept.

A request becomes one SELECT (filters, full-text match and score, keyset or offset
page, and its count as one more column when the tallies hold it or it is capped), a
count of its own when the page cannot carry it and no facet statement gives it, and its
facets' statements (`facets`, built on the pieces here). Each is built from the
request's shape alone, with every value a bound parameter, and kept (`functools.cache`
keyed by scope, shape, engine, sort and count source): building a SELECT costs more than
the database needs to answer a page, and a kept statement also finds its compiled SQL in
SQLAlchemy's cache at once.
"""

import dataclasses
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Select,
    String,
    Text,
    bindparam,
    cast,
    false,
    func,
    literal_column,
    select,
    true,
)

from app.entries import tallies
from app.entries.listing import filters
from app.entries.listing.aggregates import version_column
from app.entries.listing.filters import Shape, entries
from app.entries.listing.paging import SortKey, keyset_after
from app.entries.listing.parse import REFERENCES, SEARCHING, Scope, sort_keys

KEPT = 512  # statements kept per kind of statement (least recently used out first)
tally = tallies.tallies


def filtered(scope: Scope, shape: Shape, dialect: str, stmt: Select[Any],
              match: filters.TextMatch | None, skip: str | None = None) -> Select[Any]:
    """Apply the text match and the filters to a SELECT over the scope."""
    if match is not None:
        if match.join is not None:
            stmt = stmt.join(*match.join)
        stmt = stmt.where(*match.where)
    if shape.text == "empty":
        stmt = stmt.where(false())
    return stmt.where(*filters.predicates(shape, scope.kinds, joined=scope.joined,
                                          dialect=dialect, skip=skip))


def base_from(scope: Scope, shape: Shape, join: tuple[Any, Any] | None = None,
               *, detail: bool = False) -> Select[Any]:
    """SELECT id over the scope's rows (for counts and facets), optionally joined.

    A kind's detail table is joined only when a filter or facet needs its columns:
    every entry of a kind has its detail row, so `type` alone counts the same rows.
    """
    from_clause: Any = entries
    where = []
    if scope.joined is not None:
        spec = scope.joined
        where.append(entries.c.type == spec.type)
        keys = {filters.kind_key(spec, f) for f in spec.filters}
        if detail or any(key in shape.filters or filters.excluding(key) in shape.filters
                         for key in keys):
            table = spec.detail_table
            from_clause = from_clause.join(table, table.c.id == entries.c.id)
    if join is not None:
        from_clause = from_clause.join(*join)
    return select(entries.c.id).select_from(from_clause).where(*where)


def text_matched(shape: Shape, dialect: str) -> filters.TextMatch | None:
    """The unscored text match of the shape, if it has words to match."""
    if shape.text not in SEARCHING:
        return None
    return filters.text_filter(shape.text, dialect)


def _ranking_pool(scope: Scope, shape: Shape, dialect: str,
                  matched: filters.TextMatch) -> Select[Any]:
    """The newest `rank_window` matching rows: the only ones a relevance order scores.

    Scoring every match of a common word costs seconds at 200,000 rows; the pool is found
    by walking the date index (or, for a rare word, the text index) and stops at the
    window (bound as `rank_window`). Trade-off: when more rows match than the window
    holds, older matches are not ranked (sort by date to reach them). Counts and facets
    still cover every match.
    """
    return (filtered(scope, shape, dialect, base_from(scope, shape), matched)
            .order_by(filters.sort_date(dialect).desc(), entries.c.id.desc())
            .limit(bindparam("rank_window")))


@lru_cache(maxsize=KEPT)
def json_columns(scope: Scope) -> frozenset[str]:
    """The scope's item columns stored as JSON text (lists, provenance)."""
    return frozenset(column.name for column in scope.base().selected_columns
                     if isinstance(column.type, JSON))


def _json_as_text(stmt: Select[Any]) -> Select[Any]:
    """The item columns with JSON columns read as the text stored, not decoded: a page
    answered as JSON embeds that text as it is (`run._items`), decoding only for feeds."""
    return stmt.with_only_columns(
        *(cast(column, Text).label(column.name) if isinstance(column.type, JSON) else column
          for column in stmt.selected_columns), maintain_column_froms=True)


def _page_statement(scope: Scope, shape: Shape, dialect: str, keys: list[SortKey],
                    ranked: bool, nulls: tuple[bool, ...] | None) -> Select[Any]:
    """One page: the page's ids and sort values first, then those rows whole.

    A deferred join: the ids are found over the filters' indexes alone (for the default
    order, an index-only scan that stops after `limit + 1` keys); only those rows are then
    read whole and joined to their detail row. Offsets and rank pools never read the wide
    rows they skip. The sort values come back as `_sort0`, `_sort1`, … for the cursor.
    """
    match = matched = text_matched(shape, dialect)
    if ranked and matched is not None:
        # Scored only when the order uses the score: `q` with `sort=-date` just filters.
        match = filters.text_match(shape.text, dialect,
                                   _ranking_pool(scope, shape, dialect, matched))
        keys = [SortKey(dataclasses.replace(key.field, expression=match.score), key.descending)
                if key.field.name == "relevance" else key for key in keys]
    ids = filtered(scope, shape, dialect, base_from(scope, shape), match)
    if nulls is not None:
        ids = ids.where(keyset_after(keys, nulls))
    labels = [key.field.expression.label(f"_sort{i}") for i, key in enumerate(keys)]
    page_ids = (ids.add_columns(*labels).order_by(*(key.order_by() for key in keys))
                .limit(bindparam("limit")).offset(bindparam("offset")).subquery("page_ids"))
    sorted_by = [page_ids.c[label.name] for label in labels]
    rows = _json_as_text(scope.base())
    return (rows.join(page_ids, page_ids.c.id == entries.c.id).add_columns(*sorted_by)
            .order_by(*(key.order_by(column) for key, column in zip(keys, sorted_by,
                                                                     strict=True))))


def _linked_only(scope: Scope, shape: Shape) -> Select[Any] | None:
    """The matches of a kind's list filtered by topics (or countries) alone, from the links.

    With no other filter and no text query, they are exactly the kind's links to those
    values, counted from the `(type, topic, entry_id)` index without reading a row of
    `entries` per match (a common topic's count: docs/benchmarks.md).
    DISTINCT: an entry linked to two of the values counts once. Not for exclusions
    (`not_topic`, no key of LINKS): their matches are the entries *not* linked.
    """
    if scope.joined is None or shape.text is not None or shape.dated_only:
        return None
    if len(shape.filters) != 1 or not shape.filters <= filters.LINKS.keys():
        return None
    (name,) = shape.filters
    return filters.tagged_ids(name, scope.joined).distinct()


def _count_statement(scope: Scope, shape: Shape, dialect: str, capped: bool) -> Select[Any]:
    inner = _linked_only(scope, shape)  # DISTINCT ids: each entry counts once
    if inner is None:
        # Counted rows select a constant, not the id: SQLite then reads no column of
        # the index entries it walks.
        inner = filtered(scope, shape, dialect, base_from(scope, shape),
                          text_matched(shape, dialect)).with_only_columns(
            literal_column("1"), maintain_column_froms=True)
    if capped:
        inner = inner.limit(bindparam("count_cap"))
    return select(func.count()).select_from(inner.subquery())


KINDS_ONLY = frozenset({"type", filters.excluding("type")})
LANGUAGES = frozenset({"language", filters.excluding("language")})
TALLIED_FILTERS = ("topic", "country")  # with one value, a count is one tally


def tallied_count(shape: Shape, values: dict[str, Any]) -> bool:
    """Whether the tallies hold the shape's count: no text query, and no filter but the
    kind's and either languages (an entry has one: their tallies add up) or one topic or
    one country (an entry counts once per value: its tally is the count)."""
    if shape.text is not None:
        return False
    rest = shape.filters - KINDS_ONLY
    return not rest or rest <= LANGUAGES or (
        len(rest) == 1 and (name := next(iter(rest))) in TALLIED_FILTERS
        and len(values[name]) == 1)


def constant(name: str) -> Any:
    """A facet's name as an SQL string literal (names come from an allow-list)."""
    assert name.replace("_", "").isalnum() or name == "", name
    return literal_column(f"'{name}'", String)


def tally_kinds(scope: Scope, shape: Shape) -> list[Any]:
    """The tallies of the kinds (and placement) a shape keeps."""
    terms = []
    if scope.joined is not None:
        terms.append(tally.c.type == constant(scope.joined.type))
    if "type" in shape.filters:
        terms.append(tally.c.type.in_(bindparam("type", expanding=True)))
    if filters.excluding("type") in shape.filters:
        terms.append(tally.c.type.not_in(bindparam(filters.excluding("type"), expanding=True)))
    if shape.dated_only:
        terms.append(tally.c.dated == true())
    return terms


def _tally_count(scope: Scope, shape: Shape) -> Select[Any]:
    """The shape's count from the tallies (see `tallied_count`)."""
    terms = [tally.c.facet == constant("type")]
    for name in TALLIED_FILTERS:
        if name in shape.filters:
            terms = [tally.c.facet == constant(name),
                     tally.c.value.in_(bindparam(name, expanding=True))]
    if shape.filters & LANGUAGES:  # matched as the filter matches them: case-insensitive
        terms = [tally.c.facet == constant("language")]
        language = func.lower(tally.c.value)
        if "language" in shape.filters:
            terms.append(language.in_(bindparam("language", expanding=True)))
        if filters.excluding("language") in shape.filters:
            terms.append(language.not_in(bindparam(filters.excluding("language"),
                                                   expanding=True)))
    return select(func.coalesce(func.sum(tally.c.n), 0)).where(
        *terms, *tally_kinds(scope, shape))


def _counted(page: Select[Any], scope: Scope, shape: Shape, dialect: str,
             fold: str | None) -> Select[Any]:
    """The page with its count as one more column (`_total`): one statement, one round trip.

    The count is an uncorrelated scalar subquery, which both engines run once per
    statement. A page with no rows carries no count; `run` then asks `_count`. Folded in:
    a count from the tallies (`tallied`), and the capped count of a list without a text
    query (`capped`: bounded, index-served work). An exact count that reads the matches
    keeps its own statement, so it gets its own statement time-out and `aggregates` may
    keep it.
    """
    if fold is None:
        return page
    if fold == "tallied":
        count: Select[Any] = _tally_count(scope, shape)
    else:
        count = _count_statement(scope, shape, dialect, capped=True)
    return page.add_columns(cast(count.scalar_subquery(), BigInteger).label("_total"))


def _referenced(page: Select[Any], named: tuple[str, ...]) -> Select[Any]:
    """The page with, per filter in `named` (`topic`, `session`), how many of the values
    bound as `known_<filter>` its reference table holds (`_known_<filter>`): a request that
    names an unknown topic is told so without a round trip of its own. Uncorrelated scalar
    subqueries, run once per statement, on the primary key or unique index."""
    for name in named:
        column = REFERENCES[name]
        known = (select(func.count()).select_from(column.table)
                 .where(column.in_(bindparam(f"known_{name}", expanding=True))))
        page = page.add_columns(known.scalar_subquery().label(f"_known_{name}"))
    return page


@lru_cache(maxsize=KEPT)
def page(scope: Scope, shape: Shape, dialect: str, sort: str, ranked: bool,
         nulls: tuple[bool, ...] | None, fold: str | None, named: tuple[str, ...] = (),
         versioned: bool = False) -> Select[Any]:
    """The page statement of a request of this shape (`sort`: its canonical text), with the
    count `fold` names (see `_counted`), checking the reference values of the filters in
    `named` (see `_referenced`); `versioned`: with the data version it reads at
    (`_version`, an uncorrelated scalar subquery: two index probes), under which the
    whole answer may be kept (`answers`)."""
    keys = sort_keys(sort, dialect)
    stmt = _referenced(_counted(_page_statement(scope, shape, dialect, keys, ranked, nulls),
                                scope, shape, dialect, fold), named)
    return stmt.add_columns(version_column(dialect, answers=True)) if versioned else stmt


@lru_cache(maxsize=KEPT)
def count(scope: Scope, shape: Shape, dialect: str, capped: bool) -> Select[Any]:
    """The count of a shape's matches (capped: at most `count_cap`), with the data version."""
    return _count_statement(scope, shape, dialect, capped).add_columns(version_column(dialect))


@lru_cache(maxsize=KEPT)
def tally_count(scope: Scope, shape: Shape) -> Select[Any]:
    """The count of a shape's matches from the tallies (see `tallied_count`)."""
    return _tally_count(scope, shape)


@lru_cache(maxsize=KEPT)
def stream(scope: Scope, shape: Shape, dialect: str) -> Select[Any]:
    """Every match, whole, in id order."""
    return filtered(scope, shape, dialect, scope.base(), text_matched(shape, dialect)).order_by(
        entries.c.id)
