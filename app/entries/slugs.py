"""Slugs: the natural key of an entry within its kind."""

from slugify import slugify as _slugify

SLUG_MAX_LENGTH = 120
SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
# "China's" and "China’s" both give "chinas", not "china-s".
_APOSTROPHES = [["'", ""], ["\u2019", ""], ["\u2018", ""], ["`", ""]]


def slugify(title: str) -> str:
    """Return the stable ASCII slug for a title (same title, same slug)."""
    slug = _slugify(title, max_length=SLUG_MAX_LENGTH, word_boundary=True, save_order=True,
                    replacements=_APOSTROPHES)
    return slug or "entry"


def with_suffix(slug: str, number: int) -> str:
    """Return slug made unique with a numeric suffix, kept within the length limit."""
    suffix = f"-{number}"
    return slug[: SLUG_MAX_LENGTH - len(suffix)].rstrip("-") + suffix
