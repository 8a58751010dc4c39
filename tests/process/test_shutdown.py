"""Graceful shutdown: SIGTERM lets running requests finish, within a bound.

SIGTERM goes to the supervisor only, as `docker stop` or Kubernetes send it; uvicorn
passes it to the workers, which stop accepting and wait for running requests up to
`--timeout-graceful-shutdown` seconds.
"""

import threading
import time
from contextlib import suppress

import httpx
import orjson
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests.databases import new_database_url
from tests.process.server import create_key, metric, running, server_env, wait_for

BULK = "/api/v1/articles/bulk"


def lines(start: int, stop: int, prefix: str) -> bytes:
    return b"".join(orjson.dumps({"title": f"{prefix} {i}", "slug": f"{prefix}-{i}",
                                  "topics": ["double-standards"], "countries": ["US"]}) + b"\n"
                    for i in range(start, stop))


def count(url: str, prefix: str) -> int:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT count(*) FROM entries WHERE slug LIKE :p"),
                                      {"p": f"{prefix}-%"}).scalar()
    finally:
        engine.dispose()


def slow_upload(base: str, key: str, body, outcome: dict) -> threading.Thread:
    """POST the body (a generator) in a thread; the response or the error lands in outcome."""
    def run() -> None:
        try:
            outcome["response"] = httpx.post(
                base + BULK, content=body, timeout=30,
                headers={"Authorization": f"Bearer {key}",
                         "Content-Type": "application/x-ndjson"})
        except httpx.TransportError as exc:
            outcome["error"] = exc
        outcome["at"] = time.monotonic()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def shutting_down(server) -> bool:
    """Both workers have logged uvicorn's 'Shutting down' (they stopped accepting)."""
    return server.log(100_000).count("Shutting down") >= 2


def test_sigterm_lets_an_in_flight_upload_finish_then_exits_0(tmp_path):
    url = new_database_url()
    env = server_env(url, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    first_part, signalled = threading.Event(), threading.Event()
    outcome: dict = {}

    def body():
        yield lines(0, 1_200, "graceful")
        first_part.set()
        assert signalled.wait(timeout=30)
        for start in range(1_200, 3_000, 200):  # the rest over about 1.5 s, after SIGTERM
            time.sleep(0.15)
            yield lines(start, start + 200, "graceful")

    with running(env, args=("--timeout-graceful-shutdown", "15")) as server:
        key = create_key(env)
        client = slow_upload(server.base, key, body(), outcome)
        try:
            assert first_part.wait(timeout=20)
            wait_for(lambda: metric(server.base, "hrc_bulk_items_total", kind="articles")
                     >= 1_000, timeout=20, what="the first bulk batch")
            signalled_at = time.monotonic()
            server.process.send_signal(15)  # SIGTERM, to the supervisor only
            wait_for(lambda: shutting_down(server), timeout=10, what="the workers to stop")
            with_new_request = None
            with suppress(httpx.TransportError):
                with_new_request = httpx.get(f"{server.base}/healthz", timeout=1).status_code
            assert with_new_request is None  # no new request is served once shutting down
        finally:
            signalled.set()
        exit_code = server.process.wait(timeout=25)
        exited_at = time.monotonic()
        client.join(timeout=10)

    assert exit_code == 0, server.log()
    response = outcome.get("response")
    assert response is not None, outcome.get("error")
    assert response.status_code == 200, response.text
    assert response.json() == {"created": 3_000, "updated": 0, "unchanged": 0, "failed": 0,
                               "errors": []}
    assert count(url, "graceful") == 3_000  # committed, not just answered
    # The server left as soon as the request was done, long before the 15 s grace.
    assert outcome["at"] <= exited_at
    assert exited_at - signalled_at < 12


def test_a_request_that_never_ends_is_cut_at_the_grace_period(tmp_path):
    url = new_database_url()
    env = server_env(url, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    stalled, release = threading.Event(), threading.Event()
    outcome: dict = {}

    def body():
        yield lines(0, 1_100, "stalled")
        stalled.set()
        release.wait(timeout=30)  # a client that stops sending and never finishes
        yield b""

    # One worker: uvicorn runs in the `serve` process itself (no supervisor).
    with running(env, workers=1, args=("--timeout-graceful-shutdown", "2")) as server:
        key = create_key(env)
        client = slow_upload(server.base, key, body(), outcome)
        try:
            assert stalled.wait(timeout=20)
            wait_for(lambda: metric(server.base, "hrc_bulk_items_total", kind="articles")
                     >= 1_000, timeout=20, what="the first bulk batch")
            signalled_at = time.monotonic()
            server.process.send_signal(15)
            exit_code = server.process.wait(timeout=15)
            elapsed = time.monotonic() - signalled_at
        finally:
            release.set()
            client.join(timeout=10)

    assert exit_code == 0, server.log()
    assert 2 <= elapsed < 8  # the grace period, plus the supervisor's bookkeeping
    assert "response" not in outcome or outcome["response"].status_code >= 500
    assert count(url, "stalled") == 0  # the cut request's transaction was rolled back
