"""`hrc-digest import` and `export`: formats, errors, progress and resume."""

import json
import os

import orjson
import pytest
from sqlalchemy import create_engine, text

from tests.cli.test_cli import run
from tests.databases import new_database_url


@pytest.fixture(scope="module")
def url() -> str:
    database = new_database_url()
    assert run("seed", database_url=database).returncode == 0
    return database


def count(database: str, kind: str) -> int:
    with create_engine(database).connect() as connection:
        return connection.execute(text("SELECT count(*) FROM entries WHERE type = :k"),
                                  {"k": kind}).scalar()


def test_export_ndjson_and_csv_then_import_them_back_unchanged(url, tmp_path):
    out = tmp_path / "statements.ndjson"
    exported = run("export", "--kind", "statements", "-o", str(out), database_url=url)
    assert exported.returncode == 0, exported.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 14 and {r["type"] for r in records} == {"statement"}
    again = run("import", str(out), "--kind", "statements", database_url=url)
    assert again.returncode == 0, again.stderr
    assert "0 created, 0 updated, 14 unchanged, 0 failed" in again.stdout
    csv_file = tmp_path / "events.csv"
    assert run("export", "--kind", "events", "--format", "csv", "-o", str(csv_file),
               database_url=url).returncode == 0
    assert csv_file.read_text().splitlines()[0].startswith("id,slug,title")
    result = run("import", str(csv_file), "--kind", "events", database_url=url)
    assert "0 created, 0 updated, 8 unchanged, 0 failed" in result.stdout


def test_export_filters_to_stdout(url):
    result = run("export", "--kind", "statements", "--where", "speaker=Chen Xu", "--topic",
                 "covid-19", database_url=url)
    assert result.returncode == 0
    assert len(result.stdout.splitlines()) == 1


def test_import_new_rows_reports_bad_rows_to_a_file_and_exits_1(url, tmp_path):
    data = tmp_path / "new.ndjson"
    rows = [{"title": f"Imported {i}", "topics": ["tibet"]} for i in range(3)]
    data.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows) +
                     b'{"title": ""}\n{broken\n')
    result = run("import", str(data), "--kind", "articles", database_url=url, cwd=tmp_path)
    assert result.returncode == 1
    assert "3 created, 0 updated, 0 unchanged, 2 failed" in result.stdout
    assert result.stderr.strip().splitlines()[-1].startswith("error: 2 rows were rejected")
    errors = [json.loads(line) for line in (tmp_path / "new.ndjson.errors.jsonl")
              .read_text().splitlines()]
    assert [(e["index"], e["line"]) for e in errors] == [(3, 4), (4, 5)]
    assert "rows/s" in result.stderr  # the progress bar


def test_import_resumes_after_the_last_committed_batch(url, tmp_path):
    data = tmp_path / "resume.ndjson"
    rows = [{"title": ""}] * 3 + [{"title": f"Resumed {i}"} for i in range(4)]
    data.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    stat = data.stat()
    # What an import interrupted after its first three rows leaves behind.
    (tmp_path / "resume.ndjson.progress.json").write_bytes(orjson.dumps(
        {"kind": "article", "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "done": 3}))
    before = count(url, "article")
    result = run("import", str(data), "--kind", "articles", database_url=url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "4 created, 0 updated, 0 unchanged, 0 failed (resumed after 3)" in result.stdout
    assert count(url, "article") == before + 4
    assert not (tmp_path / "resume.ndjson.progress.json").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["import", "missing.ndjson", "--kind", "articles"], "missing.ndjson: no such file"),
    (["import", "{file}", "--kind", "widgets"], "unknown kind 'widgets'"),
    (["import", "{file}", "--kind", "articles", "--format", "xml"], "--format"),
    (["export", "--kind", "articles", "--topic", "nope"], "unknown topic 'nope'"),
    (["export", "--kind", "articles", "--format", "xml"], "--format"),
    (["export", "--kind", "articles", "--where", "speaker=x"], "--where"),
])
def test_bad_arguments_are_one_line_exit_1(url, tmp_path, args, message):
    file = tmp_path / "data.ndjson"
    file.write_text('{"title": "x"}\n')
    result = run(*[a.replace("{file}", str(file)) for a in args], database_url=url)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr


def test_not_utf8_file_is_one_line_exit_1(url, tmp_path):
    file = tmp_path / "latin1.csv"
    file.write_bytes("title\nGen\xe8ve\n".encode("latin-1"))
    result = run("import", str(file), "--kind", "articles", database_url=url, cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert os.path.basename(str(file)) in result.stderr.strip().splitlines()[-1]
    assert [p.name for p in tmp_path.iterdir()] == ["latin1.csv"]  # no empty errors file


def test_input_paths_never_steer_where_import_writes(url, tmp_path):
    """Rejected rows and the checkpoint go to the current folder, named after the input's
    base name, however the input path climbs (here out of a read-only data folder)."""
    data_dir, work = tmp_path / "shared" / "data", tmp_path / "work"
    data_dir.mkdir(parents=True)
    work.mkdir()
    data = data_dir / "feed.ndjson"
    data.write_bytes(b'{"title": "Traversal is not a problem here"}\n{"title": ""}\n')
    data_dir.chmod(0o555)
    try:
        climbing = os.path.relpath(data, work)  # ../shared/data/feed.ndjson
        assert climbing.startswith("..")
        result = run("import", climbing, "--kind", "articles", database_url=url, cwd=work)
    finally:
        data_dir.chmod(0o755)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "1 created, 0 updated, 0 unchanged, 1 failed" in result.stdout
    assert sorted(p.name for p in data_dir.iterdir()) == ["feed.ndjson"]
    assert [p.name for p in work.iterdir()] == ["feed.ndjson.errors.jsonl"]


def test_a_checkpoint_of_another_file_with_the_same_name_is_ignored(url, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    rows = b"".join(orjson.dumps({"title": f"Same name {i}"}) + b"\n" for i in range(2))
    for folder in ("a", "b"):
        (tmp_path / folder / "same.ndjson").write_bytes(rows)
    other = tmp_path / "a" / "same.ndjson"
    stat = (tmp_path / "b" / "same.ndjson").stat()
    (tmp_path / "same.ndjson.progress.json").write_bytes(orjson.dumps(
        {"path": str(other.resolve()), "kind": "article", "size": stat.st_size,
         "mtime_ns": stat.st_mtime_ns, "done": 2}))
    result = run("import", "b/same.ndjson", "--kind", "articles", database_url=url,
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "2 created" in result.stdout and "resumed" not in result.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["import", "/dev/zero", "--kind", "articles"], "/dev/zero: not a regular file"),
    (["import", "{dir}", "--kind", "articles"], "not a regular file"),
    (["import", "{dir}/../../no/such/../file.ndjson", "--kind", "articles"], "no such file"),
    (["seed", "/etc/hostname"], "/etc/hostname:"),
    (["seed", "{dir}/../{dirname}/../../"], "no such file"),
    (["export", "--kind", "articles", "-o", "{dir}/missing/out.ndjson"], "cannot write"),
    (["export", "--kind", "articles", "-o", "{dir}"], "cannot write"),
    (["import", "{file}", "--kind", "articles", "--errors", "{dir}/missing/e.jsonl"],
     "cannot write"),
])
def test_hostile_file_arguments_are_one_line_exit_1_and_write_nothing(url, tmp_path, args,
                                                                      message):
    file = tmp_path / "bad.ndjson"
    file.write_text('{"title": ""}\n')
    before = count(url, "article")
    values = {"{dir}": str(tmp_path), "{dirname}": tmp_path.name, "{file}": str(file)}
    for name, value in values.items():
        args = [a.replace(name, value) for a in args]
    result = run(*args, database_url=url, cwd=tmp_path, timeout=60)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert message in lines[-1] and "Traceback" not in result.stderr, result.stderr
    assert count(url, "article") == before
    assert not (tmp_path / "missing").exists()
