"""gzip content coding (RFC 9110 §8.4.1.3) of the app's text answers, decided by
app.core.http.HttpPolicies for every GET and HEAD.

- What: JSON (pages, entries, problems, CSL-JSON), NDJSON, CSV, Atom, iCalendar, RIS,
  BibTeX and the docs' HTML, JavaScript and CSS; a whole body of at least
  `MINIMUM_SIZE` bytes, or a streamed one (an export: compressed as it streams, in
  constant memory).
- When: the request's Accept-Encoding accepts gzip (`gzip`, `x-gzip` or `*`, with a
  non-zero weight). Such an answer carries `Vary: Accept-Encoding` whether it was
  compressed or not, so that a shared cache keeps the two apart.
- Entity tags: a compressed representation is another representation, so it gets its own
  strong tag, the identity's with `-gzip` inside the quotes (`"27-3"` → `"27-3-gzip"`,
  as RFC 9110 §8.8.3.3 illustrates). If-None-Match matches either form (304), and
  If-Match on a write takes either form of the entry's current tag.

Only gzip: every HTTP client decodes it, and zlib is in the standard library. Brotli or
Zstandard would take compiled dependencies and a middleware of their own; the one
maintained for Starlette (starlette-compress) leaves strong ETags unchanged on the
compressed bodies, which a conditional request then confuses with the identity bytes.
"""

import zlib
from functools import lru_cache
from typing import Any

GZIP = "gzip"
MINIMUM_SIZE = 500  # bytes: smaller bodies gain little and cost a header more
LEVEL = 6  # zlib's default: ~10x smaller pages at ~1 ms per 100 KB
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # a gzip header and trailer (mtime 0: same bytes each time)
_TEXT_TYPES = frozenset({"application/javascript", "application/x-research-info-systems",
                         "application/x-bibtex", "application/xml"})


@lru_cache(maxsize=64)
def compressible(content_type: str) -> bool:
    """Whether a Content-Type is text that gzip shrinks (JSON, XML, CSV, …)."""
    media_type = content_type.partition(";")[0].strip().lower()
    return (media_type.startswith("text/") or media_type.endswith(("json", "+xml"))
            or media_type in _TEXT_TYPES)


def _weight(params: str) -> float:
    """The `q` of one Accept-Encoding member (1 when absent; 0 when malformed)."""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


@lru_cache(maxsize=256)
def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding field value accepts gzip (RFC 9110 §12.5.3): named
    (`gzip`, or `x-gzip`, its alias) with a weight above 0, or else `*` with one."""
    named = star = None
    for member in accept_encoding.split(","):
        coding, _, params = member.partition(";")
        coding = coding.strip().lower()
        if coding in ("gzip", "x-gzip"):
            named = _weight(params)
        elif coding == "*":
            star = _weight(params)
    if named is not None:
        return named > 0
    return star is not None and star > 0


def coded_tag(tag: str, coding: str = GZIP) -> str:
    """The entity tag of a representation in a content coding: the identity's, suffixed
    inside its quotes (a weak tag stays weak)."""
    return f'{tag[:-1]}-{coding}"'


def compress(body: bytes) -> bytes:
    """A whole body as gzip."""
    encoder = zlib.compressobj(LEVEL, zlib.DEFLATED, _GZIP_WBITS)
    return encoder.compress(body) + encoder.flush()


def encoder() -> Any:
    """A gzip stream for a body sent in parts (`.compress(part)`, then `.flush()`)."""
    return zlib.compressobj(LEVEL, zlib.DEFLATED, _GZIP_WBITS)
