"""Reference data on start: topics and sessions from seed_data/, countries from pycountry."""

import tomllib
from pathlib import Path
from typing import Any

import pycountry
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from app.reference.service import countries, sessions, topics


def read_toml(path: Path, table: str) -> list[dict[str, Any]]:
    """The array of tables `[[table]]` in a TOML file."""
    with path.open("rb") as handle:
        return list(tomllib.load(handle).get(table, []))


def country_rows() -> list[dict[str, Any]]:
    """Every ISO 3166-1 country, with its common name where it has one."""
    return [
        {"code": c.alpha_2, "name": getattr(c, "common_name", None) or c.name,
         "official_name": getattr(c, "official_name", None)}
        for c in pycountry.countries
    ]


def _insert_missing(session: Session, table: Any, key: str, rows: list[dict[str, Any]]) -> int:
    """Insert the rows whose key is not there yet; existing rows stay as curators left them."""
    present = set(session.scalars(select(table.c[key])))
    new_rows = [row for row in rows if row[key] not in present]
    if new_rows:
        session.execute(insert(table), new_rows)
    return len(new_rows)


def load_reference_data(session: Session, seed_dir: Path) -> dict[str, int]:
    """Insert missing countries, topics and sessions; return how many of each were added."""
    topic_rows = [
        {"slug": t["slug"], "name": t["name"], "description": t.get("description", ""),
         "keywords": list(t.get("keywords", []))}
        for t in read_toml(seed_dir / "topics.toml", "topic")
    ]
    session_rows = [
        {"number": s["number"], "name": s["name"], "starts_on": s.get("starts_on"),
         "ends_on": s.get("ends_on"), "location": s.get("location"),
         "description": s.get("description", "")}
        for s in read_toml(seed_dir / "sessions.toml", "session")
    ]
    return {
        "countries": _insert_missing(session, countries, "code", country_rows()),
        "topics": _insert_missing(session, topics, "slug", topic_rows),
        "sessions": _insert_missing(session, sessions, "number", session_rows),
    }
