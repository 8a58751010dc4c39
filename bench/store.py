"""Database access for the bench: URLs, migration, reference rows and fast bulk loading.

Rows are written the way `app/entries/repository.py` writes them: an `entries`
row, a detail row keyed by the same id, and link rows; the full-text index is
maintained by the database (FTS5 triggers on SQLite, the generated tsvector
column and its GIN index on PostgreSQL).
"""

import datetime as dt
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from bench.corpus import SESSIONS, ordinal

ROOT = Path(__file__).resolve().parent.parent
PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432"

ENTRY_COLUMNS = ("id", "type", "slug", "title", "summary", "body", "url", "language", "session",
                 "date", "topics", "countries", "search_names", "search_fields", "provenance",
                 "created_at", "updated_at", "version", "date_precision", "date_from", "date_to")
DETAIL_COLUMNS = {
    "article": ("articles", ("id", "source", "authors", "genre")),
    "event": ("events", ("id", "event_type", "ends_on", "location", "format", "organizers")),
    "statement": ("statements", ("id", "speaker", "speaker_role", "speaker_affiliation",
                                 "statement_type", "on_behalf_of", "event_id")),
}
PRIMARY_DATE = {"article": "published_on", "event": "starts_on", "statement": "delivered_on"}
NAME_FIELDS = {"article": ("source", "authors"), "event": ("organizers", "location"),
               "statement": ("speaker", "speaker_role", "speaker_affiliation")}
JSON_DETAIL = {"authors", "organizers"}
WORD = re.compile(r"[^\W_]+")  # a word as full-text search splits them


def is_sqlite(url: str) -> bool:
    """True for a sqlite:/// URL."""
    return url.startswith("sqlite")


def sqlite_path(url: str) -> Path:
    """The file of a sqlite:///path URL."""
    return Path(url.split("sqlite:///", 1)[1])


def pg_dsn(url: str) -> str:
    """A libpq DSN from a postgresql+psycopg:// URL."""
    return "postgresql://" + url.split("://", 1)[1]


def bench_url(engine: str, n: int, suffix: str = "") -> str:
    """The database URL the bench uses for an engine and size."""
    name = f"hrc_bench_{n // 1000}k{suffix}" if n % 1000 == 0 else f"hrc_bench_{n}{suffix}"
    if engine == "sqlite":
        return f"sqlite:///{ROOT / 'bench' / 'data' / (name + '.db')}"
    return f"{PG_BASE}/{name}"


def scratch_url(engine: str) -> str:
    """The throw-away database the bulk benchmark loads into."""
    if engine == "sqlite":
        return f"sqlite:///{ROOT / 'bench' / 'data' / 'hrc_bench_scratch.db'}"
    return f"{PG_BASE}/hrc_bench_scratch"


def hrc_digest_cli() -> str:
    """The product's console script next to this interpreter."""
    candidate = Path(sys.executable).parent / "hrc-digest"
    return str(candidate) if candidate.exists() else "hrc-digest"


def product_env(url: str, **extra: str) -> dict[str, str]:
    """Environment for running the product on a database."""
    env = dict(os.environ)
    # Rate limits off: the load generator is one client sending thousands of requests.
    env.update({"DATABASE_URL": url, "HRC_DIGEST_AUTO_SEED": "false", "HRC_DIGEST_RATE_LIMIT": "0",
                "HRC_DIGEST_RATE_LIMIT_KEYED": "0"}, **extra)
    return env


def create_pg_database(url: str) -> bool:
    """Create the PostgreSQL database of a URL unless it exists; True when created."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(pg_dsn(url.rsplit("/", 1)[0] + "/postgres"), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        conn.execute(f'CREATE DATABASE "{name}"')
        return True


def drop_database(url: str) -> None:
    """Drop a bench database (PostgreSQL) or delete its file (SQLite)."""
    if is_sqlite(url):
        for suffix in ("", "-wal", "-shm"):
            Path(str(sqlite_path(url)) + suffix).unlink(missing_ok=True)
        return
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(pg_dsn(url.rsplit("/", 1)[0] + "/postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(url: str, timeout: float = 300) -> None:
    """Run `hrc-digest migrate` (schema + reference data) on a database."""
    if is_sqlite(url):
        sqlite_path(url).parent.mkdir(parents=True, exist_ok=True)
    else:
        create_pg_database(url)
    subprocess.run([hrc_digest_cli(), "migrate"], cwd=ROOT, env=product_env(url), check=True,
                   timeout=timeout, stdout=subprocess.DEVNULL)


def connect(url: str) -> Any:
    """A DB-API connection (sqlite3 or psycopg) to a bench database."""
    if is_sqlite(url):
        conn = sqlite3.connect(sqlite_path(url), timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn
    import psycopg

    return psycopg.connect(pg_dsn(url))


def _connect_as_is(url: str) -> Any:
    """A connection that leaves a SQLite database's settings (journal mode) as they are:
    the reference bench's databases keep their own."""
    if is_sqlite(url):
        return sqlite3.connect(sqlite_path(url), timeout=30)
    return connect(url)


def count_or_zero(url: str, sql: str) -> int:
    """The count a query returns, or 0 when the database or its table does not exist."""
    if is_sqlite(url) and not sqlite_path(url).exists():
        return 0
    try:
        conn = _connect_as_is(url)
    except Exception:  # noqa: BLE001 - an absent PostgreSQL database
        return 0
    try:
        return int(scalar(conn, sql))
    except Exception:  # noqa: BLE001 - no schema yet
        return 0
    finally:
        conn.close()


def recount(url: str, timeout: float = 600) -> None:
    """`hrc-digest recount`: the product's tallies (exact totals and facets) counted afresh,
    as `load_records` writes the entries' rows directly, past the writes that keep them."""
    subprocess.run([hrc_digest_cli(), "recount"], cwd=ROOT, env=product_env(url), check=True,
                   timeout=timeout, stdout=subprocess.DEVNULL)


def refresh_statistics(url: str) -> None:
    """`ANALYZE` (SQLite) or `VACUUM ANALYZE` (PostgreSQL: also sets the visibility map,
    so index-only scans need no heap fetches) on a whole database."""
    conn = _connect_as_is(url)
    try:
        if is_sqlite(url):
            conn.execute("ANALYZE")
            conn.commit()
        else:
            conn.autocommit = True
            conn.execute("VACUUM ANALYZE")
    finally:
        conn.close()


def scalar(conn: Any, sql: str) -> Any:
    """The first column of the first row of a query."""
    return conn.execute(sql).fetchone()[0]


def ensure_sessions(conn: Any) -> None:
    """Insert the sessions 40-52 the corpus uses, leaving existing rows alone."""
    present = {row[0] for row in conn.execute("SELECT number FROM sessions").fetchall()}
    marker = "?" if isinstance(conn, sqlite3.Connection) else "%s"
    sql = (f"INSERT INTO sessions (number, name, starts_on, ends_on, location, description) "
           f"VALUES ({', '.join([marker] * 6)})")
    for number, (start, end) in SESSIONS.items():
        if number not in present:
            name = f"{ordinal(number)} regular session of the Human Rights Council"
            conn.execute(sql, (number, name, dt.date.fromisoformat(start),
                               dt.date.fromisoformat(end), "Geneva", ""))
    conn.commit()


def country_codes(conn: Any) -> list[str]:
    """Every country code in the reference table, sorted."""
    return [row[0] for row in conn.execute("SELECT code FROM countries ORDER BY code")]


def _names(record: dict[str, Any]) -> Iterator[tuple[str, list[str]]]:
    """Each name field of the record's kind with its values."""
    for name in NAME_FIELDS[record["type"]]:
        value = record.get(name)
        yield name, value if isinstance(value, list) else [str(value)] if value else []


def _search_names(record: dict[str, Any]) -> str:
    return " ".join(v for _, values in _names(record) for v in values)


def _search_fields(record: dict[str, Any]) -> str:
    """As app/entries/listing/fulltext.py `field_text` has it: each word after its field's
    marker (`zzspeakerzz Chen zzspeakerzz Xu`)."""
    return " ".join(f"zz{name.replace('_', '')}zz {word}" for name, values in _names(record)
                    for value in values for word in WORD.findall(value))


def table_rows(record: dict[str, Any], sqlite: bool) -> tuple[tuple, tuple, list, list]:
    """The entries row, detail row and link rows of one record."""
    kind = record["type"]
    day = record.get(PRIMARY_DATE[kind])
    created = dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=record["id"])
    stamp = created.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else created
    stored_day = day.isoformat() if sqlite and day else day
    # Placed as app/entries/placement.py places it: the primary date gives `day`; an
    # undated bench record is left `unknown` (its session's dates are not looked up).
    entry = (record["id"], kind, record["slug"], record["title"], record["summary"],
             record["body"], record["url"], record["language"], record["session"],
             stored_day, json.dumps(record["topics"]),
             json.dumps(record["countries"]), _search_names(record), _search_fields(record), None,
             stamp, stamp, 1,
             "day" if day else "unknown", stored_day, stored_day)
    _, columns = DETAIL_COLUMNS[kind]
    detail = tuple(json.dumps(record[c]) if c in JSON_DETAIL else
                   (record["id"] if c == "id" else _sql_value(record.get(c), sqlite))
                   for c in columns)
    topics = [(t, record["id"], kind) for t in record["topics"]]
    countries = [(c, record["id"], kind) for c in record["countries"]]
    return entry, detail, topics, countries


def _sql_value(value: Any, sqlite: bool) -> Any:
    return value.isoformat() if sqlite and isinstance(value, dt.date) else value


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Lists of up to `size` items."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def load_records(conn: Any, records: Iterable[dict[str, Any]], batch: int = 20_000) -> int:
    """Write records in big transactions (executemany on SQLite, COPY on PostgreSQL)."""
    sqlite = isinstance(conn, sqlite3.Connection)
    written = 0
    for chunk in batched(records, batch):
        entries, links_t, links_c = [], [], []
        details: dict[str, list[tuple]] = {kind: [] for kind in DETAIL_COLUMNS}
        for record in chunk:
            entry, detail, topics, countries = table_rows(record, sqlite)
            entries.append(entry)
            details[record["type"]].append(detail)
            links_t.extend(topics)
            links_c.extend(countries)
        tables = [("entries", ENTRY_COLUMNS, entries)]
        tables += [(*DETAIL_COLUMNS[kind], rows) for kind, rows in details.items()]
        tables += [("entry_topics", ("topic", "entry_id", "type"), links_t),
                   ("entry_countries", ("country", "entry_id", "type"), links_c)]
        (_sqlite_write if sqlite else _pg_copy)(conn, tables)
        conn.commit()
        written += len(chunk)
    if not sqlite:
        conn.execute("SELECT setval(pg_get_serial_sequence('entries', 'id'), "
                     "(SELECT coalesce(max(id), 1) FROM entries))")
        conn.commit()
    return written


def _sqlite_write(conn: sqlite3.Connection, tables: list[tuple[str, tuple, list]]) -> None:
    for name, columns, rows in tables:
        if rows:
            marks = ", ".join("?" * len(columns))
            conn.executemany(f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({marks})", rows)


def _pg_copy(conn: Any, tables: list[tuple[str, tuple, list]]) -> None:
    with conn.cursor() as cursor:
        for name, columns, rows in tables:
            if not rows:
                continue
            with cursor.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
