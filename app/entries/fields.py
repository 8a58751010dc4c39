"""Field types shared by every entry kind: each carries its own validation and docs."""

from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StringConstraints

from app.entries.slugs import SLUG_MAX_LENGTH, SLUG_PATTERN


def _http_url(value: str) -> str:
    """Accept only absolute http(s) URLs with a host."""
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http(s) URL")
    if any(ch.isspace() for ch in value):
        raise ValueError("must not contain whitespace")
    return value


def _unique(values: list[str]) -> list[str]:
    """Drop repeats, keeping the first occurrence's order."""
    return list(dict.fromkeys(values))


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
Slug = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=SLUG_MAX_LENGTH, pattern=SLUG_PATTERN),
    Field(description="Unique within its kind; generated from the title when omitted.",
          examples=["xinhua-commentary-western-countries-should-stop-imposing-double-standards"]),
]
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    AfterValidator(_no_nul),
    Field(examples=["Experts discuss Xinjiang employment, labor rights at seminar"]),
]
Summary = Annotated[
    str,
    StringConstraints(max_length=20_000),
    AfterValidator(_no_nul),
    Field(examples=["A seminar on employment and labor rights in China's Xinjiang Uygur "
                    "Autonomous Region was held online on the sidelines of the 46th session."]),
]
Body = Annotated[str, StringConstraints(max_length=1_000_000), AfterValidator(_no_nul)]
Url = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=2048),
    AfterValidator(_http_url),
    Field(examples=["https://www.humanrights.cn/html/2021/3/example.html"]),
]
Language = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$",
                      max_length=35),
    Field(description="BCP 47 language tag.", examples=["en"]),
]
SessionNumber = Annotated[int, Field(ge=1, le=10_000, examples=[46])]
TopicSlug = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
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
                 AfterValidator(_no_nul)]
NameList = Annotated[list[Name], Field(max_length=50), AfterValidator(_unique)]
Day = Annotated[date, Field(description="ISO 8601 date (YYYY-MM-DD).", examples=["2021-02-26"])]
Timestamp = Annotated[datetime, Field(description="UTC, ISO 8601.")]
Provenance = Annotated[
    dict[str, Any] | None,
    Field(description="Where a loaded record came from; null for records created over the API.",
          examples=[{"source": "seed_data/000_33de37058f0cd80a.txt", "line": 15}]),
]
