"""Classify entries as article, event or statement with weighted rules kept as data.

Rules come from ``seed_data/rules/classification.toml``. Each rule gives ``weight``
points to one kind for every distinct keyword or pattern it finds in the title or the
summary. The kind with the highest total wins; ties go to the kind listed first in
``default_order`` (so an entry with no signal at all gets the first kind listed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

KINDS = ("article", "event", "statement")
FIELDS = ("title", "summary", "any")
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


@dataclass(frozen=True)
class Scores:
    """Per-kind totals, the hits behind them, and the winning kind."""

    totals: dict[str, int]
    hits: tuple[Hit, ...]
    kind: str


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
        )
        if rule.kind not in KINDS or rule.field not in FIELDS:
            raise ValueError(f"rule {number}: bad kind {rule.kind!r} or field {rule.field!r}")
        for pattern in rule.patterns:
            re.compile(pattern)
        rules.append(rule)
    return ClassificationRules(tuple(rules), order)


def score_entry(title: str, summary: str, rules: ClassificationRules) -> Scores:
    """Score an entry for each kind and return the breakdown and the winner."""
    texts = {"title": fold(title), "summary": fold(summary)}
    hits: list[Hit] = []
    for rule in rules.rules:
        fields = ("title", "summary") if rule.field == "any" else (rule.field,)
        for name in fields:
            hits.extend(
                Hit(rule.kind, name, term, rule.weight) for term in _terms(rule, texts[name])
            )
    totals = {kind: 0 for kind in KINDS}
    for hit in hits:
        totals[hit.kind] += hit.weight
    best = max(totals.values())
    kind = next(k for k in rules.default_order if totals[k] == best)
    return Scores(totals, tuple(hits), kind)


def classify(title: str, summary: str, rules: ClassificationRules) -> str:
    """The kind ("article", "event" or "statement") of an entry."""
    return score_entry(title, summary, rules).kind


def _terms(rule: Rule, text: str) -> list[str]:
    """The keywords and patterns of a rule found in text (each counted once)."""
    found = [kw for kw in rule.keywords if find_keyword(kw, text)]
    found += [p for p in rule.patterns if re.search(p, text, re.IGNORECASE)]
    return found
