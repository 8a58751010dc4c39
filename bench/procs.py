"""Start, probe and stop the servers the bench runs, each in its own process group."""

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path


def start(cmd: list[str], *, cpu: str, env: dict[str, str], cwd: Path, log: Path
          ) -> subprocess.Popen:
    """Run `cmd` pinned to `cpu` (taskset execs it, so the pid is the server's own)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    handle = log.open("wb")
    try:
        return subprocess.Popen(["taskset", "-c", cpu, *cmd], cwd=cwd, env=env,
                                stdout=handle, stderr=subprocess.STDOUT,
                                start_new_session=True)
    finally:
        handle.close()


def stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM the process group, then SIGKILL it if it has not gone within `timeout`."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def get(url: str, timeout: float = 30) -> tuple[int, bytes]:
    """GET a URL; (status, body) even for error statuses, (0, b"") when unreachable."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    """Poll `url` until it answers 200; fail if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before {url} was up")
        if get(url, timeout=2)[0] == 200:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout:.0f} s")


def vm_kb(pid: int, field: str) -> int | None:
    """A memory field of /proc/<pid>/status in kB (VmRSS, VmHWM); None if unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (write 5 to clear_refs); False when not permitted."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False
