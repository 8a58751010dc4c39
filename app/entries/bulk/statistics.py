"""Planner statistics refreshed after a large write (bulk, `hrc-digest import`, `seed`).

A load of thousands of entries leaves the planner's statistics describing the tables as
they were: with autovacuum off or lagging, a topic + date-range list was planned for 1
row and ran many times slower. So a writer that wrote many rows refreshes them
itself before it answers, by autovacuum's own rule: a table is analyzed when the rows
modified since its last ANALYZE exceed `autovacuum_analyze_threshold` +
`autovacuum_analyze_scale_factor` x its rows (50 + 10 % by default), so a small write
into a large table costs nothing, and ANALYZE itself reads a fixed-size sample
(300 x `default_statistics_target` rows) whatever the table's size.

PostgreSQL: the rows a transaction wrote are read before its commit
(`pg_stat_xact_user_tables`: the shared counters, `n_mod_since_analyze`, may take a
second or more to show them), the larger of the two counts is compared with the
threshold, and the tables past it are analyzed after the commit, in autocommit (each
table's lock held only while it is sampled). SQLite keeps no such counts: its writing
connection runs `PRAGMA optimize` (SQLite's own rule: tables never analyzed, or grown
25-fold, among those it queried) before the commit, sampling at most ANALYSIS_LIMIT rows
an index.
"""

import logging
from collections.abc import Iterable

from sqlalchemy import Engine, bindparam, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.entries import repository as repo
from app.entries.spec import KindSpec

logger = logging.getLogger("hrc_digest.statistics")

SQLITE_MIN_ROWS = 50  # below this a write cannot change SQLite's estimates much: no PRAGMA
ANALYSIS_LIMIT = 1_000  # SQLite: rows sampled an index by ANALYZE

_WRITTEN = text(
    "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_xact_user_tables "
    "WHERE relname IN :tables").bindparams(bindparam("tables", expanding=True))
# Autovacuum's rule (without per-table overrides), on the counts since the last ANALYZE.
_DUE = text(
    "SELECT c.relname, coalesce(s.n_mod_since_analyze, 0), "
    "current_setting('autovacuum_analyze_threshold')::float8 "
    "+ current_setting('autovacuum_analyze_scale_factor')::float8 * greatest(c.reltuples, 0) "
    "FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
    "WHERE c.relname IN :tables AND c.relkind = 'r' AND pg_table_is_visible(c.oid)"
).bindparams(bindparam("tables", expanding=True))


def entry_tables(specs: Iterable[KindSpec]) -> list[str]:
    """The tables a write of entries of these kinds touches (the change log aside: it is
    only ever read by its own index)."""
    details = sorted({spec.detail_table.name for spec in specs})
    return [repo.entries.name, *details, repo.entry_topics.name, repo.entry_countries.name]


class StatisticsRefresh:
    """The rows written into some tables, over one or more transactions; then, the
    statistics of those tables that need it refreshed."""

    def __init__(self, tables: Iterable[str]) -> None:
        self.written = dict.fromkeys(tables, 0)

    def before_commit(self, session: Session, rows: int) -> None:
        """Count what the session's open transaction wrote; `rows`: how many entries the
        caller wrote (SQLite's only count: it then runs PRAGMA optimize)."""
        if not rows:
            return
        if session.get_bind().dialect.name != "postgresql":
            if rows > SQLITE_MIN_ROWS:
                session.execute(text(f"PRAGMA analysis_limit = {ANALYSIS_LIMIT}"))
                session.execute(text("PRAGMA optimize"))
            return
        for table, count in session.execute(_WRITTEN, {"tables": list(self.written)}):
            self.written[table] += count

    def after_commit(self, engine: Engine) -> list[str]:
        """ANALYZE (PostgreSQL) the tables whose modifications since their last ANALYZE,
        this writer's included, pass autovacuum's threshold; the tables analyzed.

        A failure is logged, not raised: the writes are committed whatever happens here."""
        written = {table: count for table, count in self.written.items() if count}
        if not written or engine.dialect.name != "postgresql":
            return []
        try:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                due = sorted(table for table, modified, threshold in
                             conn.execute(_DUE, {"tables": list(written)})
                             if max(modified, written[table]) > threshold)
                for table in due:
                    conn.exec_driver_sql(f'ANALYZE "{table}"')
        except DBAPIError as exc:
            logger.warning("statistics not refreshed: %s", exc.__class__.__name__)
            return []
        self.written = dict.fromkeys(self.written, 0)
        return due
