"""Seeding the database from digest pages: idempotent, one transaction, clear failures."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from app.entries.registry import KINDS
from app.loader import seeding
from tests.commands import hrc_digest
from tests.databases import ROOT, new_database_url
from tests.helpers import kind_counts

SEED_DIR = ROOT / "seed_data"
PAGE_52 = ROOT / "tests" / "loader" / "data" / "session52_page.txt"


def seed(db, paths: list[Path], seed_dir: Path = SEED_DIR) -> seeding.SeedReport:
    report = seeding.save(db, seeding.plan(paths, seed_dir, db))
    db.commit()
    return report


def test_seed_loads_the_26_entries_with_provenance(db, client):
    report = seed(db, seeding.default_pages(SEED_DIR))
    assert report.outcomes["created"] == 26
    assert (report.kinds["article"], report.kinds["event"], report.kinds["statement"]) == (
        4, 8, 14)
    articles = client.get("/api/v1/articles").json()
    assert articles["total"] == 4
    first = client.get("/api/v1/articles?sort=id&limit=1").json()["items"][0]
    assert first["provenance"]["source"] == "seed_data/000_33de37058f0cd80a.txt"
    assert first["provenance"]["line"] == 3
    assert first["provenance"]["evidence"]["type"]["text"] == "Xinhua Commentary:"
    assert first["source"] == "Xinhua" and first["session"] == 46
    statements = client.get("/api/v1/statements?limit=100").json()["items"]
    assert {s["speaker"] for s in statements} >= {"Wang Yi", "Chen Xu", "Liu Yuyin",
                                                   "Antonio Guterres", "Gary Wong Chi-him"}


def test_second_run_changes_nothing(db, client):
    seed(db, seeding.default_pages(SEED_DIR))
    before = client.get("/api/v1/statements?limit=100").json()["items"]
    report = seed(db, seeding.default_pages(SEED_DIR))
    assert dict(report.outcomes) == {"unchanged": 26}
    after = client.get("/api/v1/statements?limit=100").json()["items"]
    assert after == before


def test_intro_becomes_the_session_description(db, client):
    seed(db, seeding.default_pages(SEED_DIR))
    session = client.get("/api/v1/sessions/46").json()
    assert session["description"].startswith("On February 22th, the 46th session")
    assert session["counts"] == kind_counts(article=4, event=8, statement=14)


def test_a_new_session_is_created_from_its_page(db, client):
    report = seed(db, [PAGE_52])
    assert report.sessions_created == [52]
    session = client.get("/api/v1/sessions/52").json()
    assert (session["starts_on"], session["ends_on"]) == ("2023-02-27", "2023-04-04")
    assert session["counts"]["statement"] + session["counts"]["event"] > 0


def test_a_rule_change_updates_only_what_changed(db, client, tmp_path):
    seed(db, seeding.default_pages(SEED_DIR))
    seed_dir = tmp_path / "seed"
    shutil.copytree(SEED_DIR, seed_dir)
    slug = "flagrant-human-rights-violations-characterize-the-u-s"
    assert client.get("/api/v1/articles?limit=100").json()["items"]
    (seed_dir / "rules" / "overrides.toml").write_text(
        f'[overrides.{slug}]\ngenre = "commentary"\n', encoding="utf-8")
    report = seed(db, seeding.default_pages(SEED_DIR), seed_dir)
    assert dict(report.outcomes) == {"updated": 1, "unchanged": 25}
    items = client.get("/api/v1/articles?limit=100").json()["items"]
    changed = next(i for i in items if i["slug"] == slug)
    assert changed["genre"] == "commentary" and changed["version"] == 2


def test_a_kind_override_moves_the_entry_without_a_copy(db, client, tmp_path):
    seed(db, seeding.default_pages(SEED_DIR))
    seed_dir = tmp_path / "seed"
    shutil.copytree(SEED_DIR, seed_dir)
    slug = "china-wins-praise-for-contributions-to-worlds-human-rights-cause"
    (seed_dir / "rules" / "overrides.toml").write_text(
        f'[overrides.{slug}]\ntype = "article"\n', encoding="utf-8")
    seed(db, seeding.default_pages(SEED_DIR), seed_dir)
    events = [i["slug"] for i in client.get("/api/v1/events?limit=100").json()["items"]]
    articles = [i["slug"] for i in client.get("/api/v1/articles?limit=100").json()["items"]]
    assert slug not in events and slug in articles
    assert len(events) + len(articles) == 8 + 4
    changes = client.get("/api/v1/changes?limit=1000").json()["items"]
    moved = [(c["action"], c["type"]) for c in changes if c["slug"] == slug]
    assert moved == [("created", "event"), ("deleted", "event"), ("created", "article")]


def run_cli(*args: str, database_url: str) -> subprocess.CompletedProcess:
    env = os.environ | {"DATABASE_URL": database_url, "HRC_DIGEST_SEED_DIR": str(SEED_DIR)}
    return hrc_digest(env, *args)


def count_entries(database_url: str) -> int:
    with create_engine(database_url).connect() as connection:
        return connection.execute(text("SELECT count(*) FROM entries")).scalar()


@pytest.fixture(scope="module")
def cli_database() -> str:
    url = new_database_url()
    assert run_cli("migrate", database_url=url).returncode == 0
    return url


def test_cli_dry_run_prints_records_and_writes_nothing(cli_database):
    import json

    result = run_cli("seed", "--dry-run", database_url=cli_database)
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert len(records) == 26
    assert {r["type"] for r in records} == {"article", "event", "statement"}
    assert count_entries(cli_database) == 0


@pytest.mark.parametrize(("content", "line"), [
    (b"", 1),
    (b"Intro.\n\nA title\n", 3),
    (b"Intro.\n\nTitle\n\nSummary.[more..]\n\n\x00\x01\x02junk\x03\n", None),
    (b"Intro.\n\nTitle \xff\xfe\n\nSummary.[more..]\n", 3),
])
def test_cli_malformed_page_exits_1_naming_file_and_line(cli_database, tmp_path, content, line):
    good = SEED_DIR / "000_33de37058f0cd80a.txt"
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    result = run_cli("seed", str(good), str(bad), database_url=cli_database)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "bad.txt:" in lines[0]
    if line is not None:
        assert f"bad.txt:{line}:" in lines[0]
    assert count_entries(cli_database) == 0  # the good page was not half-loaded either


def test_cli_missing_file_exits_1(cli_database):
    result = run_cli("seed", "no/such/page.txt", database_url=cli_database)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: no/such/page.txt: no such file"


def test_cli_seed_twice_reports_unchanged(cli_database):
    first = run_cli("seed", database_url=cli_database)
    assert first.returncode == 0, first.stderr
    assert "26 created, 0 updated, 0 unchanged" in first.stdout
    second = run_cli("seed", database_url=cli_database)
    assert "0 created, 0 updated, 26 unchanged" in second.stdout
    assert count_entries(cli_database) == 26


def test_cli_dry_run_explain_prints_each_values_evidence(cli_database):
    before = count_entries(cli_database)
    result = run_cli("seed", "--dry-run", "--explain", database_url=cli_database)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("seed_data/000_33de37058f0cd80a.txt:3  article  xinhua-commentary-")
    assert ('  type                 article (confidence 0.95)  line 3 [691:709] '
            '"Xinhua Commentary:"') in out
    assert '  speaker              Wang Yi  line 55 [' in out
    assert out.count("\n  type  ") == 26 and out.count("<- ") > 26 * 4
    assert count_entries(cli_database) == before


def test_cli_dry_run_report_lists_least_certain_first(cli_database):
    result = run_cli("seed", "--dry-run", "--report", database_url=cli_database)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("The 10 least certain kind decisions")
    ranked = [line for line in lines if line[:1].isdigit()]
    assert len(ranked) == 10
    values = [float(line.split()[0]) for line in ranked]
    assert values == sorted(values) and values[0] < 0.9
    assert "chinese-envoy-rejects-groundless-accusations" in ranked[0]
    assert "why: classification" in result.stdout and "override: [overrides." in result.stdout


def test_cli_explain_and_report_need_dry_run(cli_database):
    before = count_entries(cli_database)
    result = run_cli("seed", "--report", database_url=cli_database)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: --explain and --report need --dry-run"
    assert count_entries(cli_database) == before


def test_seed_places_all_26_entries_in_time_as_the_loader_did(db, client):
    planned = {r["slug"]: r for result in seeding.plan(seeding.default_pages(SEED_DIR),
                                                       SEED_DIR, db) for r in result.records}
    seed(db, seeding.default_pages(SEED_DIR))
    items = client.get("/api/v1/search?limit=100").json()["items"]
    assert len(items) == 26
    for item in items:
        record = planned[item["slug"]]
        assert item["date_precision"] == record["date_precision"]
        assert (item["date_from"], item["date_to"]) == tuple(
            day and day.isoformat() for day in (record["date_from"], record["date_to"]))
    counts = {p: client.get(f"/api/v1/search?date_precision={p}").json()["total"]
              for p in ("day", "month", "session", "unknown")}
    assert counts == {"day": 1, "month": 0, "session": 25, "unknown": 0}  # docs/loader.md §6
    assert client.get("/api/v1/timeline?limit=100").json()["total"] == 26
    calendar = client.get("/api/v1/feeds/events.ics").text
    assert calendar.count("BEGIN:VEVENT") == 1 and "China wins praise" in calendar


def test_a_pinned_weekday_is_saved_as_the_primary_date(db, client):
    page = ROOT / "tests" / "loader" / "corpus" / "hrc50_page.txt"
    seed(db, [page])
    events = client.get("/api/v1/events?limit=100").json()["items"]
    closing = next(e for e in events if e["slug"] ==
                   "un-human-rights-council-concludes-50th-session-adopts-23-resolutions")
    assert closing["starts_on"] == closing["date"] == "2022-07-08"
    assert closing["date_precision"] == "day"
    assert dict(seed(db, [page]).outcomes) == {"unchanged": 12}


def test_a_record_the_writer_refuses_names_its_page_line_and_nothing_is_kept(db, client):
    results = seeding.plan(seeding.default_pages(SEED_DIR), SEED_DIR, db)
    bad = next(r for r in results[0].records if r["type"] == "statement")
    bad["topics"] = [*bad["topics"], "no-such-topic"]
    with pytest.raises(seeding.SeedError) as raised:
        seeding.save(db, results)
    db.rollback()
    where = bad["provenance"]
    assert str(raised.value).startswith(f"{where['source']}:{where['line']}: ")
    assert "no-such-topic" in str(raised.value)
    for spec in KINDS:  # nothing was written
        assert client.get(f"/api/v1/{spec.plural}").json()["total"] == 0
