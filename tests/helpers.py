"""Shared test helpers: sample payloads per kind and problem+json assertions."""

from typing import Any

from app.entries.registry import KINDS

KIND_IDS = [spec.plural for spec in KINDS]


def sample(spec, **overrides: Any) -> dict[str, Any]:
    """A valid create payload for a kind (its documented example, plus overrides)."""
    return dict(spec.example) | overrides


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
