"""Turn a parsed digest page into session and entry records (plain dicts, no database)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.entries.placement import placed
from app.entries.slugs import slugify, with_suffix
from app.loader.classify import ClassificationRules, Scores, parse_rules, score_entry
from app.loader.dates import Placement, Window, place
from app.loader.digest import DigestEntry, DigestPage
from app.loader.enrich import (
    SessionInfo,
    TopicRule,
    article_fields,
    credited_publisher,
    describe_session,
    event_fields,
    find_topics,
    page_session_number,
    statement_fields,
)
from app.loader.evidence import DATE_FIELDS, EntryText, record_evidence, unlocated
from app.loader.people import SpeakerVocab
from app.loader.places import CountryMatcher, build_country_matcher, find_countries

COMMON_KEYS = (
    "type",
    "slug",
    "title",
    "summary",
    "body",
    "url",
    "language",
    "session",
    "topics",
    "countries",
    "provenance",
)
KIND_KEYS = {
    "article": ("source", "authors", "genre", "published_on"),
    "event": ("event_type", "starts_on", "ends_on", "location", "format", "organizers"),
    "statement": (
        "speaker",
        "speaker_role",
        "speaker_affiliation",
        "statement_type",
        "delivered_on",
        "on_behalf_of",
        "event_id",
    ),
}

# Where the entry lies in time and how precisely (docs/loader.md, "Dates and precision"):
# the entry's placement as app/entries/placement.py stores it (`seed` sends date and
# date_precision; date_from and date_to are derived again on write).
LOADER_KEYS = ("date", "date_precision", "date_from", "date_to")


@dataclass(frozen=True)
class Rules:
    """Everything the loader reads from seed_data/rules/."""

    classification: ClassificationRules
    countries: CountryMatcher
    speakers: SpeakerVocab
    statement_types: dict[str, Any]
    events: dict[str, Any]
    articles: dict[str, Any]
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class PageResult:
    """The page's session (or None) and one record per entry, in page order."""

    session: dict[str, Any] | None
    records: list[dict[str, Any]]


def _toml(path: Path) -> dict[str, Any]:
    """Read one TOML file."""
    with path.open("rb") as handle:
        return tomllib.load(handle)


def load_rules(seed_dir: Path) -> Rules:
    """Load classification, vocabulary, country aliases and overrides from seed_dir/rules."""
    rules_dir = Path(seed_dir) / "rules"
    vocab = _toml(rules_dir / "vocabulary.toml")
    aliases = _toml(rules_dir / "country_aliases.toml")
    overrides_path = rules_dir / "overrides.toml"
    overrides = _toml(overrides_path).get("overrides", {}) if overrides_path.exists() else {}
    _check_overrides(overrides)
    return Rules(
        classification=parse_rules(_toml(rules_dir / "classification.toml")),
        countries=build_country_matcher(
            aliases.get("aliases", {}), aliases.get("blockers", {}).get("phrases", [])
        ),
        speakers=_speaker_vocab(vocab["speakers"]),
        statement_types=vocab["statement_types"],
        events=vocab["events"],
        articles=vocab["articles"],
        overrides=overrides,
    )


def _speaker_vocab(data: dict[str, Any]) -> SpeakerVocab:
    """Build the SpeakerVocab from the [speakers] table."""
    return SpeakerVocab(
        verbs=frozenset(data["speech_verbs"]),
        role_words=frozenset(w.lower() for w in data["role_words"]),
        connectors=frozenset(data["connectors"]),
        places=tuple(data["places"]),
        honorifics=tuple(data["honorifics"]),
        organisations=dict(data.get("organisations", {})),
        institutions=dict(data.get("institutions", {})),
        abbreviations=dict(data.get("abbreviations", {})),
    )


def _check_overrides(overrides: dict[str, dict[str, Any]]) -> None:
    """Reject overrides that name an unknown field or kind."""
    allowed = set(COMMON_KEYS) - {"slug", "provenance"} | {k for v in KIND_KEYS.values() for k in v}
    for slug, values in overrides.items():
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"overrides.{slug}: unknown field(s) {', '.join(sorted(unknown))}")
        if values.get("type", "article") not in KIND_KEYS:
            raise ValueError(f"overrides.{slug}: type must be one of {', '.join(KIND_KEYS)}")


def load_topics(path: Path) -> list[TopicRule]:
    """The topic taxonomy (slug, name, keywords) from topics.toml, in file order."""
    return [
        TopicRule(t["slug"], t["name"], tuple(t.get("keywords", ())))
        for t in _toml(Path(path)).get("topic", [])
    ]


def load_known_sessions(path: Path) -> dict[int, SessionInfo]:
    """The sessions known before loading, by number, from sessions.toml."""
    sessions = {}
    for raw in _toml(Path(path)).get("session", []):
        sessions[int(raw["number"])] = SessionInfo(
            int(raw["number"]),
            raw["name"],
            raw.get("starts_on"),
            raw.get("ends_on"),
            raw.get("location"),
            raw.get("description", ""),
        )
    return sessions


def build_page(
    page: DigestPage,
    *,
    topics: list[TopicRule],
    known_sessions: dict[int, SessionInfo],
    rules: Rules,
) -> PageResult:
    """Classify and enrich every entry of a page; deterministic for the same inputs."""
    texts = [f"{e.title} {e.summary}" for e in page.entries]
    number = page_session_number(page.intro, texts)
    session = None
    if number is not None:
        session = describe_session(
            number, page.intro, known_sessions, rules.events.get("place_verbs", [])
        )
    credited = credited_publisher(page.intro)
    seen: dict[str, int] = {}
    records = []
    for entry in page.entries:
        slug = _unique_slug(slugify(entry.title), seen)
        override = rules.overrides.get(slug, {})
        scores = None if override.get("type") else score_entry(
            entry.title, entry.summary, rules.classification)
        kind = override.get("type") or scores.kind
        record = _record(entry, kind, slug, page, session, credited, topics, rules)
        record.update({k: v for k, v in override.items() if k in record})
        text = EntryText(page, entry)
        placement = _placement(record, text, session)
        record.update(_placement_fields(placement))
        record["provenance"]["evidence"] = _evidence(
            record, text, scores, session, topics, rules, override, placement)
        records.append(record)
    return PageResult(_session_dict(session), records)


def _evidence(
    record: dict[str, Any],
    text: EntryText,
    scores: Scores | None,
    session: SessionInfo | None,
    topics: list[TopicRule],
    rules: Rules,
    override: dict[str, Any],
    placement: Placement,
) -> dict[str, Any]:
    """Per-field evidence; a field an override set names the override instead."""
    window = session.window if session else Window()
    found = record_evidence(record, text, scores, window, topics, rules)
    found["date"] = _date_evidence(placement, found, text, record)
    for key in set(override) - {"type"}:
        found[key] = unlocated("overrides.toml", override[key])
    return found


def _placement(record: dict[str, Any], text: EntryText, session: SessionInfo | None
               ) -> Placement:
    """Where the entry lies in time (title and summary read together)."""
    window = session.window if session else Window()
    words = f"{text.folded('title')}. {text.folded('summary')}"
    return place(record.get(DATE_FIELDS[record["type"]]), words, window, record["type"])


def _placement_fields(placement: Placement) -> dict[str, Any]:
    """The date fields of a record, as the entry stores them (a day or a month stands for
    its own first to last day)."""
    bounds = (placement.date_from, placement.date_to) if placement.date_from else None
    return placed(placement.precision, placement.date,
                  bounds)  # type: ignore[arg-type]


def _date_evidence(placement: Placement, found: dict[str, Any], text: EntryText,
                   record: dict[str, Any]) -> dict[str, Any]:
    """Evidence for the placement: the primary date's, the phrase's, or the session's."""
    base = {"precision": placement.precision}
    if placement.precision == "day" and placement.span is None:
        primary = found.get(DATE_FIELDS[record["type"]], {})
        return base | primary | {"rule": f"{placement.rule} ({primary.get('rule', 'override')})"}
    if placement.span is not None:
        title = len(text.folded("title"))
        start, end = placement.span
        name, shift = ("title", 0) if start < title else ("summary", title + 2)
        return base | text.span(name, start - shift, end - shift, placement.rule, placement.date)
    if placement.precision == "session":
        where = {k: v for k, v in found.get("session", {}).items() if k not in ("value", "rule")}
        return base | unlocated(placement.rule, placement.date) | where | {
            "date_from": placement.date_from.isoformat(),
            "date_to": placement.date_to.isoformat()}
    return base | unlocated(placement.rule)


def _unique_slug(slug: str, seen: dict[str, int]) -> str:
    """Suffix a slug already used on this page with -2, -3, …"""
    seen[slug] = seen.get(slug, 0) + 1
    return slug if seen[slug] == 1 else with_suffix(slug, seen[slug])


def _session_dict(session: SessionInfo | None) -> dict[str, Any] | None:
    """The session as the dict the database layer takes."""
    if session is None:
        return None
    return {
        "number": session.number,
        "name": session.name,
        "starts_on": session.starts_on,
        "ends_on": session.ends_on,
        "location": session.location,
        "description": session.description,
    }


def _record(
    entry: DigestEntry,
    kind: str,
    slug: str,
    page: DigestPage,
    session: SessionInfo | None,
    credited: str | None,
    topics: list[TopicRule],
    rules: Rules,
) -> dict[str, Any]:
    """One record: the common fields then the fields of its kind."""
    text = f"{entry.title}\n{entry.summary}"
    window = session.window if session else Window()
    record: dict[str, Any] = {
        "type": kind,
        "slug": slug,
        "title": entry.title,
        "summary": " ".join(entry.summary.split()),
        "body": None,
        "url": None,
        "language": "en",
        "session": session.number if session else None,
        "topics": find_topics(text, topics),
        "countries": find_countries(text, rules.countries),
        "provenance": {"source": page.source, "line": entry.line},
    }
    if kind == "article":
        record.update(article_fields(entry.title, entry.summary, window, credited, rules.articles))
    elif kind == "event":
        record.update(event_fields(entry.title, entry.summary, window, rules.events))
    else:
        record.update(
            statement_fields(
                entry.title,
                entry.summary,
                window,
                rules.speakers,
                rules.countries,
                rules.statement_types,
            )
        )
    return record
