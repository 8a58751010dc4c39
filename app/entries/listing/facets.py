"""Facets: counts per value of a list's facets, each over the list's matches without the
facet's own filter, in one statement per set of facets that share their matches.

Exact by default: from the tallies (`entries/tallies.py`) when the matches are a
list's filtered by kind alone, else by reading the matches once (`GROUPING SETS` on
PostgreSQL, a GROUP BY per facet over a CTE on SQLite), which also counts them. With
`count=capped`, a facet read from the matches counts only the newest `count_cap` of them.
Topic, country and session values get their names in a statement of their own
(`labels`), never kept with the counts.
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
    Text,
    bindparam,
    case,
    cast,
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
from app.entries.listing.params import HISTOGRAMS
from app.entries.listing.parse import Scope
from app.entries.listing.plan import (
    KEPT,
    KINDS_ONLY,
    base_from,
    constant,
    filtered,
    tally_kinds,
    text_matched,
)
from app.entries.schemas import LABELLED_FACETS
from app.reference.models import CouncilSession, Country, Topic

INTEGER_FACETS = frozenset({"session", "year"})  # facets whose values are numbers
tally = tallies.tallies
TOPICS, COUNTRIES, SESSIONS = (model.__table__ for model in  # type: ignore[attr-defined]
                               (Topic, Country, CouncilSession))


def tallied(shape: Shape, names: tuple[str, ...]) -> bool:
    """Whether the tallies hold these facets over the shape's matches (kind filters only)."""
    return (shape.text is None and shape.filters <= KINDS_ONLY
            and all(name in tallies.FACETS for name in names))


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
    ids = filtered(scope, shape, dialect, base_from(scope, shape, detail=own in details),
                    text_matched(shape, dialect))
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
        facet = case(*((func.grouping(key) == 0, constant(group))
                       for group, key in keys.items()), else_=constant(""))
        key = case(*((func.grouping(key) == 0, cast(key, Text)) for key in keys.values()),
                   else_=null())
        sets = [tuple_(key) for key in keys.values()] + ([tuple_()] if total else [])
        return (select(facet.label("facet"), key.label("key"), func.count().label("n"))
                .select_from(matched).group_by(func.grouping_sets(*sets)))
    branches = [select(constant(group).label("facet"), cast(key, Text).label("key"),
                       func.count().label("n")).group_by(key) for group, key in keys.items()]
    if total:
        branches.append(select(constant("").label("facet"), null().label("key"),
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
                .where(grouped.c.facet == constant(group or name), value.is_not(None)),
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
    stmt = (select().select_from(source).where(grouped.c.facet == constant(group),
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
            constant(name).label("facet"), cast(value, Text).label("value"), n.label("n"),
            literal(len(branches)).label("branch"),
            func.row_number().over(order_by=listed).label("position"))
            .order_by(*kept).limit(bindparam("facet_limit")).subquery(f"counted_{name}"))
        branches.append(select(counted, *version))
    if total:
        branches.append(select(constant("").label("facet"), null().label("value"),
                               grouped.c.n.label("n"), literal(len(branches)).label("branch"),
                               literal(0).label("position"), *version)
                        .where(grouped.c.facet == constant("")))
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
               .where(tally.c.facet.in_([constant(name) for name in names]),
                      *tally_kinds(scope, shape))
               .group_by(tally.c.facet, tally.c.value).having(n > 0).cte("grouped"))
    return _listed(grouped, dialect, dict.fromkeys(names), total=False, versioned=False)


@lru_cache(maxsize=KEPT)
def statement(scope: Scope, shape: Shape, dialect: str, names: tuple[str, ...],
           capped: bool) -> Any:
    """Counts per value of these facets over a shape's matches (and unless capped, the
    count of the matches as facet ''), with the data version."""
    return _facets_statement(scope, shape, dialect, names, capped)


# facet -> (value, name) in its reference table
LABELLED = dict(zip(LABELLED_FACETS, ((TOPICS.c.slug, TOPICS.c.name),
                                      (COUNTRIES.c.code, COUNTRIES.c.name),
                                      (SESSIONS.c.number, SESSIONS.c.name)), strict=True))


@lru_cache(maxsize=KEPT)
def labels(names: tuple[str, ...]) -> Any:
    """(facet, value as text, name) of the values bound as `<facet>_values`, for each of
    these facets (keys of LABELLED)."""
    return union_all(*(select(constant(name), cast(LABELLED[name][0], Text),
                              LABELLED[name][1])
                       .where(LABELLED[name][0].in_(bindparam(f"{name}_values",
                                                              expanding=True)))
                       for name in names))


@lru_cache(maxsize=KEPT)
def tallied_statement(scope: Scope, shape: Shape, dialect: str,
                             names: tuple[str, ...]) -> Any:
    """Counts per value of these facets from the tallies (see `tallied_facets`)."""
    return _tallied_facets_statement(scope, shape, dialect, names)
