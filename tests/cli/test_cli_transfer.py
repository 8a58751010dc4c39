"""`hrc-digest import` and `export`: formats, errors, progress and resume."""

import json
import os
import shlex
import signal
import subprocess
import sys
import time

import orjson
import pytest
from sqlalchemy import create_engine, text

from tests.cli.test_cli import run
from tests.commands import hrc_digest
from tests.databases import ROOT, new_database_url


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


def test_export_by_date_precision(url):
    day = run("export", "--kind", "events", "--date-precision", "day", database_url=url)
    assert day.returncode == 0, day.stderr
    assert [json.loads(line)["starts_on"] for line in day.stdout.splitlines()] == ["2021-02-26"]
    either = run("export", "--kind", "events", "--date-precision", "day", "--date-precision",
                 "session", database_url=url)
    assert len(either.stdout.splitlines()) == 8


def test_export_by_id_and_slug(url):
    every = [json.loads(line) for line in run("export", "--kind", "events",
                                              database_url=url).stdout.splitlines()]
    first, second, third = every[:3]
    by_id = run("export", "--kind", "events", "--id", f"{first['id']},{second['id']}",
                database_url=url)
    assert by_id.returncode == 0, by_id.stderr
    assert [json.loads(line)["id"] for line in by_id.stdout.splitlines()] == [
        first["id"], second["id"]]
    by_slug = run("export", "--kind", "events", "--slug", third["slug"].upper(),
                  "--slug", f"-{first['slug']}", database_url=url)
    assert [json.loads(line)["slug"] for line in by_slug.stdout.splitlines()] == [
        third["slug"]]
    not_first = run("export", "--kind", "events", "--id", f"-{first['id']}", database_url=url)
    assert len(not_first.stdout.splitlines()) == len(every) - 1


STATE = ".hrc-digest"  # the default state dir, in the current folder


def rerun(stderr: str, url: str, cwd) -> subprocess.CompletedProcess:
    """Run the `hrc-digest …` command the last line of stderr ends with."""
    command = shlex.split(stderr.strip().splitlines()[-1].split("run: ")[-1])
    assert command[:2] == ["hrc-digest", "import"], command
    return run(*command[1:], database_url=url, cwd=cwd)


def test_rejected_ndjson_rows_are_kept_as_read_and_load_once_fixed(url, tmp_path):
    data = tmp_path / "new.ndjson"
    good = b"".join(orjson.dumps({"title": f"Imported {i}", "topics": ["tibet"]}) + b"\n"
                    for i in range(3))
    bad = [b'{"title": "", "slug": "was-empty"}', b"{broken",
           b'{"title": "A poem", "genre": "poem"}']
    data.write_bytes(good + b"\n" + b"\n".join(bad) + b"\n")  # a blank line 4
    result = run("import", str(data), "--kind", "articles", database_url=url, cwd=tmp_path)
    assert result.returncode == 1
    assert "3 created, 0 updated, 0 unchanged, 3 failed" in result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: 3 rows were rejected: they are in "
                           f"{STATE}/new.ndjson.rejected.ndjson"), last
    rejected = tmp_path / STATE / "new.ndjson.rejected.ndjson"
    assert rejected.read_bytes().splitlines() == bad  # the rows themselves, as read
    reasons = [json.loads(line) for line in (tmp_path / STATE / "new.ndjson.errors.ndjson")
               .read_text().splitlines()]
    assert [(r["line"], r["rejected_line"], r["index"], r["slug"], r["title"])
            for r in reasons] == [(5, 1, 3, "was-empty", None), (6, 2, 4, None, None),
                                  (7, 3, 5, None, "A poem")]
    assert "title" in reasons[0]["detail"] and "genre" in reasons[2]["detail"]
    assert not (tmp_path / STATE / "new.ndjson.progress.json").exists()
    rejected.write_bytes(b'{"title": "Was empty", "slug": "was-empty"}\n'
                         b'{"title": "Was broken"}\n{"title": "A poem", "genre": "other"}\n')
    before = count(url, "article")
    again = rerun(result.stderr, url, tmp_path)  # the command the error line gives
    assert again.returncode == 0, again.stderr
    assert "3 created, 0 updated, 0 unchanged, 0 failed" in again.stdout
    assert count(url, "article") == before + 3
    assert "rows/s" in result.stderr  # the progress bar


def test_rejected_csv_rows_keep_the_header_and_load_once_fixed(url, tmp_path):
    data = tmp_path / "events.csv"
    data.write_text('title,summary,format,organizers\r\n'
                    'CSV good,"two\r\nlines",online,A|B\r\n'
                    '"CSV bad,\r\nspanning",x,not-a-format,\r\n'
                    'CSV short\r\n', newline="")
    result = run("import", str(data), "--kind", "events", database_url=url, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "1 created, 0 updated, 0 unchanged, 2 failed" in result.stdout
    rejected = tmp_path / STATE / "events.csv.rejected.csv"
    assert rejected.read_bytes().decode() == ('title,summary,format,organizers\r\n'
                                              '"CSV bad,\r\nspanning",x,not-a-format,\r\n'
                                              'CSV short\r\n')
    reasons = [json.loads(line) for line in (tmp_path / STATE / "events.csv.errors.ndjson")
               .read_text().splitlines()]
    assert [(r["line"], r["rejected_line"], r["title"]) for r in reasons] == [
        (4, 2, "CSV bad,\r\nspanning"), (6, 4, None)]
    assert "cells" in reasons[1]["detail"]
    rejected.write_text('title,summary,format,organizers\r\n'
                        '"CSV bad,\r\nspanning",x,hybrid,\r\n'
                        'CSV short,,,\r\n', newline="")
    again = rerun(result.stderr, url, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "2 created, 0 updated, 0 unchanged, 0 failed" in again.stdout


def test_rejected_items_of_a_json_array_become_ndjson(url, tmp_path):
    data = tmp_path / "items.json"
    data.write_bytes(orjson.dumps([{"title": "JSON good"}, {"title": "JSON bad",
                                                            "genre": "poem"}]))
    result = run("import", str(data), "--kind", "articles", database_url=url, cwd=tmp_path)
    assert result.returncode == 1
    rejected = tmp_path / STATE / "items.json.rejected.ndjson"
    assert [json.loads(line) for line in rejected.read_text().splitlines()] == [
        {"title": "JSON bad", "genre": "poem"}]
    reason = json.loads((tmp_path / STATE / "items.json.errors.ndjson").read_text())
    assert (reason["line"], reason["rejected_line"], reason["index"]) == (None, 1, 1)
    rejected.write_text('{"title": "JSON bad", "genre": "report"}\n')
    assert rerun(result.stderr, url, tmp_path).returncode == 0


def test_a_clean_import_leaves_no_working_files(url, tmp_path):
    data = tmp_path / "clean.ndjson"
    data.write_text('{"title": "Clean import"}\n')
    result = run("import", str(data), "--kind", "articles", database_url=url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["clean.ndjson"]


def test_the_default_state_dir_is_git_ignored():
    paths = [f"{STATE}/feed.ndjson.errors.ndjson", f"sub/{STATE}/x.progress.json"]
    ignored = subprocess.run(["git", "check-ignore", *paths], cwd=ROOT, timeout=30,
                             capture_output=True, text=True)
    assert ignored.returncode == 0, ignored.stderr
    assert ignored.stdout.splitlines() == paths


def test_state_dir_option_and_its_environment_variable(url, tmp_path):
    data = tmp_path / "placed.ndjson"
    data.write_text('{"title": ""}\n')
    result = run("import", str(data), "--kind", "articles", "--state-dir", "work/state",
                 "--on-conflict", "skip", database_url=url, cwd=tmp_path)
    assert result.returncode == 1
    assert (tmp_path / "work" / "state" / "placed.ndjson.rejected.ndjson").is_file()
    assert result.stderr.strip().endswith(  # the re-import keeps the conflict rule
        "run: hrc-digest import work/state/placed.ndjson.rejected.ndjson --kind articles "
        "--on-conflict skip")
    env = os.environ | {"DATABASE_URL": url, "HRC_DIGEST_STATE_DIR": str(tmp_path / "from-env")}
    from_env = hrc_digest(env, "import", str(data), "--kind", "articles", cwd=tmp_path)
    assert from_env.returncode == 1
    assert (tmp_path / "from-env" / "placed.ndjson.errors.ndjson").is_file()


def _checkpoint(folder, data, done: int, **more) -> None:
    """What an import of `data` interrupted after `done` records leaves behind."""
    stat = data.stat()
    (folder / STATE).mkdir(exist_ok=True)
    (folder / STATE / f"{data.name}.progress.json").write_bytes(orjson.dumps(
        {"path": str(data.resolve()), "kind": "article", "format": "ndjson",
         "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "done": done} | more))


def test_import_resumes_after_the_last_committed_batch(url, tmp_path):
    data = tmp_path / "resume.ndjson"
    rows = [{"title": ""}] * 3 + [{"title": f"Resumed {i}"} for i in range(4)]
    data.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    _checkpoint(tmp_path, data, 3)
    before = count(url, "article")
    result = run("import", str(data), "--kind", "articles", database_url=url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "4 created, 0 updated, 0 unchanged, 0 failed (resumed after 3)" in result.stdout
    assert count(url, "article") == before + 4
    assert not (tmp_path / STATE / "resume.ndjson.progress.json").exists()


def test_ctrl_c_says_how_to_resume_exits_130_and_the_command_resumes(url, tmp_path):
    data = tmp_path / "big.ndjson"
    total = 60_000
    data.write_bytes(b"".join(orjson.dumps({"title": f"Interrupted {i}"}) + b"\n"
                              for i in range(total)) + b'{"title": ""}\n')
    checkpoint = tmp_path / STATE / "big.ndjson.progress.json"
    env = os.environ | {"DATABASE_URL": url, "HRC_DIGEST_SEED_DIR": str(ROOT / "seed_data")}
    before = count(url, "article")
    process = subprocess.Popen([sys.executable, "-m", "app.cli", "import", "big.ndjson",
                                "--kind", "articles"], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not checkpoint.exists() and process.poll() is None:  # a batch is committed
            assert time.monotonic() < deadline, "no batch committed within 60 s"
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert process.returncode == 130, stderr
    lines = stderr.strip().splitlines()
    assert lines[-2].startswith("interrupted: the first ") and "Traceback" not in stderr
    assert lines[-1] == "hrc-digest import big.ndjson --kind articles"
    done = orjson.loads(checkpoint.read_bytes())["done"]
    assert 0 < done < total and count(url, "article") == before + done
    resumed = run(*shlex.split(lines[-1])[1:], database_url=url, cwd=tmp_path, timeout=300)
    assert resumed.returncode == 1  # the last row is rejected
    assert f"{total - done} created, 0 updated, 0 unchanged, 1 failed (resumed after " \
           f"{done:,})" in resumed.stdout
    assert count(url, "article") == before + total
    assert (tmp_path / STATE / "big.ndjson.rejected.ndjson").read_text() == '{"title": ""}\n'


@pytest.mark.parametrize(("args", "message"), [
    (["import", "missing.ndjson", "--kind", "articles"], "missing.ndjson: no such file"),
    (["import", "{file}", "--kind", "widgets"], "unknown kind 'widgets'"),
    (["import", "{file}", "--kind", "articles", "--format", "xml"], "--format"),
    (["export", "--kind", "articles", "--topic", "nope"], "unknown topic 'nope'"),
    (["export", "--kind", "articles", "--format", "xml"], "--format"),
    (["export", "--kind", "articles", "--where", "speaker=x"], "--where"),
    (["export", "--kind", "articles", "--date-precision", "week"], "--date-precision"),
    (["export", "--kind", "articles", "--id", "abc"], "id"),
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
    """Rejected rows and the checkpoint go to the state dir, named after the input's base
    name, however the input path climbs (here out of a read-only data folder)."""
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
    assert [p.name for p in work.iterdir()] == [STATE]
    assert sorted(p.name for p in (work / STATE).iterdir()) == [
        "feed.ndjson.errors.ndjson", "feed.ndjson.rejected.ndjson"]


def test_a_checkpoint_of_another_file_with_the_same_name_is_ignored(url, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    rows = b"".join(orjson.dumps({"title": f"Same name {i}"}) + b"\n" for i in range(2))
    for folder in ("a", "b"):
        (tmp_path / folder / "same.ndjson").write_bytes(rows)
    _checkpoint(tmp_path, tmp_path / "b" / "same.ndjson", 2,
                path=str((tmp_path / "a" / "same.ndjson").resolve()))
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
    (["import", "{file}", "--kind", "articles", "--state-dir", "{file}/missing"],
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
