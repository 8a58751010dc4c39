"""Entries related to one entry: shared topics, countries and session, and similar titles."""

from typing import Any

from sqlalchemy import Connection, Integer, case, cast, func, literal, literal_column, or_, select
from sqlalchemy.dialects import postgresql

from app.entries.listing import fulltext
from app.entries.listing.filters import entries, entry_countries, entry_topics, fts_table
from app.entries.registry import KINDS
from app.entries.repository import href

TOPIC_WEIGHT, COUNTRY_WEIGHT, SESSION_WEIGHT, TEXT_WEIGHT = 3, 2, 1, 2
TITLE_TERMS = 8
RELATED_COLUMNS = ("id", "type", "slug", "title", "date", "summary")  # then href and score
RELATED_FIELDS = (*RELATED_COLUMNS, "href")  # an item's, but `score`


def _shared(link: Any, column: Any, values: list[str]) -> Any:
    """How many of these values the candidate shares (0 when none)."""
    if not values:
        return literal(0)
    return (select(func.count()).select_from(link)
            .where(link.c.entry_id == entries.c.id, column.in_(values))
            .scalar_subquery())


def _title_match(dialect: str, title: str) -> Any | None:
    """Candidates whose text shares words with the title (any of its significant words)."""
    items = fulltext.parse(title).groups[:TITLE_TERMS]
    if not items:
        return None
    alternatives = [item for group in items for item in group]
    if dialect == "postgresql":
        text = " | ".join(" & ".join(item.words) for item in alternatives)
        tsquery = func.to_tsquery(literal("english", postgresql.REGCONFIG), text)
        return literal_column("entries.search_vector", postgresql.TSVECTOR).op("@@")(tsquery)
    matched = select(fts_table.c.rowid).where(
        literal_column("entries_fts").op("MATCH")(fulltext.fts5_any(alternatives)))
    return entries.c.id.in_(matched)


def related(connection: Connection, entry: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    """The entries most related to `entry`, best first, across kinds."""
    dialect = connection.dialect.name
    text_match = _title_match(dialect, entry["title"])
    score = (_shared(entry_topics, entry_topics.c.topic, entry["topics"]) * TOPIC_WEIGHT
             + _shared(entry_countries, entry_countries.c.country, entry["countries"])
             * COUNTRY_WEIGHT)
    if entry["session"] is not None:
        score = score + case((entries.c.session == entry["session"], SESSION_WEIGHT), else_=0)
    reasons = [entries.c.id.in_(select(entry_topics.c.entry_id).where(
        entry_topics.c.topic.in_(entry["topics"])))] if entry["topics"] else []
    if entry["countries"]:
        reasons.append(entries.c.id.in_(select(entry_countries.c.entry_id).where(
            entry_countries.c.country.in_(entry["countries"]))))
    if text_match is not None:
        score = score + case((text_match, TEXT_WEIGHT), else_=0)
        reasons.append(text_match)
    if not reasons:
        return []
    score = cast(score, Integer).label("score")
    stmt = (select(*(entries.c[name] for name in RELATED_COLUMNS), href(KINDS), score)
            .where(entries.c.id != entry["id"], or_(*reasons))
            .order_by(score.desc(), entries.c.date.desc().nulls_last(), entries.c.id.desc())
            .limit(limit))
    return [dict(row) for row in connection.execute(stmt).mappings()]
