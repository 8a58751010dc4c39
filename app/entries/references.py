"""Do the topics, countries, sessions and linked entries that records name exist?

One set-based check (a query per reference table) for one record or a batch. A linked
entry may be named by its slug (a kind's `reference_slugs`, e.g. a statement's `event`):
the slug is resolved to the id that is stored, one query per alias and batch.
"""

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.core.errors import Unprocessable
from app.entries import repository as repo
from app.entries.placement import place_records
from app.entries.spec import KindSpec
from app.reference.service import countries, missing, sessions, topics

Problem = tuple[list[str | int], str]  # (location within the record, message)
_IDS_BY_SLUG = (select(repo.entries.c.slug, repo.entries.c.id)
                .where(repo.entries.c.type == bindparam("type"),
                       repo.entries.c.slug.in_(bindparam("slugs", expanding=True))))


def ids_by_slug(session: Session, target_type: str, slugs: Collection[str]) -> dict[str, int]:
    """slug -> id of the entries of one kind that have these slugs (one query)."""
    if not slugs:
        return {}
    rows = session.execute(_IDS_BY_SLUG, {"type": target_type, "slugs": sorted(slugs)})
    return {slug: entry_id for slug, entry_id in rows}


def _unknown_slug(target_type: str, slug: str) -> str:
    return f"no {target_type} has slug '{slug}'"


def _resolve_slugs(session: Session, spec: KindSpec, records: Sequence[dict[str, Any]]
                   ) -> dict[int, list[Problem]]:
    """Bulk rule: a record naming a linked entry by slug links to it, whatever its id field
    says (an export's ids are another database's); an unknown slug is a problem.

    Every record leaves without its aliases: what is written is the id.
    """
    problems: dict[int, list[Problem]] = {}
    for alias, reference in spec.reference_slugs.items():
        target = spec.references[reference]
        found = ids_by_slug(session, target,
                            {r[alias] for r in records if r.get(alias) is not None})
        for position, record in enumerate(records):
            slug = record.pop(alias, None)
            if slug is None:
                continue
            record[reference] = found.get(slug)  # unknown: reported once, as the slug
            if slug not in found:
                problems.setdefault(position, []).append(([alias], _unknown_slug(target, slug)))
    return problems


def resolve_links(session: Session, spec: KindSpec, record: dict[str, Any],
                  named: Collection[str]) -> None:
    """Single-entry writes: a linked entry the client named by slug becomes its id.

    `named`: the fields the request body gave. A slug not named leaves the id as it is;
    one named (null: no link) sets it. Given with its id field too, both must name the
    same entry. 422 naming the fields otherwise, or an unknown slug.
    """
    errors: list[Problem] = []
    for alias, reference in spec.reference_slugs.items():
        slug = record.pop(alias, None)
        if alias not in named:
            continue
        target = spec.references[reference]
        linked = ids_by_slug(session, target, {slug}).get(slug) if slug is not None else None
        if slug is not None and linked is None:
            errors.append(([alias], _unknown_slug(target, slug)))
        elif reference in named and record[reference] != linked:
            said = f"'{slug}' (id {linked})" if slug is not None else "null"
            given = "null" if record[reference] is None else record[reference]
            message = (f"{alias} {said} and {reference} {given} do not name the same "
                       f"{target}; give one, or both naming the same {target}")
            errors += [([alias], message), ([reference], message)]
        else:
            record[reference] = linked
    if errors:
        listed = [{"loc": ["body", *where], "msg": msg} for where, msg in errors]
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in listed[:2])
        raise Unprocessable(detail, errors=listed)


def reference_problems(session: Session, spec: KindSpec, records: Sequence[dict[str, Any]]
                       ) -> dict[int, list[Problem]]:
    """For each record (by position) that names something unknown, what and where.

    Resolves the records' natural-key aliases in place first (see `_resolve_slugs`), and
    places each in time (`placement.place_records`) from its session's dates.
    """
    problems = _resolve_slugs(session, spec, records)
    for position, found in place_records(session, spec, records).items():
        problems.setdefault(position, []).extend(found)
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
            problems.setdefault(position, []).extend(found)
    return problems
