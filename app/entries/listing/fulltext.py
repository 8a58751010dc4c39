"""Web-search query syntax, compiled for FTS5 (SQLite) and tsquery (PostgreSQL).

One parser serves both engines so they agree on meaning: words are ANDed,
"quoted phrases" match in order, `OR` between two items makes an alternative,
`-item` excludes, `field:item` searches one field and a trailing `*` makes a
word a prefix. Only word characters survive parsing, so nothing a client types
reaches either engine as syntax; broken input (an unbalanced quote, a lone
operator) degrades to the words it contains. English stop words are dropped on
both engines (PostgreSQL's english configuration drops them; FTS5 would not),
and both stem (Porter on SQLite, Snowball on PostgreSQL).

Fields: the entry's `title`, `summary` and `body` are columns of either index
(FTS5 columns; tsvector weights A, B, C). A kind's name fields (speaker, source,
…) share one indexed text, `search_fields`, in which each word follows its
field's marker (`zzspeakerzz chen zzspeakerzz xu`): `speaker:"chen xu"` is the
phrase `zzspeakerzz chen zzspeakerzz xu` there, which no other field's words
can match, on either engine, in one index.
"""

import html
import re
import threading
import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache, partial
from typing import Any

import snowballstemmer

MAX_QUERY_LENGTH = 500
MAX_ITEMS = 32
MIN_PREFIX = 3  # characters before a `*`: a shorter prefix would match most of the index
CORE_FIELDS = ("title", "summary", "body")  # entry columns: every kind has them
WEIGHT_LABELS = {"title": "A", "summary": "B", "body": "C"}  # their tsvector labels
FIELDS_COLUMN = "search_fields"  # the indexed text of every name field, words marked

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

# A token: an optional `-`, an optional `field:` (a letter first, and a word or a quote
# right after the colon), then a "phrase" (its closing quote optional) or a run of non-space.
_TOKEN = re.compile(r'(-?)(?:([A-Za-z][A-Za-z_]*):(?=["\w]))?(?:"([^"]*)"?|(\S+))')
# Letters and digits: both engines' tokenizers split words at `_` as at any punctuation.
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_PREFIX = re.compile(r"[^\W_]\*+$")  # a word's last character, then the `*`: `pover*`


def marker(name: str) -> str:
    """The token before each word of a name field in `search_fields` (`zzspeakerzz`): a
    word both engines keep as it is (no stemmer touches a final `zz`)."""
    return "zz" + name.replace("_", "") + "zz"


def field_text(name: str, values: Iterable[str]) -> str:
    """A name field's words as `search_fields` holds them, each after the field's marker."""
    token = marker(name)
    return " ".join(f"{token} {word}" for value in values for word in _WORD.findall(value))


def _is_marker(word: str) -> bool:
    return len(word) > 4 and word.startswith("zz") and word.endswith("zz")


@dataclass(frozen=True)
class Item:
    """A word or phrase: its words in order (one word for a plain term), the field it is
    limited to (None: any), and whether its last word is a prefix (`pover*`)."""

    words: tuple[str, ...]
    field: str | None = None
    prefix: bool = False


@dataclass(frozen=True)
class Marks:
    """Which words a highlight marks: by stem, or by a stem's beginning (prefixes)."""

    stems: frozenset[str]
    prefixes: tuple[str, ...]

    def hit(self, word: str) -> bool:
        """Whether the engines would have matched this word of the text."""
        stem = _stem(word)
        return stem in self.stems or (bool(self.prefixes) and stem.startswith(self.prefixes))


@dataclass
class TextQuery:
    """A parsed query: every group must match (a group is items ORed); no excluded may."""

    groups: list[list[Item]] = field(default_factory=list)
    excluded: list[Item] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        """True when nothing searchable is left."""
        return not self.groups and not self.excluded

    def positive(self) -> list[Item]:
        """Every item a match may rest on (not the excluded ones)."""
        return [item for group in self.groups for item in group]

    @cached_property
    def marks(self) -> dict[str, Marks]:
        """What highlights mark in the title and in the summary: the words of items on
        any field or on that one."""
        marks = {}
        for name in ("title", "summary"):
            items = [i for i in self.positive() if i.field in (None, name)]
            stems = {_stem(w) for i in items for w in (i.words[:-1] if i.prefix else i.words)}
            prefixes = tuple(_stem(i.words[-1]) for i in items if i.prefix)
            marks[name] = Marks(frozenset(stems), prefixes)
        return marks


class QueryError(ValueError):
    """A query the syntax refuses; the message says why."""


class UnknownField(QueryError):
    """`name:` where `name` is no field the query may search."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no field '{name}'")
        self.name = name


def _words(raw: list[str], prefix: bool, fields: Collection[str]) -> tuple[tuple[str, ...], bool]:
    """The words kept (no stop word, no marker) and whether the last is still a prefix.

    A prefix that is a stop word is dropped as PostgreSQL drops it; one that begins a
    field's marker too, so that `zzsp*` cannot match every speaker."""
    kept = [w for w in raw[:-1] if w not in STOP_WORDS and not _is_marker(w)]
    last = raw[-1]
    if prefix:
        markers = [marker(name) for name in fields if name not in CORE_FIELDS]
        if last in STOP_WORDS or any(m.startswith(last) for m in markers):
            return tuple(kept), False
        return (*kept, last), True
    if last not in STOP_WORDS and not _is_marker(last):
        kept.append(last)
    return tuple(kept), False


def _item(name: str | None, text: str, bare: bool,
          fields: Collection[str] | None) -> Item | None:
    """The item of a token: its words lower-cased, stop words dropped; its field; a prefix
    (`bare`: not a quoted phrase, so a `*` right after its last word is the prefix
    operator)."""
    chosen = None
    prefix = False
    if fields is None:  # plain text: `name:` and `*` are punctuation
        text = f"{name} {text}" if name else text
    else:
        if name:
            chosen = name.lower()
            if chosen not in fields:
                raise UnknownField(chosen)
        prefix = bare and _PREFIX.search(text) is not None
    raw = [w.lower() for w in _WORD.findall(text)]
    if not raw:
        return None
    if prefix and len(raw[-1]) < MIN_PREFIX:
        raise QueryError(f"a prefix needs at least {MIN_PREFIX} characters before '*' "
                         f"('{raw[-1]}*')")
    words, prefix = _words(raw, prefix, fields or ())
    return Item(words, chosen, prefix) if words else None


def parse(text: str, fields: Collection[str] | None = None) -> TextQuery:
    """Parse web-search syntax (QueryError: an unknown field or a too short prefix).

    `fields`: the names `field:` may take; None reads the text as plain words (a title
    to find related entries by), where `name:` and `*` are no operators."""
    query = TextQuery()
    pending_or = False
    for match in _TOKEN.finditer(text[:MAX_QUERY_LENGTH]):
        minus, name, phrase, word = match.groups()
        if word == "OR" and not minus and not name:
            pending_or = bool(query.groups)
            continue
        bare = phrase is None
        item = _item(name, word if bare else phrase, bare, fields)
        if item is None:
            continue
        if minus:
            query.excluded.append(item)
        elif pending_or:
            query.groups[-1].append(item)
        else:
            query.groups.append([item])
        pending_or = False
        if len(query.groups) + len(query.excluded) >= MAX_ITEMS:
            break
    return query


def _marked_words(item: Item) -> tuple[str, ...]:
    """A name-field item's words, each after the field's marker, as `search_fields` has them."""
    token = marker(item.field or "")
    return tuple(x for word in item.words for x in (token, word))


def _fts5_item(item: Item) -> str:
    # Words are letters and digits only, so quotes, `*`, `{column} :` are all the FTS5
    # syntax we emit.
    column, words = item.field, item.words
    if column is not None and column not in CORE_FIELDS:
        column, words = FIELDS_COLUMN, _marked_words(item)
    phrase = '"' + " ".join(words) + '"' + ("*" if item.prefix else "")
    return phrase if column is None else "{" + column + "} : " + phrase


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


def _tsquery_item(item: Item) -> str:
    """An item as to_tsquery() text: a phrase joined with <->, a title/summary/body word
    limited to its label (`poverti:A`), a name field's words after its marker, `:*` on a
    prefix."""
    label, words = WEIGHT_LABELS.get(item.field or "", ""), item.words
    if item.field is not None and not label:
        words = _marked_words(item)
    lexemes = [f"{word}:{label}" if label else word for word in words]
    if item.prefix:
        lexemes[-1] = f"{words[-1]}:*{label}"
    return "(" + " <-> ".join(lexemes) + ")"


def to_tsquery_text(query: TextQuery) -> str | None:
    """The whole query as to_tsquery() text: & between groups, | within, !( ) to exclude.

    Words are already free of tsquery syntax.
    """
    parts = ["(" + " | ".join(_tsquery_item(i) for i in group) + ")" for group in query.groups]
    parts += ["!" + _tsquery_item(i) for i in query.excluded]
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


def _porter(word: str) -> str:
    """A word as SQLite's FTS5 index holds it (diacritics removed, Porter-stemmed)."""
    folded = unicodedata.normalize("NFKD", word)
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return _stemmer("porter").stemWord(plain.lower())


def index_terms(query: TextQuery) -> list[str]:
    """The positive words as SQLite's FTS5 index holds them, prefixes aside."""
    words = (w for i in query.positive() for w in (i.words[:-1] if i.prefix else i.words))
    return sorted({_porter(w) for w in words})


def index_prefixes(query: TextQuery) -> list[str]:
    """The positive prefixes as FTS5 looks them up (its tokenizer stems them too)."""
    return sorted({_porter(i.words[-1]) for i in query.positive() if i.prefix})


def _marked(text: str, marks: Marks) -> str:
    """HTML-escaped text with matching words in <mark>."""
    out: list[str] = []
    position = 0
    for match in _WORD.finditer(text):
        out.append(_escape(text[position:match.start()]))
        word = match.group(0)
        out.append(f"<mark>{_escape(word)}</mark>" if marks.hit(word) else _escape(word))
        position = match.end()
    out.append(_escape(text[position:]))
    return "".join(out)


def _snippet(text: str, marks: Marks) -> str:
    """About SNIPPET_WORDS words around the first match, marked, with ellipses where cut."""
    words = list(_WORD.finditer(text))
    hit = next((i for i, m in enumerate(words) if marks.hit(m.group(0))), 0)
    start = max(0, hit - SNIPPET_WORDS // 3)
    end = min(len(words), start + SNIPPET_WORDS)
    if not words:
        return _escape(text)
    begin = 0 if start == 0 else words[start].start()
    finish = len(text) if end == len(words) else words[end - 1].end()
    marked = _marked(text[begin:finish], marks)
    return ("…" if begin else "") + marked + ("…" if finish < len(text) else "")


def highlights(query: TextQuery, title: str, summary: str) -> dict[str, str]:
    """`{"title": …, "summary": …}` with matched words in <mark>, the rest escaped: the
    words of items on any field, or on that one (`title:poverty` marks the title only)."""
    marks = query.marks
    return {"title": _marked(title, marks["title"]),
            "summary": _snippet(summary, marks["summary"])}
