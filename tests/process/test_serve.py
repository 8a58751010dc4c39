"""`hrc-digest serve --workers 2` on one database: a real server in child processes."""

import socket
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


def _exchange(base: str, raw: bytes) -> bytes:
    """Send raw HTTP/1.1 requests on one connection; what the server wrote back by the time
    it has answered `/healthz` last."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(raw)
        received = b""
        while not received.endswith(b'{"status":"ok"}'):
            chunk = connection.recv(65536)
            assert chunk, received
            received += chunk
    return received


def test_head_of_a_streamed_export_leaves_the_connection_clean(server):
    """HEAD of an answer of unknown length (an export, gzipped or not) is framed as HEAD:
    headers only, no chunked body, so the next answer on the connection reads whole."""
    base = server[0]
    for encoding in (b"gzip", b"identity"):
        received = _exchange(base, b"HEAD /api/v1/events/export?format=csv HTTP/1.1\r\n"
                             b"Host: x\r\nAccept-Encoding: " + encoding + b"\r\n\r\n"
                             b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        head, rest = received.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200") and b"transfer-encoding" not in head.lower()
        assert rest.startswith(b"HTTP/1.1 200"), rest[:40]


def test_a_real_client_gets_gzip_and_a_304_for_the_gzip_tag(server):
    base = server[0]
    url = f"{base}/api/v1/statements?limit=100"
    with httpx.Client(timeout=10) as client:  # sends Accept-Encoding: gzip, deflate, …
        first = client.get(url)
        assert first.headers["content-encoding"] == "gzip"
        assert first.json()["items"]
        again = client.get(url, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and again.headers["etag"] == first.headers["etag"]
