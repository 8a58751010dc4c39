"""Sorting and keyset paging, for any list of entries.

A sort is a list of keys, each a SQL expression with a direction; the id is
always the last key so every order is total and pages are stable. A cursor
carries the sort and the last row's key values, so the next page is one
indexed range scan whatever its depth.
"""

import base64
import binascii
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, false, or_, tuple_

from app.core.errors import BadRequest
from app.entries.fields import MAX_ENTRY_ID


@dataclass(frozen=True)
class SortField:
    """A sortable field: its SQL expression, value type, and whether it may be NULL."""

    name: str
    expression: ColumnElement[Any]
    value_type: type
    nullable: bool = False
    best_first: bool = False  # `relevance` means highest score first; `-` flips it


@dataclass(frozen=True)
class SortKey:
    """A sortable field with a direction."""

    field: SortField
    descending: bool

    @property
    def token(self) -> str:
        """The key as written in `sort=` (e.g. "-date")."""
        flipped = self.descending != self.field.best_first
        return ("-" if flipped else "") + self.field.name

    def order_by(self, expr: ColumnElement[Any] | None = None) -> ColumnElement[Any]:
        """ORDER BY term (on the key, or on a column holding its values); NULLs last."""
        expr = self.field.expression if expr is None else expr
        ordered = expr.desc() if self.descending else expr.asc()
        return ordered.nulls_last() if self.field.nullable else ordered

    def bound(self, index: int) -> Any:
        """The cursor's value for this key, as the bound parameter `after_{index}`."""
        return bindparam(f"after_{index}", type_=self.field.expression.type)

    def after(self, index: int, null: bool) -> ColumnElement[bool]:
        """Rows strictly after the cursor's value (bound as `after_{index}`) in this order."""
        expr = self.field.expression
        if null:
            return false()  # NULLs come last: nothing but other NULLs (ties) follows
        value = self.bound(index)
        beyond = expr < value if self.descending else expr > value
        return or_(beyond, expr.is_(None)) if self.field.nullable else beyond

    def equal(self, index: int, null: bool) -> ColumnElement[bool]:
        """Rows tied with the cursor's value on this key."""
        expr = self.field.expression
        return expr.is_(None) if null else expr == self.bound(index)


def parse_sort(text: str, fields: Mapping[str, SortField], id_field: SortField) -> list[SortKey]:
    """Parse `sort=-date,title` into keys, with id appended as the final tie-breaker."""
    keys: list[SortKey] = []
    for raw in text.split(","):
        token = raw.strip()
        descending = token.startswith("-")
        name = token.lstrip("-+")
        if name not in fields:
            allowed = ", ".join(sorted(fields))
            raise BadRequest(f"sort: unknown sort key '{name}'; use one of {allowed}",
                             errors=[{"loc": ["query", "sort"], "msg": f"unknown key '{name}'"}])
        if any(key.field.name == name for key in keys):
            raise BadRequest(f"sort: key '{name}' given twice",
                             errors=[{"loc": ["query", "sort"], "msg": f"repeated key '{name}'"}])
        keys.append(SortKey(fields[name], descending != fields[name].best_first))
    if not any(key.field.name == id_field.name for key in keys):
        keys.append(SortKey(id_field, keys[0].descending if keys else True))
    return keys


def sort_token(keys: Sequence[SortKey]) -> str:
    """The canonical text of a sort (what a cursor is bound to)."""
    return ",".join(key.token for key in keys)


def keyset_after(keys: Sequence[SortKey], nulls: Sequence[bool]) -> ColumnElement[bool]:
    """Rows after the cursor's row in the order of `keys`.

    The row's key values are bound at execution (`cursor_values`); `nulls` says which of
    them are NULL, the only thing about them the SQL depends on.
    """
    uniform = len({key.descending for key in keys}) == 1
    if uniform and not any(key.field.nullable for key in keys):
        # One row-value comparison: an index on the keys serves it as a single range.
        row = tuple_(*(key.field.expression for key in keys))
        bound = tuple_(*(key.bound(index) for index, key in enumerate(keys)))
        return row < bound if keys[0].descending else row > bound
    clauses = []
    for index, key in enumerate(keys):
        ties = [keys[j].equal(j, nulls[j]) for j in range(index)]
        clauses.append(and_(*ties, key.after(index, nulls[index])))
    return or_(*clauses)


def cursor_values(values: Sequence[Any]) -> dict[str, Any]:
    """A decoded cursor's key values by bound-parameter name (NULLs are in the SQL itself)."""
    return {f"after_{index}": value for index, value in enumerate(values) if value is not None}


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


# The longest text a key stands for: a lowered title (500 characters; lowering may double
# one), with room to spare. Longer text in a cursor was never made by this service.
MAX_TEXT_VALUE = 2_000
# ISO 8601 dates and times are short: anything longer is not one.
MAX_TIME_TEXT = 40


def _text(value: Any, limit: int) -> str:
    """A string the database can bind, no longer than the key's values can be."""
    # PostgreSQL refuses NUL in text; no encoding holds a lone surrogate (JSON's "\ud800").
    if not isinstance(value, str):
        raise ValueError("not a string")
    if len(value) > limit or "\x00" in value:
        raise ValueError("not a value of this key")
    value.encode("utf-8")  # UnicodeEncodeError on a lone surrogate
    return value


def _number(value: Any) -> float:
    """A finite float, from a JSON number of any size (a 400-digit one overflows)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError("not a number")
    number = float(value)  # OverflowError past the float range
    if not math.isfinite(number):
        raise ValueError("not a finite number")
    return number


def _decode_value(value: Any, key: SortKey) -> Any:
    """The value a cursor holds for one key, checked against the key's type and range."""
    if value is None:
        if not key.field.nullable:
            raise ValueError("null for a key that is never null")
        return None
    kind = key.field.value_type
    if kind is datetime:
        return datetime.fromisoformat(_text(value, MAX_TIME_TEXT))
    if kind is date:
        return date.fromisoformat(_text(value, MAX_TIME_TEXT))
    if kind is float:
        return _number(value)
    if kind is str:
        return _text(value, MAX_TEXT_VALUE)
    if kind is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError("not an integer")
        if not 1 <= value <= MAX_ENTRY_ID:
            raise ValueError("out of range")  # the only integer key is the entry id
        return value
    raise ValueError(f"no cursor values for keys of type {kind.__name__}")


def encode_cursor(keys: Sequence[SortKey], values: Sequence[Any]) -> str:
    """An opaque cursor for the page after the row with these key values."""
    payload = {"s": sort_token(keys), "v": [_encode_value(v) for v in values]}
    # UTF-8, not \u escapes: a long non-Latin title stays within the cursor's length limit.
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, keys: Sequence[SortKey]) -> list[Any]:
    """The key values in a cursor made for this sort; 400 for anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(payload, dict):
            raise ValueError("not an object")
        if payload["s"] != sort_token(keys):
            raise BadRequest(
                "cursor: this cursor was made for another sort; repeat the sort it came with",
                errors=[{"loc": ["query", "cursor"], "msg": "cursor does not match sort"}])
        raw_values = payload["v"]
        if not isinstance(raw_values, list) or len(raw_values) != len(keys):
            raise ValueError("wrong length")
        return [_decode_value(v, key) for v, key in zip(raw_values, keys, strict=True)]
    except BadRequest:
        raise
    # OverflowError: a number past the float range; RecursionError: arrays nested deeper
    # than the JSON decoder goes (a 4,096-character cursor can hold 3,000 levels).
    except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error, OverflowError,
            RecursionError):
        raise BadRequest("cursor: not a valid cursor; use next_cursor from a previous page",
                         errors=[{"loc": ["query", "cursor"], "msg": "invalid cursor"}]) from None
