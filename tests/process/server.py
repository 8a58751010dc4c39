"""A real `hrc-digest serve` in child processes, for the process tests.

The server runs in its own process group (session), so a test can signal the
supervisor alone (SIGTERM, as `docker stop` does) or kill every worker at once
(SIGKILL to the group, as a crash or the OOM killer of a cgroup would). Every wait is
bounded; `running()` kills whatever is left in a `finally`.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.commands import hrc_digest
from tests.databases import ROOT


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(database_url: str, **settings: str) -> dict[str, str]:
    """The environment of a server (and of CLI commands) on this database."""
    return os.environ | {"DATABASE_URL": database_url,
                         "HRC_DIGEST_SEED_DIR": str(ROOT / "seed_data")} | settings


def cli(env: dict[str, str], *args: str, timeout: float = 60,
        cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run `hrc-digest ARGS` to completion (in the repository unless told; tests.commands)."""
    return hrc_digest(env, *args, cwd=cwd, timeout=timeout)


def create_key(env: dict[str, str], name: str = "load") -> str:
    """A new API key, made by the CLI."""
    created = cli(env, "keys", "create", name)
    assert created.returncode == 0, created.stderr
    return created.stdout.split()[-1]


def _group_alive(pgid: int) -> bool:
    """True while a process of the group runs (zombies waiting to be reaped do not count)."""
    proc = Path("/proc")
    if not proc.is_dir():  # not Linux: fall back on kill(0), which counts zombies too
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


class Server:
    """`python -m app.cli serve` on loopback; its stderr goes to a file (never a full pipe)."""

    def __init__(self, env: dict[str, str], *, port: int | None = None, workers: int = 2,
                 args: tuple[str, ...] = (), cwd: Path = ROOT) -> None:
        self.env, self.port = dict(env), port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        log_fd, log_path = tempfile.mkstemp(prefix="hrc-serve-", suffix=".log")
        self._log = Path(log_path)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "serve", "--workers", str(workers),
                 "--port", str(self.port), *args],
                cwd=cwd, env=self.env, stdout=subprocess.DEVNULL, stderr=log_fd,
                start_new_session=True)
        finally:
            os.close(log_fd)

    @property
    def pgid(self) -> int:
        return self.process.pid  # start_new_session: the leader's pid is the group's id

    def log(self, last: int = 3000) -> str:
        """The end of the server's stderr."""
        return self._log.read_text(errors="replace")[-last:]

    def wait_ready(self, timeout: float = 60) -> "Server":
        """Block until /readyz answers 200; fail with the server's log otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n"
                                     f"{self.log()}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server not ready within {timeout} s:\n{self.log()}")

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM to the supervisor (like `docker stop`); its exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill_group(self, timeout: float = 10) -> None:
        """SIGKILL to every process of the server (supervisor and workers) and wait for them."""
        with suppress(ProcessLookupError):
            os.killpg(self.pgid, signal.SIGKILL)
        self.process.wait(timeout=timeout)
        deadline = time.monotonic() + timeout
        while _group_alive(self.pgid):
            if time.monotonic() > deadline:
                raise AssertionError("server processes still alive after SIGKILL")
            time.sleep(0.05)

    def close(self) -> None:
        """Kill anything left of the server and remove its log."""
        if self.process.poll() is None or _group_alive(self.pgid):
            self.kill_group()
        self._log.unlink(missing_ok=True)


@contextmanager
def running(env: dict[str, str], **options) -> Iterator[Server]:
    """A ready server; killed (group and all) when the block ends, however it ends."""
    server = Server(env, **options)
    try:
        yield server.wait_ready()
    finally:
        server.close()


@contextmanager
def side_by_side(env: dict[str, str], count: int = 2) -> Iterator[tuple[str, ...]]:
    """One-worker servers started together (as machines behind a load balancer), their
    base URLs once all are ready; killed when the block ends, however it ends."""
    with ExitStack() as stack:
        servers = []
        for _ in range(count):
            server = Server(env, workers=1)
            stack.callback(server.close)
            servers.append(server)
        yield tuple(server.wait_ready(timeout=60).base for server in servers)


def metric(base: str, name: str, **labels: str) -> float:
    """One sample of /metrics (0 when absent)."""
    text = httpx.get(f"{base}/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def wait_for(condition, *, timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll until condition() is true; fail naming what was awaited."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
