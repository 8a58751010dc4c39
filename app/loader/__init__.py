"""Digest loader: parse digest pages, classify entries, enrich them into records.

Pure Python: no database, no web framework. See docs/loader.md.
"""

from app.loader.build import (
    PageResult,
    Rules,
    build_page,
    load_known_sessions,
    load_rules,
    load_topics,
)
from app.loader.classify import Scores, classify, score_entry
from app.loader.digest import DigestEntry, DigestError, DigestPage, parse_digest, read_digest
from app.loader.enrich import SessionInfo, TopicRule

__all__ = [
    "DigestEntry",
    "DigestError",
    "DigestPage",
    "PageResult",
    "Rules",
    "Scores",
    "SessionInfo",
    "TopicRule",
    "build_page",
    "classify",
    "load_known_sessions",
    "load_rules",
    "load_topics",
    "parse_digest",
    "read_digest",
    "score_entry",
]
