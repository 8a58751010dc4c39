"""Evidence for extracted values: the exact span of the page each value came from.

Every extractor matches on the *folded* title or summary (see ``classify.fold``), and the
summary joins lines and collapses spaces. ``EntryText`` maps a match back to the page as
written: ``start``/``end`` are character offsets into the page text (``DigestPage.text``),
``text`` is ``page.text[start:end]`` exactly, ``line`` the 1-based line of ``start``.

The extractors return values, not spans; each value is located here in the text the
extractor read, by the same patterns (dates, countries, topic keywords, cues) or, for
names and phrases, as written (a role spelled out from "Amb." is found by its
abbreviation; a role with a country taken out of it spans from its first to its last word).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from app.loader.classify import Scores, find_keyword, fold
from app.loader.dates import DATE_RE, RANGE_RE, WEEKDAYS, Window, date_range, explicit_dates
from app.loader.digest import DigestEntry, DigestPage
from app.loader.enrich import SESSION_RE, TopicRule
from app.loader.places import CountryMatcher, country_spans

if TYPE_CHECKING:
    from app.loader.build import Rules

FIELDS = ("title", "summary")
DATE_FIELDS = {"article": "published_on", "event": "starts_on", "statement": "delivered_on"}
DASHES = re.compile(r"\s*[\u2014\u2015]+\s*")


def fold_map(text: str) -> tuple[str, list[int]]:
    """``fold(text)`` and, for each of its characters, the offset it came from in text."""
    out: list[str] = []
    where: list[int] = []
    last = 0
    for match in DASHES.finditer(text):
        out.append(fold(text[last : match.start()]))
        where.extend(range(last, match.start()))
        out.append(" - ")
        where.extend((match.start(), match.start() + len(match.group(0)) // 2, match.end() - 1))
        last = match.end()
    out.append(fold(text[last:]))
    where.extend(range(last, len(text)))
    return "".join(out), where


@dataclass
class EntryText:
    """An entry's title and summary (and the page intro), folded, with page offsets."""

    page: DigestPage
    entry: DigestEntry
    _cache: dict[str, tuple[str, list[int]]] = field(default_factory=dict)

    def folded(self, name: str) -> str:
        """The folded text of "title", "summary" or "intro"."""
        return self._fold(name)[0]

    def _fold(self, name: str) -> tuple[str, list[int]]:
        if name not in self._cache:
            raw = {"title": self.entry.title, "summary": self.entry.summary,
                   "intro": self.page.intro}[name]
            self._cache[name] = fold_map(raw)
        return self._cache[name]

    def _page_offset(self, name: str, index: int) -> int:
        """Page offset of a character of the raw (unfolded) field text."""
        if name == "title":
            return self.entry.title_at + index
        offsets = self.entry.summary_at if name == "summary" else self.page.intro_at
        return offsets[index]

    def span(self, name: str, start: int, end: int, rule: str, value: Any = None) -> dict:
        """Evidence for folded offsets [start, end) of a field: page offsets, line, text."""
        folded, where = self._fold(name)
        end = max(end, start + 1)
        first = self._page_offset(name, where[start])
        last = self._page_offset(name, where[min(end, len(folded)) - 1]) + 1
        found = unlocated(rule, value)
        found.update({"start": first, "end": last,
                      "line": self.page.line_of(first), "text": self.page.text[first:last]})
        return found

    def search(self, pattern: str | re.Pattern[str], rule: str, value: Any = None,
               names: Iterable[str] = FIELDS, group: int = 0) -> dict | None:
        """Evidence for the first match of a regex in the title, then the summary."""
        for name in names:
            match = re.search(pattern, self.folded(name))
            if match and match.group(group):
                return self.span(name, match.start(group), match.end(group), rule, value)
        return None

    def phrase(self, text: str, rule: str, value: Any = None) -> dict | None:
        """Evidence for a phrase as written (spaces flexible), else case-insensitive."""
        body = r"\s+".join(re.escape(w) for w in fold(text).split())
        if not body:
            return None
        exact = rf"(?<![\w]){body}(?![\w])"
        return self.search(exact, rule, value) or self.search(
            re.compile(exact, re.IGNORECASE), rule, value
        )


def unlocated(rule: str, value: Any = None) -> dict:
    """Evidence for a value that has no span (an override, a default)."""
    if isinstance(value, date):  # provenance is stored as JSON
        value = value.isoformat()
    return ({"value": value} if value is not None else {}) | {"rule": rule}


def kind_evidence(text: EntryText, scores: Scores | None, kind: str) -> dict:
    """Why the entry has its kind: the deciding (or heaviest) hit, and the confidence."""
    if scores is None:
        return unlocated("overrides.toml: type", kind) | {"confidence": 1.0}
    hit = scores.evidence
    extra = {"confidence": scores.confidence, "totals": scores.totals}
    if hit is None:
        return unlocated("classification: no signal, first kind of default_order", kind) | extra
    how = "decisive" if hit.decisive else f"+{hit.weight}"
    term = "" if "\\" in hit.term or len(hit.term) > 40 else f" [{hit.term}]"  # not regexes
    rule = f"classification ({hit.field}, {how}): {hit.note or hit.term}{term}"
    name = "summary" if hit.field == "lead" else hit.field
    return text.span(name, hit.start, hit.end, rule, kind) | extra


def session_evidence(text: EntryText, number: int) -> dict:
    """Where the session number is said: in the entry, else the intro."""
    pattern = re.compile(SESSION_RE.pattern.replace(r"(\d{1,3})", rf"({number})", 1),
                         re.IGNORECASE)
    return (
        text.search(pattern, "session: the entry names the page's session", number)
        or text.search(pattern, "session: the page's session, named in the intro", number,
                       names=("intro",))
        or unlocated("session: the page's session (most mentioned in its entries)", number)
    )


def topic_evidence(text: EntryText, slugs: list[str], topics: Iterable[TopicRule]) -> list[dict]:
    """For each topic, the first of its keywords found (title, then summary)."""
    by_slug = {t.slug: t for t in topics}
    found = []
    for slug in slugs:
        rule = by_slug.get(slug)
        for keyword in rule.keywords if rule else ():
            hit = _keyword(text, keyword, f"topics.toml: {slug} keyword '{keyword}'", slug)
            if hit:
                found.append(hit)
                break
    return found


def _keyword(text: EntryText, keyword: str, rule: str, value: Any) -> dict | None:
    """Evidence for a whole-word keyword in the title, then the summary."""
    for name in FIELDS:
        match = find_keyword(keyword, text.folded(name))
        if match:
            return text.span(name, match.start(), match.end(), rule, value)
    return None


def country_evidence(text: EntryText, codes: list[str], matcher: CountryMatcher) -> list[dict]:
    """For each country code, its first mention (name, short form or demonym)."""
    found = []
    for code in codes:
        for name in FIELDS:
            spans = [s for s in country_spans(text.folded(name), matcher) if s[2] == code]
            if spans:
                start, end, _ = spans[0]
                found.append(text.span(name, start, end, "countries: name, alias or demonym",
                                       code))
                break
    return found


def date_evidence(text: EntryText, value: date, window: Window, rule: str) -> dict | None:
    """The date phrase (explicit, range or a weekday pinned by the session) behind a date."""
    for name in FIELDS:
        folded = text.folded(name)
        for match in RANGE_RE.finditer(folded):
            found = date_range(match.group(0), window)
            if found and found[0] == value:
                return text.span(name, match.start(), match.end(), f"{rule}: date range", value)
        for match in DATE_RE.finditer(folded):
            if explicit_dates(match.group(0), window) == [value]:
                return text.span(name, match.start(), match.end(), f"{rule}: explicit date",
                                 value)
    weekday = WEEKDAYS[value.weekday()]
    return text.search(rf"\bon\s+{weekday}\b", f"{rule}: the only {weekday} in the session",
                       value)


def value_evidence(text: EntryText, value: str, rule: str,
                   abbreviations: Mapping[str, str]) -> dict | None:
    """A name, role or phrase: as written, via a headline abbreviation, or first to last word."""
    found = text.phrase(value, rule, value)
    if found:
        return found
    for short, long in abbreviations.items():
        if long in value:
            found = text.phrase(value.replace(long, short), rule, value)
            if found:
                return found
    words = fold(value).split()
    if len(words) > 1:  # reordered ("Chinese Mission Spokesperson") or with a country taken out
        first, last = re.escape(words[0]), re.escape(words[-1])
        for a, b in ((first, last), (last, first)):
            found = text.search(rf"(?<![\w]){a}\b[^.;:]{{0,80}}?\b{b}(?![\w])", rule, value)
            if found:
                return found
    return None


def cue_evidence(text: EntryText, cues: Iterable[str], rule: str, value: Any) -> dict | None:
    """The first of a list of cue keywords found (title, then summary)."""
    for cue in cues:
        found = _keyword(text, cue, f"{rule} '{cue}'", value)
        if found:
            return found
    return None


def record_evidence(
    record: Mapping[str, Any],
    text: EntryText,
    scores: Scores | None,
    window: Window,
    topics: Iterable[TopicRule],
    rules: Rules,
) -> dict[str, Any]:
    """Evidence per extracted field of a record (fields with no value are left out)."""
    found: dict[str, Any] = {"type": kind_evidence(text, scores, record["type"])}
    if record["session"] is not None:
        found["session"] = session_evidence(text, record["session"])
    day = record.get(DATE_FIELDS[record["type"]])
    if day is not None:
        found[DATE_FIELDS[record["type"]]] = date_evidence(text, day, window, "dates")
    if record["topics"]:
        found["topics"] = topic_evidence(text, record["topics"], topics)
    if record["countries"]:
        found["countries"] = country_evidence(text, record["countries"], rules.countries)
    found.update(_kind_fields(record, text, rules))
    return {name: value for name, value in found.items() if value}


def _kind_fields(record: Mapping[str, Any], text: EntryText, rules: Rules) -> dict[str, Any]:
    """Evidence for the fields of the record's kind."""
    if record["type"] == "statement":
        return _statement(record, text, rules)
    if record["type"] == "event":
        return _event(record, text, rules.events)
    return _article(record, text, rules.articles)


def _statement(record: Mapping[str, Any], text: EntryText, rules: Rules) -> dict[str, Any]:
    """speaker, role, affiliation, on_behalf_of, statement_type."""
    abbreviations = rules.speakers.abbreviations
    found: dict[str, Any] = {}
    for key, rule in (("speaker", "people: a name next to a role or a speech verb"),
                      ("speaker_role", "people: role words before or after the name"),
                      ("on_behalf_of", "statements: 'on behalf of' / joint statement subject")):
        if record.get(key):
            found[key] = value_evidence(text, record[key], rule, abbreviations)
    institution = set(rules.speakers.institutions.values())
    role = record.get("speaker_role")
    if role in institution and not found.get("speaker_role"):
        found["speaker_role"] = next(
            (e for short, long in rules.speakers.institutions.items() if long == role
             and (e := text.phrase(short, "people: institution in the headline", role))),
            None,
        )
    code = record.get("speaker_affiliation")
    if code:
        names = [n for n, c in rules.speakers.organisations.items() if c == code]
        found["speaker_affiliation"] = next(
            (e for n in names if (e := text.phrase(n, "people: organisation prefix", code))),
            None,
        ) or next(iter(country_evidence(text, [code], rules.countries)), None)
        if found["speaker_affiliation"]:
            found["speaker_affiliation"]["rule"] = "people: country or organisation of the speaker"
    kind = record.get("statement_type")
    cues = rules.statement_types.get(kind, []) if kind else []
    found["statement_type"] = cue_evidence(text, cues, "statement_types: cue", kind) or (
        unlocated(f"statement_types: {kind} (speaker, venue or on_behalf_of)", kind)
        if kind != "other" else None)
    return found


def _event(record: Mapping[str, Any], text: EntryText, vocab: Mapping[str, Any]) -> dict:
    """event_type, location, format, organizers."""
    found: dict[str, Any] = {}
    kind = record.get("event_type")
    if kind and kind != "other":
        found["event_type"] = cue_evidence(text, vocab.get(kind, []), "events: meeting word", kind)
    if record.get("location"):
        found["location"] = text.phrase(record["location"], "places: after held/hosted… in",
                                        record["location"])
    fmt = record.get("format")
    if fmt in ("online", "hybrid", "in_person"):
        found["format"] = cue_evidence(text, vocab.get(fmt, []), "format: cue", fmt) or (
            text.phrase(record["location"], "format: a place is named", fmt)
            if record.get("location") else None) or cue_evidence(
            text, vocab.get("online", []) + vocab.get("in_person", []),
            "format: online and in-person cues", fmt)
    organisers = [text.phrase(name, "places: organiser after '<verb> (…) by' or the subject",
                              name) for name in record.get("organizers") or []]
    if organisers:
        found["organizers"] = [e for e in organisers if e]
    return found


def _article(record: Mapping[str, Any], text: EntryText, vocab: Mapping[str, Any]) -> dict:
    """genre and source."""
    found: dict[str, Any] = {}
    genre = record.get("genre")
    if genre and genre != "other":
        cues = (vocab.get("labels", {}).get(genre, []) + vocab.get("self_described", {})
                .get(genre, []) + vocab.get(genre, []))
        found["genre"] = cue_evidence(text, cues, "articles: genre cue", genre)
    if record.get("source"):
        found["source"] = text.phrase(record["source"], "articles: publisher named",
                                      record["source"]) or text.search(
            rf"\b{re.escape(record['source'])}\b", "articles: publisher credited in the page "
            "intro", record["source"], names=("intro",)) or unlocated(
            "articles: publisher", record["source"])
    return found
