"""Print the query plans of the list statements (EXPLAIN ANALYZE / EXPLAIN QUERY PLAN).

    python -m bench.plans --engine postgres --n 10000             # the floor's statements
    python -m bench.plans --engine sqlite --n 10000 --product     # the product's

With `--product` the product answers each list path in this process, and every
statement it sends (the page, its count, the facets, a reference lookup) is captured as
sent, with its bound values, then explained.
"""

import argparse
import datetime as dt
import os
from typing import Any

from bench import floor_sql as fs
from bench import store


def statements(sqlite: bool) -> list[tuple[str, fs.Sql]]:
    """The floor's list statements, named as in the report."""
    def day(text: str) -> Any:
        return text if sqlite else dt.date.fromisoformat(text)

    topic_dates = fs.Filters(topic="xinjiang", date_from=day("2021-01-01"),
                             date_to=day("2021-12-31"))
    return [
        ("list", fs.list_by_date(sqlite, "article", fs.Filters(), 20, 0, None)),
        ("topic", fs.list_by_date(sqlite, "article", fs.Filters(topic="xinjiang"), 20, 0, None)),
        ("topic+dates", fs.list_by_date(sqlite, "article", topic_dates, 20, 0, None)),
        ("offset 5000", fs.list_by_date(sqlite, "article", fs.Filters(), 20, 5000, None)),
        ("cursor 5000", fs.list_by_date(sqlite, "article", fs.Filters(), 20, 0,
                                        (day("2021-03-01"), 438))),
        ("q common", fs.list_by_rank(sqlite, "article", fs.Filters(q="human rights"), 20)),
    ]


def plan(conn: Any, sqlite: bool, sql: fs.Sql) -> str:
    """The plan text of one statement."""
    if sqlite:
        rows = conn.execute("EXPLAIN QUERY PLAN " + sql.text, sql.params).fetchall()
        return "\n".join(f"{row[0]:>4} {row[1]:>4} {row[3]}" for row in rows)
    rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS OFF) " + sql.text, sql.params).fetchall()
    return "\n".join(row[0] for row in rows)


PRODUCT_PATHS = [
    ("list", "/api/v1/articles"),
    ("topic", "/api/v1/articles?topic=xinjiang"),
    ("topic+dates", "/api/v1/articles?topic=xinjiang&date_from=2021-01-01&date_to=2021-12-31"),
    ("offset 5000", "/api/v1/articles?offset=5000"),
    ("cursor 5000", None),  # the cursor the page at offset 4980 hands out
    ("q common", "/api/v1/articles?q=human%20rights"),
    ("q rare", "/api/v1/articles?q=sericulture"),
    ("search+facets", "/api/v1/search?q=human%20rights&facets=type,topic,country,year"),
    ("facets", "/api/v1/search?facets=type,topic,country,year"),
]


def product_statements(url: str) -> list[tuple[str, list[tuple[str, Any]]]]:
    """What the product sends for each list path: (path name, [(SQL, parameters)])."""
    os.environ.update(store.product_env(url, HRC_DIGEST_LOG_LEVEL="warning"))
    from fastapi.testclient import TestClient
    from sqlalchemy import event

    from app.core.db import get_read_engine
    from app.main import create_app

    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    event.listen(get_read_engine(), "before_cursor_execute", capture)
    result = []
    with TestClient(create_app()) as client:
        for name, path in PRODUCT_PATHS:
            if path is None:
                cursor = client.get("/api/v1/articles?offset=4980").json()["next_cursor"]
                path = f"/api/v1/articles?cursor={cursor}"
            sent.clear()
            response = client.get(path)
            response.raise_for_status()
            result.append((f"{name} ({path})", list(sent)))
    return result


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--database-url")
    parser.add_argument("--product", action="store_true",
                        help="explain the statements the product sends (in this process)")
    args = parser.parse_args()
    url = args.database_url or store.bench_url(args.engine, args.n)
    sqlite = store.is_sqlite(url)
    if args.product:
        captured = product_statements(url)
    conn = store.connect(url)
    try:
        if args.product:
            for name, sent in captured:
                print(f"#### {name}\n")
                for text, params in sent:
                    print(f"```\n{plan(conn, sqlite, fs.Sql(sqlite, params, text))}\n```\n")
            return
        for name, sql in statements(sqlite):
            text = plan(conn, sqlite, sql)
            print(f"#### {name}\n\n```sql\n{sql.text}\n```\n\n```\n{text}\n```\n")
    finally:
        conn.close()


if __name__ == "__main__":
    main()
