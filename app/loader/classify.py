"""Classify entries as article, event or statement with weighted rules kept as data.

Rules come from ``seed_data/rules/classification.toml``. Each rule gives ``weight``
points to one kind for every distinct keyword or pattern it finds in the title, the
summary, or the summary's first sentence (``lead``: who did what). A ``decisive`` rule
(a headline genre label such as "Interview:", the lead "Experts at an online event ...")
decides the kind by itself, first match in file order, with its stated ``confidence``.
Otherwise the kind with the highest total wins; ties go to the kind listed first in
``default_order`` (so an entry with no signal at all gets the first kind listed), and the
confidence is the winner's share of all points.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

KINDS = ("article", "event", "statement")
FIELDS = ("title", "summary", "any", "lead")
# The end of the first sentence: ". " before a capital (not "Mr." or "U.S.").
LEAD_END = re.compile(r"(?<=[a-z0-9)\]'\"])[.!?](?=\s+[A-Z\"]|\s*$)")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " "})


def fold(text: str) -> str:
    """Normalise curly quotes and long dashes so matching is quote-insensitive."""
    text = text.translate(_QUOTES)
    return re.sub(r"\s*[\u2014\u2015]+\s*", " - ", text)


@lru_cache(maxsize=4096)
def keyword_regex(keyword: str) -> re.Pattern[str]:
    """Compile a keyword: case-insensitive, whole words, trailing * matches any ending."""
    stem = keyword.strip()
    star = stem.endswith("*")
    words = [re.escape(part) for part in stem.rstrip("*").split()]
    body = r"\s+".join(words)
    tail = r"[\w'-]*" if star else r"(?![\w])"
    return re.compile(rf"(?<![\w-]){body}{tail}", re.IGNORECASE)


def find_keyword(keyword: str, text: str) -> re.Match[str] | None:
    """First whole-word match of a keyword in already folded text."""
    return keyword_regex(keyword).search(text)


@dataclass(frozen=True)
class Rule:
    """Points for one kind when any of its keywords/patterns occur in one field."""

    kind: str
    field: str
    weight: int
    keywords: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    note: str = ""
    decisive: bool = False
    confidence: float = 0.95


@dataclass(frozen=True)
class ClassificationRules:
    """All classification rules plus the tie-break order."""

    rules: tuple[Rule, ...]
    default_order: tuple[str, ...] = ("article", "statement", "event")


@dataclass(frozen=True)
class Hit:
    """One rule match that contributed to a score."""

    kind: str
    field: str
    term: str
    weight: int
    start: int = 0
    end: int = 0
    note: str = ""
    decisive: bool = False
    confidence: float = 0.95


@dataclass(frozen=True)
class Scores:
    """Per-kind totals, the hits behind them, the winning kind and how sure it is.

    ``decided_by`` is the decisive hit when one fired; ``start``/``end`` of a hit are
    offsets into the folded field text (the lead is the start of the summary).
    """

    totals: dict[str, int]
    hits: tuple[Hit, ...]
    kind: str
    confidence: float = 1.0
    decided_by: Hit | None = None

    @property
    def evidence(self) -> Hit | None:
        """The hit that best explains the kind: the decisive one, else the heaviest."""
        if self.decided_by:
            return self.decided_by
        own = [h for h in self.hits if h.kind == self.kind]
        return max(own, key=lambda h: h.weight) if own else None


def parse_rules(data: dict) -> ClassificationRules:
    """Build ClassificationRules from the parsed classification.toml table."""
    order = tuple(data.get("default_order", ("article", "statement", "event")))
    if sorted(order) != sorted(KINDS):
        raise ValueError(f"default_order must list {', '.join(KINDS)} once each")
    rules = []
    for number, raw in enumerate(data.get("rule", []), start=1):
        rule = Rule(
            kind=raw["kind"],
            field=raw.get("field", "any"),
            weight=int(raw.get("weight", 1)),
            keywords=tuple(raw.get("keywords", ())),
            patterns=tuple(raw.get("patterns", ())),
            note=raw.get("note", ""),
            decisive=bool(raw.get("decisive", False)),
            confidence=float(raw.get("confidence", 0.95)),
        )
        if rule.kind not in KINDS or rule.field not in FIELDS:
            raise ValueError(f"rule {number}: bad kind {rule.kind!r} or field {rule.field!r}")
        if not 0 < rule.confidence <= 1:
            raise ValueError(f"rule {number}: confidence must be in (0, 1]")
        for pattern in rule.patterns:
            re.compile(pattern)
        rules.append(rule)
    return ClassificationRules(tuple(rules), order)


def lead(summary: str) -> str:
    """The first sentence of a (folded) summary: its subject and main event."""
    match = LEAD_END.search(summary)
    return summary[: match.end()] if match else summary


def score_entry(title: str, summary: str, rules: ClassificationRules) -> Scores:
    """Score an entry for each kind and return the breakdown, the winner and a confidence."""
    folded = fold(summary)
    texts = {"title": fold(title), "summary": folded, "lead": lead(folded)}
    hits: list[Hit] = []
    for rule in rules.rules:
        fields = ("title", "summary") if rule.field == "any" else (rule.field,)
        for name in fields:
            hits.extend(_hits(rule, name, texts[name]))
    totals = {kind: 0 for kind in KINDS}
    for hit in hits:
        totals[hit.kind] += hit.weight
    decisive = next((h for h in hits if h.decisive), None)
    if decisive:
        return Scores(totals, tuple(hits), decisive.kind, decisive.confidence, decisive)
    best = max(totals.values())
    kind = next(k for k in rules.default_order if totals[k] == best)
    points = sum(totals.values())
    confidence = totals[kind] / points if points else 1 / len(KINDS)
    return Scores(totals, tuple(hits), kind, round(confidence, 2))


def classify(title: str, summary: str, rules: ClassificationRules) -> str:
    """The kind ("article", "event" or "statement") of an entry."""
    return score_entry(title, summary, rules).kind


def _hits(rule: Rule, field: str, text: str) -> list[Hit]:
    """One hit per keyword or pattern of a rule found in text (each counted once)."""
    found = [(kw, find_keyword(kw, text)) for kw in rule.keywords]
    found += [(p, re.search(p, text, re.IGNORECASE)) for p in rule.patterns]
    return [
        Hit(rule.kind, field, term, rule.weight, m.start(), m.end(), rule.note, rule.decisive,
            rule.confidence)
        for term, m in found
        if m
    ]
