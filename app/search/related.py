"""Entries related to one entry: shared topics, countries and session, and similar titles.

The work is bounded whatever the table's size: candidates are read newest first (the
entries added last, by id) from indexes, a fixed number per reason, and only they are
scored.
- Candidates: for each of the entry's topics and countries (up to `MAX_VALUES` of each),
  the `PER_VALUE` entries added last that share it (the link table's primary key, read
  backwards); and of the `TITLE_WINDOW` entries added last, the `PER_VALUE` latest that
  share a significant word of its title (the full-text index).
- Score of a candidate: `TOPIC_WEIGHT` per shared topic, `COUNTRY_WEIGHT` per shared
  country, `SESSION_WEIGHT` for the same session, `TEXT_WEIGHT` when it shares a title
  word and is among those `TITLE_WINDOW`. Ties: the later date first, then the later id.
So an older entry that shares a common topic can be left out for newer ones that share
it too: the answer favours what is recent, as a reader of a digest does."""

from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    Select,
    case,
    cast,
    func,
    literal,
    literal_column,
    select,
    union,
)
from sqlalchemy.dialects import postgresql

from app.entries.listing import fulltext
from app.entries.listing.filters import entries, entry_countries, entry_topics, fts_table
from app.entries.registry import KINDS
from app.entries.repository import href

TOPIC_WEIGHT, COUNTRY_WEIGHT, SESSION_WEIGHT, TEXT_WEIGHT = 3, 2, 1, 2
TITLE_TERMS = 8
PER_VALUE = 100  # candidates per shared topic, per shared country, and by title words
MAX_VALUES = 20  # topics (and countries) of the entry that bring candidates
TITLE_WINDOW = 1_000  # title words are matched among this many entries added last
RELATED_COLUMNS = ("id", "type", "slug", "title", "date", "summary")  # then href and score
RELATED_FIELDS = (*RELATED_COLUMNS, "href")  # an item's, but `score`


def _shared(link: Any, column: Any, values: list[str]) -> Any:
    """How many of these values the candidate shares (0 when none)."""
    if not values:
        return literal(0)
    return (select(func.count()).select_from(link)
            .where(link.c.entry_id == entries.c.id, column.in_(values))
            .scalar_subquery())


def _newest(stmt: Select[Any], id_column: Any, entry_id: int) -> Select[Any]:
    """The `PER_VALUE` newest ids a statement selects but the entry's, as a UNION's arm."""
    arm = (stmt.with_only_columns(id_column.label("id")).where(id_column != entry_id)
           .order_by(id_column.desc()))
    return select(arm.limit(PER_VALUE).subquery().c.id)


def _title_matches(dialect: str, title: str) -> Select[Any] | None:
    """Ids of the latest `TITLE_WINDOW` entries whose text shares a word with the title."""
    items = fulltext.parse(title).groups[:TITLE_TERMS]
    if not items:
        return None
    alternatives = [item for group in items for item in group]
    if dialect == "postgresql":
        # The window first (the newest ids, from the primary key), then the match on
        # those rows alone: the same cost for a rare word and a common one.
        vector = literal_column("entries.search_vector", postgresql.TSVECTOR)
        recent = (select(entries.c.id, vector.label("search_vector"))
                  .order_by(entries.c.id.desc()).limit(TITLE_WINDOW).subquery("recent"))
        text = " | ".join(" & ".join(item.words) for item in alternatives)
        tsquery = func.to_tsquery(literal("english", postgresql.REGCONFIG), text)
        return select(recent.c.id).where(recent.c.search_vector.op("@@")(tsquery))
    newest = (select(entries.c.id).order_by(entries.c.id.desc()).limit(TITLE_WINDOW)
              .subquery("newest"))
    floor = select(func.min(newest.c.id)).scalar_subquery()
    return select(fts_table.c.rowid.label("id")).where(
        literal_column("entries_fts").op("MATCH")(fulltext.fts5_any(alternatives)),
        fts_table.c.rowid >= floor)


def _candidates(entry: dict[str, Any], titled: Any | None) -> Any | None:
    """The ids worth scoring (see the module's docstring), or None when nothing is shared."""
    own = entry["id"]
    arms = [_newest(select(entry_topics).where(entry_topics.c.topic == topic),
                    entry_topics.c.entry_id, own) for topic in entry["topics"][:MAX_VALUES]]
    arms += [_newest(select(entry_countries).where(entry_countries.c.country == country),
                     entry_countries.c.entry_id, own)
             for country in entry["countries"][:MAX_VALUES]]
    if titled is not None:
        arms.append(_newest(select(titled), titled.c.id, own))
    if not arms:
        return None
    return union(*arms).subquery("candidates")


def related(connection: Connection, entry: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    """The entries most related to `entry`, best first, across kinds."""
    matches = _title_matches(connection.dialect.name, entry["title"])
    titled = matches.cte("title_matches") if matches is not None else None
    candidates = _candidates(entry, titled)
    if candidates is None:
        return []
    score = (_shared(entry_topics, entry_topics.c.topic, entry["topics"]) * TOPIC_WEIGHT
             + _shared(entry_countries, entry_countries.c.country, entry["countries"])
             * COUNTRY_WEIGHT)
    if entry["session"] is not None:
        score = score + case((entries.c.session == entry["session"], SESSION_WEIGHT), else_=0)
    if titled is not None:
        score = score + case((entries.c.id.in_(select(titled.c.id)), TEXT_WEIGHT), else_=0)
    score = cast(score, Integer).label("score")
    stmt = (select(*(entries.c[name] for name in RELATED_COLUMNS), href(KINDS), score)
            .select_from(entries.join(candidates, candidates.c.id == entries.c.id))
            .order_by(score.desc(), entries.c.date.desc().nulls_last(), entries.c.id.desc())
            .limit(limit))
    return [dict(row) for row in connection.execute(stmt).mappings()]
