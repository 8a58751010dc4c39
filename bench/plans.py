"""Print the query plans of the floor's list statements (EXPLAIN ANALYZE / EXPLAIN QUERY PLAN).

    python -m bench.plans --engine postgres --n 10000
"""

import argparse
import datetime as dt
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


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    url = args.database_url or store.bench_url(args.engine, args.n)
    sqlite = store.is_sqlite(url)
    conn = store.connect(url)
    try:
        for name, sql in statements(sqlite):
            text = plan(conn, sqlite, sql)
            print(f"#### {name}\n\n```sql\n{sql.text}\n```\n\n```\n{text}\n```\n")
    finally:
        conn.close()


if __name__ == "__main__":
    main()
