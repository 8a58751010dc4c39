"""Loading digest pages into the database: every page parsed first, then one transaction.

The pure loader (parse, classify, enrich) turns pages into records; this module
takes the taxonomy from the database (curators edit topic keywords over the
API), creates sessions a page introduces, and upserts each record by slug
through the same entry service the API uses.
"""

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.entries import repository as entry_repo
from app.entries import service as entry_service
from app.entries.bulk.writer import BulkWriter
from app.entries.fields import PLACEMENT_DERIVED
from app.entries.registry import BY_TYPE, KINDS
from app.entries.spec import KindSpec
from app.loader.build import (
    PageResult,
    build_page,
    load_known_sessions,
    load_rules,
    load_topics,
)
from app.loader.digest import read_digest
from app.loader.enrich import SessionInfo, TopicRule
from app.reference.service import sessions, topics


class SeedError(Exception):
    """A page that cannot be loaded: `source:line: reason`."""


@dataclass
class SeedReport:
    """What a seed run did."""

    pages: int = 0
    outcomes: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)
    sessions_created: list[int] = field(default_factory=list)

    def summary(self) -> str:
        """One line: pages, kinds and what happened to the records."""
        kinds = ", ".join(f"{self.kinds[s.type]} {s.plural}" for s in KINDS)
        outcome = ", ".join(f"{self.outcomes[k]} {k}" for k in ("created", "updated",
                                                                 "unchanged"))
        new = f"; sessions created: {self.sessions_created}" if self.sessions_created else ""
        return f"{self.pages} page(s), {kinds}: {outcome}{new}"


def default_pages(seed_dir: Path) -> list[Path]:
    """The digest pages shipped in seed_data/ (*.txt), in name order."""
    return sorted(Path(seed_dir).glob("*.txt"))


def display_name(path: Path, seed_dir: Path | None = None) -> str:
    """How a page is named in provenance and errors: `seed_data/NAME` for a page of the
    seed folder (wherever it is installed), relative to the working directory when it lies
    inside it, else as given."""
    resolved = path.resolve()
    if seed_dir is not None and resolved.is_relative_to(Path(seed_dir).resolve()):
        return "seed_data/" + resolved.relative_to(Path(seed_dir).resolve()).as_posix()
    if resolved.is_relative_to(Path.cwd()):
        return os.path.relpath(resolved)
    return str(path)


def database_is_empty(session: Session) -> bool:
    """True when no entry of any kind exists."""
    return session.scalar(select(entry_repo.entries.c.id).limit(1)) is None


def taxonomy(session: Session | None, seed_dir: Path
             ) -> tuple[list[TopicRule], dict[int, SessionInfo]]:
    """Topics (with keywords) and known sessions: from the database, else from seed_data/."""
    if session is not None:
        try:
            topic_rows = session.execute(select(topics)).mappings().all()
            session_rows = session.execute(select(sessions)).mappings().all()
            return (
                [TopicRule(r["slug"], r["name"], tuple(r["keywords"])) for r in topic_rows],
                {r["number"]: SessionInfo(r["number"], r["name"], r["starts_on"], r["ends_on"],
                                          r["location"], r["description"])
                 for r in session_rows},
            )
        except SQLAlchemyError:
            session.rollback()
    return (load_topics(seed_dir / "topics.toml"),
            load_known_sessions(seed_dir / "sessions.toml"))


def plan(paths: list[Path], seed_dir: Path, session: Session | None) -> list[PageResult]:
    """Parse, classify and enrich every page; raise SeedError on the first bad one."""
    rules = load_rules(seed_dir)
    topic_rules, known = taxonomy(session, seed_dir)
    results = []
    for path in paths:
        if not path.is_file():
            raise SeedError(f"{display_name(path, seed_dir)}: no such file")
        page = read_digest(path, source=display_name(path, seed_dir))
        result = build_page(page, topics=topic_rules, known_sessions=known, rules=rules)
        if result.session is not None:
            known.setdefault(result.session["number"], SessionInfo(**result.session))
        results.append(result)
    return results


def _save_session(session: Session, info: dict[str, Any], report: SeedReport) -> None:
    """Create the page's session if new; otherwise its description becomes the intro."""
    current = session.execute(select(sessions).where(
        sessions.c.number == info["number"])).mappings().first()
    if current is None:
        session.execute(insert(sessions).values(info))
        report.sessions_created.append(info["number"])
    elif info["description"] and current["description"] != info["description"]:
        session.execute(update(sessions).where(sessions.c.number == info["number"])
                        .values(description=info["description"]))


def _drop_moved(session: Session, kind: str, slug: str, provenance: dict) -> None:
    """A rule change that moves an entry to another kind must not leave its old copy."""
    entries = entry_repo.entries
    stale = session.execute(select(entries.c.id, entries.c.type, entries.c.provenance).where(
        entries.c.slug == slug, entries.c.type != kind)).all()
    where = {"source": provenance["source"], "line": provenance["line"]}
    for entry_id, old_kind, stored in stale:
        # The same page line (its evidence differs with the kind): a deletion like any
        # other (logged, links cleared).
        if isinstance(stored, dict) and {k: stored.get(k) for k in where} == where:
            entry_service.remove(session, BY_TYPE[old_kind], entry_id, None)


def _write_order() -> list[KindSpec]:
    """The kinds, each after the kinds its fields reference (a statement names its event
    by slug: the event must be written first)."""
    ordered: list[KindSpec] = []
    pending = list(KINDS)
    while pending:
        written = {spec.type for spec in ordered}
        ready = [spec for spec in pending if set(spec.references.values()) - {spec.type}
                 <= written] or pending[:1]  # a cycle: registry order
        ordered += ready
        pending = [spec for spec in pending if spec not in ready]
    return ordered


def _write(session: Session, spec: KindSpec, records: list[dict[str, Any]],
           report: SeedReport) -> None:
    """Upsert one kind's records by slug through the bulk writer, the one upsert path of
    the API's bulk route and `hrc-digest import`; all or nothing (SeedError)."""
    # The placement goes as a writer sends it (date, date_precision); its date_from and
    # date_to are derived again on write (app/entries/placement.py). Provenance is kept.
    skip = ("type", *PLACEMENT_DERIVED)
    items = [(index, {k: v for k, v in record.items() if k not in skip}, None)
             for index, record in enumerate(records)]
    writer = BulkWriter(session, spec, on_conflict="update", atomic=True)
    try:
        writer.add_batch(items)
        written = writer.finish()
    finally:
        writer.close()
    if written.failed:
        error = min(written.errors, key=lambda e: e["index"])
        where = records[error["index"]]["provenance"]
        raise SeedError(f"{where['source']}:{where['line']}: {error['detail']}")
    counts = {"created": written.created, "updated": written.updated,
              "unchanged": written.unchanged}
    report.outcomes.update({outcome: n for outcome, n in counts.items() if n})
    report.kinds[spec.type] += len(records)


def save(session: Session, results: list[PageResult]) -> SeedReport:
    """Write planned pages (the caller commits once, so a failure leaves nothing)."""
    report = SeedReport()
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        report.pages += 1
        if result.session is not None:
            _save_session(session, result.session, report)
        for record in result.records:
            _drop_moved(session, record["type"], record["slug"], record["provenance"])
            by_kind.setdefault(record["type"], []).append(record)
    for spec in _write_order():
        if by_kind.get(spec.type):
            _write(session, spec, by_kind[spec.type], report)
    return report
