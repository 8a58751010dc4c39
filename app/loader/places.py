"""Places: countries named in text, where an event was held, its format, its organisers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pycountry

from app.loader.classify import find_keyword, fold

MONTH_OR_DAY = re.compile(
    r"^(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)$"
)
TIME_TAIL = re.compile(
    r"\s+(?:on|in)\s+(?:[A-Z][a-z]+day|(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?"
    r"\s+\d).*$"
)
# What follows an organiser's name but is not part of it: when and how the event was held.
CIRCUMSTANCE_TAIL = re.compile(
    r"\s+(?:on the (?:sidelines|margins)|during|ahead of|via|online|virtually|"
    r"to (?:discuss|mark|share|exchange|explore)|which|where|with the (?:support|help))\b.*$"
)
# A comma then a lower-case word other than "and"/"the" starts a new clause ("..., drew 50").
COMMA_CLAUSE = re.compile(r",\s+(?!(?:and|the)\b)[a-z].*$")
SUBJECT_WORD = re.compile(r"^(?:[A-Z(][\w.'()&-]*|of|the|and|for|to|in|on|at|de|'s)$")


@dataclass(frozen=True)
class CountryMatcher:
    """A compiled matcher from country names, short forms and demonyms to ISO codes."""

    regex: re.Pattern[str]
    codes: Mapping[str, str]


def build_country_matcher(aliases: Mapping[str, str], blockers: Iterable[str]) -> CountryMatcher:
    """Compile pycountry names plus aliases; blockers match but name no country."""
    codes: dict[str, str] = {}
    for country in pycountry.countries:
        for attr in ("name", "common_name", "official_name"):
            name = getattr(country, attr, None)
            if name:
                codes[name] = country.alpha_2
    codes.update({name: code.upper() for name, code in aliases.items()})
    codes.update({phrase: "" for phrase in blockers})
    names = sorted(codes, key=lambda n: (-len(n), n))
    alternation = "|".join(re.escape(n) for n in names)
    return CountryMatcher(re.compile(rf"(?<![\w.])(?:{alternation})(?![\w])"), codes)


def country_spans(text: str, matcher: CountryMatcher) -> list[tuple[int, int, str]]:
    """(start, end, code) of each country mention, longest name first, blockers skipped."""
    spans = []
    for match in matcher.regex.finditer(fold(text)):
        code = matcher.codes[match.group(0)]
        if code:
            spans.append((match.start(), match.end(), code))
    return spans


def find_countries(text: str, matcher: CountryMatcher) -> list[str]:
    """Sorted distinct ISO alpha-2 codes of the countries named in text."""
    return sorted({code for _, _, code in country_spans(text, matcher)})


def country_code(phrase: str, matcher: CountryMatcher) -> str | None:
    """The code of a phrase that is exactly one country name ("China's" counts)."""
    phrase = re.sub(r"'s?$", "", fold(phrase).strip())
    return matcher.codes.get(phrase) or None


def event_location(text: str, place_verbs: Iterable[str]) -> str | None:
    """The place after "held in", "hosted in"…: where the event took place."""
    verbs = "|".join(re.escape(v) for v in place_verbs)
    pattern = (
        rf"\b(?:{verbs})\s+(?:online\s+|virtually\s+)?in\s+(?:the\s+)?"
        r"([A-Z][\w'-]+(?:\s+[A-Z][\w'-]+){0,2})"
    )
    for match in re.finditer(pattern, fold(text)):
        words = [w for w in match.group(1).split() if not MONTH_OR_DAY.match(w)]
        if words and words == match.group(1).split():
            return match.group(1)
    return None


def event_format(text: str, cues: Mapping[str, list[str]], location: str | None) -> str:
    """online, hybrid, in_person or unknown, from the words of the text."""
    text = fold(text)
    has = {name: any(find_keyword(k, text) for k in cues.get(name, [])) for name in cues}
    if has.get("hybrid") or (has.get("online") and has.get("in_person")):
        return "hybrid"
    if has.get("online"):
        return "online"
    if has.get("in_person") or location:
        return "in_person"
    return "unknown"


def organizers(
    text: str, cues: Iterable[str], org_words: Iterable[str], descriptors: Iterable[str] = ()
) -> list[str]:
    """Organisers named after "sponsored by" etc., else an organisation subject."""
    span = organizer_span(text, cues, org_words)
    if span is None:
        return []
    phrase = fold(text)[span[0] : span[1]]
    return [strip_descriptor(part, descriptors) for part in _split_organizers(phrase)]


def organizer_span(
    text: str, cues: Iterable[str], org_words: Iterable[str]
) -> tuple[int, int] | None:
    """(start, end) in the folded text of the phrase naming the organisers, if any.

    A cue "<verb> by" also matches with a few words between the verb and "by"
    ("convened on Monday by", "hosted online by", "jointly organised in Geneva by").
    """
    text = fold(text)
    for cue in sorted(cues, key=len, reverse=True):
        verb = re.escape(cue.removesuffix(" by")) if cue.endswith(" by") else None
        pattern = rf"\b{verb}\b(?:\s+(?!by\b)[^\s.;]+){{0,6}}?\s+by\s+" if verb else (
            rf"\b{re.escape(cue)}\s+")
        match = re.search(pattern + r"([^.;]+)", text, re.IGNORECASE)
        if match:
            phrase = COMMA_CLAUSE.sub("", match.group(1))
            phrase = CIRCUMSTANCE_TAIL.sub("", TIME_TAIL.sub("", phrase)).rstrip(" ,")
            return match.start(1), match.start(1) + len(phrase)
    return _subject_organizer(text, org_words)


def strip_descriptor(name: str, descriptors: Iterable[str]) -> str:
    """Drop a leading descriptor ("Geneva-based", "non-profit") before a proper name."""
    for pattern in descriptors:
        match = re.match(rf"(?:{pattern})\s+(?=[A-Z])", name)
        if match:
            return name[match.end():]
    return name


def _split_organizers(phrase: str) -> list[str]:
    """Split "the X and the Y" into ["X", "Y"] (only before a "the")."""
    parts = re.split(r",\s*(?:and\s+)?(?=the\s)|\s+and\s+(?=the\s)", phrase.strip())
    return [re.sub(r"^(?:the|an?)\s+", "", p.strip(" ,")) for p in parts if p.strip(" ,")]


def _subject_organizer(text: str, org_words: Iterable[str]) -> tuple[int, int] | None:
    """An organisation that is the subject of "held/hosted/introduced" in the text.

    The subject must read like a name (capitalised words and connectors only), so
    "the president of the Council said the session had been held" is no organiser.
    """
    words = "|".join(re.escape(w) for w in org_words)
    pattern = (
        rf"(?:^|[.!?]\s+)((?:The\s+)?[A-Z][^,.;]*?\b(?:{words})\b[^,.;]*?)"
        r"\s+(?:on\s+\w+\s+)?(?:held|hosted|organi[sz]ed|introduced|convened|presented)\b"
    )
    match = re.search(pattern, text)
    if not match or not all(SUBJECT_WORD.match(w) for w in match.group(1).split()):
        return None
    start = match.start(1) + (4 if match.group(1).startswith("The ") else 0)
    return start, match.end(1)
