"""Three-way bench: the product beside an independent floor and a Django REST Framework peer.

    python -m bench.reference --engine postgres --n 10000
    python -m bench.reference --engine postgres --n 200000 --rounds 2 \
        --json-out bench/results/ref-pg-200k.json

The independent floor (raw Starlette, one statement, a schema of its own) and the DRF
peer live in the reference bench (`../shared/reference-bench/` from the repository;
`--reference-dir` or HRC_BENCH_REFERENCE_DIR) and run from there, with the reference
bench's own venv (`--reference-python` or HRC_BENCH_REFERENCE_PYTHON). One data set
(the reference bench's `gen_data.py`) is loaded into all of them: the product through
its bulk API (`load_bulk.py`), the floor by its `floor/load.py`, the peer by its
`drf_peer/reset.sh`; the product's own floor (`bench/floor.py`) reads the product's
database. Per path the four servers are driven in turn by wrk, pinned to CPU 1, each
server pinned to CPU 0.
"""

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import procs, run, store, writes

ARTICLES = "/api/v1/articles"
DEFAULT_REFERENCE_DIR = store.ROOT.parent / "shared" / "reference-bench"
DEFAULT_REFERENCE_PYTHON = "/tmp/refbench/bin/python"
PREFIX = "hrc_refbench"
CAPPED_ABOVE = 10_000  # the product's count cap: beyond it the floor counts capped too
REFERENCE_MODULES = ("starlette", "uvicorn", "psycopg", "psycopg_pool", "orjson", "httpx",
                     "django", "rest_framework", "django_filters", "gunicorn")


@dataclass(frozen=True)
class Target:
    """One server of the run: its key in the results, name in the table, port and probe."""

    key: str
    label: str
    port_offset: int
    probe: str = "/healthz"


TARGETS = (
    Target("product", "product", 0),
    Target("own_floor", "own floor", 1),
    Target("floor", "floor", 2),
    Target("drf", "DRF", 3, probe=f"{ARTICLES}/1"),  # no /healthz; ids start at 1
)


@dataclass(frozen=True)
class RefPath:
    """One row of the report: a name and its URL ({id}, {cursor}: each server's own)."""

    name: str
    url: str
    drf: bool = True  # False: the DRF peer has no such feature (cursor paging)


PATHS = (
    RefPath("list", f"{ARTICLES}?limit=20"),
    RefPath("topic", f"{ARTICLES}?topic=xinjiang&limit=20"),
    RefPath("topic+year", f"{ARTICLES}?topic=xinjiang&date_from=2021-01-01&date_to=2021-12-31"
            "&limit=20"),
    RefPath("detail", f"{ARTICLES}/{{id}}"),
    RefPath("cursor 5000", f"{ARTICLES}?cursor={{cursor}}&limit=20", drf=False),
    RefPath("offset 5000", f"{ARTICLES}?offset=5000&limit=20"),
    RefPath("q common", f"{ARTICLES}?q=rights&limit=20"),
)


def size_name(n: int) -> str:
    """10000 -> 10k (database and data directory names)."""
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def database_url(engine: str, role: str, n: int) -> str:
    """A product-style URL for one role's database (product, floor, peer)."""
    name = f"{PREFIX}_{role}_{size_name(n)}"
    if engine == "sqlite":
        return f"sqlite:///{store.ROOT / 'bench' / 'data' / (name + '.db')}"
    return f"{store.PG_BASE}/{name}"


def reference_db(url: str) -> str:
    """The URL the reference servers read (FLOOR_DB, PEER_DB): no driver suffix."""
    return f"sqlite:///{store.sqlite_path(url)}" if store.is_sqlite(url) else store.pg_dsn(url)


def floor_total(mode: str, n: int) -> str:
    """FLOOR_TOTAL: `auto` counts exactly up to the product's cap, capped beyond it."""
    if mode == "auto":
        return "capped" if n > CAPPED_ABOVE else "1"
    return {"exact": "1", "capped": "capped"}[mode]


# --- data -------------------------------------------------------------------------------


def check_reference(ref_dir: Path, python: str) -> None:
    """Fail early, saying how to set it up, when the reference bench or its venv is missing."""
    if not (ref_dir / "gen_data.py").exists():
        raise SystemExit(f"no reference bench at {ref_dir} (--reference-dir, "
                         "HRC_BENCH_REFERENCE_DIR)")
    done = subprocess.run([python, "-c", "import " + ", ".join(REFERENCE_MODULES)],
                          capture_output=True, text=True, timeout=120, check=False)
    if done.returncode:
        raise SystemExit(f"the reference venv ({python}) lacks packages: "
                         f"{done.stderr.strip().splitlines()[-1:]}; see docs/benchmarks.md "
                         "(--reference-python, HRC_BENCH_REFERENCE_PYTHON)")


def reference_run(cmd: list[str], ref_dir: Path, timeout: float = 3600,
                  env: dict[str, str] | None = None) -> None:
    """Run one of the reference bench's scripts from its own directory (a key not echoed)."""
    shown = ["…" if previous == "--key" else part
             for previous, part in zip(["", *cmd], cmd, strict=False)]
    print("  $ " + " ".join(shown), flush=True)
    subprocess.run(cmd, cwd=ref_dir, env=env, check=True, timeout=timeout)


def ensure_data(ref_dir: Path, python: str, n: int) -> Path:
    """gen_data.py's NDJSON for size n (deterministic; kept in bench/data/)."""
    data = store.ROOT / "bench" / "data" / f"reference-{size_name(n)}"
    last = data / "statements.ndjson"  # written last: complete when it has its n lines
    if not last.exists() or sum(1 for _ in last.open("rb")) != n:
        reference_run([python, str(ref_dir / "gen_data.py"), str(n), str(data)], ref_dir)
    return data


def load_product(url: str, data: Path, ref_dir: Path, python: str, kinds: str, port: int,
                 logs: Path) -> None:
    """A fresh product database, loaded through POST /api/v1/{kind}/bulk (load_bulk.py)."""
    store.drop_database(url)
    store.migrate(url)
    # No statement time-out for the load: a 10,000-item request on a busy machine may run
    # past the 15 s a read gets (a 503 would stop the load half done).
    env = store.product_env(url, HRC_DIGEST_LOG_LEVEL="warning",
                            HRC_DIGEST_STATEMENT_TIMEOUT_MS="0")
    server = procs.start([store.hrc_digest_cli(), "serve", "--host", "127.0.0.1", "--port",
                          str(port)], cpu=run.SERVER_CPU, env=env, cwd=store.ROOT,
                         log=logs / "product-load.log")
    try:
        base = f"http://127.0.0.1:{port}"
        procs.wait_ready(base + "/healthz", server)
        key = writes.create_key(url)
        reference_run([python, str(ref_dir / "load_bulk.py"), base, str(data), "--key", key,
                       "--kinds", kinds], ref_dir)
    finally:
        procs.stop(server)


def load_floor(url: str, data: Path, ref_dir: Path, python: str) -> None:
    """The floor's own schema and loader (COPY or executemany, then (VACUUM) ANALYZE)."""
    if store.is_sqlite(url):
        target = ["--sqlite", str(store.sqlite_path(url))]
    else:
        store.drop_database(url)
        store.create_pg_database(url)
        target = ["--pg", store.pg_dsn(url)]
    reference_run([python, str(ref_dir / "floor" / "load.py"), str(data), *target], ref_dir)


def load_peer(url: str, data: Path, ref_dir: Path, python: str) -> None:
    """The peer's reset.sh: (re)create its database, Django migrations, the ORM's loader."""
    env = dict(os.environ, PY=python)
    reference_run(["bash", str(ref_dir / "drf_peer" / "reset.sh"), reference_db(url),
                   str(data)], ref_dir, env=env)


LOADED = {  # role -> how to count its articles
    "product": "SELECT count(*) FROM entries WHERE type = 'article'",
    "floor": "SELECT count(*) FROM articles",
    "peer": "SELECT count(*) FROM digest_article",
}


def prepare(args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    """Generate the data once, load it wherever it is missing (or everywhere with --reload),
    migrate a kept product database, refresh every database's statistics."""
    data = ensure_data(args.reference_dir, args.reference_python, args.n)
    urls = {role: database_url(args.engine, role, args.n) for role in LOADED}
    if args.engine == "sqlite":
        (store.ROOT / "bench" / "data").mkdir(parents=True, exist_ok=True)
    loaders = {
        "product": lambda url: load_product(url, data, args.reference_dir,
                                            args.reference_python, args.product_kinds,
                                            args.port, logs),
        "floor": lambda url: load_floor(url, data, args.reference_dir, args.reference_python),
        "peer": lambda url: load_peer(url, data, args.reference_dir, args.reference_python),
    }
    loaded: dict[str, float] = {}
    for role, url in urls.items():
        started = time.perf_counter()
        if args.reload or store.count_or_zero(url, LOADED[role]) != args.n:
            print(f"loading {role}: {url}", flush=True)
            loaders[role](url)
            loaded[role] = round(time.perf_counter() - started, 1)
            count = store.count_or_zero(url, LOADED[role])
            if count != args.n:
                raise SystemExit(f"{role}: {count} articles loaded, expected {args.n}")
        elif role == "product":
            store.migrate(url)  # a kept database follows the code's migrations
        store.refresh_statistics(url)  # every database fresh, whatever its loader did
    return {"data": str(data), "databases": urls, "loaded_s": loaded}


# --- servers and runs -------------------------------------------------------------------


def start_reference(urls: dict[str, str], args: argparse.Namespace, logs: Path,
                    wanted: set[str]) -> dict[str, subprocess.Popen]:
    """The independent floor (uvicorn) and the DRF peer (gunicorn), from the reference dir."""
    python, ref_dir, port = args.reference_python, args.reference_dir, args.port
    floor_env = dict(os.environ, FLOOR_DB=reference_db(urls["floor"]),
                     FLOOR_TOTAL=floor_total(args.floor_total, args.n))
    peer_env = dict(os.environ, PEER_DB=reference_db(urls["peer"]))
    commands = {
        "floor": ([python, "-m", "uvicorn", "floor.app:app", "--host", "127.0.0.1", "--port",
                   str(port + 2), "--log-level", "warning", "--no-access-log"], floor_env),
        "drf": ([python, "-m", "gunicorn", "--chdir", "drf_peer", "peer.wsgi", "-b",
                 f"127.0.0.1:{port + 3}", "--workers", "1", "--threads", "4"], peer_env),
    }
    return {key: procs.start(cmd, cpu=run.SERVER_CPU, env=env, cwd=ref_dir,
                             log=logs / f"reference-{key}.log")
            for key, (cmd, env) in commands.items() if key in wanted}


def _json(base: str, path: str) -> dict[str, Any]:
    status, body = procs.get(base + path, timeout=60)
    return json.loads(body) if status == 200 else {}


def discover(bases: dict[str, str]) -> tuple[dict[str, dict[str, str]], dict[str, Any]]:
    """Each server's newest article id and cursor at depth 5,000; what they agree on.

    Ids and the order of articles on the same day differ between databases (each loader
    numbers rows its own way), so the check compares what must agree: the newest date,
    the count of topic + year and the date at depth 5,000."""
    values: dict[str, dict[str, str]] = {}
    agreement: dict[str, Any] = {}
    topic_year = next(p.url for p in PATHS if p.name == "topic+year")
    for key, base in bases.items():
        first = (_json(base, f"{ARTICLES}?limit=1").get("items") or [{}])[0]
        deep = _json(base, f"{ARTICLES}?offset=4980&limit=20")
        values[key] = {"id": str(first.get("id", 1)),
                       "cursor": deep.get("next_cursor") or "unavailable"}
        agreement[key] = {"newest": first.get("published_on"),
                          "topic_year_total": _json(base, topic_year).get("total"),
                          "date_at_5000": ((deep.get("items") or [{}])[-1]).get("published_on")}
    distinct = {json.dumps(seen, sort_keys=True) for seen in agreement.values()}
    if len(distinct) > 1:
        print(f"warning: the servers' data differ: {agreement}", flush=True)
    return values, agreement


def run_round(bases: dict[str, str], urls: dict[str, str], values: dict[str, dict[str, str]],
              args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every path on every server in turn, each from a settled server."""
    databases = {"product": urls["product"], "own_floor": urls["product"],
                 "floor": urls["floor"], "drf": urls["peer"]}
    probes = {t.key: t.probe for t in TARGETS}
    rows = []
    for path in PATHS:
        if args.paths and path.name not in args.paths.split(","):
            continue
        row: dict[str, Any] = {"name": path.name}
        for key, base in bases.items():
            if key == "drf" and not path.drf:
                row[key] = None
                continue
            url = path.url.format(**values[key])
            print(f"{path.name:<12} {key:<9} {url}", flush=True)
            row[key] = run.measure(base, url, args.duration, args.warmup) | {"path": url}
            row[key]["settle_s"] = round(run.settle(databases[key], base,
                                                    probe=probes[key]), 1)
        rows.append(row)
    return rows


# --- report -----------------------------------------------------------------------------


def median_result(results: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """One figure per server and path from its rounds: the median of each measure.

    Errors add up and the worst check status is kept, so a round that failed shows."""
    done = [r for r in results if r is not None]
    if not done:
        return None
    merged = {name: statistics.median(r[name] for r in done)
              for name in ("rps", "p50_ms", "p99_ms")}
    merged["responses"] = sum(r["responses"] for r in done)
    merged["errors"] = sum(r["errors"] for r in done)
    merged["check_status"] = next((r["check_status"] for r in done if r["check_status"] != 200),
                                  200)
    merged["rounds"] = len(done)
    return merged


def combine(rounds: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Rounds of rows -> one row per path (median over the rounds)."""
    rows = []
    for index, first in enumerate(rounds[0]):
        row: dict[str, Any] = {"name": first["name"]}
        for key in (t.key for t in TARGETS):
            row[key] = median_result([r[index].get(key) for r in rounds])
        rows.append(row)
    return rows


def _rps(result: dict[str, Any] | None) -> str:
    if result is None:
        return "—"
    text = f"{result['rps']:,.1f}" if result["rps"] < 10 else f"{result['rps']:,.0f}"
    if result["check_status"] != 200:
        text += f" (HTTP {result['check_status']})"
    if result["errors"]:
        text += f" ({result['errors']:,} errors)"
    return text


def _latency(result: dict[str, Any] | None) -> str:
    if result is None:
        return "—"
    if not result["responses"]:
        return "none done"
    return f"{result['p50_ms']:.1f} / {result['p99_ms']:.1f}"


def three_way_table(rows: list[dict[str, Any]]) -> str:
    """The report as a Markdown table: req/s, p50/p99 of product and floor, the ratios."""
    head = ["path", "product req/s", "p50 / p99 ms", "floor req/s", "p50 / p99 ms", "DRF req/s",
            "own floor req/s", "product / floor", "product / DRF", "product / own floor"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for row in rows:
        product = row.get("product")
        cells = [row["name"], _rps(product), _latency(product), _rps(row.get("floor")),
                 _latency(row.get("floor")), _rps(row.get("drf")), _rps(row.get("own_floor")),
                 run.ratio(product, row.get("floor")), run.ratio(product, row.get("drf")),
                 run.ratio(product, row.get("own_floor"))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def print_report(data: dict[str, Any]) -> None:
    """Print a run's table (from a fresh run or a saved JSON)."""
    meta = data["meta"]
    print(f"\n## {meta['engine']}, N={meta['n']:,}, three-way ({meta['date']}, commit "
          f"{meta['commit']}; {meta['rounds']} round(s) of {meta['duration_s']:g} s, "
          f"floor FLOOR_TOTAL={meta['floor_total']})\n")
    print(three_way_table(data["paths"]))


# --- command line -----------------------------------------------------------------------


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    run.common_arguments(parser, "postgres")
    parser.add_argument("--rounds", type=int, default=1, help="passes over every path and "
                        "server; the table shows each figure's median")
    parser.add_argument("--targets", default="product,own_floor,floor,drf",
                        help="comma list of servers to drive (product always)")
    parser.add_argument("--port", type=int, default=8100, help="product port (own floor +1, "
                        "floor +2, DRF +3)")
    parser.add_argument("--reference-dir", type=Path, default=Path(
        os.environ.get("HRC_BENCH_REFERENCE_DIR", DEFAULT_REFERENCE_DIR)),
        help="the reference bench (default: ../shared/reference-bench from the repository)")
    parser.add_argument("--reference-python", default=os.environ.get(
        "HRC_BENCH_REFERENCE_PYTHON", DEFAULT_REFERENCE_PYTHON),
        help="the reference bench's venv interpreter")
    parser.add_argument("--floor-total", choices=("auto", "exact", "capped"), default="auto",
                        help="the floor's count: auto = exact up to 10,000 articles, "
                        "capped (at 10,001, as the product's) above")
    parser.add_argument("--product-kinds", default="events,articles,statements",
                        help="the kinds loaded into the product (the others load articles)")
    parser.add_argument("--reload", action="store_true", help="load every database again")
    args = parser.parse_args()
    if args.report:
        print_report(json.loads(args.report.read_text()))
        return
    args.reference_dir = args.reference_dir.resolve()
    check_reference(args.reference_dir, args.reference_python)
    wanted = {"product", *args.targets.split(",")}

    os.sched_setaffinity(0, {int(run.LOAD_CPU)})
    logs = Path(tempfile.mkdtemp(prefix="hrc-refbench-"))
    started = time.monotonic()
    setup = prepare(args, logs)
    urls = setup["databases"]
    servers: dict[str, subprocess.Popen] = {}
    try:
        servers["product"], servers["own_floor"] = run.start_servers(urls["product"], args.port,
                                                                     logs)
        servers |= start_reference(urls, args, logs, wanted)
        bases = {t.key: f"http://127.0.0.1:{args.port + t.port_offset}" for t in TARGETS
                 if t.key in wanted}
        for target in TARGETS:
            if target.key in bases:
                procs.wait_ready(bases[target.key] + target.probe, servers[target.key])
        values, agreement = discover(bases)
        rounds = [run_round(bases, urls, values, args) for _ in range(args.rounds)]
    finally:
        for server in servers.values():
            procs.stop(server)
    meta = {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": run.git_commit(), "engine": args.engine, "n": args.n,
            "duration_s": args.duration, "warmup_s": args.warmup, "connections": 16,
            "rounds": args.rounds, "floor_total": floor_total(args.floor_total, args.n),
            "product_kinds": args.product_kinds, "reference_dir": str(args.reference_dir),
            "agreement": agreement, "machine": run.machine(),
            "wall_s": round(time.monotonic() - started), "logs": str(logs)} | setup
    data = {"meta": meta, "paths": combine(rounds), "rounds": rounds}
    print_report(data)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(data, indent=2, default=str))
        print(f"\nresults written to {args.json_out}")


if __name__ == "__main__":
    main()
