"""The database going away in the middle of a request: a 503 problem, then recovery.

PostgreSQL: the server reaches the database through a TCP proxy in this test, which
is cut (every connection reset, new ones refused) while a bulk upload is half done,
then restored.

SQLite: an embedded engine has no server or network to lose; the library runs inside
the worker and the file stays open. What a request sees as "the database went away"
is the file refusing it: another process (an import, a backup, a stuck writer)
holding the write lock past the busy time-out (10 s), which SQLite reports as
SQLITE_BUSY, "database is locked". The test holds that lock while a bulk upload
reaches its first write, then lets go. (Removing or chmod-ing the file does nothing
to a running server: its connections keep the open file, and root ignores modes.)

Either way the request must end, within a bound, in a 503 problem+json that names no
SQL, driver, file or stack; and the same server, without a restart, must be ready and
serve reads and writes again once the database is back.
"""

import socket
import sqlite3
import struct
import threading
import time
from contextlib import suppress

import httpx
import orjson
import pytest
from sqlalchemy.engine import make_url

from tests.databases import IS_POSTGRES, new_database_url
from tests.helpers import assert_problem
from tests.process.server import create_key, free_port, metric, running, server_env, wait_for

BULK = "/api/v1/articles/bulk"
UNAVAILABLE = "the database is unavailable; try again shortly"


def lines(start: int, stop: int, prefix: str = "outage") -> bytes:
    return b"".join(orjson.dumps({"title": f"{prefix} {i}", "slug": f"{prefix}-{i}",
                                  "topics": ["double-standards"]}) + b"\n"
                    for i in range(start, stop))


class TcpProxy:
    """Loopback TCP relay to the database that the test can cut and restore."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream, self.port = (host, port), free_port()
        self._pairs: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.restore()

    def restore(self) -> None:
        """Listen (again) on the same port and relay every new connection."""
        listener = socket.create_server(("127.0.0.1", self.port))
        listener.settimeout(0.1)
        self._stop.clear()
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._thread.start()

    def cut(self) -> None:
        """Stop listening (new connections are refused) and end every open one, on both
        sides: the server's connections fail, and PostgreSQL ends their sessions and rolls
        back what they left open (else a transaction cut mid-way would hold its locks and
        transaction id until this process ends, and no answer would be kept meanwhile on
        any database of the cluster: app/entries/listing/aggregates.py)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            pairs, self._pairs = self._pairs, set()
        for sock in pairs:
            with suppress(OSError):  # RST, as a crashed host or a broken network path gives
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with suppress(OSError):  # wakes the relay thread blocked reading it: closing
                sock.shutdown(socket.SHUT_RDWR)  # alone would leave the socket open until
            sock.close()  # that read returned, which on a quiet connection is never

    close = cut

    def _accept(self, listener: socket.socket) -> None:
        with listener:
            while not self._stop.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                try:
                    upstream = socket.create_connection(self.upstream, timeout=5)
                except OSError:
                    client.close()
                    continue
                client.settimeout(None)
                upstream.settimeout(None)
                with self._lock:
                    self._pairs |= {client, upstream}
                for src, dst in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


class Upload:
    """A streamed NDJSON bulk upload in a thread, paused between its two parts."""

    def __init__(self, base: str, key: str, first: bytes, rest: bytes) -> None:
        self.first_sent, self.go_on = threading.Event(), threading.Event()
        self.response: httpx.Response | None = None
        self.error: Exception | None = None
        self.ended_at = 0.0

        def body():
            yield first
            self.first_sent.set()
            assert self.go_on.wait(timeout=30)
            yield rest

        def run() -> None:
            try:
                self.response = httpx.post(base + BULK, content=body(), timeout=30, headers={
                    "Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"})
            except httpx.HTTPError as exc:
                self.error = exc
            self.ended_at = time.monotonic()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def finish(self, timeout: float) -> httpx.Response:
        self.go_on.set()
        self.thread.join(timeout=timeout)
        assert not self.thread.is_alive(), f"the request hung for {timeout} s"
        assert self.response is not None, self.error
        return self.response


def assert_recovered(server, key: str) -> None:
    """Ready again, reads work on every worker, a write lands: no restart needed."""
    wait_for(lambda: httpx.get(f"{server.base}/readyz", timeout=5).status_code == 200,
             timeout=20, what="/readyz to answer 200 again")
    statuses = {httpx.get(f"{server.base}/api/v1/articles?count=exact", timeout=10).status_code
                for _ in range(12)}  # enough requests to reach both workers
    assert statuses == {200}
    fresh = httpx.post(server.base + BULK, content=lines(0, 50, "after"), timeout=30, headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"})
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["created"] == 50
    total = httpx.get(f"{server.base}/api/v1/articles?count=exact", timeout=10).json()["total"]
    assert total == 4 + 50  # the seeded four and the fresh load; nothing of the cut one


@pytest.mark.skipif(not IS_POSTGRES, reason="a network between server and database")
def test_postgres_cut_mid_request_is_a_503_then_the_server_recovers(tmp_path):
    url = make_url(new_database_url())
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    try:
        through_proxy = url.set(host="127.0.0.1", port=proxy.port)
        env = server_env(through_proxy.render_as_string(hide_password=False),
                         PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
        with running(env) as server:
            key = create_key(env)
            upload = Upload(server.base, key, lines(0, 1_200), lines(1_200, 1_500))
            assert upload.first_sent.wait(timeout=20)
            # The request is mid-way: its first 1,000 items are written, uncommitted.
            wait_for(lambda: metric(server.base, "hrc_bulk_items_total", kind="articles")
                     >= 1_000, timeout=20, what="the first bulk batch")
            proxy.cut()

            started = time.monotonic()
            body = assert_problem(upload.finish(timeout=20), 503)
            assert body["detail"] == UNAVAILABLE
            assert upload.response.headers["retry-after"] == "5"
            assert upload.ended_at - started < 10
            # Meanwhile every request that needs the database gets the same answer, fast.
            started = time.monotonic()
            assert_problem(httpx.get(f"{server.base}/readyz", timeout=20), 503, "not reachable")
            listing = httpx.get(f"{server.base}/api/v1/articles", timeout=20)
            assert_problem(listing, 503)
            assert listing.json()["detail"] == UNAVAILABLE
            assert time.monotonic() - started < 10
            assert httpx.get(f"{server.base}/healthz", timeout=5).status_code == 200

            proxy.restore()
            assert_recovered(server, key)
    finally:
        proxy.close()


@pytest.mark.skipif(IS_POSTGRES, reason="SQLite's write lock")
def test_sqlite_locked_past_busy_timeout_is_a_503_then_the_server_recovers(tmp_path):
    url = new_database_url()
    env = server_env(url, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    with running(env) as server:
        key = create_key(env)
        locker = sqlite3.connect(make_url(url).database, timeout=5, isolation_level=None)
        try:
            # Another process holds the write lock before the upload begins (taken after
            # it, the lock raced the upload's own BEGIN IMMEDIATE on a busy machine).
            locker.execute("BEGIN IMMEDIATE")
            started = time.monotonic()
            upload = Upload(server.base, key, lines(0, 500), lines(500, 1_100))
            assert upload.first_sent.wait(timeout=20)
            # Readers are not blocked by a writer (WAL): the site stays up for reads.
            assert httpx.get(f"{server.base}/api/v1/articles", timeout=10).status_code == 200
            response = upload.finish(timeout=25)  # the upload's write waits, then fails
            elapsed = upload.ended_at - started
            body = assert_problem(response, 503)
            assert body["detail"] == UNAVAILABLE
            assert response.headers["retry-after"] == "5"
            assert 9 < elapsed < 20  # the 10 s busy time-out, not a hang
        finally:
            locker.close()  # the lock is released: "the database is back"
        assert_recovered(server, key)
