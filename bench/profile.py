"""Where one worker's time goes under load: py-spy samples the thread holding the GIL.

    python -m bench.profile --engine postgres --n 10000 --path topic
    python -m bench.profile --engine sqlite --path detail --top 40

Starts the product as `bench.run` does (one worker pinned to the server CPU, on the bench
database), drives one path with wrk from the other CPU, and meanwhile records py-spy
samples of whichever thread holds the GIL (`py-spy record --gil`): with one worker on one
core, that is what a request costs in throughput. Prints the share of samples per
function, inclusive (time in it and in what it calls) and as the leaf, and where the
samples were saved (raw, one line per stack, for other tools).

py-spy is not a dependency of the product: install it where you like
(`python3 -m venv /tmp/tools && /tmp/tools/bin/pip install py-spy`) and pass `--py-spy`
or put it on PATH. It attaches to another process: run as root or with ptrace allowed.
"""

import argparse
import collections
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from bench import procs, run, store, wrk

FRAME = re.compile(r"(?P<function>.*?) \((?P<file>.*?):\d+\)")


def frame_label(frame: str) -> str:
    """`function (path/to/file.py:12)` as `function file.py-path-below-site-packages`."""
    match = FRAME.match(frame)
    if not match:
        return frame
    file = match["file"].split("site-packages/")[-1].split(str(store.ROOT) + "/")[-1]
    return f"{match['function']}  {file}"


def summarise(raw: Path, top: int) -> str:
    """Inclusive and leaf shares of py-spy's raw samples (`stack;stack;... count` lines)."""
    total = 0
    inclusive: collections.Counter[str] = collections.Counter()
    leaf: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = [frame_label(frame) for frame in stack.split(";")[1:]]  # [0]: the thread
        if frames:
            leaf[frames[-1]] += samples
        for label in set(frames):
            inclusive[label] += samples
    if not total:
        return "no samples (was the server busy? is ptrace allowed?)"
    lines = [f"{total} samples of the GIL-holding thread", "", "inclusive:"]
    lines += [f"{n / total:6.1%}  {label}" for label, n in inclusive.most_common(top)]
    lines += ["", "leaf (the function itself):"]
    lines += [f"{n / total:6.1%}  {label}" for label, n in leaf.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--path", default="list", help="a path name of bench.run's table")
    parser.add_argument("--duration", type=float, default=15, help="seconds sampled")
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    parser.add_argument("--port", type=int, default=8170)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--py-spy", default=shutil.which("py-spy") or "/tmp/tools/bin/py-spy")
    parser.add_argument("--out", type=Path, default=None, help="raw samples file")
    args = parser.parse_args(argv)
    if not Path(args.py_spy).exists():
        parser.error(f"py-spy not found at {args.py_spy} (see the module's docstring)")
    url = store.bench_url(args.engine, args.n)
    base = f"http://127.0.0.1:{args.port}"
    logs = store.ROOT / "bench" / "results" / "profile"
    out = args.out or logs / f"{args.engine}-{args.n}-{args.path.replace(' ', '_')}.txt"
    env = store.product_env(url, HRC_DIGEST_LOG_LEVEL="warning")
    product = procs.start([store.hrc_digest_cli(), "serve", "--host", "127.0.0.1",
                           "--port", str(args.port)], cpu=run.SERVER_CPU, env=env,
                          cwd=store.ROOT, log=logs / "product.log")
    try:
        procs.wait_ready(f"{base}/healthz", product)
        paths = {path.name: path.product for path in run.PATHS if path.product}
        if args.path not in paths:
            parser.error(f"--path: one of {', '.join(paths)}")
        target = base + paths[args.path].format(**run.discover(base, base))
        load = threading.Thread(target=wrk.run, args=(target, args.duration + 5),
                                kwargs={"cpu": run.LOAD_CPU}, daemon=True)
        load.start()
        subprocess.run([args.py_spy, "record", "--pid", str(product.pid), "--gil",
                        "--rate", str(args.rate), "--duration", f"{args.duration:g}",
                        "--format", "raw", "--output", str(out), "--nonblocking"],
                       check=True, capture_output=True, timeout=args.duration + 60)
        load.join()
    finally:
        procs.stop(product)
    print(f"{args.path} on {args.engine} {args.n:,}: {target}")
    print(summarise(out, args.top))
    print(f"\nraw samples: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
