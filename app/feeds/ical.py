"""An iCalendar (RFC 5545) of events, built with the `icalendar` library.

The library folds lines at 75 octets, ends them with CRLF and escapes text
values (commas, semicolons, backslashes, newlines). Control characters, which
RFC 5545 does not allow in a TEXT value (CONTROL: all of C0 but HTAB, and DEL),
are removed first, as are C1 controls and lone surrogates (not UTF-8 at all);
line ends become newlines, which the library writes as `\\n`.
"""

import re
from datetime import timedelta
from typing import Any

from icalendar import Calendar, Event

from app.core.clock import as_utc

ICS_MEDIA_TYPE = "text/calendar; charset=utf-8"
PRODID = "-//hrc-digest//Human Rights Council events//EN"
_LINE_ENDS = re.compile("\r\n?")
_NOT_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def ical_text(value: object) -> str:
    """Text an iCalendar TEXT value may carry: no control characters but tab and newline."""
    return _NOT_TEXT.sub("", _LINE_ENDS.sub("\n", str(value)))


def uid(item: dict[str, Any]) -> str:
    """A UID that survives reloads: slugs are the natural key."""
    return f"{item['slug']}@hrc-digest"


def vevent(item: dict[str, Any]) -> Event:
    """One all-day VEVENT for a dated event."""
    event = Event()
    event.add("uid", uid(item))
    event.add("dtstamp", as_utc(item["updated_at"]))
    event.add("created", as_utc(item["created_at"]))
    event.add("last-modified", as_utc(item["updated_at"]))
    event.add("dtstart", item["starts_on"])
    event.add("dtend", (item.get("ends_on") or item["starts_on"]) + timedelta(days=1))
    event.add("summary", ical_text(item["title"]))
    if item.get("summary"):
        event.add("description", ical_text(item["summary"]))
    if item.get("location"):
        event.add("location", ical_text(item["location"]))
    if item.get("url"):
        event.add("url", ical_text(item["url"]))
    if item.get("topics"):
        event.add("categories", [ical_text(topic) for topic in item["topics"]])
    return event


def render(name: str, items: list[dict[str, Any]]) -> bytes:
    """The calendar as bytes; events without a known start day are left out."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", ical_text(name))  # the filters, as the client sent them
    for item in items:
        if item.get("starts_on") is not None and item.get("date_precision") == "day":
            calendar.add_component(vevent(item))
    return calendar.to_ical()
