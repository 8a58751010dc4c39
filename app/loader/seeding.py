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

from app.core.errors import ProblemError
from app.entries import repository as entry_repo
from app.entries import service as entry_service
from app.entries.fields import PLACEMENT_DERIVED
from app.entries.registry import BY_TYPE, KINDS
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


def save(session: Session, results: list[PageResult]) -> SeedReport:
    """Write planned pages (the caller commits once, so a failure leaves nothing)."""
    report = SeedReport()
    for result in results:
        report.pages += 1
        if result.session is not None:
            _save_session(session, result.session, report)
        for record in result.records:
            # The placement goes as a writer sends it (date, date_precision); its date_from
            # and date_to are derived again on write (app/entries/placement.py).
            skip = ("type", "provenance", *PLACEMENT_DERIVED)
            data = {k: v for k, v in record.items() if k not in skip}
            provenance = record["provenance"]
            _drop_moved(session, record["type"], record["slug"], provenance)
            try:
                outcome, _ = entry_service.upsert(session, BY_TYPE[record["type"]], data,
                                                  provenance)
            except ProblemError as exc:
                raise SeedError(f"{provenance['source']}:{provenance['line']}: {exc.detail}"
                                ) from None
            report.outcomes[outcome] += 1
            report.kinds[record["type"]] += 1
    return report
