"""Field types shared by every entry kind: each carries its own validation and docs."""

import copy
import re
from datetime import date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

from app.entries.slugs import SLUG_MAX_LENGTH, SLUG_PATTERN

# The largest id either engine stores (a signed 64-bit integer); a bigger one is a 422, not
# an overflow inside the driver.
MAX_ID = 2**63 - 1
# The largest entry id: the id columns (entries.id, statements.event_id, ...) are `integer`
# on PostgreSQL, 32 bits; a bigger id names no entry and would overflow the query parameter.
MAX_ENTRY_ID = 2**31 - 1


_WHITESPACE = re.compile(r"\s")


def _http_url(value: str) -> str:
    """Accept only absolute http(s) URLs with a host."""
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http(s) URL")
    if _WHITESPACE.search(value):
        raise ValueError("must not contain whitespace")
    return value


def _unique(values: list[str]) -> list[str]:
    """Drop repeats, keeping the first occurrence's order."""
    return list(dict.fromkeys(values))


def no_nul(value: str) -> str:
    """Refuse NUL, which PostgreSQL cannot store in text (SQLite would keep it)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


_no_nul = no_nul


# Rules the validators apply, stated in the OpenAPI document as JSON Schema. Its \s is not
# Python's, so the classes are spelt out: _STRIPPED is what strip_whitespace removes
# (Unicode White_Space), _SPACE what str.isspace also counts (\x1c-\x1f). Unanchored
# patterns and `not`, rather than `^[^\u0000]*$`, keep long fields cheap to generate.
_STRIPPED = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_SPACE = _STRIPPED + r"\x1c-\x1f"
NO_NUL: dict[str, Any] = {"not": {"pattern": r"\u0000"}}
# Not empty once stripped (with min_length=1 and strip_whitespace), no NUL.
NON_BLANK: dict[str, Any] = {"pattern": rf"[^\u0000{_STRIPPED}]", **NO_NUL}
# An absolute http(s) URL with a host, no space inside, white space around it stripped;
# brackets, which urlsplit takes only around an IPv6 literal, are left out of the host.
URL_PATTERN = (rf"^[{_STRIPPED}]*[Hh][Tt][Tt][Pp][Ss]?://[^{_SPACE}/?#\[\]]+"
               rf"(?:[/?#][^{_SPACE}]*)?[{_STRIPPED}]*$")


def documented(rules: dict[str, Any], **kwargs: Any) -> Any:
    """A Field that states, as JSON Schema keywords, rules the field's validators enforce."""
    return Field(json_schema_extra=copy.deepcopy(rules), **kwargs)


Text = Annotated[str, AfterValidator(_no_nul), documented(NO_NUL)]
Slug = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=SLUG_MAX_LENGTH, pattern=SLUG_PATTERN),
    Field(description="Unique within its kind; generated from the title when omitted.",
          examples=["xinhua-commentary-western-countries-should-stop-imposing-double-standards"]),
]
# Another entry's slug, naming the entry a reference points at (e.g. a statement's event).
LinkedSlug = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=SLUG_MAX_LENGTH, pattern=SLUG_PATTERN),
]
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    AfterValidator(_no_nul),
    documented(NON_BLANK,
               examples=["Experts discuss Xinjiang employment, labor rights at seminar"]),
]
Summary = Annotated[
    str,
    StringConstraints(max_length=20_000),
    AfterValidator(_no_nul),
    documented(NO_NUL, examples=[
        "A seminar on employment and labor rights in China's Xinjiang Uygur Autonomous "
        "Region was held online on the sidelines of the 46th session."]),
]
Body = Annotated[str, StringConstraints(max_length=1_000_000), AfterValidator(_no_nul),
                 documented(NO_NUL)]
Url = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=2048),
    AfterValidator(_http_url),
    AfterValidator(_no_nul),
    documented({"pattern": URL_PATTERN, **NO_NUL},
               examples=["https://www.humanrights.cn/html/2021/3/example.html"]),
]
Language = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$",
                      max_length=35),
    Field(description="BCP 47 language tag.", examples=["en"]),
]
SessionNumber = Annotated[int, Field(ge=1, le=10_000, examples=[46])]
TopicSlug = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
                      AfterValidator(_no_nul), documented(NON_BLANK)]
CountryCode = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{2}$")
]
TopicList = Annotated[
    list[TopicSlug],
    Field(max_length=50, description="Topic slugs from /api/v1/topics.",
          examples=[["xinjiang", "labour-rights"]]),
    AfterValidator(_unique),
]
CountryList = Annotated[
    list[CountryCode],
    Field(max_length=250, description="ISO 3166-1 alpha-2 codes (upper case).",
          examples=[["CN", "US"]]),
    AfterValidator(_unique),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300),
                 AfterValidator(_no_nul), documented(NON_BLANK)]
NameList = Annotated[list[Name], Field(max_length=50), AfterValidator(_unique)]

_FULL_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _full_date(value: Any) -> Any:
    """A date, or text that is exactly YYYY-MM-DD: not a timestamp, not a datetime."""
    if isinstance(value, date) or (isinstance(value, str) and _FULL_DATE.fullmatch(value)):
        return value
    raise ValueError("must be a date as YYYY-MM-DD")


IsoDate = Annotated[date, BeforeValidator(_full_date)]
Day = Annotated[IsoDate, Field(description="ISO 8601 date (YYYY-MM-DD).",
                               examples=["2021-02-26"])]
Timestamp = Annotated[datetime, Field(description="UTC, ISO 8601.")]
Provenance = Annotated[
    dict[str, Any] | None,
    Field(description="Where a loaded record came from; null for records created over the API.",
          examples=[{"source": "seed_data/000_33de37058f0cd80a.txt", "line": 15}]),
]


def _unset() -> None:
    return None


def omittable(**kwargs: Any) -> Any:
    """A partial update's field that may be left out but not sent as null.

    Left out, it stays unset (`exclude_unset`); null fails validation like any wrong type.
    The default comes from a factory so the OpenAPI document shows no null default a
    client could take for allowed.
    """
    return Field(default_factory=_unset, **kwargs)


# An entry's placement in time (app/entries/placement.py).
PRECISIONS = ("day", "month", "session", "unknown")
DatePrecision = Annotated[
    Literal["day", "month", "session", "unknown"],
    Field(description="How precisely `date` is known: `day` (the kind's primary date), "
                      "`month` (only the month: `date` is its first day), `session` (only "
                      "the session: `date` is its first day) or `unknown` (`date` is null).",
          examples=["session"]),
]
PLACEMENT_INPUT = ("date", "date_precision")  # a writer may send these
PLACEMENT_DERIVED = ("date_from", "date_to")  # always derived (read-only)
PLACEMENT_FIELDS = (*PLACEMENT_INPUT, *PLACEMENT_DERIVED)
