"""What a writer and a mirror may rely on: If-Match as RFC 9110 says, cascades as changes,
time-based and token `since` on /changes. (Real concurrent clients: tests/process/
test_concurrent_writes.py.)"""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.helpers import assert_problem


@pytest.fixture
def article(client, auth):
    created = client.post("/api/v1/articles", json={"title": "Versioned"}, headers=auth)
    return created.headers["Location"], created.headers["ETag"]


@pytest.mark.parametrize("header", ["27-1", '"27-1', "W/27-1", '"1-1" "1-2"', '"a"b"'])
def test_a_malformed_if_match_is_a_400_saying_etags_are_quoted(client, auth, article, header):
    url, _ = article
    for call in (client.patch, client.put):
        answer = call(url, json={"title": "x"}, headers=auth | {"If-Match": header})
        assert_problem(answer, 400, "If-Match", "double quotes")
    assert_problem(client.delete(url, headers=auth | {"If-Match": header}), 400, "If-Match")
    assert client.get(url).json()["version"] == 1  # nothing written


def test_if_match_lists_star_and_weak_tags(client, auth, article):
    url, tag = article
    listed = client.patch(url, json={"summary": "one"},
                          headers=auth | {"If-Match": f'"0-0", {tag}'})
    assert listed.status_code == 200
    assert client.patch(url, json={"summary": "two"},
                        headers=auth | {"If-Match": "*"}).status_code == 200
    weak = client.patch(url, json={"summary": "three"},
                        headers=auth | {"If-Match": f"W/{client.get(url).headers['ETag']}"})
    assert_problem(weak, 412, "fetch it again")  # If-Match compares strongly
    assert client.get(url).json()["summary"] == "two"


def test_if_match_on_a_missing_entry_is_a_404(client, auth):
    answer = client.patch("/api/v1/articles/999999", json={"summary": "x"},
                          headers=auth | {"If-Match": '"999999-1"'})
    assert_problem(answer, 404)


def _changes(client, since: str = "0") -> list[dict]:
    items, more = [], True
    while more:
        page = client.get("/api/v1/changes", params={"since": since, "limit": 1000}).json()
        items += page["items"]
        since, more = page["next_since"], page["has_more"]
    return items


def test_deleting_an_event_is_a_change_of_each_statement_that_named_it(client, auth):
    event = client.post("/api/v1/events", json={"title": "Side event"}, headers=auth).json()
    linked = [client.post("/api/v1/statements", headers=auth, json={
        "title": f"Remarks {n}", "event_id": event["id"]}) for n in range(2)]
    other = client.post("/api/v1/statements", json={"title": "Unlinked"}, headers=auth)
    before = _changes(client)[-1]["seq"]
    assert client.delete(f"/api/v1/events/{event['id']}", headers=auth).status_code == 204
    for created in linked:
        url, old_tag = created.headers["Location"], created.headers["ETag"]
        now = client.get(url)
        assert now.json()["event_id"] is None
        assert now.json()["version"] == 2
        assert now.headers["ETag"] != old_tag
        assert client.get(url, headers={"If-None-Match": old_tag}).status_code == 200
    assert client.get(other.headers["Location"]).json()["version"] == 1
    logged = [(c["action"], c["type"], c["id"], c["version"])
              for c in _changes(client, str(before))]
    assert sorted(logged) == sorted(
        [("deleted", "event", event["id"], 2)]
        + [("updated", "statement", s.json()["id"], 2) for s in linked])


def test_since_a_time_honours_its_utc_offset_and_returns_exactly_the_later_changes(
        client, auth):
    for n in range(4):
        client.post("/api/v1/articles", json={"title": f"Timed {n}"}, headers=auth)
    logged = _changes(client)
    third = datetime.fromisoformat(logged[-2]["at"])
    for offset in (timedelta(hours=5), timedelta(hours=-7), timedelta(0)):
        local = third.astimezone(timezone(offset)).isoformat()  # e.g. …+05:00
        page = client.get("/api/v1/changes", params={"since": local}).json()
        assert [c["seq"] for c in page["items"]] == [c["seq"] for c in logged[-2:]], local
    naive_utc = third.astimezone(UTC).replace(tzinfo=None).isoformat()
    assert len(client.get("/api/v1/changes", params={"since": naive_utc}).json()["items"]) == 2
    later = (third + timedelta(days=1)).isoformat()
    page = client.get("/api/v1/changes", params={"since": later}).json()
    assert page["items"] == [] and page["next_since"] == str(logged[-1]["seq"])


def test_a_token_past_the_newest_change_is_a_400_not_a_silent_stall(client, auth):
    client.post("/api/v1/articles", json={"title": "Head"}, headers=auth)
    head = _changes(client)[-1]["seq"]
    assert client.get("/api/v1/changes", params={"since": str(head)}).json()["items"] == []
    answer = client.get("/api/v1/changes", params={"since": str(head + 1000)})
    assert_problem(answer, 400, "since", "past the newest change", "without since")


def test_patch_without_if_match_bumps_the_version_once_per_write(client, auth, article):
    url, _ = article
    for n in range(3):
        client.patch(url, json={"summary": f"edit {n}"}, headers=auth)
    assert client.get(url).json()["version"] == 4
    unchanged = client.patch(url, json={"summary": "edit 2"}, headers=auth)
    assert unchanged.json()["version"] == 4  # nothing changed: no new version
