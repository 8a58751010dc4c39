"""Dates: explicit dates and weekday mentions resolved against a session's window.

Never guesses: a date without a year is resolved only when the session's year is known,
and a weekday ("on Wednesday") only when exactly one such weekday lies in the window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from app.loader.classify import fold

MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.?(?![a-z])"
)
DAY = r"[0-3]?\d(?:st|nd|rd|th)?\b"
YEAR = r"(?:19|20)\d\d\b"
DATE_RE = re.compile(
    rf"\b(?P<m>{MONTH})\s+(?P<d>{DAY})(?:,?\s+(?P<y>{YEAR}))?"
    rf"|\b(?P<xd>{DAY})\s+(?:of\s+)?(?P<xm>{MONTH})(?:,?\s+(?P<xy>{YEAR}))?"
)
_ONE = rf"{MONTH}\s+{DAY}(?:,?\s+{YEAR})?"
RANGE_RE = re.compile(
    rf"\b(?:between|from)\s+(?P<a>{_ONE})\s+(?:and|to|until|till|through)\s+(?P<b>{_ONE})"
    rf"|\b(?P<m>{MONTH})\s+(?P<d1>[0-3]?\d)\s*[-\u2013]\s*(?P<d2>[0-3]?\d)\b(?:,?\s+(?P<y>{YEAR}))?"
)
YEAR_RE = re.compile(r"\b(?:19|20)\d\d\b")


@dataclass(frozen=True)
class Window:
    """What is known of the session's dates: its start, end and year (any may be None)."""

    start: date | None = None
    end: date | None = None
    year: int | None = None


def _month_number(text: str) -> int | None:
    """The month number of a month name or abbreviation."""
    return MONTHS.get(text.rstrip(".").lower()[:3])


def _valid(year: int, month: int, day: int) -> date | None:
    """A date, or None when the day does not exist."""
    try:
        return date(year, month, day)
    except ValueError:
        return None


def resolve_year(month: int, day: int, window: Window) -> date | None:
    """Give a month/day the year that puts it inside (or nearest to) the session window."""
    if window.start and window.end:
        candidates = sorted({window.start.year, window.end.year})
        low, high = window.start - timedelta(days=31), window.end + timedelta(days=31)
        for year in candidates:
            found = _valid(year, month, day)
            if found and low <= found <= high:
                return found
        return _valid(candidates[0], month, day)
    year = window.year or next((d.year for d in (window.start, window.end) if d), None)
    return _valid(year, month, day) if year else None


def explicit_dates(text: str, window: Window) -> list[date]:
    """Every explicit date ("Feb. 26", "March 1, 2021", "22 February") in order."""
    found = []
    for match in DATE_RE.finditer(fold(text)):
        groups = {k.removeprefix("x"): v for k, v in match.groupdict().items() if v}
        month, day = _month_number(groups["m"]), int(re.sub(r"\D", "", groups["d"]))
        if month is None:
            continue
        year = groups.get("y")
        value = _valid(int(year), month, day) if year else resolve_year(month, day, window)
        if value:
            found.append(value)
    return found


def date_range(text: str, window: Window) -> tuple[date, date] | None:
    """A "between X and Y" / "from X to Y" / "March 1-3" range; a trailing year applies to both."""
    for match in RANGE_RE.finditer(fold(text)):
        if match.group("a"):
            last = explicit_dates(match.group("b"), window)
            year = YEAR_RE.search(match.group("b"))
            local = Window(year=last[0].year) if year and last else window
            first = explicit_dates(match.group("a"), local)
        else:
            month = _month_number(match.group("m")) or 1
            local = Window(year=int(match.group("y"))) if match.group("y") else window
            first = [d for d in [resolve_year(month, int(match.group("d1")), local)] if d]
            last = [d for d in [resolve_year(month, int(match.group("d2")), local)] if d]
        if first and last and first[0] <= last[0]:
            return first[0], last[0]
    return None


def weekday_date(name: str, window: Window) -> date | None:
    """The only date with this weekday inside the window, or None if not exactly one."""
    if not (window.start and window.end) or name not in WEEKDAYS:
        return None
    index = WEEKDAYS.index(name)
    days = (window.end - window.start).days + 1
    matches = [
        window.start + timedelta(days=i)
        for i in range(days)
        if (window.start + timedelta(days=i)).weekday() == index
    ]
    return matches[0] if len(matches) == 1 else None


def event_date(text: str, window: Window) -> date | None:
    """The first explicit date, else an unambiguous "on <weekday>", else None."""
    dates = explicit_dates(text, window)
    if dates:
        return dates[0]
    match = re.search(r"\bon\s+(" + "|".join(WEEKDAYS) + r")\b", text)
    return weekday_date(match.group(1), window) if match else None


def published_date(text: str, window: Window, verbs: list[str]) -> date | None:
    """A date given as the publication date ("published on March 3"), else None."""
    alternation = "|".join(re.escape(v) for v in verbs)
    for match in re.finditer(rf"\b(?:{alternation})\s+(?:on\s+)?(.{{3,30}})", fold(text)):
        dates = explicit_dates(match.group(1), window)
        if dates:
            return dates[0]
    return None


def intro_window(intro: str) -> tuple[date | None, date | None]:
    """Session dates read from an intro: a range, or a single opening date; year required."""
    years = YEAR_RE.findall(intro)
    window = Window(year=int(years[0])) if years else Window()
    if window.year is None:
        return None, None
    found = date_range(intro, window)
    if found:
        return found
    dates = explicit_dates(intro, window)
    return (dates[0], None) if dates else (None, None)


PRECISIONS = ("day", "month", "session", "unknown")
_DAYS = "|".join(WEEKDAYS)
# "the session came to a close on Wednesday": the weekday of the session's first or last day.
BOUNDARY_RE = re.compile(
    rf"\b(?P<verb>opened|opens|began|begins|started|kicked off|closed|closes|concluded|"
    rf"ended|ends|wrapped up|came to a close|came to an end)"
    rf"(?:\s+(?:its|the)\s+[^.;,]{{0,50}}?)?\s+(?:on\s+)?(?P<day>{_DAYS})\b"
)
CLOSING = ("closed", "closes", "concluded", "ended", "ends", "wrapped up", "came to a close",
           "came to an end")
MONTH_ONLY_RE = re.compile(
    rf"\b(?:[Ii]n|[Dd]uring)\s+(?:early\s+|mid-|late\s+)?(?P<m>{MONTH})(?:\s+(?P<y>{YEAR}))?"
    r"(?!\s*\d)"
)


@dataclass(frozen=True)
class Placement:
    """When an entry happened and how precisely that is known.

    ``day``: the text states the day or context pins it; ``month``: only the month is
    stated; ``session``: only the session is known (``date`` is its first day, ``date_from``
    / ``date_to`` its dates); ``unknown``: nothing, not even the session's dates. ``span``
    is the (start, end) in the folded text of what placed it, when a phrase did.
    """

    date: date | None
    precision: str
    rule: str
    date_from: date | None = None
    date_to: date | None = None
    span: tuple[int, int] | None = None


def boundary_weekday(text: str, window: Window) -> tuple[date, tuple[int, int]] | None:
    """A weekday pinned by the session's opening or closing ("came to a close on Wednesday").

    The only candidate is the session's first (opening) or last (closing) day; it is kept
    only if it is that weekday, so a weekday that contradicts the session dates gives nothing.
    """
    match = BOUNDARY_RE.search(fold(text))
    if not match or not (window.start and window.end):
        return None
    day = window.end if match.group("verb") in CLOSING else window.start
    if WEEKDAYS[day.weekday()] != match.group("day"):
        return None
    return day, (match.start(), match.end())


def month_only(text: str, window: Window) -> tuple[date, tuple[int, int]] | None:
    """The first "in March (2021)" with no day: the month's first day, year from the window."""
    for match in MONTH_ONLY_RE.finditer(fold(text)):
        month = _month_number(match.group("m"))
        year = int(match.group("y")) if match.group("y") else None
        if month is None:
            continue
        first = date(year, month, 1) if year else resolve_year(month, 1, window)
        if first:
            return first, (match.start(), match.end())
    return None


def place(known: date | None, text: str, window: Window, kind: str) -> Placement:
    """Place an entry in time: its primary date, else a pinned weekday (events and
    statements), else a stated month, else the session, else unknown. Never a guessed day."""
    if known is not None:
        return Placement(known, "day", "dates: the entry's primary date")
    if kind != "article":  # an article's dates are its subject's, not its publication's
        pinned = boundary_weekday(text, window)
        if pinned:
            return Placement(pinned[0], "day", "dates: weekday of the session's opening or "
                             "closing day", span=pinned[1])
        month = month_only(text, window)
        if month:
            return Placement(month[0], "month", "dates: a month without a day", span=month[1])
    if window.start and window.end:
        return Placement(window.start, "session", "dates: only the session is known",
                         window.start, window.end)
    return Placement(None, "unknown", "dates: no date in the text and no session dates")
