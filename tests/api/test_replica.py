"""HRC_DIGEST_READ_DATABASE_URL: GET requests read from the replica, writes go to the primary.

The "replica" here is a second database of the engine under test that the test fills
itself (replication is the database's business, not the app's): what it shows is which
database each request reaches.
"""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from app.core import db as core_db
from app.core.config import get_settings
from app.core.migrations import upgrade
from app.entries.registry import KINDS
from app.main import create_app
from app.reference.seed import load_reference_data
from tests.databases import ROOT, new_database_url
from tests.helpers import assert_problem, sample

ARTICLES = "/api/v1/articles"


@pytest.fixture
def replica_url(engine, monkeypatch) -> Iterator[str]:
    """A migrated second database, configured as the read replica for this test."""
    url = new_database_url()
    upgrade(url)
    replica = create_engine(url)
    with Session(replica) as session:
        load_reference_data(session, ROOT / "seed_data")
        session.commit()
    replica.dispose()
    monkeypatch.setattr(get_settings(), "read_database_url", url)
    core_db.reset_engines()
    yield url
    monkeypatch.undo()
    core_db.reset_engines()


def test_reads_come_from_the_replica_and_writes_from_the_primary(replica_url, auth):
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        created = client.post(ARTICLES, json=sample(KINDS[0], title="Written to primary"),
                              headers=auth)
        assert created.status_code == 201
        # Not replicated yet: the replica does not have it.
        assert client.get(ARTICLES).json()["total"] == 0
        assert_problem(client.get(created.headers["location"]), 404)
        # Writes that read first (If-Match, PATCH's merge) see the primary.
        patched = client.patch(created.headers["location"], json={"summary": "Changed."},
                               headers=auth | {"If-Match": created.headers["etag"]})
        assert patched.status_code == 200 and patched.json()["version"] == 2
        # What the replica holds is what GET serves.
        replica = create_engine(replica_url)
        with Session(replica) as session:
            from app.entries import service

            service.create(session, KINDS[0], KINDS[0].create_model.model_validate(
                sample(KINDS[0], title="Replicated article")))
            session.commit()
        replica.dispose()
        titles = [i["title"] for i in client.get(ARTICLES).json()["items"]]
        assert titles == ["Replicated article"]
        exported = client.get(f"{ARTICLES}/export").text
        assert "Replicated article" in exported and "Written to primary" not in exported
        assert client.get("/readyz").status_code == 200


def test_readyz_fails_when_the_replica_is_unreachable(engine, monkeypatch):
    monkeypatch.setattr(get_settings(), "read_database_url",
                        "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    core_db.reset_engines()
    try:
        with TestClient(create_app(), raise_server_exceptions=False) as client:
            assert_problem(client.get("/readyz"), 503, "read replica is not reachable")
    finally:
        monkeypatch.undo()
        core_db.reset_engines()
