"""Plan: the statements that answer a list request, built once per shape and kept.

A request becomes one SELECT (filters, full-text match and score, keyset or offset
page, and its count as one more column when the tallies hold it or it is capped), a
count of its own when the page cannot carry it and no facet statement gives it, and one
UNION ALL for its facets (from the tallies, or from one pass over the matches). Each is
built from the request's shape alone, with every value a bound parameter, and kept
(`functools.cache` keyed by scope, shape, engine, sort and count source): building a
SELECT costs more than the database needs to answer a page, and a kept statement also
finds its compiled SQL in SQLAlchemy's cache at once.
"""

import dataclasses
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    Integer,
    Select,
    String,
    Text,
    bindparam,
    case,
    cast,
    false,
    func,
    literal,
    literal_column,
    null,
    select,
    true,
    tuple_,
    union_all,
)

from app.entries import tallies
from app.entries.listing import filters
from app.entries.listing.aggregates import version_column
from app.entries.listing.filters import Shape, entries
from app.entries.listing.paging import SortKey, keyset_after
from app.entries.listing.params import HISTOGRAMS
from app.entries.listing.parse import REFERENCES, SEARCHING, Scope, sort_keys
from app.entries.schemas import LABELLED_FACETS
from app.reference.models import CouncilSession, Country, Topic

KEPT = 512  # statements kept per kind of statement (least recently used out first)
INTEGER_FACETS = frozenset({"session", "year"})  # facets whose values are numbers
tally = tallies.tallies
TOPICS, COUNTRIES, SESSIONS = (model.__table__ for model in  # type: ignore[attr-defined]
                               (Topic, Country, CouncilSession))


def _filtered(scope: Scope, shape: Shape, dialect: str, stmt: Select[Any],
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


def _base_from(scope: Scope, shape: Shape, join: tuple[Any, Any] | None = None,
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


def _matched(shape: Shape, dialect: str) -> filters.TextMatch | None:
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
    return (_filtered(scope, shape, dialect, _base_from(scope, shape), matched)
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
    match = matched = _matched(shape, dialect)
    if ranked and matched is not None:
        # Scored only when the order uses the score: `q` with `sort=-date` just filters.
        match = filters.text_match(shape.text, dialect,
                                   _ranking_pool(scope, shape, dialect, matched))
        keys = [SortKey(dataclasses.replace(key.field, expression=match.score), key.descending)
                if key.field.name == "relevance" else key for key in keys]
    ids = _filtered(scope, shape, dialect, _base_from(scope, shape), match)
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
        inner = _filtered(scope, shape, dialect, _base_from(scope, shape),
                          _matched(shape, dialect)).with_only_columns(
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


def tallied_facets(shape: Shape, names: tuple[str, ...]) -> bool:
    """Whether the tallies hold these facets over the shape's matches (kind filters only)."""
    return (shape.text is None and shape.filters <= KINDS_ONLY
            and all(name in tallies.FACETS for name in names))


def _constant(name: str) -> Any:
    """A facet's name as an SQL string literal (names come from an allow-list)."""
    assert name.replace("_", "").isalnum() or name == "", name
    return literal_column(f"'{name}'", String)


def _tally_kinds(scope: Scope, shape: Shape) -> list[Any]:
    """The tallies of the kinds (and placement) a shape keeps."""
    terms = []
    if scope.joined is not None:
        terms.append(tally.c.type == _constant(scope.joined.type))
    if "type" in shape.filters:
        terms.append(tally.c.type.in_(bindparam("type", expanding=True)))
    if filters.excluding("type") in shape.filters:
        terms.append(tally.c.type.not_in(bindparam(filters.excluding("type"), expanding=True)))
    if shape.dated_only:
        terms.append(tally.c.dated == true())
    return terms


def _tally_count(scope: Scope, shape: Shape) -> Select[Any]:
    """The shape's count from the tallies (see `tallied_count`)."""
    terms = [tally.c.facet == _constant("type")]
    for name in TALLIED_FILTERS:
        if name in shape.filters:
            terms = [tally.c.facet == _constant(name),
                     tally.c.value.in_(bindparam(name, expanding=True))]
    if shape.filters & LANGUAGES:  # matched as the filter matches them: case-insensitive
        terms = [tally.c.facet == _constant("language")]
        language = func.lower(tally.c.value)
        if "language" in shape.filters:
            terms.append(language.in_(bindparam("language", expanding=True)))
        if filters.excluding("language") in shape.filters:
            terms.append(language.not_in(bindparam(filters.excluding("language"),
                                                   expanding=True)))
    return select(func.coalesce(func.sum(tally.c.n), 0)).where(
        *terms, *_tally_kinds(scope, shape))


FOLDS = ("capped", "tallied")  # the counts a page statement may carry (see `_counted`)


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


def _facet_column(name: str, scope: Scope) -> tuple[str, Any, Any]:
    """What a facet is counted from: the group its matches are counted in (a histogram's
    the placement date's, which serves all three), the value grouped (a link list: the
    entry's JSON list), and the detail table it is read from (None: the entry's row)."""
    if name in tallies.LINK_LISTS:
        return name, entries.c[tallies.LINK_LISTS[name]], None
    if name in HISTOGRAMS:
        return "date", entries.c.date, None
    if name in ("session", "type", "language"):
        return name, entries.c[name], None
    detail = next(s for s in scope.kinds if name in s.facets).detail_table
    return name, detail.c[name], detail


def facet_shape(scope: Scope, shape: Shape, name: str) -> Shape:
    """The shape of a facet's matches: the list's, without the facet's own filter (the
    values it matches and those it excludes)."""
    own = {name} | {filters.kind_key(spec, f) for spec in scope.kinds for f in spec.filters
                    if f.column == name}
    own |= {filters.excluding(key) for key in own}
    return dataclasses.replace(shape, filters=shape.filters - own)


def _matched_values(scope: Scope, shape: Shape, dialect: str, names: tuple[str, ...],
                    capped: bool) -> tuple[Select[Any], dict[str, str]]:
    """The matches, with a column `group_<group>` per group the facets are counted in, and
    each facet's group (see `_facet_column`).

    A kind's detail table is joined when a facet reads it (left-joined across kinds: an
    entry of another kind has no value). Capped: the newest `count_cap` matches only,
    found as a page is (the date index, stopping at the cap).
    """
    columns = {name: _facet_column(name, scope) for name in names}
    values = {group: value for group, value, _ in columns.values()}
    details = {table for _, _, table in columns.values() if table is not None}
    own = scope.joined.detail_table if scope.joined is not None else None
    ids = _filtered(scope, shape, dialect, _base_from(scope, shape, detail=own in details),
                    _matched(shape, dialect))
    for table in details - {own}:
        ids = ids.outerjoin(table, table.c.id == entries.c.id)
    ids = ids.add_columns(*(value.label(f"group_{group}") for group, value in values.items()))
    if capped:
        ids = (ids.order_by(filters.sort_date(dialect).desc(), entries.c.id.desc())
               .limit(bindparam("count_cap")))
    return ids, {name: group for name, (group, _, _) in columns.items()}


def _grouped(matched: Any, dialect: str, groups: tuple[str, ...], total: bool) -> Any:
    """(facet, key, n): the matches counted per value of each group (named as its facet,
    a date as `date`), a link list per JSON list (few distinct lists: they are split into
    values after counting), and with `total` the count of all of them as facet ''.

    PostgreSQL groups them all in one pass over the matches (GROUPING SETS); SQLite, which
    has none, in a GROUP BY per group over the matches kept as a CTE.
    """
    # Grouped by the values as they are (a date, a number), but for JSON, which has no
    # equality: by its text. Turned into text per group, not per match.
    keys = {group: matched.c[f"group_{group}"] for group in groups}
    keys = {group: cast(key, Text) if isinstance(key.type, JSON) else key
            for group, key in keys.items()}
    if dialect == "postgresql":
        facet = case(*((func.grouping(key) == 0, _constant(group))
                       for group, key in keys.items()), else_=_constant(""))
        key = case(*((func.grouping(key) == 0, cast(key, Text)) for key in keys.values()),
                   else_=null())
        sets = [tuple_(key) for key in keys.values()] + ([tuple_()] if total else [])
        return (select(facet.label("facet"), key.label("key"), func.count().label("n"))
                .select_from(matched).group_by(func.grouping_sets(*sets)))
    branches = [select(_constant(group).label("facet"), cast(key, Text).label("key"),
                       func.count().label("n")).group_by(key) for group, key in keys.items()]
    if total:
        branches.append(select(_constant("").label("facet"), null().label("key"),
                               func.count().label("n")).select_from(matched))
    return union_all(*branches)


def _facet_values(grouped: Any, dialect: str, name: str, group: str | None
                  ) -> tuple[Select[Any], Any, Any]:
    """A facet's counts from `grouped`: (SELECT with its FROM, WHERE and GROUP BY, the
    value, the count). `group`: the group its matches were counted in (None: `grouped`
    holds the facet's values as they are, as the tallies do)."""
    if group is None or group == name and name not in tallies.LINK_LISTS:
        value, n = grouped.c.key, grouped.c.n
        return (select().select_from(grouped)
                .where(grouped.c.facet == _constant(group or name), value.is_not(None)),
                value, n)
    n = cast(func.sum(grouped.c.n), BigInteger)
    source: Any = grouped
    if name in tallies.LINK_LISTS:  # split each JSON list into its values
        listed_in = grouped.c.key if dialect != "postgresql" else cast(grouped.c.key, JSON)
        elements = filters.json_elements(dialect, listed_in)
        value, source = elements.c.value, grouped.join(elements, true())
    else:  # a histogram's bucket of each date
        day = cast(grouped.c.key, Date) if dialect == "postgresql" else grouped.c.key
        value = filters.date_bucket(name, dialect, day)
    stmt = (select().select_from(source).where(grouped.c.facet == _constant(group),
                                               value.is_not(None))
            .group_by(value))
    return stmt, value, n


def _listed(grouped: Any, dialect: str, groups: dict[str, str | None], *, total: bool,
            versioned: bool) -> Any:
    """Each facet's kept values in order, from `grouped` (facet, key, n): a UNION ALL of
    (facet, value as text, count, branch, position), and `grouped`'s total last (facet '').

    `groups`: each facet's group in `grouped` (see `_facet_values`).
    A histogram keeps its newest `facet_limit` buckets and lists them oldest first; any
    other facet its most frequent values (ties by value).
    """
    version = [version_column(dialect)] if versioned else []
    branches = []
    for name, group in groups.items():
        source, value, n = _facet_values(grouped, dialect, name, group)
        typed = cast(value, Integer) if name in INTEGER_FACETS else value
        kept = (typed.desc(),) if name in HISTOGRAMS else (n.desc(), typed)
        listed = (typed,) if name in HISTOGRAMS else kept
        counted = (source.add_columns(
            _constant(name).label("facet"), cast(value, Text).label("value"), n.label("n"),
            literal(len(branches)).label("branch"),
            func.row_number().over(order_by=listed).label("position"))
            .order_by(*kept).limit(bindparam("facet_limit")).subquery(f"counted_{name}"))
        branches.append(select(counted, *version))
    if total:
        branches.append(select(_constant("").label("facet"), null().label("value"),
                               grouped.c.n.label("n"), literal(len(branches)).label("branch"),
                               literal(0).label("position"), *version)
                        .where(grouped.c.facet == _constant("")))
    return union_all(*branches).order_by(literal_column("branch"), literal_column("position"))


def _facets_statement(scope: Scope, shape: Shape, dialect: str, names: tuple[str, ...],
                      capped: bool) -> Any:
    """Counts per value of several facets over the same matches, in one statement, and
    (unless capped) the count of the matches: a list that asks for facets over its own
    matches needs no count statement of its own.

    The matches are read once (`_grouped`); each facet is then one branch of a UNION ALL.
    Capped: over the newest `count_cap` matches only, so facets never read more rows than
    a capped count.
    """
    matched, groups = _matched_values(scope, shape, dialect, names, capped)
    matched = matched.subquery("matched") if dialect == "postgresql" else matched.cte("matched")
    grouped = _grouped(matched, dialect, tuple(dict.fromkeys(groups.values())),
                       not capped).cte("grouped")
    return _listed(grouped, dialect, dict(groups), total=not capped, versioned=True)


def _tallied_facets_statement(scope: Scope, shape: Shape, dialect: str,
                              names: tuple[str, ...]) -> Any:
    """Counts per value of several facets from the tallies (see `tallied_facets`)."""
    n = cast(func.sum(tally.c.n), BigInteger)
    grouped = (select(tally.c.facet, tally.c.value.label("key"), n.label("n"))
               .where(tally.c.facet.in_([_constant(name) for name in names]),
                      *_tally_kinds(scope, shape))
               .group_by(tally.c.facet, tally.c.value).having(n > 0).cte("grouped"))
    return _listed(grouped, dialect, dict.fromkeys(names), total=False, versioned=False)


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
         nulls: tuple[bool, ...] | None, fold: str | None, named: tuple[str, ...] = ()
         ) -> Select[Any]:
    """The page statement of a request of this shape (`sort`: its canonical text), with the
    count `fold` names (see `_counted`), checking the reference values of the filters in
    `named` (see `_referenced`)."""
    keys = sort_keys(sort, dialect)
    stmt = _counted(_page_statement(scope, shape, dialect, keys, ranked, nulls),
                    scope, shape, dialect, fold)
    return _referenced(stmt, named)


@lru_cache(maxsize=KEPT)
def count(scope: Scope, shape: Shape, dialect: str, capped: bool) -> Select[Any]:
    """The count of a shape's matches (capped: at most `count_cap`), with the data version."""
    return _count_statement(scope, shape, dialect, capped).add_columns(version_column(dialect))


@lru_cache(maxsize=KEPT)
def facets(scope: Scope, shape: Shape, dialect: str, names: tuple[str, ...],
           capped: bool) -> Any:
    """Counts per value of these facets over a shape's matches (and unless capped, the
    count of the matches as facet ''), with the data version."""
    return _facets_statement(scope, shape, dialect, names, capped)


@lru_cache(maxsize=KEPT)
def tally_count(scope: Scope, shape: Shape) -> Select[Any]:
    """The count of a shape's matches from the tallies (see `tallied_count`)."""
    return _tally_count(scope, shape)


# facet -> (value, name) in its reference table
LABELLED = dict(zip(LABELLED_FACETS, ((TOPICS.c.slug, TOPICS.c.name),
                                      (COUNTRIES.c.code, COUNTRIES.c.name),
                                      (SESSIONS.c.number, SESSIONS.c.name)), strict=True))


@lru_cache(maxsize=KEPT)
def labels(names: tuple[str, ...]) -> Any:
    """(facet, value as text, name) of the values bound as `<facet>_values`, for each of
    these facets (keys of LABELLED)."""
    return union_all(*(select(_constant(name), cast(LABELLED[name][0], Text),
                              LABELLED[name][1])
                       .where(LABELLED[name][0].in_(bindparam(f"{name}_values",
                                                              expanding=True)))
                       for name in names))


@lru_cache(maxsize=KEPT)
def tallied_facets_statement(scope: Scope, shape: Shape, dialect: str,
                             names: tuple[str, ...]) -> Any:
    """Counts per value of these facets from the tallies (see `tallied_facets`)."""
    return _tallied_facets_statement(scope, shape, dialect, names)


@lru_cache(maxsize=KEPT)
def stream(scope: Scope, shape: Shape, dialect: str) -> Select[Any]:
    """Every match, whole, in id order."""
    return _filtered(scope, shape, dialect, scope.base(), _matched(shape, dialect)).order_by(
        entries.c.id)
