"""The hrc-digest command run from a folder outside the repository, as a new user runs it.

The environment carries no HRC_DIGEST_SEED_DIR: reference data must come from the
installed package. Every command's stderr is checked for warnings. The first migration
and the packaged page's dry run start `python -m app.cli` from that folder, start-up and
all; the other commands run in child processes that skip it (tests.commands).
"""

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import httpx
import orjson
import pytest
import rispy

from app.core.db import describe_database
from tests.commands import started
from tests.databases import IS_POSTGRES, new_database_url
from tests.process.server import Server, cli

MIGRATE_HINT = "run 'hrc-digest migrate'"


def environment(database_url: str | None, **settings: str) -> dict[str, str]:
    """The user's environment: a database (or the default one), no seed folder."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("HRC_DIGEST_SEED_DIR", "DATABASE_URL", "HRC_DIGEST_DATABASE_URL")}
    return env | ({"DATABASE_URL": database_url} if database_url else {}) | settings


def run(folder: Path, database_url: str | None, *args: str, start=cli
        ) -> subprocess.CompletedProcess:
    """`hrc-digest ARGS` in `folder`; fails the test on any warning in its stderr."""
    result = start(environment(database_url), *args, cwd=folder, timeout=120)
    assert "Warning" not in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The single `error: …` line of a command that exited 1."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """An empty folder outside the repository."""
    return tmp_path_factory.mktemp("elsewhere")


@pytest.fixture(scope="module")
def url(folder) -> str:
    """A fresh database, migrated from that folder."""
    database = new_database_url()
    migrated = run(folder, database, "migrate", start=started)
    assert migrated.returncode == 0, migrated.stderr
    assert "'topics': 14" in migrated.stdout  # the packaged topics.toml
    return database


def test_keys_create_list_and_a_second_key_of_the_same_name(folder, url):
    created = run(folder, url, "keys", "create", "me")
    assert created.returncode == 0, created.stderr
    key_id = int(created.stdout.split()[2])
    again = run(folder, url, "keys", "create", "me")
    assert one_error_line(again) == (f"error: a key named 'me' exists (id {key_id}); "
                                     "revoke it or choose another name")
    listed = run(folder, url, "keys", "list")
    assert listed.returncode == 0
    assert [line for line in listed.stdout.splitlines() if " me " in line] != []
    assert sum(" me " in line for line in listed.stdout.splitlines()) == 1
    assert run(folder, url, "keys", "revoke", str(key_id)).returncode == 0
    reused = run(folder, url, "keys", "create", "me")  # a revoked key's name is free again
    assert reused.returncode == 0, reused.stderr


def test_import_then_export(folder, url):
    data = folder / "articles.ndjson"
    data.write_bytes(b"".join(orjson.dumps({"title": f"From elsewhere {i}",
                                            "topics": ["tibet"]}) + b"\n" for i in range(3)))
    imported = run(folder, url, "import", str(data), "--kind", "articles")
    assert imported.returncode == 0, imported.stderr
    assert "3 created" in imported.stdout
    out = folder / "out.ndjson"
    exported = run(folder, url, "export", "--kind", "articles", "-o", str(out))
    assert exported.returncode == 0, exported.stderr
    titles = {json.loads(line)["title"] for line in out.read_text().splitlines()}
    assert {f"From elsewhere {i}" for i in range(3)} <= titles
    cited = run(folder, url, "export", "--kind", "articles", "--format", "ris", "--q",
                "elsewhere")
    assert cited.returncode == 0, cited.stderr
    assert sorted(rispy.loads(cited.stdout), key=lambda r: r["title"])[0]["title"] == (
        "From elsewhere 0")
    unknown = run(folder, url, "export", "--kind", "articles", "--format", "endnote")
    assert "--format must be one of" in one_error_line(unknown)


def test_seed_dry_run_from_elsewhere_prints_the_packaged_page(folder, url):
    result = run(folder, url, "seed", "--dry-run", start=started)
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert len(records) == 26
    assert records[0]["provenance"]["source"] == "seed_data/000_33de37058f0cd80a.txt"


def test_serve_from_elsewhere_writes_only_json_lines(folder, url):
    server = Server(environment(url, HRC_DIGEST_LOG_FORMAT="json"), cwd=folder)
    try:
        server.wait_ready()
        assert httpx.get(f"{server.base}/no-such-page", timeout=5).status_code == 404
        assert httpx.get(f"{server.base}/api/v1/articles", timeout=5).status_code == 200
        assert server.terminate() == 0
        lines = server.log(last=10**7).splitlines()
    finally:
        server.close()
    assert lines
    parsed = [json.loads(line) for line in lines]  # fails on any line that is not JSON
    loggers = {entry["logger"] for entry in parsed}
    assert {"uvicorn.error", "hrc_digest.access"} <= loggers
    assert any(entry.get("status") == 404 for entry in parsed)


def test_verbose_names_the_database(folder, url):
    result = run(folder, url, "--verbose", "keys", "list")
    assert result.returncode == 0
    assert f"database: {describe_database(url)}" in result.stderr.splitlines()


def test_a_password_is_never_printed(folder):
    secret_url = "postgresql+psycopg://someone:s3cret-pw@127.0.0.1:1/none"
    result = run(folder, secret_url, "--verbose", "keys", "list")
    assert result.returncode == 1
    assert "s3cret-pw" not in result.stderr
    assert "database: postgresql+psycopg://someone:***@127.0.0.1:1/none" in result.stderr
    assert "error: cannot use the database postgresql+psycopg://someone:***@127.0.0.1:1/none" \
        in result.stderr


def test_a_missing_sqlite_database_is_named_and_not_created(tmp_path):
    """The default database, ./data/hrc_digest.db, relative to the working folder."""
    for args in (("keys", "list"), ("keys", "create", "me"), ("export", "--kind", "events")):
        line = one_error_line(run(tmp_path, None, *args))
        assert str(tmp_path / "data" / "hrc_digest.db") in line, line
        assert MIGRATE_HINT in line
    assert list(tmp_path.iterdir()) == []


def test_an_unmigrated_database_is_named_with_the_fix(folder):
    database = new_database_url()
    if not IS_POSTGRES:  # an existing, empty SQLite file
        sqlite3.connect(database.removeprefix("sqlite:///")).close()
    line = one_error_line(run(folder, database, "keys", "list"))
    assert line == (f"error: the database {describe_database(database)} is not migrated; "
                    f"{MIGRATE_HINT}")


def test_dry_run_touches_no_file(tmp_path):
    result = run(tmp_path, None, "seed", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 26
    assert list(tmp_path.iterdir()) == []


def test_a_database_behind_the_code_is_named_with_the_fix(folder):
    from alembic import command
    from alembic.script import ScriptDirectory

    from app.core.migrations import alembic_config, head_revision

    database = new_database_url()
    config = alembic_config(database)
    previous = ScriptDirectory.from_config(config).get_revision(head_revision()).down_revision
    command.upgrade(config, previous)
    line = one_error_line(run(folder, database, "keys", "list"))
    assert line == (f"error: the database {describe_database(database)} is at migration "
                    f"{previous}, this hrc-digest needs {head_revision()}; {MIGRATE_HINT}")
    assert run(folder, database, "migrate").returncode == 0
    assert run(folder, database, "keys", "list").returncode == 0
