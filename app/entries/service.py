"""Entry use cases, the same for every kind: validate, fill defaults, version, delegate SQL."""

from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from app.core.clock import as_utc, utcnow
from app.core.errors import Conflict, NotFound, PreconditionFailed, Unprocessable
from app.entries import repository as repo
from app.entries.references import reference_problems, resolve_links
from app.entries.slugs import slugify, with_suffix
from app.entries.spec import KindSpec

UpsertOutcome = Literal["created", "updated", "unchanged"]


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
    row = repo.get_by_id(session, spec, entry_id)
    if row is None:
        raise NotFound(f"{spec.type} {entry_id} does not exist")
    return public(spec, row)


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


def _check_version(current: dict[str, Any], if_match: str | None) -> None:
    """412 when the client's If-Match names another version."""
    if if_match is None:
        return
    tags = {tag.strip() for tag in if_match.split(",")}
    if "*" not in tags and etag(current) not in tags:
        raise PreconditionFailed(
            f"{current['type']} {current['id']} is at version {current['version']}; "
            "fetch it again and retry")


def editable(spec: KindSpec, row: dict[str, Any]) -> dict[str, Any]:
    """The client-writable part of a stored entry."""
    return {name: row[name] for name in spec.stored_fields}


def _apply(session: Session, spec: KindSpec, current: dict[str, Any],
           record: dict[str, Any]) -> dict[str, Any]:
    """Write a full record over the current one when anything changed."""
    if record["slug"] != current["slug"] and repo.slugs_taken(session, spec, [record["slug"]]):
        raise Conflict(f"{spec.type} slug '{record['slug']}' already exists")
    check_references(session, spec, record)
    if record != editable(spec, current):
        record["provenance"] = current["provenance"]
        repo.update_entry(session, spec, current["id"], record, utcnow())
    return get(session, spec, current["id"])


def replace(session: Session, spec: KindSpec, entry_id: int, payload: BaseModel,
            if_match: str | None) -> dict[str, Any]:
    """PUT: the payload replaces every writable field (an omitted slug keeps the current one)."""
    current = get(session, spec, entry_id)
    _check_version(current, if_match)
    record = payload.model_dump()
    resolve_links(session, spec, record, payload.model_fields_set)
    record["slug"] = record["slug"] or current["slug"]
    return _apply(session, spec, current, record)


def patch(session: Session, spec: KindSpec, entry_id: int, changes: dict[str, Any],
          if_match: str | None) -> dict[str, Any]:
    """PATCH: merge the given fields into the entry and validate the result as a whole."""
    current = get(session, spec, entry_id)
    _check_version(current, if_match)
    record = _validated(spec, editable(spec, current) | changes)
    resolve_links(session, spec, record, changes)
    return _apply(session, spec, current, record)


def remove(session: Session, spec: KindSpec, entry_id: int, if_match: str | None) -> None:
    """DELETE an entry (404 if absent, 412 if stale)."""
    current = get(session, spec, entry_id)
    _check_version(current, if_match)
    repo.delete_entry(session, spec, entry_id)


def upsert(session: Session, spec: KindSpec, data: dict[str, Any],
           provenance: dict[str, Any] | None = None) -> tuple[UpsertOutcome, dict[str, Any]]:
    """Insert or update by slug (the natural key); report what happened."""
    record = _validated(spec, data)
    if record["slug"] is None:
        record["slug"] = slugify(record["title"])
    check_references(session, spec, record)
    current = repo.get_by_slug(session, spec, record["slug"])
    record["provenance"] = provenance
    if current is None:
        entry_id = repo.insert_entry(session, spec, record, utcnow())
        if entry_id is None:
            raise Conflict(f"{spec.type} slug '{record['slug']}' was created concurrently")
        return "created", get(session, spec, entry_id)
    stored = editable(spec, current) | {"provenance": current["provenance"]}
    if stored == record:
        return "unchanged", public(spec, current)
    repo.update_entry(session, spec, current["id"], record, utcnow())
    return "updated", get(session, spec, current["id"])

