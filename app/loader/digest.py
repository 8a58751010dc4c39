"""Parse a digest page: an intro paragraph, then entries of title, blank line, summary.

The parser keeps the original wording of titles and summaries (curly quotes included);
quote-insensitive matching is the job of the classifier and the enrichers (see ``fold``
in ``app.loader.classify``). Lines made only of dashes (``——``, ``---``) count as blank.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

MORE_RE = re.compile(r"\s*\[\s*more\s*\.{2,3}\s*\]\s*$", re.IGNORECASE)
SEPARATOR_RE = re.compile(r"^[\-\u2010-\u2015_*=~\s]+$")
TITLE_MAX = 500
SUMMARY_MAX = 20_000


class DigestError(Exception):
    """A malformed digest page: where it is wrong and why."""

    def __init__(self, source: str, line: int, message: str) -> None:
        self.source = source
        self.line = line
        self.message = message
        super().__init__(f"{source}:{line}: {message}")


@dataclass(frozen=True)
class DigestEntry:
    """One entry of a page; line is the 1-based line of its title.

    ``title_at`` is the offset of the title in the page text and ``summary_at`` the page
    offset of every character of ``summary`` (which joins lines and collapses spaces), so
    evidence found in the entry can be pointed at in the page as it was written.
    """

    title: str
    summary: str
    line: int
    has_more: bool = True
    title_at: int = 0
    summary_at: tuple[int, ...] = ()


@dataclass(frozen=True)
class DigestPage:
    """A parsed page: its intro paragraph and its entries in page order."""

    source: str
    intro: str
    intro_line: int
    entries: list[DigestEntry] = field(default_factory=list)
    text: str = ""
    intro_at: tuple[int, ...] = ()

    def line_of(self, offset: int) -> int:
        """The 1-based line of a character offset into the page text."""
        return _line_of(self.text, offset)


@dataclass(frozen=True)
class _Block:
    """A run of non-blank lines and the line number of its first line."""

    line: int
    lines: tuple[str, ...]
    starts: tuple[int, ...] = ()

    @property
    def has_more(self) -> bool:
        """True when the block ends with the [more..] marker."""
        return bool(MORE_RE.search(self.lines[-1]))

    @property
    def text(self) -> str:
        """The block's lines joined with single spaces, marker removed."""
        joined = " ".join(self.lines)
        return " ".join(MORE_RE.sub("", joined).split())

    def offsets(self) -> tuple[int, ...]:
        """The page offset of each character of ``text`` (a joining space: the line end)."""
        chars: list[str] = []
        where: list[int] = []
        for line, start in zip(self.lines, self.starts, strict=True):
            if chars:
                chars.append(" ")
                where.append(where[-1] + 1)
            chars.extend(line)
            where.extend(range(start, start + len(line)))
        joined = "".join(chars)
        more = MORE_RE.search(joined)
        cut = more.start() if more else len(joined)
        out: list[int] = []
        for token in re.finditer(r"\S+", joined[:cut]):
            if out:
                out.append(where[token.start() - 1])
            out.extend(where[token.start() : token.end()])
        return tuple(out)


def read_digest(path: Path, *, source: str | None = None) -> DigestPage:
    """Read a page from disk, decoding strict UTF-8 (a leading BOM is tolerated)."""
    name = source if source is not None else str(path)
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DigestError(name, line, f"not valid UTF-8 (byte 0x{data[err.start]:02x})") from None
    return parse_digest(text, source=name)


def parse_digest(text: str, *, source: str) -> DigestPage:
    """Parse the text of a page; raise DigestError on the first malformation."""
    text = text.removeprefix("\ufeff")
    _check_text(text, source)
    blocks = _blocks(text)
    if not blocks:
        raise DigestError(source, 1, "empty page: no intro and no entries")
    intro, rest = blocks[0], blocks[1:]
    if intro.has_more or (len(intro.lines) == 1 and rest and _single_summary(rest[0])):
        raise DigestError(source, intro.line, "page has no intro paragraph before the first entry")
    entries = _entries(rest, source)
    if not entries:
        raise DigestError(source, intro.line, "page has an intro but no entries")
    return DigestPage(source, intro.text, intro.line, entries, text, intro.offsets())


def _check_text(text: str, source: str) -> None:
    """Reject blank pages and binary data before any parsing."""
    if not text.strip():
        raise DigestError(source, 1, "empty page: no intro and no entries")
    if "\x00" in text:
        raise DigestError(source, _line_of(text, text.index("\x00")), "binary data (NUL byte)")
    controls = [i for i, ch in enumerate(text) if ord(ch) < 32 and ch not in "\t\n\r\f"]
    if controls and len(controls) * 10 > len(text):
        raise DigestError(source, _line_of(text, controls[0]), "binary data (control characters)")


def _line_of(text: str, index: int) -> int:
    """The 1-based line number of a character offset."""
    return len(re.findall(r"\r\n|\r|\n", text[:index])) + 1


def _blocks(text: str) -> list[_Block]:
    """Split text into blocks of non-blank lines (CR, LF or CRLF line ends)."""
    blocks: list[_Block] = []
    current: list[str] = []
    starts: list[int] = []
    start = 0
    offset = 0
    for number, match in enumerate(re.finditer(r"([^\r\n]*)(\r\n|\r|\n|$)", text), start=1):
        raw = match.group(1)
        line = raw.strip()
        if match.start() == len(text) and number > 1 and not raw:
            break
        offset = match.start() + len(raw) - len(raw.lstrip())
        if not line or SEPARATOR_RE.match(line):
            if current:
                blocks.append(_Block(start, tuple(current), tuple(starts)))
            current, starts = [], []
            continue
        if not current:
            start = number
        current.append(line)
        starts.append(offset)
    if current:
        blocks.append(_Block(start, tuple(current), tuple(starts)))
    return blocks


def _entries(blocks: list[_Block], source: str) -> list[DigestEntry]:
    """Pair title blocks with the summary block that follows each."""
    entries: list[DigestEntry] = []
    i = 0
    while i < len(blocks):
        title = blocks[i]
        _check_title(title, source)
        summary = blocks[i + 1] if i + 1 < len(blocks) else None
        after = blocks[i + 2] if i + 2 < len(blocks) else None
        if summary is None:
            raise DigestError(source, title.line, "title has no summary (page ends after it)")
        if _title_like(summary) and after is not None and after.has_more:
            raise DigestError(
                source, title.line, "title has no summary (next line is another title)"
            )
        entries.append(_entry(title, summary, source))
        i += 2
    return entries


def _title_like(block: _Block) -> bool:
    """A single line without the [more..] marker could be a title."""
    return len(block.lines) == 1 and not block.has_more and len(block.lines[0]) <= TITLE_MAX


def _single_summary(block: _Block) -> bool:
    """A one-line block ending in [more..]: certainly a summary."""
    return len(block.lines) == 1 and block.has_more


def _check_title(block: _Block, source: str) -> None:
    """A title is one line, not ending in [more..], at most TITLE_MAX characters."""
    if block.has_more and len(block.lines) > 1:
        message = "summary has no title before it (or the blank line after a title is missing)"
        raise DigestError(source, block.line, message)
    if block.has_more:
        raise DigestError(source, block.line, "summary has no title before it")
    if len(block.lines) > 1:
        raise DigestError(
            source,
            block.line,
            "title spans several lines (a title is one line followed by a blank line)",
        )
    if len(block.lines[0]) > TITLE_MAX:
        raise DigestError(source, block.line, f"title is longer than {TITLE_MAX} characters")


def _entry(title: _Block, summary: _Block, source: str) -> DigestEntry:
    """Build one entry, checking the summary is not empty or oversized."""
    text = summary.text
    if not text:
        raise DigestError(source, summary.line, "summary is empty")
    if len(text) > SUMMARY_MAX:
        raise DigestError(source, summary.line, f"summary is longer than {SUMMARY_MAX} characters")
    return DigestEntry(
        title.lines[0], text, title.line, summary.has_more, title.starts[0], summary.offsets()
    )
