"""Proactive content negotiation: the offered media type an `Accept` header prefers.

RFC 9110 §12.5.1: each offered type takes the quality of the most specific range that
matches it (`type/subtype`, then `type/*`, then `*/*`); the highest quality above 0 wins,
ties going to the type offered first. Parameters other than `q` are ignored, and so is
a malformed range (a client's typo must not turn every answer into a 406).
"""

import re
from functools import lru_cache

_QVALUE = re.compile(r"0(?:\.\d{0,3})?|1(?:\.0{0,3})?")
MediaRange = tuple[str, str, float]  # type, subtype, quality


def media_ranges(accept: str) -> list[MediaRange]:
    """The well-formed ranges of an Accept header, lower-cased, with their qualities."""
    ranges = []
    for member in accept.split(","):
        media, *params = member.split(";")
        kind, slash, sub = media.strip().lower().partition("/")
        if not slash or not kind or not sub or (kind == "*" and sub != "*"):
            continue
        quality: float | None = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                value = value.strip()
                quality = float(value) if _QVALUE.fullmatch(value) else None
                break
        if quality is not None:
            ranges.append((kind, sub, quality))
    return ranges


def quality(media_type: str, ranges: list[MediaRange]) -> float:
    """How much these ranges accept one media type (0: not at all)."""
    kind, _, sub = media_type.partition("/")
    best_level, best = -1, 0.0
    for range_kind, range_sub, range_quality in ranges:
        if range_kind == "*":
            level = 0
        elif range_kind != kind:
            continue
        elif range_sub == "*":
            level = 1
        elif range_sub == sub:
            level = 2
        else:
            continue
        if level > best_level:
            best_level, best = level, range_quality
    return best


@lru_cache(maxsize=512)  # clients send few distinct Accept headers
def preferred(accept: str | None, offered: tuple[str, ...]) -> str | None:
    """The offered type the client prefers, or None when it accepts none of them.

    No Accept header, an empty one or one without a well-formed range: the first offered.
    """
    ranges = media_ranges(accept or "")
    if not ranges:
        return offered[0]
    chosen, chosen_quality = None, 0.0
    for media_type in offered:
        found = quality(media_type, ranges)
        if found > chosen_quality:
            chosen, chosen_quality = media_type, found
    return chosen
