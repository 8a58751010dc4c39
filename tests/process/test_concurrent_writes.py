"""Writes under real concurrency: a two-worker server and several clients at once.

- Of N writers holding the same ETag, exactly one wins (`If-Match` is checked and
  written in one step); the entry holds the winner's change.
- PATCHes of different fields without `If-Match` both land.
- A consumer polling `/changes` while four writers write sees every change exactly once.

Every request has a time-out and every loop a bound; the server is killed at the end.
"""

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.databases import new_database_url
from tests.process.server import cli, create_key, running, server_env

ARTICLES = "/api/v1/articles"
ROUNDS = 20
TIMEOUT = httpx.Timeout(30.0)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, dict[str, str]]]:
    """A two-worker server on a fresh database, and headers that authorise writes."""
    env = server_env(new_database_url(), HRC_DIGEST_RATE_LIMIT="0",
                     HRC_DIGEST_RATE_LIMIT_KEYED="0")
    assert cli(env, "migrate").returncode == 0
    key = create_key(env)
    with running(env, workers=2) as running_server:
        yield running_server.base, {"Authorization": f"Bearer {key}"}


def _at_once(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Run the calls on threads released together by a barrier."""
    barrier = threading.Barrier(len(calls), timeout=30)

    def run(call: Callable[[], httpx.Response]) -> httpx.Response:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls, timeout=120))


def _create(client: httpx.Client, auth: dict[str, str], title: str, **fields: Any
            ) -> httpx.Response:
    created = client.post(ARTICLES, json={"title": title, **fields}, headers=auth)
    assert created.status_code == 201, created.text
    return created


def test_of_concurrent_if_match_writers_exactly_one_wins(server):
    base, auth = server
    with httpx.Client(base_url=base, timeout=TIMEOUT) as client:
        created = _create(client, auth, "If-Match contest")
        url, tag = created.headers["Location"], created.headers["ETag"]
        for round_ in range(ROUNDS):
            writers = 2 + round_ % 9  # 2 to 10 writers a round
            summaries = [f"round {round_} writer {w}" for w in range(writers)]
            answers = _at_once([
                lambda s=s, t=tag: client.patch(url, json={"summary": s},
                                         headers=auth | {"If-Match": t})
                for s in summaries])
            codes = sorted(a.status_code for a in answers)
            assert codes == [200] + [412] * (writers - 1), (round_, codes)
            winner = next(a for a in answers if a.status_code == 200)
            stored = client.get(url).json()
            assert stored["summary"] == winner.json()["summary"]
            assert stored["version"] == round_ + 2
            assert all("fetch it again" in a.json()["detail"] for a in answers
                       if a.status_code == 412)
            tag = winner.headers["ETag"]


def test_concurrent_patches_of_different_fields_both_land(server):
    base, auth = server
    with httpx.Client(base_url=base, timeout=TIMEOUT) as client:
        url = _create(client, auth, "Two editors", authors=[]).headers["Location"]
        for round_ in range(10):
            answers = _at_once([
                lambda r=round_: client.patch(url, json={"summary": f"summary {r}"},
                                              headers=auth),
                lambda r=round_: client.patch(url, json={"authors": [f"Author {r}"]},
                                              headers=auth),
                lambda r=round_: client.patch(url, json={"source": f"Source {r}"},
                                              headers=auth),
            ])
            assert [a.status_code for a in answers] == [200, 200, 200]
            stored = client.get(url).json()
            assert (stored["summary"], stored["authors"], stored["source"]) == (
                f"summary {round_}", [f"Author {round_}"], f"Source {round_}")
            assert stored["version"] == 1 + 3 * (round_ + 1)  # once per write


WRITERS, CHANGES_EACH = 4, 600


def _writer(base: str, auth: dict[str, str], number: int, deadline: float) -> int:
    """Make CHANGES_EACH changes: creates, then updates and deletes of them; how many."""
    made, ids = 0, []
    with httpx.Client(base_url=base, timeout=TIMEOUT) as client:
        while made < CHANGES_EACH and time.monotonic() < deadline:
            step = made % 10
            if step < 3 or not ids:
                answer = client.post(ARTICLES, headers=auth, json={
                    "title": f"Feed writer {number} entry {made}"})
                ids.append(answer.json()["id"])
            elif step < 9:
                answer = client.patch(f"{ARTICLES}/{ids[made % len(ids)]}", headers=auth,
                                      json={"summary": f"change {made}"})
            else:
                answer = client.delete(f"{ARTICLES}/{ids.pop()}", headers=auth)
            assert answer.status_code < 300, answer.text
            made += 1
    return made


def test_a_live_change_consumer_sees_every_change_exactly_once(server):
    base, auth = server
    with httpx.Client(base_url=base, timeout=TIMEOUT) as client:
        start = client.get("/api/v1/changes", params={"since": "0", "limit": 1000})
        since = start.json()["next_since"]
        while start.json()["has_more"]:  # past what the other tests wrote
            start = client.get("/api/v1/changes", params={"since": since, "limit": 1000})
            since = start.json()["next_since"]
        origin, seen = since, []
        deadline = time.monotonic() + 240
        with ThreadPoolExecutor(WRITERS) as pool:
            writing = [pool.submit(_writer, base, auth, n, deadline) for n in range(WRITERS)]
            while not all(w.done() for w in writing) and time.monotonic() < deadline:
                page = client.get("/api/v1/changes", params={"since": since, "limit": 100})
                assert page.status_code == 200, page.text
                seen += [item["seq"] for item in page.json()["items"]]
                since = page.json()["next_since"]
            made = sum(w.result(timeout=60) for w in writing)
        assert made == WRITERS * CHANGES_EACH
        while True:  # the writers are done: read to the end
            page = client.get("/api/v1/changes", params={"since": since, "limit": 100}).json()
            seen += [item["seq"] for item in page["items"]]
            since = page["next_since"]
            if not page["has_more"]:
                break
        assert len(seen) == len(set(seen)), "a change was delivered twice"
        assert seen == sorted(seen)
        everything: list[int] = []
        cursor = origin
        while True:  # a full read afterwards: what the consumer should have seen
            page = client.get("/api/v1/changes", params={"since": cursor, "limit": 1000}).json()
            everything += [item["seq"] for item in page["items"]]
            cursor = page["next_since"]
            if not page["has_more"]:
                break
        assert len(everything) == made
        missed = set(everything) - set(seen)
        assert not missed, f"the live consumer missed {len(missed)} changes"
