"""Entry use cases, the same for every kind: validate, fill defaults, version, delegate SQL."""

import json
import re
from collections.abc import Collection
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from app.core.clock import as_utc, utcnow
from app.core.errors import BadRequest, Conflict, NotFound, PreconditionFailed, Unprocessable
from app.core.responses import coded_tag
from app.entries import repository as repo
from app.entries.fields import PLACEMENT_DERIVED, PLACEMENT_INPUT
from app.entries.placement import patch_base
from app.entries.references import reference_problems, resolve_links
from app.entries.registry import KINDS
from app.entries.schemas import SERVER_FIELDS
from app.entries.slugs import slugify, with_suffix
from app.entries.spec import KindSpec


def public(spec: KindSpec, row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as the client sees it."""
    row["type"] = spec.type
    row["created_at"] = as_utc(row["created_at"])
    row["updated_at"] = as_utc(row["updated_at"])
    return row


def etag(row: dict[str, Any]) -> str:
    """Strong validator of an entry: one representation per id and version."""
    return f'"{row["id"]}-{row["version"]}"'


def get(session: Session, spec: KindSpec, entry_id: int) -> dict[str, Any]:
    """One entry or a 404."""
    return read(session, spec, "id", entry_id)


READERS = {"id": repo.get_by_id, "slug": repo.get_by_slug}


def _missing(spec: KindSpec, key: str, value: Any) -> NotFound:
    if key == "id":
        return NotFound(f"{spec.type} {value} does not exist")
    return NotFound(f"no {spec.type} has {key} '{value}'")


def read(connection: Connection | Session, spec: KindSpec, key: str, value: Any
         ) -> dict[str, Any]:
    """One entry by `id` or `slug` (`key`), or a 404."""
    row = READERS[key](connection, spec, value)
    if row is None:
        raise _missing(spec, key, value)
    return public(spec, row)


def read_alone(engine: Engine, spec: KindSpec, key: str, value: Any, *,
               versioned: bool = False) -> tuple[dict[str, Any], int | None]:
    """`read` for a route that reads nothing else, on a connection of its own (a detail
    answered as JSON without `include`), and the data version it was read at when
    `versioned` (None: not asked, or not to be kept; `app.entries.answers`)."""
    row = repo.read_by(engine, spec, key, value, versioned=versioned)
    if row is None:
        raise _missing(spec, key, value)
    version = row.pop("_version", None)
    return public(spec, row), version


def get_cited(connection: Connection, spec: KindSpec, key: str, value: Any
              ) -> dict[str, Any]:
    """One entry by `id` or `slug` as its citation reads it (linked titles, the session's
    name), or a 404."""
    row = repo.get_cited(connection, spec, key, value)
    if row is None:
        raise _missing(spec, key, value)
    return row


def check_references(session: Session, spec: KindSpec, record: dict[str, Any],
                     loc: tuple[str | int, ...] = ("body",)) -> None:
    """422 naming every topic, country, session or linked entry that does not exist."""
    problems = reference_problems(session, spec, [record]).get(0)
    if problems:
        errors = [{"loc": [*loc, *where], "msg": msg} for where, msg in problems]
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:5])
        raise Unprocessable(detail, errors=errors)


def _free_slug(session: Session, spec: KindSpec, title: str) -> str:
    """The title's slug, or it suffixed one past the highest -N another entry of the kind has."""
    base = slugify(title)
    taken = repo.slugs_like(session, spec, base)
    if base not in taken:
        return base
    suffixes = [s[len(base) + 1:] for s in taken if s.startswith(base + "-")]
    number = max((int(x) for x in suffixes if x.isdigit()), default=1) + 1
    candidate = with_suffix(base, number)
    while repo.slugs_taken(session, spec, [candidate]):  # only when the base was truncated
        number += 1
        candidate = with_suffix(base, number)
    return candidate


def _validated(spec: KindSpec, data: dict[str, Any]) -> dict[str, Any]:
    """Validate a full record with the kind's Create model (422 naming each bad field)."""
    try:
        return spec.create_model.model_validate(data).model_dump()
    except ValidationError as exc:
        errors = [{"loc": ["body", *err["loc"]], "msg": err["msg"]} for err in exc.errors()]
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:5])
        raise Unprocessable(detail, errors=errors) from None


def create(session: Session, spec: KindSpec, payload: BaseModel,
           provenance: dict[str, Any] | None = None) -> dict[str, Any]:
    """Create an entry; 409 when its explicit slug is taken."""
    record = payload.model_dump()
    resolve_links(session, spec, record, payload.model_fields_set)
    check_references(session, spec, record)
    if record["slug"] is None:
        record["slug"] = _free_slug(session, spec, record["title"])
    elif repo.slugs_taken(session, spec, [record["slug"]]):
        raise Conflict(f"{spec.type} slug '{record['slug']}' already exists")
    record["provenance"] = provenance
    entry_id = repo.insert_entry(session, spec, record, utcnow())
    if entry_id is None:  # another request took the slug between our check and the insert
        raise Conflict(f"{spec.type} slug '{record['slug']}' already exists")
    return get(session, spec, entry_id)


# RFC 9110 §8.8.3: an entity tag is a quoted string, optionally marked weak (W/).
_TAG = r'[ \t]*(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"[ \t]*'
IF_MATCH_PATTERN = rf"^(?:[ \t]*\*[ \t]*|{_TAG}(?:,{_TAG})*)$"  # what If-Match may hold
_IF_MATCH = re.compile(IF_MATCH_PATTERN)
_ENTITY_TAGS = re.compile(r'(W/)?("[^"]*")')  # in a valid header: each tag, weak or not


def if_match_tags(if_match: str | None) -> set[str] | None:
    """The strong entity tags an If-Match header lists ({"*"} for any); None when absent.

    A malformed header is a 400: a client sending `27-1` where `"27-1"` is meant must be
    told so, not sent a 412 asking it to refetch the version it already holds."""
    if if_match is None:
        return None
    if if_match.strip() == "*":
        return {"*"}
    if not _IF_MATCH.match(if_match):
        raise BadRequest(f"If-Match: {if_match[:80]!r} is not a list of entity tags; an ETag "
                         'is sent as it was received, in double quotes (e.g. "27-1")',
                         errors=[{"loc": ["header", "If-Match"], "msg": "malformed ETag"}])
    # Weak tags never match for If-Match (strong comparison): they are dropped.
    return {tag for weak, tag in _ENTITY_TAGS.findall(if_match) if not weak}


def _for_write(session: Session, spec: KindSpec, entry_id: int, if_match: str | None,
               *, delete: bool = False) -> dict[str, Any]:
    """The entry, locked until the transaction ends, when it exists and If-Match allows."""
    tags = if_match_tags(if_match)
    if not repo.lock_entry(session, spec, entry_id, delete=delete):
        raise NotFound(f"{spec.type} {entry_id} does not exist")
    current = get(session, spec, entry_id)
    if tags is not None and "*" not in tags and not tags & current_tags(current):
        raise _stale(current)
    return current


def current_tags(row: dict[str, Any]) -> set[str]:
    """The strong tags of an entry's current representations: its JSON as is, and gzipped
    (what a GET gave a client that accepts gzip, app.core.http gzips it)."""
    tag = etag(row)
    return {tag, coded_tag(tag)}


def _stale(current: dict[str, Any]) -> PreconditionFailed:
    return PreconditionFailed(
        f"{current['type']} {current['id']} is at version {current['version']}; "
        "fetch it again and retry")


def _to_the_millisecond(value: datetime) -> datetime:
    """A time as a JavaScript Date keeps it: to the millisecond, in UTC."""
    value = as_utc(value)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _read_only_problem(spec: KindSpec, current: dict[str, Any], name: str, given: Any
                       ) -> str | None:
    """Why a read-only field sent back differs from the stored entry's, or None."""
    stored = current[name]
    if name in ("created_at", "updated_at"):
        if _to_the_millisecond(given) == _to_the_millisecond(stored):
            return None
    elif given == stored:
        return None
    if name == "id":
        return f"the id in the body ({given}) differs from the URL's ({stored})"
    if name == "type":
        return f"the type in the body ('{given[:100]}') is not this endpoint's ('{stored}')"
    if name == "version":
        return (f"{spec.type} {current['id']} is at version {stored}, not {given}: it changed "
                "since it was read; fetch it again and retry")
    shown = stored.isoformat().replace("+00:00", "Z") if isinstance(stored, datetime) else stored
    return ("read-only: send the value a GET returns "
            f"({json.dumps(shown, default=str)[:200]}) or leave it out")


def check_read_only(spec: KindSpec, current: dict[str, Any], given: dict[str, Any]) -> None:
    """The server's fields a PUT or PATCH body carried (a GET's body sent back): ignored
    when each equals the stored entry's, else one problem naming every one that differs.

    - An `id` not the URL's, or another `type`: 409, the body describes another entry.
    - Else another `version`: 412, as a stale If-Match is. The entry changed since the
      client read it, and what changed with it (`updated_at`, the date range) is not the
      client's error: only `version` is named.
    - Else any other difference (a timestamp, provenance, date range, href): 409, the body
      sets what the server alone sets.
    Timestamps are compared to the millisecond, the precision of a JavaScript Date."""
    errors = [{"loc": ["body", name], "msg": msg} for name, value in given.items()
              if (msg := _read_only_problem(spec, current, name, value)) is not None]
    if not errors:
        return
    named = {e["loc"][1]: e for e in errors}
    if "version" in named and not named.keys() & {"id", "type"}:
        raise PreconditionFailed(named["version"]["msg"], errors=[named["version"]])
    detail = "; ".join(f"{e['loc'][1]}: {e['msg']}" for e in errors)
    raise Conflict(f"read-only fields differ from the stored {spec.type}: {detail}",
                   errors=errors)


def take_read_only(record: dict[str, Any], named: Collection[str]) -> dict[str, Any]:
    """Take the server's fields out of a write's record: those the body gave, by name."""
    taken = {name: record.pop(name, None) for name in SERVER_FIELDS}
    return {name: value for name, value in taken.items() if name in named}


def derive_again(current: dict[str, Any], body: dict[str, Any]) -> None:
    """A derived placement sent back as a GET gave it is derived again, not kept: so a
    GET's body with a new primary date or session moves the entry instead of
    contradicting it (a 422). A `month` (the writer's choice) is left as sent."""
    if current["date_precision"] == "month":
        return
    if all(body.get(name) in (None, current[name]) for name in PLACEMENT_INPUT):
        body.update({name: None for name in PLACEMENT_INPUT if name in body})


def editable(spec: KindSpec, row: dict[str, Any]) -> dict[str, Any]:
    """The client-writable part of a stored entry, with its derived placement (what a
    placed record is compared with)."""
    return {name: row[name] for name in (*spec.stored_fields, *PLACEMENT_DERIVED)}


def _apply(session: Session, spec: KindSpec, current: dict[str, Any],
           record: dict[str, Any]) -> dict[str, Any]:
    """Write a full record over the current one when anything changed.

    The entry is locked (`_for_write`) and the UPDATE holds only while it is still at the
    version read: a write never lands on a version it did not see."""
    if record["slug"] != current["slug"] and repo.slugs_taken(session, spec, [record["slug"]]):
        raise Conflict(f"{spec.type} slug '{record['slug']}' already exists")
    check_references(session, spec, record)
    if record != editable(spec, current):
        record["provenance"] = current["provenance"]
        if not repo.update_entry(session, spec, current["id"], record, utcnow(),
                                 current["version"]):
            raise _stale(current)
    return get(session, spec, current["id"])


def replace(session: Session, spec: KindSpec, entry_id: int, payload: BaseModel,
            if_match: str | None) -> dict[str, Any]:
    """PUT: the payload replaces every writable field (an omitted slug keeps the current one);
    the server's fields it carries must be the stored ones (`check_read_only`)."""
    current = _for_write(session, spec, entry_id, if_match)
    record = payload.model_dump()
    check_read_only(spec, current, take_read_only(record, payload.model_fields_set))
    derive_again(current, record)
    resolve_links(session, spec, record, payload.model_fields_set)
    record["slug"] = record["slug"] or current["slug"]
    return _apply(session, spec, current, record)


def patch(session: Session, spec: KindSpec, entry_id: int, changes: dict[str, Any],
          if_match: str | None) -> dict[str, Any]:
    """PATCH: merge the given fields into the entry as it is now (locked, so concurrent
    PATCHes of different fields both land) and validate the result as a whole; the
    server's fields it carries must be the stored ones (`check_read_only`)."""
    current = _for_write(session, spec, entry_id, if_match)
    check_read_only(spec, current, take_read_only(changes, set(changes)))
    derive_again(current, changes)
    record = _validated(spec, patch_base(editable(spec, current), changes))
    resolve_links(session, spec, record, changes)
    return _apply(session, spec, current, record)


def remove(session: Session, spec: KindSpec, entry_id: int, if_match: str | None) -> None:
    """DELETE an entry (404 if absent, 412 if stale); entries linking to it are unlinked,
    each with a new version and a change of its own."""
    current = _for_write(session, spec, entry_id, if_match, delete=True)
    now = utcnow()
    for other, column in linked_from(spec):
        repo.clear_links_to(session, other, column, entry_id, now)
    if not repo.delete_entry(session, spec, entry_id, current["version"]):
        raise _stale(current)


def linked_from(spec: KindSpec) -> list[tuple[KindSpec, str]]:
    """(kind, field) of every kind field that references entries of this kind."""
    return [(other, column) for other in KINDS
            for column, target in other.references.items() if target == spec.type]
