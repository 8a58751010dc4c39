"""Writes need a valid, unrevoked, unexpired API key; reads are public."""

from datetime import UTC, datetime, timedelta

import pytest

from app.core.security import create_key, list_keys, revoke_key
from app.entries.registry import KINDS
from tests.helpers import assert_problem, sample

WRITES = [
    ("post", "/api/v1/articles"),
    ("put", "/api/v1/articles/1"),
    ("patch", "/api/v1/articles/1"),
    ("delete", "/api/v1/articles/1"),
    ("post", "/api/v1/topics"),
    ("patch", "/api/v1/topics/xinjiang"),
    ("delete", "/api/v1/topics/xinjiang"),
    ("post", "/api/v1/sessions"),
    ("patch", "/api/v1/sessions/46"),
    ("delete", "/api/v1/sessions/46"),
]


@pytest.mark.parametrize(("method", "url"), WRITES)
def test_writes_without_a_key_are_401_with_challenge(client, method, url):
    response = client.request(method, url, json={"title": "x"})
    assert_problem(response, 401, "Bearer")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_unknown_key_is_401(client):
    response = client.post("/api/v1/articles", json=sample(KINDS[0]),
                           headers={"Authorization": "Bearer hrcd_not-a-real-key"})
    assert_problem(response, 401, "not valid")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_basic_auth_scheme_is_401(client, api_key):
    response = client.post("/api/v1/articles", json=sample(KINDS[0]),
                           headers={"Authorization": f"Basic {api_key}"})
    assert_problem(response, 401)


def test_revoked_key_is_401_at_once(client, db, auth):
    assert client.post("/api/v1/articles", json=sample(KINDS[0]), headers=auth).status_code == 201
    key_id = list_keys(db)[-1]["id"]
    assert revoke_key(db, key_id)
    db.commit()
    response = client.post("/api/v1/articles", json=sample(KINDS[0], slug="other"), headers=auth)
    assert_problem(response, 401)


def test_expired_key_is_401(client, db):
    _, secret = create_key(db, "old", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    db.commit()
    response = client.post("/api/v1/articles", json=sample(KINDS[0]),
                           headers={"Authorization": f"Bearer {secret}"})
    assert_problem(response, 401)


def test_keys_are_stored_only_as_hashes(db, engine):
    _, secret = create_key(db, "hashing")
    db.flush()
    from sqlalchemy import text

    rows = db.execute(text("SELECT * FROM api_keys")).mappings().all()
    assert rows
    assert all(secret not in str(dict(row)) for row in rows)


def test_reads_need_no_key(client):
    for url in ("/api/v1/articles", "/api/v1/events", "/api/v1/statements", "/api/v1/topics",
                "/api/v1/countries", "/api/v1/sessions"):
        assert client.get(url).status_code == 200, url
