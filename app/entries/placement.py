"""Where an entry lies in time and how precisely: `date`, `date_precision`, `date_from`,
`date_to`, decided here for every write (API, bulk, import, the loader) and stored on the
entry's core row.

| precision | `date` | `date_from` .. `date_to` |
|---|---|---|
| `day` | the kind's primary date | that day .. that day |
| `month` | the month's first day | the month's first .. last day |
| `session` | the session's first day | the session's first .. last day |
| `unknown` | null | null .. null |

Derived, most precise first: a primary date gives `day`; else a `month` the writer sent;
else the dates of the entry's session (reference data) give `session`; else `unknown`.
`date` is the only date the database keeps for an entry: the primary date is read back
from it at `day` precision (repository.kind_select), so the two cannot disagree.

A writer may send `date_precision` and `date`: `month` with any day of the month places an
entry known only to its month; `day` with a `date` and no primary date sets the primary
date; anything else must be what derivation gives (a 422 naming the field otherwise), so
an exported record loads back unchanged. `date_from` / `date_to` are never taken from a
writer. When a session's dates change, its entries placed by it are placed again
(`replace_session`).
"""

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.entries import repository as repo
from app.entries import tallies
from app.entries.fields import PLACEMENT_DERIVED, PLACEMENT_INPUT
from app.entries.models import Entry
from app.entries.registry import BY_TYPE
from app.reference.models import CouncilSession

if TYPE_CHECKING:
    from app.entries.spec import KindSpec

entries = Entry.__table__
sessions = CouncilSession.__table__

Problem = tuple[list[str | int], str]  # (location within the record, message)
SessionDates = dict[int, tuple[date, date]]  # session number -> (starts_on, ends_on)
# The placements a session's dates decide: placed again when those dates change.
SESSION_PLACED = ("session", "unknown")
MOVED_PER_STATEMENT = 10_000  # ids bound in one statement (PostgreSQL takes 65,535)


def session_dates(session: Session, numbers: Iterable[int | None]) -> SessionDates:
    """The first and last day of these sessions, for those whose dates are both known."""
    wanted = sorted({number for number in numbers if number is not None})
    if not wanted:
        return {}
    rows = session.execute(select(sessions.c.number, sessions.c.starts_on, sessions.c.ends_on)
                           .where(sessions.c.number.in_(wanted),
                                  sessions.c.starts_on.is_not(None),
                                  sessions.c.ends_on.is_not(None)))
    return {number: (starts, ends) for number, starts, ends in rows}


def month_bounds(day: date) -> tuple[date, date]:
    """The first and last day of a day's month."""
    first = day.replace(day=1)
    return first, (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def placed(precision: str, day: date | None = None,
           bounds: tuple[date, date] | None = None) -> dict[str, Any]:
    """The four stored fields of a placement."""
    if precision == "day" and day is not None:
        bounds = (day, day)
    elif precision == "month" and day is not None:
        bounds = month_bounds(day)
    if bounds is None:
        return {"date": None, "date_precision": "unknown", "date_from": None, "date_to": None}
    return {"date": bounds[0], "date_precision": precision, "date_from": bounds[0],
            "date_to": bounds[1]}


def derived(spec: "KindSpec", record: dict[str, Any], dates: SessionDates) -> dict[str, Any]:
    """The placement the record's own fields give (a `month` it was sent included)."""
    primary = record.get(spec.primary_date)
    if primary is not None:
        return placed("day", primary)
    if record.get("date_precision") == "month" and record.get("date") is not None:
        return placed("month", record["date"])
    return placed("session", bounds=dates.get(record.get("session")))  # type: ignore[arg-type]


def _why(spec: "KindSpec", placement: dict[str, Any], record: dict[str, Any]) -> str:
    """What the derived placement comes from, for an error message."""
    if placement["date_precision"] == "day":
        return f"{spec.primary_date} is {placement['date']}"
    if placement["date_precision"] == "session":
        return (f"session {record['session']} runs {placement['date_from']} to "
                f"{placement['date_to']}")
    if placement["date_precision"] == "month":
        return "date_precision is month"
    return f"no {spec.primary_date} and no session dates"


def problems(spec: "KindSpec", record: dict[str, Any], placement: dict[str, Any]
             ) -> list[Problem]:
    """Where a placement the writer sent disagrees with the derived one."""
    given, day = record.get("date_precision"), record.get("date")
    if given == "month" and day is None and record.get(spec.primary_date) is None:
        return [(["date"], "date_precision 'month' needs a date (any day of the month)")]
    if given in (None, "month"):
        return []
    found: list[Problem] = []
    why = _why(spec, placement, record)
    if given != placement["date_precision"]:
        found.append((["date_precision"], f"is '{given}' but the entry is placed at "
                      f"'{placement['date_precision']}' ({why})"))
    elif day is not None and day != placement["date"]:
        found.append((["date"], f"is {day} but the entry is placed at "
                      f"{placement['date'] or 'no date'} ({why})"))
    return found


def _pin_day(spec: "KindSpec", record: dict[str, Any]) -> None:
    """`day` with a date and no primary date: the date becomes the primary date."""
    if (record.get("date_precision") == "day" and record.get("date") is not None
            and record.get(spec.primary_date) is None):
        record[spec.primary_date] = record["date"]


def place_records(session: Session, spec: "KindSpec", records: Sequence[dict[str, Any]]
                  ) -> dict[int, list[Problem]]:
    """Place each record (its four placement fields set in place); by position, what is
    wrong with a placement a writer sent."""
    dates = session_dates(session, (record.get("session") for record in records))
    found: dict[int, list[Problem]] = {}
    for position, record in enumerate(records):
        _pin_day(spec, record)
        placement = derived(spec, record, dates)
        wrong = problems(spec, record, placement)
        if wrong:
            found[position] = wrong
        record.update(placement)
    return found


def patch_base(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """What a PATCH merges its changes into: the writable fields, with the stored placement
    kept only where a writer chose it (a `month`) or the PATCH names it; else derived anew
    (so a new primary date or session moves the entry)."""
    base = {k: v for k, v in current.items() if k not in PLACEMENT_DERIVED}
    if base.get("date_precision") != "month":
        for name in PLACEMENT_INPUT:
            base.pop(name, None)
    return base | changes


def replace_session(db: Session, number: int, now: datetime) -> None:
    """Place again the entries of a session whose dates changed: each placed by the session
    (or unknown for want of its dates) gets the new placement, a new version and a change
    row, like any other change to its stored fields."""
    bounds = session_dates(db, [number]).get(number)
    target = placed("session", bounds=bounds)
    moved = (select(entries.c.id)
             .where(entries.c.session == number, entries.c.date_precision.in_(SESSION_PLACED),
                    (entries.c.date_precision != target["date_precision"])
                    | (entries.c.date_from.is_distinct_from(target["date_from"]))
                    | (entries.c.date_to.is_distinct_from(target["date_to"])))
             .order_by(entries.c.id).with_for_update())
    ids = list(db.scalars(moved))  # locked: the tallies read before are what is replaced
    rows = []
    for start in range(0, len(ids), MOVED_PER_STATEMENT):
        chunk = ids[start:start + MOVED_PER_STATEMENT]
        before = tallies.counted(db, chunk)
        rows += db.execute(
            update(entries).where(entries.c.id.in_(chunk))
            .values(version=entries.c.version + 1, updated_at=now, **target)
            .returning(entries.c.id, entries.c.type, entries.c.slug, entries.c.version)
            .execution_options(synchronize_session=False)).all()
        tallies.queue(db, tallies.counted(db, chunk), before)
    for row in rows:
        repo.record_changes(db, BY_TYPE[row.type], [(row.id, row.slug, row.version)],
                            "updated", now)
