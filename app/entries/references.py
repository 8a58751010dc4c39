"""Do the topics, countries, sessions and linked entries that records name exist?

One set-based check (a query per reference table) for one record or a batch.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.entries import repository as repo
from app.entries.spec import KindSpec
from app.reference.service import countries, missing, sessions, topics

Problem = tuple[list[str | int], str]  # (location within the record, message)


def reference_problems(session: Session, spec: KindSpec, records: Sequence[dict[str, Any]]
                       ) -> dict[int, list[Problem]]:
    """For each record (by position) that names something unknown, what and where."""
    bad_topics = missing(session, topics.c.slug, {t for r in records for t in r["topics"]})
    bad_countries = missing(session, countries.c.code,
                            {c for r in records for c in r["countries"]})
    bad_sessions = missing(session, sessions.c.number,
                           {r["session"] for r in records if r["session"] is not None})
    bad_links: dict[str, set[Any]] = {}
    for name, target_type in spec.references.items():
        wanted = {r[name] for r in records if r.get(name) is not None}
        present = set(session.scalars(select(repo.entries.c.id).where(
            repo.entries.c.id.in_(wanted), repo.entries.c.type == target_type)))
        bad_links[name] = wanted - present
    problems: dict[int, list[Problem]] = {}
    for position, record in enumerate(records):
        found: list[Problem] = []
        found += [(["topics", i], f"unknown topic '{t}'")
                  for i, t in enumerate(record["topics"]) if t in bad_topics]
        found += [(["countries", i], f"unknown country '{c}'")
                  for i, c in enumerate(record["countries"]) if c in bad_countries]
        if record["session"] in bad_sessions:
            found.append((["session"], f"unknown session {record['session']}"))
        found += [([name], f"no {spec.references[name]} has id {record[name]}")
                  for name in bad_links if record.get(name) in bad_links[name]]
        if found:
            problems[position] = found
    return problems
