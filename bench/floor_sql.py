"""The floor's hand-written SQL, one builder for both engines.

Each list request is ONE statement: the page (limit + 1 rows, so we know if a
next page exists) with the capped count as an uncorrelated scalar subquery
(`SELECT count(*) FROM (SELECT 1 … LIMIT 10001)`, evaluated once).
Newest first is `coalesce(date, '0001-01-01') DESC, id DESC` (undated entries
count as the oldest, as in the product), a backward range scan of the
expression index `ix_entries_by_date_type` (migration 0004); the page's ids are
found on the index alone before the limit + 1 full rows are read (a deferred
join), and the keyset cursor is one row-value comparison.
"""

import re
from dataclasses import dataclass, field
from typing import Any

COUNT_CAP = 10_000
ITEM_COLUMNS = ("id", "type", "slug", "title", "summary", "body", "url", "language", "session",
                "topics", "countries", "created_at", "updated_at", "version", "provenance",
                "published_on", "source", "authors", "genre")
SELECT_ARTICLE = (
    "e.id, e.type, e.slug, e.title, e.summary, e.body, e.url, e.language, e.session, "
    "e.topics, e.countries, e.created_at, e.updated_at, e.version, e.provenance, e.date, "
    "a.source, a.authors, a.genre")
SEARCH_COLUMNS = ("id", "type", "slug", "title", "summary", "url", "language", "session",
                  "date", "topics", "countries")
SELECT_SEARCH = ("e.id, e.type, e.slug, e.title, e.summary, e.url, e.language, e.session, "
                 "e.date, e.topics, e.countries")


@dataclass
class Filters:
    """The list filters the floor supports."""

    topic: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    q: str | None = None


@dataclass
class Sql:
    """A statement being built: text plus named parameters, in the engine's style."""

    sqlite: bool
    params: dict[str, Any] = field(default_factory=dict)
    text: str = ""

    def p(self, name: str, value: Any) -> str:
        """Bind a parameter; return its placeholder."""
        self.params[name] = value
        return f":{name}" if self.sqlite else f"%({name})s"


def websearch_to_fts5(text: str) -> str:
    """Web-search syntax (words, "phrases", OR, -word) as an FTS5 MATCH expression."""
    positives: list[str] = []
    negatives: list[str] = []
    for match in re.finditer(r'(-?)"([^"]*)"|(-?)(\S+)', text):
        negated = bool(match.group(1) or match.group(3))
        raw = match.group(2) if match.group(2) is not None else match.group(4)
        words = re.findall(r"\w+", raw)
        if not words:
            continue
        if raw == "OR" and not negated and match.group(2) is None:
            positives.append("OR")
            continue
        term = '"' + " ".join(words) + '"'
        (negatives if negated else positives).append(term)
    while positives and positives[-1] == "OR":
        positives.pop()
    expr = " ".join(positives).removeprefix("OR ").strip()
    if not expr:
        return '""'
    return f"({expr})" + "".join(f" NOT {term}" for term in negatives)


def _where(sql: Sql, alias: str, kind: str, filters: Filters) -> list[str]:
    """WHERE terms for a kind and the non-text filters."""
    terms = [f"{alias}.type = {sql.p('kind', kind)}"]
    if filters.topic:
        # SQLite: unary + keeps the planner walking the date index (then probing the topic)
        # instead of sorting every tagged row.
        plus = "+" if sql.sqlite else ""
        terms.append(f"{plus}{alias}.id IN (SELECT entry_id FROM entry_topics "
                     f"WHERE topic = {sql.p('topic', filters.topic)})")
    key = sort_date(sql.sqlite, alias)
    if filters.date_from:
        terms.append(f"{key} >= {sql.p('date_from', filters.date_from)}")
    if filters.date_to:
        terms.append(f"{key} <= {sql.p('date_to', filters.date_to)}")
        terms.append(f"{key} > {UNDATED_SQLITE if sql.sqlite else UNDATED_PG}")
    return terms


UNDATED_SQLITE, UNDATED_PG = "'0001-01-01'", "DATE '0001-01-01'"


def sort_date(sqlite: bool, alias: str) -> str:
    """The date-order expression, written exactly as the expression index holds it."""
    return f"coalesce({alias}.date, {UNDATED_SQLITE if sqlite else UNDATED_PG})"


def capped_count(sql: Sql, kind: str, filters: Filters) -> str:
    """Scalar subquery: matches counted up to COUNT_CAP + 1.

    A topic alone is counted from the links' `(type, topic, entry_id)` index.
    """
    if filters.topic and not (filters.date_from or filters.date_to or filters.q):
        return (f"(SELECT count(*) FROM (SELECT 1 FROM entry_topics WHERE type = "
                f"{sql.p('kind', kind)} AND topic = {sql.p('topic', filters.topic)} "
                f"LIMIT {COUNT_CAP + 1}) AS capped)")
    terms = _where(sql, "c", kind, filters)
    source = "entries c"
    if filters.q:
        if sql.sqlite:
            source = "entries_fts f JOIN entries c ON c.id = f.rowid"
            terms.append(f"entries_fts MATCH {sql.p('fts', websearch_to_fts5(filters.q))}")
        else:
            terms.append(f"c.search_vector @@ websearch_to_tsquery('english', "
                         f"{sql.p('q', filters.q)})")
    return (f"(SELECT count(*) FROM (SELECT 1 FROM {source} WHERE {' AND '.join(terms)} "
            f"LIMIT {COUNT_CAP + 1}) AS capped)")


def list_by_date(sqlite: bool, kind: str, filters: Filters, limit: int, offset: int,
                 after: tuple[str | None, int] | None) -> Sql:
    """Newest first (undated as oldest, id desc), offset or keyset, with the capped count.

    Deferred join: the page's ids come from the (type, date-order, id) index alone, and
    only those limit + 1 rows are then read in full.
    """
    sql = Sql(sqlite)
    key = sort_date(sqlite, "e")
    terms = _where(sql, "e", kind, filters)
    if after is not None:
        last_date, last_id = after
        terms.append(f"({key}, e.id) < ({sql.p('after_date', last_date or '0001-01-01')}, "
                     f"{sql.p('after_id', last_id)})")
    sql.text = (
        f"SELECT {SELECT_ARTICLE}, {capped_count(sql, kind, filters)} AS total FROM ("
        f"SELECT e.id AS pid, {key} AS pdate FROM entries e WHERE {' AND '.join(terms)} "
        f"ORDER BY {key} DESC, e.id DESC LIMIT {limit + 1} OFFSET {offset}"
        f") AS p JOIN entries e ON e.id = p.pid JOIN articles a ON a.id = e.id "
        f"ORDER BY p.pdate DESC, p.pid DESC")
    return sql


def list_by_rank(sqlite: bool, kind: str, filters: Filters, limit: int) -> Sql:
    """Full-text matches ranked over every match, a title highlight, the capped count."""
    sql = Sql(sqlite)
    terms = _where(sql, "e", kind, filters)
    count = capped_count(sql, kind, filters)
    if sqlite:
        terms.append(f"entries_fts MATCH {sql.p('fts', websearch_to_fts5(filters.q or ''))}")
        sql.text = (
            f"SELECT {SELECT_ARTICLE}, highlight(entries_fts, 0, '<mark>', '</mark>'), "
            f"{count} FROM entries_fts JOIN entries e ON e.id = entries_fts.rowid "
            f"JOIN articles a ON a.id = e.id WHERE {' AND '.join(terms)} "
            f"ORDER BY bm25(entries_fts, 4.0, 2.0, 1.0, 2.0), e.id DESC LIMIT {limit + 1}")
        return sql
    query = f"websearch_to_tsquery('english', {sql.p('q', filters.q)})"
    terms.append(f"e.search_vector @@ {query}")
    sql.text = (
        f"SELECT {SELECT_ARTICLE}, ts_headline('english', e.title, {query}, "
        f"'StartSel=<mark>, StopSel=</mark>, HighlightAll=true'), {count} "
        f"FROM entries e JOIN articles a ON a.id = e.id WHERE {' AND '.join(terms)} "
        f"ORDER BY ts_rank_cd(e.search_vector, {query}) DESC, e.id DESC LIMIT {limit + 1}")
    return sql


def detail(sqlite: bool, kind: str, entry_id: int) -> Sql:
    """One article by id."""
    sql = Sql(sqlite)
    sql.text = (f"SELECT {SELECT_ARTICLE} FROM entries e JOIN articles a ON a.id = e.id "
                f"WHERE e.id = {sql.p('id', entry_id)} AND e.type = {sql.p('kind', kind)}")
    return sql


def _match(sql: Sql, q: str) -> tuple[str, str]:
    """(FROM clause, WHERE term) matching q over every kind."""
    if sql.sqlite:
        return ("entries_fts JOIN entries e ON e.id = entries_fts.rowid",
                f"entries_fts MATCH {sql.p('fts', websearch_to_fts5(q))}")
    return "entries e", f"e.search_vector @@ websearch_to_tsquery('english', {sql.p('q', q)})"


def _rank(sql: Sql, q: str, cover_density: bool = True) -> str:
    """ORDER BY expression, best first (bm25 on SQLite; ts_rank_cd or ts_rank on PostgreSQL)."""
    if sql.sqlite:
        return "bm25(entries_fts, 4.0, 2.0, 1.0, 2.0)"
    fn = "ts_rank_cd" if cover_density else "ts_rank"
    return f"{fn}(e.search_vector, websearch_to_tsquery('english', {sql.p('q', q)})) DESC"


def search_page(sqlite: bool, q: str, limit: int) -> Sql:
    """Cross-kind ranked page with the capped count."""
    sql = Sql(sqlite)
    source, match = _match(sql, q)
    rank = _rank(sql, q)
    sql.text = (
        f"SELECT {SELECT_SEARCH}, (SELECT count(*) FROM (SELECT 1 FROM {source} "
        f"WHERE {match} LIMIT {COUNT_CAP + 1}) AS capped) FROM {source} WHERE {match} "
        f"ORDER BY {rank}, e.id DESC LIMIT {limit + 1}")
    return sql


def search_facets(sqlite: bool, q: str) -> Sql:
    """Type and topic counts over every match (one statement)."""
    sql = Sql(sqlite)
    source, match = _match(sql, q)
    sql.text = (
        f"SELECT 'type', e.type, count(*) FROM {source} WHERE {match} GROUP BY e.type "
        f"UNION ALL SELECT 'topic', t.topic, count(*) FROM {source} "
        f"JOIN entry_topics t ON t.entry_id = e.id WHERE {match} GROUP BY t.topic")
    return sql


def naive_search(sqlite: bool, q: str, limit: int) -> Sql:
    """Rank every match over every kind and count them all exactly: no cap, no shortcut."""
    sql = Sql(sqlite)
    source, match = _match(sql, q)
    rank = _rank(sql, q, cover_density=False)
    sql.text = (f"SELECT {SELECT_SEARCH}, (SELECT count(*) FROM {source} WHERE {match}) "
                f"FROM {source} WHERE {match} ORDER BY {rank}, e.id DESC LIMIT {limit}")
    return sql


def export_all(sqlite: bool, kind: str) -> Sql:
    """Every row of a kind in id order, for NDJSON export."""
    sql = Sql(sqlite)
    sql.text = (f"SELECT {SELECT_ARTICLE} FROM entries e JOIN articles a ON a.id = e.id "
                f"WHERE e.type = {sql.p('kind', kind)} ORDER BY e.id")
    return sql

