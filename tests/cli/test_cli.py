"""The hrc-digest command as a user runs it: exit codes, output, and what it stores."""

import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.commands import hrc_digest, started
from tests.databases import ROOT, new_database_url


def environment(database_url: str) -> dict[str, str]:
    """The environment of a command on this database."""
    return os.environ | {"DATABASE_URL": database_url,
                         "HRC_DIGEST_SEED_DIR": str(ROOT / "seed_data")}


def run(*args: str, database_url: str, timeout: int = 120, cwd: Path = ROOT
        ) -> subprocess.CompletedProcess:
    """Run the CLI in a child process against a database, in a folder (tests.commands)."""
    return hrc_digest(environment(database_url), *args, cwd=cwd, timeout=timeout)


@pytest.fixture(scope="module")
def fresh_url() -> str:
    """A new database, migrated by the CLI itself."""
    url = new_database_url()
    result = run("migrate", database_url=url)
    assert result.returncode == 0, result.stderr
    assert "schema at head" in result.stdout
    return url


def test_migrate_is_idempotent_and_loads_reference_data(fresh_url):
    again = run("migrate", database_url=fresh_url)
    assert again.returncode == 0
    assert "'countries': 0, 'topics': 0, 'sessions': 0" in again.stdout
    with create_engine(fresh_url).connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM countries")).scalar() == 249
        assert connection.execute(text("SELECT count(*) FROM sessions")).scalar() >= 1


def test_keys_create_list_revoke(fresh_url):
    created = run("keys", "create", "frontend build", database_url=fresh_url)
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("hrcd_") and " " not in secret and len(secret) > 40
    listed = run("keys", "list", database_url=fresh_url)
    assert listed.returncode == 0
    assert "frontend build" in listed.stdout
    assert secret not in listed.stdout and secret[12:] not in listed.stdout
    with create_engine(fresh_url).connect() as connection:
        key_id, stored = connection.execute(text(
            "SELECT id, key_hash FROM api_keys WHERE name = 'frontend build'")).one()
    assert secret not in stored
    revoked = run("keys", "revoke", str(key_id), database_url=fresh_url)
    assert revoked.returncode == 0 and f"revoked key {key_id}" in revoked.stdout
    again = run("keys", "revoke", str(key_id), database_url=fresh_url)
    assert again.returncode == 1
    assert again.stderr.strip() == f"error: no active key with id {key_id}"


# These two start `python -m app.cli` itself: the whole process, start-up included.
def test_unreachable_database_is_one_line_exit_1():
    result = started(environment("postgresql+psycopg://nobody@127.0.0.1:1/none"), "keys", "list")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr


def test_bad_database_url_is_one_line_exit_1():
    result = started(environment("mysql://x@localhost/db"), "migrate")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_usage_errors_exit_2(fresh_url):
    assert run("keys", "revoke", "not-a-number", database_url=fresh_url).returncode == 2
    assert run("no-such-command", database_url=fresh_url).returncode == 2


def test_recount_corrects_tallies_that_writes_past_the_app_left_behind(fresh_url):
    """`recount` gives the tallies a recount from the entries gives, and says how many
    it corrected; run again, it corrects none."""
    seeded = run("seed", database_url=fresh_url)
    assert seeded.returncode == 0, seeded.stderr
    engine = create_engine(fresh_url)
    try:
        with engine.begin() as connection:  # as SQL run by hand would leave them
            connection.execute(text("UPDATE entry_tallies SET n = n + 5 WHERE facet = 'type'"))
            connection.execute(text("DELETE FROM entry_tallies WHERE facet = 'topic'"))
            topics = connection.execute(text(
                "SELECT count(DISTINCT topic || type) FROM entry_topics")).scalar()
        first = run("recount", database_url=fresh_url)
        assert first.returncode == 0, first.stderr
        assert first.stdout.strip().endswith(f"{3 + topics} corrected"), first.stdout
        again = run("recount", database_url=fresh_url)
        assert again.stdout.strip().endswith(" 0 corrected"), again.stdout
        with engine.connect() as connection:
            assert connection.execute(text(
                "SELECT sum(n) FROM entry_tallies WHERE facet = 'type'")).scalar() == 26
    finally:
        engine.dispose()
