"""Citations: entries as CSL-JSON, RIS and BibTeX, for reference managers (Zotero, …).

One mapping, driven by each kind's `Citation` declaration, makes a CSL-JSON item of a
row of `repository.cited_select`; the RIS and BibTeX records are written from that item,
so the three formats always say the same. Exports stream a record at a time.
"""

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson

from app.core.responses import dumps
from app.entries.repository import SESSION_NAME, linked_title_label
from app.entries.slugs import slugify
from app.entries.spec import KindSpec

# CSL type -> RIS type: the ones Zotero reads back as the same kind of item (a speech is
# its "presentation", SLIDE); anything else is generic.
RIS_TYPES = {"article-newspaper": "NEWS", "article-journal": "JOUR", "report": "RPRT",
             "speech": "SLIDE"}
# CSL type -> BibTeX entry type (anything else is @misc), and the field naming where it
# appeared (a journal, the issuing institution, or how it was published).
BIBTEX_TYPES = {"article-newspaper": "article", "article-journal": "article",
                "report": "techreport"}
BIBTEX_CONTAINER = {"article": "journal", "techreport": "institution", "misc": "howpublished"}
BIBTEX_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                 "dec")
# LaTeX's special characters in text: each becomes its escaped form.
_TEX_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "&": r"\&", "%": r"\%",
                "$": r"\$", "#": r"\#", "_": r"\_", "~": r"\textasciitilde{}",
                "^": r"\textasciicircum{}"}
_TEX_PATTERN = re.compile("|".join(re.escape(c) for c in _TEX_SPECIAL))
FLUSH_BYTES = 64 * 1024


def citation_key(row: Mapping[str, Any]) -> str:
    """A record's stable key (CSL `id`, RIS `ID`, BibTeX key): its type and slug."""
    return f"{row['type']}:{row['slug']}"


def _names(value: Any) -> list[dict[str, str]]:
    """Names as CSL literals: people and organisations alike, never split wrongly."""
    names = value if isinstance(value, list) else [value] if value else []
    return [{"literal": name} for name in names]


def _parts(day: date) -> list[int]:
    return [day.year, day.month, day.day]


def _issued(row: Mapping[str, Any]) -> list[list[int]] | None:
    """When the entry is placed, as CSL date-parts, no more precise than its placement:
    a day; a month (year and month); a session (the session's first and last day, a
    range); nothing when the placement is unknown (docs/api.md, Dates and precision)."""
    start, precision = row.get("date"), row.get("date_precision", "day")
    if start is None or precision == "unknown":
        return None
    if precision == "month":
        return [[start.year, start.month]]
    if precision == "session" and row.get("date_from") and row.get("date_to"):
        return [_parts(row["date_from"]), _parts(row["date_to"])]
    return [_parts(start)]


def _date_text(parts: list[list[int]]) -> str:
    """Date-parts as ISO 8601 (a range as `first/last`, as biblatex reads it)."""
    return "/".join("-".join(f"{n:04d}" if i == 0 else f"{n:02d}" for i, n in enumerate(p))
                    for p in parts)


def csl_item(spec: KindSpec, row: Mapping[str, Any]) -> dict[str, Any]:
    """A CSL-JSON item (CSL 1.0.1 variables) of one cited row of this kind."""
    cited = spec.citation
    field = row.get  # a declaration that names no field looks up None: absent
    session = field(SESSION_NAME)
    event = (field(linked_title_label(cited.event)) or session) if cited.event else None
    start, issued = field("date"), _issued(row)
    span = [_parts(day) for day in (start, field(cited.end_date)) if day]  # first, last day
    known_day = field("date_precision", "day") == "day"
    values: dict[str, Any] = {
        "author": _names(field(cited.author)),
        "issued": {"date-parts": issued} if issued else None,
        "event-date": {"date-parts": span} if known_day and start and cited.end_date
        else None,
        "container-title": field(cited.container),
        "event": event,
        "event-place": field(cited.place),
        "collection-title": session,
        "URL": field("url"),
        "abstract": field("summary"),
        "language": field("language"),
        "keyword": ", ".join(field("topics") or ()),
    }
    kind = cited.types.get(field(cited.type_field), cited.csl_type)
    item = {"id": citation_key(row), "type": kind, "title": row["title"]}
    return item | {name: value for name, value in values.items() if value}


def _line(text: Any) -> str:
    """A value on one line: runs of whitespace, line breaks included, become one space."""
    return " ".join(str(text).split())


def ris_record(item: Mapping[str, Any]) -> str:
    """One RIS record (tags per the RIS specification, CRLF line ends)."""
    tags: list[tuple[str, Any]] = [("TY", RIS_TYPES.get(item["type"], "GEN")),
                                   ("ID", item["id"]), ("TI", item["title"])]
    tags += [("AU", name["literal"]) for name in item.get("author", ())]
    if "issued" in item:
        parts = item["issued"]["date-parts"]
        year = parts[0][0]
        tags.append(("PY", f"{year:04d}"))
        if len(parts) == 1:  # a day, or a month (RIS leaves the unknown part empty)
            month, day = (parts[0][1:] + [None, None])[:2]
            tags.append(("DA", f"{year:04d}/{month:02d}/{'' if day is None else f'{day:02d}'}/"))
    tags += [("T2", item.get("container-title") or item.get("event")),
             ("T3", item.get("collection-title")), ("CY", item.get("event-place")),
             ("AB", item.get("abstract")), ("LA", item.get("language"))]
    tags += [("KW", word) for word in item.get("keyword", "").split(", ") if word]
    tags += [("UR", item.get("URL")), ("ER", "")]
    return "".join(f"{tag}  - {_line(value)}\r\n" for tag, value in tags
                   if value is not None) + "\r\n"


def tex(text: Any) -> str:
    """Text as a BibTeX field value: LaTeX's special characters escaped, on one line."""
    return _TEX_PATTERN.sub(lambda match: _TEX_SPECIAL[match.group()], _line(text))


def _url(url: str) -> str:
    # A URL stays as it is (\url reads it raw); only what would break the braces is encoded.
    return url.replace("\\", "%5C").replace("{", "%7B").replace("}", "%7D")


def bibtex_entry(item: Mapping[str, Any]) -> str:
    """One BibTeX entry; authors braced whole, so no style splits a name wrongly."""
    entry_type = BIBTEX_TYPES.get(item["type"], "misc")
    authors = " and ".join("{" + tex(name["literal"]) + "}" for name in item.get("author", ()))
    fields: list[tuple[str, str | None]] = [("author", "{" + authors + "}" if authors else None),
                                            ("title", "{" + tex(item["title"]) + "}")]
    where = item.get("container-title") or item.get("event")
    if where:
        fields.append((BIBTEX_CONTAINER[entry_type], "{" + tex(where) + "}"))
    if "issued" in item:
        parts = item["issued"]["date-parts"]
        fields.append(("year", f"{{{parts[0][0]}}}"))
        if len(parts) == 1:  # a day or a month; a session's range has no one month
            fields.append(("month", BIBTEX_MONTHS[parts[0][1] - 1]))
        fields.append(("date", f"{{{_date_text(parts)}}}"))
    for name, key in (("address", "event-place"), ("note", "collection-title"),
                      ("abstract", "abstract"), ("language", "language"),
                      ("keywords", "keyword")):
        if item.get(key):
            fields.append((name, "{" + tex(item[key]) + "}"))
    if item.get("URL"):
        fields.append(("url", "{" + _url(item["URL"]) + "}"))
    body = ",\n".join(f"  {name} = {value}" for name, value in fields if value)
    return f"@{entry_type}{{{item['id']},\n{body}\n}}\n\n"


def _csl_array(items: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """A JSON array, written an item at a time."""
    separator = b"[\n"
    for item in items:
        yield separator + dumps(item)
        separator = b",\n"
    yield b"[]\n" if separator == b"[\n" else b"\n]\n"


_NAMES = {"type": "array", "items": {"type": "object", "properties": {
    "literal": {"type": "string"}}}}
_DATE = {"type": "object", "properties": {"date-parts": {"type": "array", "items": {
    "type": "array", "items": {"type": "integer"}}}}}
CSL_ITEM = {
    "type": "object", "title": "CSL-JSON item",
    "description": "A CSL-JSON item (CSL 1.0.1 variables); absent fields are left out.",
    "required": ["id", "type", "title"],
    "properties": {"id": {"type": "string"}, "type": {"type": "string"},
                   "title": {"type": "string"}, "author": _NAMES, "issued": _DATE,
                   "event-date": _DATE} | {name: {"type": "string"} for name in (
                       "container-title", "event", "event-place", "collection-title", "URL",
                       "abstract", "language", "keyword")},
}


@dataclass(frozen=True)
class CitationFormat:
    """A citation format: its media type, file extension, and how records are written."""

    name: str
    media_type: str
    extension: str
    one: Callable[[dict[str, Any]], bytes]  # one record, the detail route's document
    many: Callable[[Iterable[dict[str, Any]]], Iterator[bytes]]  # an export's records
    json: bool = False  # JSON (always UTF-8), else text

    @property
    def content_type(self) -> str:
        """The Content-Type header: the media type, with the charset for text formats."""
        return self.media_type if self.json else f"{self.media_type}; charset=utf-8"

    def openapi(self, body: bytes, *, many: bool) -> dict[str, Any]:
        """OpenAPI `content` of this format with `body` as its example."""
        if not self.json:
            return {"schema": {"type": "string"}, "example": body.decode()}
        schema = {"type": "array", "items": CSL_ITEM} if many else CSL_ITEM
        return {"schema": schema, "example": orjson.loads(body)}


def _texts(write: Callable[[dict[str, Any]], str]
           ) -> Callable[[Iterable[dict[str, Any]]], Iterator[bytes]]:
    return lambda items: (write(item).encode() for item in items)


FORMATS = {fmt.name: fmt for fmt in (
    CitationFormat("csl-json", "application/vnd.citationstyles.csl+json", "json",
                   dumps, _csl_array, json=True),
    CitationFormat("ris", "application/x-research-info-systems", "ris",
                   lambda item: ris_record(item).encode(), _texts(ris_record)),
    CitationFormat("bibtex", "application/x-bibtex", "bib",
                   lambda item: bibtex_entry(item).encode(), _texts(bibtex_entry)),
)}
BY_MEDIA_TYPE = {fmt.media_type: fmt for fmt in FORMATS.values()}


def export_chunks(fmt: CitationFormat, rows: Iterable[Mapping[str, Any]],
                  kinds: Mapping[str, KindSpec]) -> Iterator[bytes]:
    """An export's bytes, in chunks of about 64 KiB (`kinds`: each row's spec by type)."""
    items = (csl_item(kinds[row["type"]], row) for row in rows)
    pending: list[bytes] = []
    size = 0
    for chunk in fmt.many(items):
        pending.append(chunk)
        size += len(chunk)
        if size >= FLUSH_BYTES:
            yield b"".join(pending)
            pending, size = [], 0
    if pending:
        yield b"".join(pending)


# --- examples for the OpenAPI document: the kinds' own example records, cited --------


def _example_row(spec: KindSpec) -> dict[str, Any]:
    record = spec.example
    row = {**record, "type": spec.type, "slug": slugify(record["title"])}
    for name in ("date", spec.citation.end_date):
        value = record.get(spec.primary_date if name == "date" else name)
        row[name] = date.fromisoformat(value) if isinstance(value, str) else value
    return row


def entry_examples(spec: KindSpec) -> dict[str, dict[str, Any]]:
    """OpenAPI `content` of the detail route's citations: each format's example."""
    item = csl_item(spec, _example_row(spec))
    return {fmt.media_type: fmt.openapi(fmt.one(item), many=False) for fmt in FORMATS.values()}


def export_examples(kinds: tuple[KindSpec, ...]) -> dict[str, dict[str, Any]]:
    """OpenAPI `content` of a citation export: each format's file of the kinds' examples."""
    rows = [_example_row(spec) for spec in kinds]
    by_type = {spec.type: spec for spec in kinds}
    return {fmt.media_type: fmt.openapi(b"".join(export_chunks(fmt, rows, by_type)), many=True)
            for fmt in FORMATS.values()}
