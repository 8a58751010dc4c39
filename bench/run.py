"""The benchmark: product vs floor on every read path, then bulk upsert and NDJSON export.

    python -m bench.run --engine sqlite --n 10000
    python -m bench.run --engine postgres --n 200000 --json-out bench/results/pg-200k.json

Creates (or reuses) the database for the engine and size, generates its data
if absent, starts the product (`hrc-digest serve`, 1 worker) and the floor
(uvicorn, 1 worker) both pinned to CPU 0, and drives them with wrk pinned to
CPU 1: per path, a warm-up then a timed run, product and floor alternating.
"""

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import generate, procs, store, writes, wrk

SERVER_CPU, LOAD_CPU = "0", "1"
PRODUCT = "/api/v1/articles"


@dataclass(frozen=True)
class BenchPath:
    """One row of the report: a name, the product's URL and the floor's URL."""

    name: str
    product: str | None
    floor: str | None


PATHS = [
    BenchPath("constant", "/healthz", "/constant"),
    BenchPath("list", PRODUCT, PRODUCT),
    BenchPath("topic", f"{PRODUCT}?topic=xinjiang", f"{PRODUCT}?topic=xinjiang"),
    BenchPath("topic+dates", f"{PRODUCT}?topic=xinjiang&date_from=2021-01-01&date_to=2021-12-31",
              f"{PRODUCT}?topic=xinjiang&date_from=2021-01-01&date_to=2021-12-31"),
    BenchPath("q common", f"{PRODUCT}?q=human%20rights", f"{PRODUCT}?q=human%20rights"),
    BenchPath("q rare", f"{PRODUCT}?q=sericulture", f"{PRODUCT}?q=sericulture"),
    BenchPath("q phrase", f"{PRODUCT}?q=%22poverty%20alleviation%22",
              f"{PRODUCT}?q=%22poverty%20alleviation%22"),
    BenchPath("q negation", f"{PRODUCT}?q=rights%20-xinjiang", f"{PRODUCT}?q=rights%20-xinjiang"),
    BenchPath("detail", f"{PRODUCT}/{{id}}", f"{PRODUCT}/{{id}}"),
    BenchPath("offset 5000", f"{PRODUCT}?offset=5000", f"{PRODUCT}?offset=5000"),
    BenchPath("cursor 5000", f"{PRODUCT}?cursor={{product_cursor}}",
              f"{PRODUCT}?cursor={{floor_cursor}}"),
    BenchPath("search+facets", "/api/v1/search?q=human%20rights&facets=type,topic",
              "/api/v1/search?q=human%20rights&facets=type,topic"),
    BenchPath("naive search", None, "/naive-search?q=human%20rights"),
    # Reference data and related entries: the product alone (the floor serves neither);
    # the bar compares their req/s with the list page's.
    BenchPath("topics", "/api/v1/topics", None),
    BenchPath("countries", "/api/v1/countries", None),
    BenchPath("sessions", "/api/v1/sessions", None),
    BenchPath("topic detail", "/api/v1/topics/xinjiang", None),
    BenchPath("related", f"{PRODUCT}/{{id}}/related", None),
    # Issue #18: exact facets over every match (run with HRC_DIGEST_AGGREGATE_CACHE=0 for
    # the cold figures: each request computes its counts and facets).
    BenchPath("search facets", "/api/v1/search?facets=type,topic,country,year", None),
    BenchPath("search common facets",
              "/api/v1/search?q=rights&facets=type,topic,country,year", None),
]


def machine() -> dict[str, Any]:
    """CPU count and model, memory, kernel, tool versions."""
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown")
    mem_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")))
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10,
                                 check=False).stdout.splitlines()[:1]
    return {"nproc": os.cpu_count(), "cpu_model": model, "memory_gb": round(mem_kb / 2**20, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "wrk": wrk_version[0] if wrk_version else "?"}


def git_commit() -> str:
    """`git rev-parse --short HEAD` (read-only)."""
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=store.ROOT,
                          capture_output=True, text=True, timeout=10, check=False)
    return done.stdout.strip() or "unknown"


def start_servers(url: str, port: int, logs: Path) -> tuple[subprocess.Popen, subprocess.Popen]:
    """The product and the floor on one database, both pinned to the server CPU."""
    env = store.product_env(url, HRC_DIGEST_LOG_LEVEL="warning")
    product = procs.start([store.hrc_digest_cli(), "serve", "--host", "127.0.0.1",
                           "--port", str(port)], cpu=SERVER_CPU, env=env, cwd=store.ROOT,
                          log=logs / "product.log")
    floor_env = dict(os.environ, BENCH_DATABASE_URL=url)
    floor = procs.start([sys.executable, "-m", "uvicorn", "bench.floor:app", "--host",
                         "127.0.0.1", "--port", str(port + 1), "--log-level", "warning",
                         "--no-access-log"], cpu=SERVER_CPU, env=floor_env, cwd=store.ROOT,
                        log=logs / "floor.log")
    return product, floor


def discover(product: str, floor: str) -> dict[str, str]:
    """An article id for the detail path and each server's cursor at depth 5,000."""
    values = {"id": "1", "product_cursor": "unavailable", "floor_cursor": "unavailable"}
    status, body = procs.get(f"{floor}{PRODUCT}?limit=1")
    if status == 200 and json.loads(body)["items"]:
        values["id"] = str(json.loads(body)["items"][0]["id"])
    for key, base in (("product_cursor", product), ("floor_cursor", floor)):
        status, body = procs.get(f"{base}{PRODUCT}?offset=4980&limit=20")
        if status == 200 and json.loads(body).get("next_cursor"):
            values[key] = json.loads(body)["next_cursor"]
    return values


def measure(base: str, path: str, duration: float, warmup: float) -> dict[str, Any]:
    """Check the path once, warm it up, then time it."""
    url = base + path
    status, body = procs.get(url, timeout=60)
    if status != 200:
        detail = body[:160].decode(errors="replace")
        print(f"  warning: {path} answered {status} before timing: {detail}", flush=True)
    if warmup > 0:
        wrk.run(url, warmup)
    result = wrk.run(url, duration).as_dict()
    return result | {"check_status": status}


def settle(url: str, base: str, limit: float = 120, probe: str = "/healthz") -> float:
    """Wait until the server has finished what the last run left queued (bounded).

    wrk stops when its time is up, but requests already accepted run on: a path whose
    queries take seconds would otherwise slow the next runs down. On PostgreSQL the
    bench database's running queries are cancelled; then the server's cheapest route
    must answer within 0.1 s (`probe`: a server without /healthz names another).
    Returns the seconds waited."""
    started = time.monotonic()
    if not store.is_sqlite(url):
        conn = store.connect(url)
        try:
            conn.execute("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = "
                         "current_database() AND state = 'active' AND pid <> pg_backend_pid()")
        finally:
            conn.close()
    while time.monotonic() - started < limit:
        asked = time.monotonic()
        status, _ = procs.get(base + probe, timeout=limit)
        if status == 200 and time.monotonic() - asked < 0.1:
            break
        time.sleep(0.5)
    return time.monotonic() - started


def run_paths(product: str, floor: str, paths: list[BenchPath], values: dict[str, str],
              duration: float, warmup: float, database: str) -> list[dict[str, Any]]:
    """Every path on the product then on the floor, each from a settled server."""
    rows = []
    for path in paths:
        row: dict[str, Any] = {"name": path.name}
        for side, base, template in (("product", product, path.product),
                                     ("floor", floor, path.floor)):
            if template is None:
                row[side] = None
                continue
            path_url = template.format(**values)
            print(f"{path.name:<14} {side:<7} {path_url}", flush=True)
            row[side] = measure(base, path_url, duration, warmup) | {"path": path_url}
            row[side]["settle_s"] = round(settle(database, base), 1)
        rows.append(row)
    return rows


def _cell(result: dict[str, Any] | None) -> list[str]:
    if result is None:
        return ["-", "-", "-", "-"]
    errors = str(result["errors"])
    if result["check_status"] != 200:
        errors += f" ({result['check_status']})"
    if result["responses"] == 0:
        return ["0", "none done", "none done", errors]
    return [f"{result['rps']:,.1f}" if result["rps"] < 10 else f"{result['rps']:,.0f}",
            f"{result['p50_ms']:.1f}", f"{result['p99_ms']:.1f}", errors]


def ratio(product: dict[str, Any] | None, other: dict[str, Any] | None) -> str:
    """product req/s ÷ another server's, as text; "-" when either has no usable figure."""
    if not (product and other and other["rps"] and product["check_status"] == 200
            and product["responses"]):
        return "-"
    value = product["rps"] / other["rps"]
    return f"{value:.2f}" if value >= 0.01 else f"{value:.3f}"


def table(rows: list[dict[str, Any]]) -> str:
    """The report as a Markdown table."""
    head = ["path", "product req/s", "p50 ms", "p99 ms", "errors", "floor req/s", "p50 ms",
            "p99 ms", "errors", "product/floor"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for row in rows:
        product, floor = row["product"], row["floor"]
        lines.append("| " + " | ".join([row["name"], *_cell(product), *_cell(floor),
                                        ratio(product, floor)]) + " |")
    return "\n".join(lines)


def writes_report(bulk: dict[str, Any], export: dict[str, Any]) -> str:
    """Bulk and export results as Markdown lines."""
    lines = []
    product, floor = bulk.get("product"), bulk.get("floor")
    if product is not None:
        if product.get("rows_per_s"):
            lines.append(f"- bulk upsert, product (`POST /api/v1/articles/bulk`, NDJSON, "
                         f"{writes.BULK_BATCH:,}/request): {product['rows']:,} rows in "
                         f"{product['seconds']:.1f} s = {product['rows_per_s']:,.0f} rows/s "
                         f"(created {product['created']:,}, failed {product['failed']:,})")
        else:
            lines.append(f"- bulk upsert, product: not measured — {product.get('note')}")
    if floor is not None:
        method = "COPY" if bulk["engine"] == "postgres" else "executemany"
        lines.append(f"- bulk load, floor ({method}, full-text index maintained): "
                     f"{floor['rows']:,} rows in {floor['seconds']:.1f} s = "
                     f"{floor['rows_per_s']:,.0f} rows/s")
    for side, result in export.items():
        if result["status"] != 200:
            lines.append(f"- NDJSON export, {side}: HTTP {result['status']} (not available)")
            continue
        lines.append(f"- NDJSON export, {side}: {result['rows']:,} rows, "
                     f"{result['bytes'] / 2**20:,.0f} MiB in {result['seconds']:.1f} s = "
                     f"{result['rows_per_s']:,.0f} rows/s; server RSS {result['rss_before_mb']:.0f}"
                     f" MiB before, peak {result['peak_rss_mb']:.0f} MiB (VmHWM of that process)")
    return "\n".join(lines)


def print_report(data: dict[str, Any]) -> None:
    """Print a run's tables (from a fresh run or a saved JSON)."""
    meta = data["meta"]
    print(f"\n## {meta['engine']}, N={meta['n']:,} ({meta['date']}, commit {meta['commit']})\n")
    print(table(data["paths"]))
    print()
    print(writes_report(data["bulk"], data["export"]))


def run_writes(engine: str, url: str, port: int, logs: Path, product_pid: int,
               floor_pid: int, args: argparse.Namespace) -> tuple[dict, dict]:
    """Bulk upsert on a scratch database (product, then floor), export from the bench one."""
    bulk: dict[str, Any] = {"engine": engine}
    export: dict[str, Any] = {}
    if not args.skip_export:
        path = f"{PRODUCT}/export?format=ndjson"
        for side, base, pid in (("product", f"http://127.0.0.1:{port}", product_pid),
                                ("floor", f"http://127.0.0.1:{port + 1}", floor_pid)):
            print(f"export {side} {path}", flush=True)
            export[side] = writes.export(base, path, pid)
    if args.skip_bulk:
        return bulk, export
    scratch = store.scratch_url(engine)
    records = writes.bulk_records()
    writes.fresh_scratch(scratch)
    env = store.product_env(scratch, HRC_DIGEST_LOG_LEVEL="warning",
                            HRC_DIGEST_MAX_BODY_BYTES=str(64 * 2**20))
    proc = procs.start([store.hrc_digest_cli(), "serve", "--host", "127.0.0.1", "--port",
                        str(port + 2)], cpu=SERVER_CPU, env=env, cwd=store.ROOT,
                       log=logs / "product-bulk.log")
    try:
        procs.wait_ready(f"http://127.0.0.1:{port + 2}/healthz", proc)
        key = writes.create_key(scratch)
        print("bulk product", flush=True)
        bulk["product"] = writes.product_bulk(f"http://127.0.0.1:{port + 2}", key, records)
    finally:
        procs.stop(proc)
    print("bulk floor", flush=True)
    bulk["floor"] = writes.floor_bulk(scratch, records)
    store.drop_database(scratch)
    return bulk, export


def common_arguments(parser: argparse.ArgumentParser, engine: str) -> None:
    """The options every load bench takes: engine, size, timing, paths, JSON in and out."""
    parser.add_argument("--engine", choices=("sqlite", "postgres"), default=engine)
    parser.add_argument("--n", type=int, default=10_000, help="articles (events n/2, "
                        "statements n)")
    parser.add_argument("--duration", type=float, default=10, help="timed seconds per run")
    parser.add_argument("--warmup", type=float, default=3, help="warm-up seconds per run")
    parser.add_argument("--paths", help="comma list of path names (default: all)")
    parser.add_argument("--json-out", type=Path, help="write the results as JSON here")
    parser.add_argument("--report", type=Path, help="only print the report of a saved JSON")


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(parser, "sqlite")
    parser.add_argument("--port", type=int, default=8100, help="product port (floor +1, "
                        "bulk product +2)")
    parser.add_argument("--skip-bulk", action="store_true")
    parser.add_argument("--skip-export", action="store_true")
    args = parser.parse_args()
    if args.report:
        print_report(json.loads(args.report.read_text()))
        return
    selected = [p for p in PATHS if not args.paths or p.name in args.paths.split(",")]

    os.sched_setaffinity(0, {int(LOAD_CPU)})
    url = store.bench_url(args.engine, args.n)
    gen = None
    if generate.entry_count(url) == 0:
        print(f"generating {url}", flush=True)
        gen = generate.generate(url, args.n)
        print(f"  {gen['entries']:,} entries, {gen['rows_per_s']:,.0f} entries/s", flush=True)
    logs = Path(tempfile.mkdtemp(prefix="hrc-bench-"))
    started = time.monotonic()
    product, floor = start_servers(url, args.port, logs)
    try:
        product_base = f"http://127.0.0.1:{args.port}"
        floor_base = f"http://127.0.0.1:{args.port + 1}"
        procs.wait_ready(product_base + "/healthz", product)
        procs.wait_ready(floor_base + "/healthz", floor)
        values = discover(product_base, floor_base)
        rows = run_paths(product_base, floor_base, selected, values, args.duration, args.warmup,
                         url)
        bulk, export = run_writes(args.engine, url, args.port, logs, product.pid, floor.pid, args)
    finally:
        procs.stop(product)
        procs.stop(floor)
    meta = {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": git_commit(), "engine": args.engine, "n": args.n, "database": url,
            "duration_s": args.duration, "warmup_s": args.warmup, "connections": 16,
            "machine": machine(), "wall_s": round(time.monotonic() - started), "generate": gen,
            "logs": str(logs)}
    print_report({"meta": meta, "paths": rows, "bulk": bulk, "export": export})
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps({"meta": meta, "paths": rows, "bulk": bulk,
                                             "export": export}, indent=2, default=str))
        print(f"\nresults written to {args.json_out}")


if __name__ == "__main__":
    main()
