"""Atom 1.0 (RFC 4287) documents built with the standard library's ElementTree.

ElementTree escapes `&`, `<` and `>` in text and quotes in attributes; characters
XML 1.0 cannot carry at all (C0 controls but tab and line ends, lone surrogates)
are dropped first.
"""

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.core.clock import as_utc

ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM_MEDIA_TYPE = "application/atom+xml; charset=utf-8"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FEED_AUTHOR = "hrc-digest"
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class FeedInfo:
    """What describes a feed as a whole."""

    id: str
    title: str
    self_url: str
    alternate_url: str


def rfc3339(value: datetime) -> str:
    """A timestamp as RFC 3339 in UTC with a `Z`."""
    return as_utc(value).isoformat().replace("+00:00", "Z")


def xml_text(value: Any) -> str:
    """Text with the characters XML 1.0 forbids removed."""
    return _NOT_XML.sub("", str(value))


def _child(parent: ET.Element, tag: str, text: Any = None, **attributes: str) -> ET.Element:
    """Append a child element with optional text and attributes."""
    element = ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attributes.items()})
    if text is not None:
        element.text = xml_text(text)
    return element


def _author(parent: ET.Element, name: str) -> None:
    """An atom:author with a name."""
    _child(_child(parent, "author"), "name", name)


def entry_authors(item: dict[str, Any]) -> list[str]:
    """Who wrote an entry: an article's authors (else its source), a statement's speaker."""
    authors = [name for name in item.get("authors") or [] if name]
    if authors:
        return authors
    return [name for name in (item.get("source"), item.get("speaker")) if name]


def _entry(feed: ET.Element, item: dict[str, Any], link: str) -> None:
    """One atom:entry for an item."""
    entry = _child(feed, "entry")
    _child(entry, "id", f"urn:hrc-digest:{item['type']}:{item['slug']}")
    _child(entry, "title", item["title"], type="text")
    _child(entry, "updated", rfc3339(item["updated_at"]))
    _child(entry, "published", rfc3339(item["created_at"]))
    for name in entry_authors(item):
        _author(entry, name)
    # A reader opens the `alternate`: the original article when there is one, else the
    # entry's JSON (an entry with no content needs an alternate, RFC 4287 §4.1.1).
    if item.get("url"):
        _child(entry, "link", rel="alternate", href=item["url"])
        _child(entry, "link", rel="related", type="application/json", href=link)
    else:
        _child(entry, "link", rel="alternate", type="application/json", href=link)
    for topic in item.get("topics") or []:
        _child(entry, "category", term=topic)
    if item.get("summary"):
        _child(entry, "summary", item["summary"], type="text")


def feed_updated(items: Iterable[dict[str, Any]]) -> datetime:
    """The newest entry's updated_at, or the epoch for an empty feed."""
    return max((as_utc(item["updated_at"]) for item in items), default=EPOCH)


def render(info: FeedInfo, items: list[dict[str, Any]], link: Callable[[dict], str]) -> bytes:
    """The feed document as UTF-8 bytes with an XML declaration."""
    feed = ET.Element("feed", xmlns=ATOM_NS)
    _child(feed, "id", info.id)
    _child(feed, "title", info.title, type="text")
    _child(feed, "updated", rfc3339(feed_updated(items)))
    _author(feed, FEED_AUTHOR)
    _child(feed, "generator", "hrc-digest")
    _child(feed, "link", rel="self", type="application/atom+xml", href=info.self_url)
    _child(feed, "link", rel="alternate", type="application/json", href=info.alternate_url)
    for item in items:
        _entry(feed, item, link(item))
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)
