"""`hrc-digest serve --workers 2` on one database: a real server in child processes."""

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.databases import new_database_url
from tests.process.server import cli, create_key, running, server_env


@pytest.fixture(scope="module")
def server():
    """A two-worker server on loopback over a fresh database; stopped after the module."""
    env = server_env(new_database_url())
    with running(env) as served:
        yield served.base, create_key(env), env
        assert served.terminate(timeout=30) == 0


def test_first_serve_seeded_the_empty_database(server):
    base, _, _ = server
    totals = {kind: httpx.get(f"{base}/api/v1/{kind}?limit=1").json()["total"]
              for kind in ("articles", "events", "statements")}
    assert totals == {"articles": 4, "events": 8, "statements": 14}


def test_concurrent_writes_across_two_workers(server):
    base, key, _ = server
    headers = {"Authorization": f"Bearer {key}"}
    before = httpx.get(f"{base}/api/v1/statements?count=exact").json()["total"]

    def create(index: int) -> int:
        payload = {"title": f"Concurrent statement {index}", "speaker": "Chen Xu"}
        return httpx.post(f"{base}/api/v1/statements", json=payload, headers=headers,
                          timeout=30).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(create, range(40)))
    assert statuses == [201] * 40
    listing = httpx.get(f"{base}/api/v1/statements?limit=100&count=exact").json()
    assert listing["total"] == before + 40
    titles = [i["title"] for i in listing["items"] if i["title"].startswith("Concurrent")]
    assert len(set(titles)) == 40


def test_same_slug_from_two_workers_creates_one(server):
    base, key, _ = server
    headers = {"Authorization": f"Bearer {key}"}
    payload = {"title": "Race", "slug": "race-for-one-slug"}

    def create(_: int) -> int:
        return httpx.post(f"{base}/api/v1/articles", json=payload, headers=headers,
                          timeout=30).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(create, range(6)))
    assert statuses.count(201) == 1
    assert set(statuses) <= {201, 409}


def test_revoked_key_is_refused_by_every_worker_at_once(server):
    base, _, env = server
    created = cli(env, "keys", "create", "to-revoke")
    secret = created.stdout.split()[-1]
    key_id = created.stdout.split()[2]
    headers = {"Authorization": f"Bearer {secret}"}
    payload = {"title": "Before revocation"}
    assert httpx.post(f"{base}/api/v1/articles", json=payload, headers=headers,
                      timeout=10).status_code == 201
    assert cli(env, "keys", "revoke", key_id).returncode == 0
    # Many requests so that both workers answer some of them.
    statuses = {httpx.post(f"{base}/api/v1/articles", json={"title": f"after {i}"},
                           headers=headers, timeout=10).status_code for i in range(12)}
    assert statuses == {401}
