"""Fill a migrated database with N articles, N/2 events and N statements, deterministically.

    python -m bench.generate --database-url sqlite:///bench/data/x.db --n 10000
"""

import argparse
import time

from bench import store
from bench.corpus import Corpus

SEED = 46


def entry_count(url: str) -> int:
    """How many entries a bench database holds (0 when it has no schema yet)."""
    return store.count_or_zero(url, "SELECT count(*) FROM entries")


def generate(url: str, n: int, seed: int = SEED, replace: bool = False) -> dict[str, float]:
    """Migrate, then load the corpus for size n; return rows written and rows/s."""
    if replace:
        store.drop_database(url)
    store.migrate(url)
    conn = store.connect(url)
    try:
        existing = int(store.scalar(conn, "SELECT count(*) FROM entries"))
        if existing:
            raise SystemExit(f"{url} already holds {existing} entries; use --replace")
        store.ensure_sessions(conn)
        corpus = Corpus(seed=seed, countries=store.country_codes(conn))
        started = time.perf_counter()
        rows = store.load_records(conn, corpus.records(n, n // 2, n))
        load_s = time.perf_counter() - started
    finally:
        conn.close()
    store.recount(url)
    started = time.perf_counter()
    store.refresh_statistics(url)
    analyze_s = time.perf_counter() - started
    return {"entries": rows, "seconds": load_s, "rows_per_s": rows / load_s,
            "analyze_seconds": analyze_s}


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="sqlite:///path or postgresql+psycopg://…")
    parser.add_argument("--engine", choices=("sqlite", "postgres"), default="sqlite",
                        help="used to name the database when --database-url is absent")
    parser.add_argument("--n", type=int, default=10_000, help="articles (events: n/2, "
                        "statements: n)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--replace", action="store_true", help="drop and rebuild the database")
    args = parser.parse_args()
    url = args.database_url or store.bench_url(args.engine, args.n)
    result = generate(url, args.n, args.seed, args.replace)
    print(f"{url}: {result['entries']:,} entries in {result['seconds']:.1f} s "
          f"({result['rows_per_s']:,.0f} entries/s, each with its detail and link rows; "
          f"full-text index maintained); (VACUUM) ANALYZE {result['analyze_seconds']:.1f} s")


if __name__ == "__main__":
    main()
