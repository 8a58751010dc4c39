"""Bulk upsert, streamed export with its round trip, and the change log."""

import csv
import io
import json
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest

from app.entries.registry import BY_PLURAL, KINDS
from tests.helpers import KIND_IDS, assert_problem, sample

ARTICLES, EVENTS, STATEMENTS = (BY_PLURAL[name] for name in ("articles", "events", "statements"))
NDJSON = {"Content-Type": "application/x-ndjson"}


def ndjson(items) -> bytes:
    return b"".join(orjson.dumps(item) + b"\n" for item in items)


def articles(count: int, start: int = 0) -> list[dict]:
    return [sample(ARTICLES, title=f"Bulk article {i}", slug=f"bulk-{i}")
            for i in range(start, start + count)]


@pytest.mark.parametrize("spec", KINDS, ids=KIND_IDS)
def test_json_array_creates_then_resend_is_unchanged(client, auth, spec):
    items = [sample(spec, title=f"{spec.title} {i}") for i in range(5)]
    first = client.post(f"/api/v1/{spec.plural}/bulk", json=items, headers=auth)
    assert first.status_code == 200, first.text
    assert first.json() == {"created": 5, "updated": 0, "unchanged": 0, "failed": 0,
                            "errors": []}
    before = client.get(f"/api/v1/{spec.plural}?limit=100").json()["items"]
    again = client.post(f"/api/v1/{spec.plural}/bulk", json=items, headers=auth).json()
    assert again["unchanged"] == 5 and again["created"] == again["updated"] == 0
    after = client.get(f"/api/v1/{spec.plural}?limit=100").json()["items"]
    assert [(i["version"], i["updated_at"]) for i in after] == [
        (i["version"], i["updated_at"]) for i in before]


def test_ndjson_updates_changed_items_only(client, auth):
    client.post("/api/v1/articles/bulk", content=ndjson(articles(3)), headers=auth | NDJSON)
    changed = articles(3)
    changed[1]["summary"] = "A new summary."
    report = client.post("/api/v1/articles/bulk", content=ndjson(changed),
                         headers=auth | NDJSON).json()
    assert (report["created"], report["updated"], report["unchanged"]) == (0, 1, 2)
    item = client.get("/api/v1/articles?q=new%20summary").json()["items"][0]
    assert item["slug"] == "bulk-1" and item["version"] == 2


def test_atomic_request_with_a_bad_item_writes_nothing_and_lists_every_bad_one(client, auth):
    items = articles(4)
    items[1]["title"] = ""
    items[3]["topics"] = ["atlantis"]
    response = client.post("/api/v1/articles/bulk", json=items, headers=auth)
    body = assert_problem(response, 422, "2 of 4 items")
    assert [(e["index"], e["slug"]) for e in body["errors"]] == [(1, "bulk-1"), (3, "bulk-3")]
    assert "atlantis" in body["errors"][1]["detail"]
    assert client.get("/api/v1/articles").json()["total"] == 0


def test_non_atomic_request_lands_good_items_and_reports_bad_ones(client, auth):
    lines = ndjson(articles(2)) + b"{not json\n" + ndjson([{"title": "x", "genre": "poem"},
                                                         [1, 2]])
    report = client.post("/api/v1/articles/bulk?atomic=false", content=lines,
                         headers=auth | NDJSON).json()
    assert (report["created"], report["failed"]) == (2, 3)
    assert [e["index"] for e in report["errors"]] == [2, 3, 4]
    assert "JSON" in report["errors"][0]["detail"]
    assert "genre" in report["errors"][1]["detail"]
    assert client.get("/api/v1/articles").json()["total"] == 2


def test_duplicate_slug_within_a_request_is_reported(client, auth):
    items = articles(2) + articles(1)
    body = assert_problem(client.post("/api/v1/articles/bulk", json=items, headers=auth), 422)
    assert body["errors"][0]["index"] == 2 and "index 0" in body["errors"][0]["detail"]


@pytest.mark.parametrize(("mode", "expected"), [
    ("skip", {"created": 1, "updated": 0, "unchanged": 1, "failed": 0}),
    ("error", {"created": 1, "updated": 0, "unchanged": 0, "failed": 1}),
    ("update", {"created": 1, "updated": 1, "unchanged": 0, "failed": 0}),
])
def test_on_conflict_modes(client, auth, mode, expected):
    client.post("/api/v1/articles/bulk", json=articles(1), headers=auth)
    items = articles(2)
    items[0]["summary"] = "changed"
    report = client.post(f"/api/v1/articles/bulk?on_conflict={mode}&atomic=false", json=items,
                         headers=auth).json()
    assert {k: report[k] for k in expected} == expected


@pytest.mark.parametrize(("headers", "body", "status"), [
    ({"Content-Type": "text/plain"}, b"[]", 415),
    ({"Content-Type": "application/json"}, b"{\"title\": \"x\"}", 400),
    ({"Content-Type": "application/json"}, b"[{", 400),
])
def test_bad_bodies(client, auth, headers, body, status):
    assert_problem(client.post("/api/v1/articles/bulk", content=body, headers=auth | headers),
                   status)


def test_more_than_ten_thousand_items_is_413(client, auth):
    lines = b'{"title":"x"}\n' * 10_001
    assert_problem(client.post("/api/v1/articles/bulk", content=lines, headers=auth | NDJSON),
                   413, "10,000")
    assert client.get("/api/v1/articles").json()["total"] == 0


def test_bulk_needs_a_key(client):
    assert_problem(client.post("/api/v1/articles/bulk", json=articles(1)), 401)


def test_bulk_writes_reach_search_and_facets_at_once(client, auth):
    items = articles(3)
    items[0]["topics"] = ["tibet"]
    client.post("/api/v1/articles/bulk", json=items, headers=auth)
    assert client.get("/api/v1/articles?q=bulk").json()["total"] == 3
    facet = client.get("/api/v1/articles?facets=topic").json()["facets"]["topic"]
    assert {"value": "tibet", "label": "Tibet", "count": 1} in facet


def test_concurrent_bulk_requests_on_overlapping_slugs(client, auth):
    batches = [articles(30, 0), articles(30, 15), articles(30, 5)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        reports = [r.json() for r in pool.map(
            lambda b: client.post("/api/v1/articles/bulk", json=b, headers=auth), batches)]
    assert sum(r["created"] for r in reports) == 45
    assert all(r["failed"] == 0 for r in reports)
    listing = client.get("/api/v1/articles?limit=100&count=exact").json()
    assert listing["total"] == 45
    assert len({item["slug"] for item in listing["items"]}) == 45


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("spec", KINDS, ids=KIND_IDS)
def test_ndjson_export_round_trips_into_an_empty_database(client, auth, spec, db):
    exported = client.get(f"/api/v1/{spec.plural}/export?format=ndjson")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/x-ndjson")
    records = [json.loads(line) for line in exported.text.splitlines()]
    assert len(records) == client.get(f"/api/v1/{spec.plural}").json()["total"]
    from sqlalchemy import text

    for table in ("entry_topics", "entry_countries", spec.plural, "entries"):
        db.execute(text(f"DELETE FROM {table}"))
    db.commit()
    report = client.post(f"/api/v1/{spec.plural}/bulk", content=exported.content,
                         headers=auth | NDJSON).json()
    assert report["created"] == len(records) and report["failed"] == 0
    again = [json.loads(line) for line in client.get(
        f"/api/v1/{spec.plural}/export?format=ndjson").text.splitlines()]
    server = {"id", "href", "created_at", "updated_at", "version", "event_id"}
    assert [{k: v for k, v in r.items() if k not in server} for r in again] == [
        {k: v for k, v in r.items() if k not in server} for r in records]


@pytest.mark.usefixtures("seeded")
def test_export_filters_and_csv(client):
    body = client.get("/api/v1/statements/export?format=csv&speaker=chen%20xu")
    assert body.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body.text)))
    assert len(rows) == 2 and {r["speaker"] for r in rows} == {"Chen Xu"}
    assert rows[0]["topics"].count("|") == len(rows[0]["topics"].split("|")) - 1
    online = client.get("/api/v1/events/export?event_format=online").text.splitlines()
    assert len(online) == 5
    assert_problem(client.get("/api/v1/articles/export?format=xml"), 422, "format")
    assert_problem(client.get("/api/v1/articles/export?limit=5"), 400, "limit")
    assert_problem(client.get("/api/v1/articles/export?topic=nope"), 422, "nope")


def _settled_changes(client, query: str, count: int) -> dict:
    """GET /changes, which shows every committed change at once (numbered in commit
    order: nothing is held back), so it already holds `count` items."""
    page = client.get(f"/api/v1/changes?{query}").json()
    assert len(page["items"]) >= count, page
    return page


def test_change_log_records_creates_updates_and_deletes_in_order(client, auth):
    start = client.get("/api/v1/changes").json()["next_since"]
    created = client.post("/api/v1/articles", json=sample(ARTICLES), headers=auth).json()
    url = f"/api/v1/articles/{created['id']}"
    client.patch(url, json={"summary": "edited"}, headers=auth)
    client.delete(url, headers=auth)
    client.post("/api/v1/events/bulk", json=[sample(EVENTS)], headers=auth)
    page = _settled_changes(client, f"since={start}", 4)
    assert [(c["action"], c["type"], c["version"]) for c in page["items"]] == [
        ("created", "article", 1), ("updated", "article", 2), ("deleted", "article", 3),
        ("created", "event", 1)]
    assert page["items"][0]["id"] == created["id"]
    assert page["has_more"] is False
    paged = client.get(f"/api/v1/changes?since={start}&limit=2").json()
    assert paged["has_more"] is True and len(paged["items"]) == 2
    rest = client.get(f"/api/v1/changes?since={paged['next_since']}").json()
    assert [c["seq"] for c in paged["items"] + rest["items"]] == [
        c["seq"] for c in page["items"]]
    only_events = client.get(f"/api/v1/changes?since={start}&type=event").json()["items"]
    assert [c["type"] for c in only_events] == ["event"]
    assert client.get(f"/api/v1/changes?since={page['next_since']}").json()["items"] == []


def test_change_log_since_a_time_and_bad_since(client, auth):
    client.post("/api/v1/articles", json=sample(ARTICLES), headers=auth)
    assert len(_settled_changes(client, "since=2000-01-01T00:00:00Z", 1)["items"]) == 1
    assert client.get("/api/v1/changes?since=2999-01-01T00:00:00Z").json()["items"] == []
    assert_problem(client.get("/api/v1/changes?since=yesterday"), 422, "since")
    assert_problem(client.get("/api/v1/changes?type=widget"), 422, "widget")


def _last_seq(db) -> int:
    from sqlalchemy import text

    last = db.execute(text("SELECT coalesce(max(seq), 0) FROM entry_changes")).scalar()
    db.rollback()
    return last


def _changes(db, after: int) -> list[tuple[str, str, int]]:
    """(action, slug, version) of every change logged after `after`, in log order (read
    from the table)."""
    from sqlalchemy import text

    rows = db.execute(text("SELECT action, slug, version FROM entry_changes WHERE seq > :after "
                           "ORDER BY seq"), {"after": after}).all()
    db.rollback()  # a fresh snapshot next time
    return [tuple(row) for row in rows]


def _total(client, query: str) -> int:
    return client.get(f"/api/v1/articles?{query}&count=exact&limit=1").json()["total"]


def _listed(client) -> dict[str, dict]:
    """Every article, by slug."""
    listed, offset = {}, 0
    while page := client.get(f"/api/v1/articles?limit=100&offset={offset}").json()["items"]:
        listed |= {item["slug"]: item for item in page}
        offset += 100
    return listed


def test_a_batch_of_inserts_updates_unchanged_and_bad_items_over_several_batches(client, auth,
                                                                                db):
    """Every outcome in one request spanning several batches: the report, the rows, their
    links and versions, the search index and the change log."""
    from app.entries.bulk.writer import BATCH_SIZE

    count = 2 * BATCH_SIZE + 10
    start = _last_seq(db)
    first = [item | {"topics": ["tibet"], "countries": ["CN"]} for item in articles(count)]
    report = client.post("/api/v1/articles/bulk", content=ndjson(first),
                         headers=auth | NDJSON).json()
    assert report == {"created": count, "updated": 0, "unchanged": 0, "failed": 0,
                      "errors": []}
    second = [item | {"topics": ["tibet"], "countries": ["CN"]} for item in articles(count + 5)]
    changed = set(range(0, count, 7)) - {7}
    for index in changed:
        second[index] |= {"summary": f"Sericulture note {index}", "topics": ["xinjiang"],
                          "countries": ["US", "FR"]}
    second[7]["title"] = ""  # bad: stays as it was
    second[count + 2]["topics"] = ["atlantis"]  # bad: not created
    report = client.post("/api/v1/articles/bulk?atomic=false", content=ndjson(second),
                         headers=auth | NDJSON).json()
    assert (report["created"], report["updated"], report["unchanged"], report["failed"]) == (
        4, len(changed), count - len(changed) - 1, 2)
    assert [e["index"] for e in report["errors"]] == [7, count + 2]

    assert _total(client, "topic=xinjiang") == _total(client, "country=FR") == len(changed)
    assert _total(client, "topic=tibet") == _total(client, "country=CN") == (
        count + 4 - len(changed))
    assert _total(client, "q=sericulture") == len(changed)
    listed = _listed(client)
    assert len(listed) == count + 4
    for index in range(count + 5):
        slug = f"bulk-{index}"
        if index == count + 2:
            assert slug not in listed
            continue
        item = listed[slug]
        assert item["version"] == (2 if index in changed else 1)
        assert (item["topics"], item["countries"]) == (
            (["xinjiang"], ["US", "FR"]) if index in changed else (["tibet"], ["CN"]))
    logged = _changes(db, start)
    assert sorted(logged[:count]) == sorted(("created", f"bulk-{i}", 1) for i in range(count))
    assert sorted(logged[count:]) == sorted(
        [("updated", f"bulk-{i}", 2) for i in changed]
        + [("created", f"bulk-{i}", 1) for i in range(count, count + 5) if i != count + 2])
    ids = [listed[f"bulk-{i}"]["id"] for i in range(count)]
    assert ids == sorted(ids)  # ids follow the items' order


def test_atomic_request_failing_after_written_batches_leaves_nothing(client, auth, db):
    from app.entries.bulk.writer import BATCH_SIZE

    client.post("/api/v1/articles/bulk", json=articles(3), headers=auth)
    start = _last_seq(db)
    items = articles(3 * BATCH_SIZE)
    items[0]["summary"] = "changed"
    items[-1]["countries"] = ["XX"]
    response = client.post("/api/v1/articles/bulk", content=ndjson(items),
                           headers=auth | NDJSON)
    body = assert_problem(response, 422, f"1 of {3 * BATCH_SIZE} items")
    assert [e["index"] for e in body["errors"]] == [3 * BATCH_SIZE - 1]
    listed = _listed(client)
    assert sorted(listed) == ["bulk-0", "bulk-1", "bulk-2"]
    assert (listed["bulk-0"]["version"], listed["bulk-0"]["summary"]) == (
        1, articles(1)[0]["summary"])
    assert _changes(db, start) == []
    topic = items[0]["topics"][0]
    assert _total(client, f"topic={topic}") == 3


def test_slug_taken_between_lookup_and_insert_is_treated_as_existing(client, auth, db,
                                                                     monkeypatch):
    """A concurrent writer created a slug after the batch looked it up: the item updates
    that entry (the rest of the batch is still created), nothing fails."""
    from app.entries import repository as repo

    client.post("/api/v1/articles/bulk", json=articles(1), headers=auth)
    start = _last_seq(db)
    real = repo.fetch_by_slugs
    calls: list[int] = []

    def blind_first(session, spec, slugs, **options):
        calls.append(1)
        return {} if len(calls) == 1 else real(session, spec, slugs, **options)

    monkeypatch.setattr(repo, "fetch_by_slugs", blind_first)
    items = articles(3)
    items[0]["summary"] = "Changed meanwhile."
    report = client.post("/api/v1/articles/bulk", json=items, headers=auth).json()
    assert (report["created"], report["updated"], report["failed"]) == (2, 1, 0), report
    assert sorted(_changes(db, start)) == [
        ("created", "bulk-1", 1), ("created", "bulk-2", 1), ("updated", "bulk-0", 2)]
    listed = _listed(client)
    assert sorted(listed) == ["bulk-0", "bulk-1", "bulk-2"]
    assert (listed["bulk-0"]["summary"], listed["bulk-0"]["version"]) == (
        "Changed meanwhile.", 2)
    assert _total(client, f"topic={items[1]['topics'][0]}") == 3


def test_bulk_stores_what_single_writes_store(client, auth, db):
    """The bulk path (COPY on PostgreSQL) and the one-entry path write the same values."""
    from sqlalchemy import text

    payload = sample(ARTICLES, title="Same values", topics=["tibet", "xinjiang"],
                     countries=["CN", "US"], authors=["Li Yunlong", "Zhang Wei"],
                     summary="Ünïcode — “quotes” and \\ backslash\ttab")
    single = client.post("/api/v1/articles", json=payload | {"slug": "single"}, headers=auth)
    assert single.status_code == 201, single.text
    report = client.post("/api/v1/articles/bulk", json=[payload | {"slug": "bulk"}],
                         headers=auth).json()
    assert report["created"] == 1

    def stored(slug: str) -> dict:
        row = db.execute(text(
            "SELECT e.id, e.title, e.summary, e.body, e.url, e.language, e.session, e.date, "
            "CAST(e.topics AS TEXT) AS topics, CAST(e.countries AS TEXT) AS countries, "
            "e.search_names, CAST(e.provenance AS TEXT) AS provenance, e.version, "
            "a.source, CAST(a.authors AS TEXT) AS authors, a.genre "
            "FROM entries e JOIN articles a ON a.id = e.id WHERE e.slug = :slug"),
            {"slug": slug}).mappings().one()
        entry_id = row["id"]
        links = [sorted(tuple(v for k, v in link.items() if k != "entry_id")
                        for link in db.execute(text(f"SELECT * FROM {table} WHERE "
                                                    "entry_id = :id"), {"id": entry_id})
                        .mappings())
                 for table in ("entry_topics", "entry_countries")]
        change = db.execute(text("SELECT action, type, version, txid IS NULL FROM "
                                 "entry_changes WHERE entry_id = :id"), {"id": entry_id}).all()
        return {k: v for k, v in row.items() if k != "id"} | {"links": links,
                                                               "change": change}

    assert stored("bulk") == stored("single")


def test_a_failing_write_fails_the_request_and_leaves_nothing(client, auth, db, monkeypatch):
    """A batch written while the next one is read fails: the error ends the request
    (a 500, not a report) and the batches written before it are rolled back."""
    from app.entries import repository as repo
    from app.entries.bulk import postgres as bulk_postgres
    from app.entries.bulk.writer import BATCH_SIZE

    start = _last_seq(db)
    for module in (repo, bulk_postgres):
        real, calls = module.insert_many, []

        def second_fails(*args, real=real, calls=calls):
            calls.append(1)
            if len(calls) == 2:
                raise RuntimeError("disk on fire")
            return real(*args)

        monkeypatch.setattr(module, "insert_many", second_fails)
    items = articles(3 * BATCH_SIZE)
    response = client.post("/api/v1/articles/bulk?atomic=false", content=ndjson(items),
                           headers=auth | NDJSON)
    assert_problem(response, 500)
    assert client.get("/api/v1/articles?count=exact").json()["total"] == 0
    assert _changes(db, start) == []
    monkeypatch.undo()
    report = client.post("/api/v1/articles/bulk", content=ndjson(items[:10]),
                         headers=auth | NDJSON).json()
    assert report["created"] == 10  # the server goes on


def test_too_many_items_while_a_batch_is_written_leaves_nothing(client, auth, db, monkeypatch):
    from app.entries import router
    from app.entries.bulk.writer import BATCH_SIZE

    monkeypatch.setattr(router, "MAX_ITEMS", 2 * BATCH_SIZE + 500)
    start = _last_seq(db)
    response = client.post("/api/v1/articles/bulk?atomic=false",
                           content=ndjson(articles(2 * BATCH_SIZE + 501)),
                           headers=auth | NDJSON)
    assert_problem(response, 413)
    assert client.get("/api/v1/articles?count=exact").json()["total"] == 0
    assert _changes(db, start) == []
