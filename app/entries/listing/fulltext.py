"""Web-search query syntax, compiled for FTS5 (SQLite) and tsquery (PostgreSQL).

One parser serves both engines so they agree on meaning: words are ANDed,
"quoted phrases" match in order, `OR` between two items makes an alternative,
and `-item` excludes. Only word characters survive parsing, so nothing a
client types reaches either engine as syntax; broken input (an unbalanced
quote, a lone operator) degrades to the words it contains. English stop words
are dropped on both engines (PostgreSQL's english configuration drops them;
FTS5 would not), and both stem (Porter on SQLite, Snowball on PostgreSQL).
"""

import html
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Any

import snowballstemmer

MAX_QUERY_LENGTH = 500
MAX_ITEMS = 32

# PostgreSQL's english stop-word list (snowball), so both engines ignore the same words.
STOP_WORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being
below between both but by can did do does doing don down during each few for from further
had has have having he her here hers herself him himself his how i if in into is it its
itself just me more most my myself no nor not now of off on once only or other our ours
ourselves out over own s same she should so some such t than that the their theirs them
themselves then there these they this those through to too under until up very was we were
what when where which while who whom why will with you your yours yourself yourselves
""".split())  # noqa: SIM905

_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Item:
    """A word or phrase: its words in order (one word for a plain term)."""

    words: tuple[str, ...]


@dataclass
class TextQuery:
    """A parsed query: every group must match (a group is items ORed); no excluded may."""

    groups: list[list[Item]] = field(default_factory=list)
    excluded: list[Item] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        """True when nothing searchable is left."""
        return not self.groups and not self.excluded

    def words(self) -> list[str]:
        """Every positive word (for highlighting)."""
        return [w for group in self.groups for item in group for w in item.words]


def _item(text: str) -> Item | None:
    """Words of a token or phrase, lower-cased, stop words dropped."""
    words = tuple(w for w in (m.lower() for m in _WORD.findall(text)) if w not in STOP_WORDS)
    return Item(words) if words else None


def parse(text: str) -> TextQuery:
    """Parse web-search syntax; never fails, whatever the input."""
    query = TextQuery()
    pending_or = False
    for match in _TOKEN.finditer(text[:MAX_QUERY_LENGTH]):
        minus, phrase, word = match.group(1), match.group(2), match.group(3)
        if word is not None and word == "OR":
            pending_or = bool(query.groups)
            continue
        negate = bool(minus) or (word is not None and word.startswith("-") and len(word) > 1)
        item = _item(phrase if phrase is not None else word)
        if item is None:
            continue
        if negate:
            query.excluded.append(item)
        elif pending_or:
            query.groups[-1].append(item)
        else:
            query.groups.append([item])
        pending_or = False
        if len(query.groups) + len(query.excluded) >= MAX_ITEMS:
            break
    return query


def _fts5_item(item: Item) -> str:
    # Words are \w+ only, so double quotes are the only FTS5 syntax we emit.
    return '"' + " ".join(item.words) + '"'


def to_fts5(query: TextQuery) -> str | None:
    """The FTS5 MATCH expression of the positive part (None when there is none)."""
    if not query.groups:
        return None
    groups = ["(" + " OR ".join(_fts5_item(i) for i in group) + ")" for group in query.groups]
    expression = " AND ".join(groups)
    for item in query.excluded:
        expression = f"({expression}) NOT {_fts5_item(item)}"
    return expression


def fts5_any(items: list[Item]) -> str:
    """An FTS5 expression matching any of these items."""
    return " OR ".join(_fts5_item(i) for i in items)


def to_tsquery_text(query: TextQuery) -> str | None:
    """The whole query as to_tsquery() text: & between groups, | within, !( ) to exclude.

    Words are already free of tsquery syntax; a phrase is joined with <->.
    """
    def item_text(item: Item) -> str:
        return "(" + " <-> ".join(item.words) + ")"

    parts = ["(" + " | ".join(item_text(i) for i in group) + ")" for group in query.groups]
    parts += ["!" + item_text(i) for i in query.excluded]
    return " & ".join(parts) if parts else None


# Highlighting happens here rather than in the engines, so both engines return
# the same markup and the escaping is ours: text is HTML-escaped, marks are added.
# snowballstemmer's stemmers keep state while they work: one per thread.
_local = threading.local()
# Text content needs only &, < and > escaped; quotes stay readable.
_escape = partial(html.escape, quote=False)
SNIPPET_WORDS = 36


def _stemmer(algorithm: str) -> Any:
    stemmers = getattr(_local, "stemmers", None)
    if stemmers is None:
        stemmers = _local.stemmers = {}
    if algorithm not in stemmers:
        stemmers[algorithm] = snowballstemmer.stemmer(algorithm)
    return stemmers[algorithm]


@lru_cache(maxsize=65_536)
def _stem(word: str) -> str:
    """A word's Snowball stem; cached, as the pure-Python stemmer is slow and a
    page of highlights stems a few thousand words from a small vocabulary."""
    return _stemmer("english").stemWord(word.lower())


def index_terms(query: TextQuery) -> list[str]:
    """The positive words as SQLite's FTS5 index holds them (folded, Porter-stemmed)."""
    porter = _stemmer("porter")
    folded = (unicodedata.normalize("NFKD", w) for w in query.words())
    plain = ("".join(ch for ch in w if not unicodedata.combining(ch)) for w in folded)
    return sorted({porter.stemWord(w.lower()) for w in plain})


def _marked(text: str, stems: set[str]) -> tuple[str, int | None]:
    """HTML-escaped text with matching words in <mark>; and the first match's offset."""
    out: list[str] = []
    position, first = 0, None
    for match in _WORD.finditer(text):
        out.append(_escape(text[position:match.start()]))
        word = match.group(0)
        if _stem(word) in stems:
            first = match.start() if first is None else first
            out.append(f"<mark>{_escape(word)}</mark>")
        else:
            out.append(_escape(word))
        position = match.end()
    out.append(_escape(text[position:]))
    return "".join(out), first


def _snippet(text: str, stems: set[str]) -> str:
    """About SNIPPET_WORDS words around the first match, marked, with ellipses where cut."""
    words = list(_WORD.finditer(text))
    hit = next((i for i, m in enumerate(words) if _stem(m.group(0)) in stems), 0)
    start = max(0, hit - SNIPPET_WORDS // 3)
    end = min(len(words), start + SNIPPET_WORDS)
    if not words:
        return _escape(text)
    begin = 0 if start == 0 else words[start].start()
    finish = len(text) if end == len(words) else words[end - 1].end()
    marked, _ = _marked(text[begin:finish], stems)
    return ("…" if begin else "") + marked + ("…" if finish < len(text) else "")


def highlights(query: TextQuery, title: str, summary: str) -> dict[str, str]:
    """`{"title": …, "summary": …}` with matched words in <mark>, the rest escaped."""
    stems = {_stem(word) for word in query.words()}
    marked_title, _ = _marked(title, stems)
    return {"title": marked_title, "summary": _snippet(summary, stems)}
