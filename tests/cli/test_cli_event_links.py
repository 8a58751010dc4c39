"""`hrc-digest export` then `import` into a new database: statements keep their event by slug."""

import json
from pathlib import Path

import orjson
import pytest
from sqlalchemy import create_engine, text

from tests.cli.test_cli import run
from tests.databases import new_database_url

LINKS = text("SELECT s.slug, e.id, e.slug FROM statements st JOIN entries s ON s.id = st.id "
             "LEFT JOIN entries e ON e.id = st.event_id ORDER BY s.slug")


def write_ndjson(path: Path, records: list[dict]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    return path


def load(database: str, path: Path, kind: str, created: int) -> None:
    """Import a file, expecting every record created."""
    result = run("import", str(path), "--kind", kind, database_url=database, cwd=path.parent)
    assert result.returncode == 0, result.stderr
    assert f"{created} created, 0 updated, 0 unchanged, 0 failed" in result.stdout


def links(database: str) -> list[tuple]:
    """(statement slug, event id, event slug) of every statement."""
    engine = create_engine(database)
    with engine.connect() as connection:
        found = [tuple(row) for row in connection.execute(LINKS)]
    engine.dispose()
    return found


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict:
    """A database whose statements link to events by slug, and its exports."""
    folder = tmp_path_factory.mktemp("source")
    source = new_database_url()
    events = [{"title": name.title(), "slug": name} for name in ("seminar", "forum")]
    load(source, write_ndjson(folder / "in-events.ndjson", events), "events", 2)
    statements = [{"title": f"Statement {i}", "slug": f"statement-{i}", "event": event}
                  for i, event in enumerate(("seminar", "forum", None))]
    load(source, write_ndjson(folder / "in-statements.ndjson", statements), "statements", 3)
    files = {}
    for kind, file_format in (("events", "ndjson"), ("statements", "ndjson"),
                              ("statements", "csv")):
        files[kind, file_format] = folder / f"{kind}.{file_format}"
        result = run("export", "--kind", kind, "--format", file_format, "-o",
                     str(files[kind, file_format]), database_url=source)
        assert result.returncode == 0, result.stderr
    return {"files": files, "links": links(source)}


@pytest.mark.parametrize("file_format", ["ndjson", "csv"])
def test_export_imported_where_ids_differ_links_each_statement_to_its_event(
        exported, tmp_path, file_format):
    source_links = exported["links"]
    assert [(slug, event) for slug, _, event in source_links] == [
        ("statement-0", "seminar"), ("statement-1", "forum"), ("statement-2", None)]
    if file_format == "ndjson":  # the export names the event both ways
        records = [json.loads(line) for line in
                   exported["files"]["statements", "ndjson"].read_text().splitlines()]
        assert [(r["event_id"], r["event"]) for r in records] == [
            (event_id, event) for _, event_id, event in source_links]
    target = new_database_url()
    unrelated = [{"title": f"Unrelated {i}", "slug": f"unrelated-{i}"} for i in range(3)]
    load(target, write_ndjson(tmp_path / "unrelated.ndjson", unrelated), "events", 3)
    load(target, exported["files"]["events", "ndjson"], "events", 2)
    load(target, exported["files"]["statements", file_format], "statements", 3)
    target_links = links(target)
    assert [(slug, event) for slug, _, event in target_links] == [
        (slug, event) for slug, _, event in source_links]
    for (_, source_id, event), (_, target_id, _) in zip(source_links, target_links,
                                                        strict=True):
        assert event is None or target_id != source_id  # linked by slug, not by number
