"""Enrichment of parsed entries: session number, topics, event and article fields.

Dates live in ``dates``, countries/places/organisers in ``places``, speakers in ``people``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from app.loader.classify import find_keyword, fold
from app.loader.dates import (
    Window,
    date_range,
    event_date,
    explicit_dates,
    intro_window,
    published_date,
)
from app.loader.people import Speaker, SpeakerVocab, find_speaker
from app.loader.places import (
    CountryMatcher,
    country_spans,
    event_format,
    event_location,
    organizers,
)

SESSION_RE = re.compile(
    r"\b(\d{1,3})(?:st|nd|rd|th)\s+(?:regular\s+)?(?:session|(?:UN\s+|United Nations\s+)?"
    r"Human Rights Council|UNHRC|HRC)\b",
    re.IGNORECASE,
)
NAME = r"[A-Z][\w'-]+(?:\s+[A-Z][\w'-]+){1,3}"


@dataclass(frozen=True)
class TopicRule:
    """A topic of the taxonomy and the keywords that tag an entry with it."""

    slug: str
    name: str
    keywords: tuple[str, ...]


@dataclass(frozen=True)
class SessionInfo:
    """A Council session as known before loading (sessions.toml) or read from an intro."""

    number: int
    name: str
    starts_on: date | None = None
    ends_on: date | None = None
    location: str | None = None
    description: str = ""

    @property
    def window(self) -> Window:
        """The session's dates as a Window for date resolution."""
        known = self.starts_on or self.ends_on
        return Window(self.starts_on, self.ends_on, known.year if known else None)


def session_numbers(text: str) -> list[int]:
    """Regular-session numbers mentioned ("46th session", "the 46th Human Rights Council")."""
    return [int(m.group(1)) for m in SESSION_RE.finditer(fold(text))]


def page_session_number(intro: str, texts: Iterable[str]) -> int | None:
    """The page's session: the intro's first mention, else the most mentioned in entries."""
    found = session_numbers(intro)
    if found:
        return found[0]
    counts = Counter(n for text in texts for n in session_numbers(text))
    return min(counts, key=lambda n: (-counts[n], n)) if counts else None


def ordinal(number: int) -> str:
    """46 -> "46th", 52 -> "52nd", 11 -> "11th"."""
    suffix = (
        "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    )
    return f"{number}{suffix}"


def describe_session(
    number: int, intro: str, known: Mapping[int, SessionInfo], place_verbs: Iterable[str]
) -> SessionInfo:
    """The session record: known data plus the intro as description, or read from the intro."""
    if number in known:
        info = known[number]
        return SessionInfo(
            info.number, info.name, info.starts_on, info.ends_on, info.location, intro
        )
    starts, ends = intro_window(intro)
    name = f"{ordinal(number)} regular session of the Human Rights Council"
    return SessionInfo(number, name, starts, ends, event_location(intro, place_verbs), intro)


def find_topics(text: str, topics: Iterable[TopicRule]) -> list[str]:
    """Slugs of the topics whose keywords occur in text, in taxonomy order."""
    folded = fold(text)
    return [t.slug for t in topics if any(find_keyword(k, folded) for k in t.keywords)]


def first_term(text: str, groups: Mapping[str, list[str]], names: Iterable[str]) -> str | None:
    """The group whose keyword occurs earliest in text (None when none occurs)."""
    folded = fold(text)
    best: tuple[int, str] | None = None
    for name in names:
        for keyword in groups.get(name, []):
            match = find_keyword(keyword, folded)
            if match and (best is None or match.start() < best[0]):
                best = (match.start(), name)
    return best[1] if best else None


EVENT_TYPES = ("seminar", "side_event", "forum", "briefing", "session_meeting")


def event_fields(title: str, summary: str, window: Window, vocab: Mapping) -> dict:
    """event_type, dates, location, format and organisers of an event."""
    text = f"{title}. {summary}"
    kind = first_term(title, vocab, EVENT_TYPES) or first_term(summary, vocab, EVENT_TYPES)
    one_day = not any(find_keyword(k, fold(summary)) for k in vocab.get("multi_day", []))
    span = date_range(summary, window)
    if span:
        starts, ends = span
    else:
        explicit = explicit_dates(text, window)
        starts = explicit[0] if explicit else event_date(text, window)
        ends = starts if explicit and one_day else None
    location = event_location(text, vocab.get("place_verbs", []))
    return {
        "event_type": kind or "other",
        "starts_on": starts,
        "ends_on": ends,
        "location": location,
        "format": event_format(text, vocab, location),
        "organizers": organizers(
            summary,
            vocab.get("organizer_cues", []),
            vocab.get("organisation_words", []),
            vocab.get("organizer_descriptors", []),
        ),
    }


def article_source(
    title: str, credited: str | None, genre: str, publishers: Iterable[str]
) -> str | None:
    """The publisher: "X Commentary:" in the title, a known publisher named, or the page credit."""
    title = fold(title)
    match = re.match(r"^([A-Z][\w.' ]{1,40}?)\s+(?:Commentary|Editorial|Opinion)\s*:", title)
    if match:
        return match.group(1)
    named = [p for p in publishers if find_keyword(p, title)]
    if named:
        return named[0]
    return credited if genre in ("research", "report") else None


def credited_publisher(intro: str) -> str | None:
    """An organisation the intro credits with articles: "X (ABBR) handed in 5 articles"."""
    match = re.search(
        r"([A-Z][\w ]+?)\s*\(([A-Z]{2,})\)\s+(?:handed in|submitted|contributed|presented)\s+"
        r"(?:\d+|\w+)\s+(?:\w+\s+)?(?:articles|papers|reports)",
        fold(intro),
    )
    return match.group(2) if match else None


def article_genre(title: str, summary: str, vocab: Mapping) -> str:
    """The genre: the headline's label ("Research: ..."), else what the text says it is
    ("this paper examines"), else the first genre word in the title, then the summary.

    A research paper titled "... Facts and Public Opinion" is research, not commentary.
    """
    order = vocab.get("order", [])
    label = re.match(r"^((?:\S+\s+){0,2}?\S+)\s*:", fold(title))
    labels = vocab.get("labels", {})
    if label:
        found = first_term(label.group(1).split()[-1], labels, order)
        if found:
            return found
    return (
        first_term(summary, vocab.get("self_described", {}), order)
        or first_term(title, vocab, order)
        or first_term(summary, vocab, order)
        or "other"
    )


def article_fields(
    title: str, summary: str, window: Window, credited: str | None, vocab: Mapping
) -> dict:
    """source, authors, genre and published_on of an article."""
    genre = article_genre(title, summary, vocab)
    byline = re.match(rf"^By\s+({NAME})(?:\s+and\s+({NAME}))?", fold(summary))
    authors = [name for name in byline.groups() if name] if byline else []
    return {
        "source": article_source(title, credited, genre, vocab.get("publishers", [])),
        "authors": authors,
        "genre": genre,
        "published_on": published_date(summary, window, vocab.get("published_verbs", [])),
    }


def statement_fields(
    title: str,
    summary: str,
    window: Window,
    vocab: SpeakerVocab,
    matcher: CountryMatcher,
    cues: Mapping,
) -> dict:
    """speaker, role, affiliation, type, date and on_behalf_of of a statement."""
    speaker = find_speaker(title, summary, vocab, matcher)
    behalf = on_behalf_of(summary, speaker.affiliation, matcher)
    text = f"{title}\n{summary}"
    return {
        "speaker": speaker.name,
        "speaker_role": speaker.role,
        "speaker_affiliation": speaker.affiliation,
        "statement_type": statement_type(text, speaker, behalf, cues),
        "delivered_on": event_date(text, window),
        "on_behalf_of": behalf,
        "event_id": None,
    }


def on_behalf_of(summary: str, affiliation: str | None, matcher: CountryMatcher) -> str | None:
    """Whom the speaker spoke for; not when another country speaks on someone's behalf."""
    text = fold(summary)
    for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z])", text):
        match = re.search(
            r"\bon behalf of\s+(.+?)(?=\s+(?:at|on|in|during|to)\s|[,.;]|$)", sentence
        )
        if match:
            subject = sentence[: match.start()]
            others = {code for _, _, code in country_spans(subject, matcher)} - {affiliation}
            if not others:
                return match.group(1)
        joint = re.match(
            r"^(.+?)\s+(?:on\s+\w+\s+)?(?:made|delivered|issued)\s+a\s+joint statement", sentence
        )
        if joint and len(country_spans(joint.group(1), matcher)) > 1:
            return joint.group(1)
    return None


def statement_type(text: str, speaker: Speaker, behalf: str | None, cues: Mapping) -> str:
    """speech, remarks, spokesperson, joint_statement, press_release or other."""
    text = fold(text)
    for kind in cues["order"]:
        words = cues.get(kind, [])
        if any(find_keyword(w, text) for w in words):
            return kind
        if kind == "joint_statement" and behalf:
            return kind
        if kind == "spokesperson" and (
            speaker.institution or "spokes" in (speaker.role or "").lower()
        ):
            return kind
        if kind == "speech" and _venue(text, cues.get("speech_venues", [])):
            return kind
    return "other"


def _venue(text: str, venues: list[str]) -> bool:
    """True when the text says it was said "at (the) <meeting word>"."""
    alternation = "|".join(re.escape(v) for v in venues)
    return bool(
        re.search(rf"\bat\s+(?:(?:a|an|the)\s+)?[^.,;]{{0,60}}?\b(?:{alternation})\b", text)
    )
