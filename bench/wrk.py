"""One wrk run: fixed connections and duration, every non-2xx response counted."""

import re
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

LUA = Path(__file__).resolve().parent / "wrk_status.lua"
SUMMARY = re.compile(r"BENCH responses=(\d+) non2xx=(\d+) socket_errors=(\d+) "
                     r"duration_us=(\d+) p50_us=(\d+) p99_us=(\d+)")


@dataclass
class WrkResult:
    """Throughput (2xx responses per second: a fast error is not a result) and latency."""

    rps: float
    p50_ms: float
    p99_ms: float
    responses: int
    non2xx: int
    socket_errors: int

    @property
    def errors(self) -> int:
        """Non-2xx responses plus connect/read/write/timeout errors."""
        return self.non2xx + self.socket_errors

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self) | {"errors": self.errors}


def run(url: str, duration: float, *, connections: int = 16, cpu: str = "1",
        timeout_s: float = 30) -> WrkResult:
    """`taskset -c cpu wrk -t1 -cN -dD --latency` on a URL, parsed."""
    cmd = ["taskset", "-c", cpu, "wrk", "-t1", f"-c{connections}", f"-d{duration:g}s",
           f"--timeout={timeout_s:g}s", "--latency", "-s", str(LUA), url]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + timeout_s + 30,
                          check=False)
    match = SUMMARY.search(done.stdout)
    if not match:
        raise RuntimeError(f"wrk failed on {url}: {done.stderr.strip() or done.stdout[-500:]}")
    responses, non2xx, socket_errors, duration_us, p50, p99 = map(int, match.groups())
    if responses == 0:  # nothing finished in time: wrk's percentiles are meaningless zeros
        p50 = p99 = 0
    return WrkResult(rps=(responses - non2xx) / (duration_us / 1e6), p50_ms=p50 / 1000,
                     p99_ms=p99 / 1000, responses=responses, non2xx=non2xx,
                     socket_errors=socket_errors)
