"""An iCalendar (RFC 5545) of events, built with the `icalendar` library.

The library folds lines at 75 octets, ends them with CRLF and escapes text
values (commas, semicolons, backslashes, newlines).
"""

from datetime import timedelta
from typing import Any

from icalendar import Calendar, Event

from app.core.clock import as_utc

ICS_MEDIA_TYPE = "text/calendar; charset=utf-8"
PRODID = "-//hrc-digest//Human Rights Council events//EN"


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
    event.add("summary", item["title"])
    if item.get("summary"):
        event.add("description", item["summary"])
    if item.get("location"):
        event.add("location", item["location"])
    if item.get("url"):
        event.add("url", item["url"])
    if item.get("topics"):
        event.add("categories", list(item["topics"]))
    return event


def render(name: str, items: list[dict[str, Any]]) -> bytes:
    """The calendar as bytes; events without a start date are left out."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    for item in items:
        if item.get("starts_on") is not None:
            calendar.add_component(vevent(item))
    return calendar.to_ical()
