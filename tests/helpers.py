"""Shared test helpers: sample payloads per kind, problem+json assertions, database resets."""

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.entries.listing.aggregates import remembered
from app.entries.registry import KINDS
from app.reference.seed import load_reference_data
from tests.databases import ROOT

KIND_IDS = [spec.plural for spec in KINDS]


def sample(spec, **overrides: Any) -> dict[str, Any]:
    """A valid create payload for a kind (its documented example, plus overrides)."""
    return dict(spec.example) | overrides


def kind_counts(**given: int) -> dict[str, int]:
    """Entries per kind as reference data reports them: every registered kind, 0 if not given."""
    return {spec.type: given.get(spec.type, 0) for spec in KINDS}


def assert_problem(response, status: int, *mentions: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status naming each mention."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert {"type", "title", "status", "detail", "instance"} <= body.keys()
    assert body["status"] == status
    for mention in mentions:
        assert mention in body["detail"], (mention, body["detail"])
    for leak in ("Traceback", "sqlalchemy", "SELECT ", "psycopg", "sqlite3", "/work/"):
        assert leak not in response.text
    return body


# Emptied after every test, children first; reference rows are then restored from seed_data.
_DATA_TABLES = ("entry_topics", "entry_countries", "articles", "events", "statements",
                "entry_changes", "entries", "api_keys", "topics", "sessions")


def empty_database(engine) -> None:
    """Every table back to the reference data alone."""
    remembered.clear()  # kept counts and facets of the data about to be removed
    with Session(engine) as session:
        for table in _DATA_TABLES:
            session.execute(text(f"DELETE FROM {table}"))
        load_reference_data(session, ROOT / "seed_data")
        session.commit()


def seed(db: Session) -> None:
    """Load the shipped digest page."""
    from app.loader import seeding

    seed_dir = ROOT / "seed_data"
    seeding.save(db, seeding.plan(seeding.default_pages(seed_dir), seed_dir, db))
    db.commit()
