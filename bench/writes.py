"""Bulk upsert (product API vs the floor's COPY / executemany) and NDJSON export timing."""

import datetime as dt
import os
import subprocess
import time
from typing import Any

import httpx
import orjson

from bench import procs, store
from bench.corpus import Corpus

BULK_ROWS = 100_000
BULK_BATCH = 10_000
BULK_SEED = 7


def bulk_records() -> list[dict[str, Any]]:
    """100,000 article records (deterministic), with ids for the floor's loader."""
    corpus = Corpus(seed=BULK_SEED, countries=["CN", "US", "GB", "PK", "CU", "FR", "DE", "JP"])
    return list(corpus.records(BULK_ROWS, 0, 0))


def api_payload(record: dict[str, Any]) -> dict[str, Any]:
    """A record as the product's ArticleCreate body (no id, type; ISO dates)."""
    body = {k: v for k, v in record.items() if k not in ("id", "type")}
    if isinstance(body.get("published_on"), dt.date):
        body["published_on"] = body["published_on"].isoformat()
    return body


def fresh_scratch(url: str) -> None:
    """Drop, migrate and add the corpus's sessions to the scratch database."""
    store.drop_database(url)
    store.migrate(url)
    conn = store.connect(url)
    try:
        store.ensure_sessions(conn)
    finally:
        conn.close()


def create_key(url: str) -> str:
    """`hrc-digest keys create bench` on a database; the key is the last stdout line."""
    done = subprocess.run([store.hrc_digest_cli(), "keys", "create", "bench"], cwd=store.ROOT,
                          env=store.product_env(url), capture_output=True, text=True,
                          timeout=60, check=True)
    return done.stdout.strip().splitlines()[-1]


def product_bulk(base: str, key: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """POST NDJSON batches of 10,000 to /api/v1/articles/bulk; rows/s or the reason it failed."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"}
    outcome: dict[str, Any] = {"rows": 0, "statuses": [], "created": 0, "failed": 0}
    started = time.perf_counter()
    with httpx.Client(base_url=base, timeout=600) as client:
        for offset in range(0, len(records), BULK_BATCH):
            chunk = records[offset:offset + BULK_BATCH]
            payload = b"".join(orjson.dumps(api_payload(r), option=orjson.OPT_APPEND_NEWLINE)
                               for r in chunk)
            response = client.post("/api/v1/articles/bulk?on_conflict=update",
                                   content=payload, headers=headers)
            outcome["statuses"].append(response.status_code)
            if response.status_code >= 300:
                title = response.text[:120]
                if "json" in response.headers.get("content-type", ""):
                    title = response.json().get("title", title)
                where = "the first batch" if offset == 0 else f"batch {offset // BULK_BATCH}"
                outcome["note"] = f"HTTP {response.status_code} ({title}) on {where}"
                break
            report = response.json()
            outcome["created"] += int(report.get("created", 0))
            outcome["failed"] += int(report.get("failed", 0))
            outcome["rows"] += len(chunk)
    seconds = time.perf_counter() - started
    outcome |= {"seconds": seconds, "rows_per_s": outcome["rows"] / seconds if outcome["rows"]
                else None}
    return outcome


def floor_bulk(url: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The floor's best load (COPY / executemany) of the same rows, full-text index kept."""
    fresh_scratch(url)
    conn = store.connect(url)
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    try:
        started = time.perf_counter()
        rows = store.load_records(conn, records, batch=BULK_BATCH)
        seconds = time.perf_counter() - started
    finally:
        os.sched_setaffinity(0, affinity)
        conn.close()
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds}


def export(base: str, path: str, pid: int, timeout: float = 900) -> dict[str, Any]:
    """Stream an NDJSON export; time, rows, bytes and the server's peak RSS while it ran."""
    rss_before = procs.vm_kb(pid, "VmRSS")
    reset = procs.reset_peak_rss(pid)
    rows = size = 0
    started = time.perf_counter()
    with httpx.Client(base_url=base, timeout=timeout) as client, \
            client.stream("GET", path) as response:
        status = response.status_code
        for chunk in response.iter_bytes():
            rows += chunk.count(b"\n")
            size += len(chunk)
    seconds = time.perf_counter() - started
    return {"status": status, "rows": rows if status == 200 else 0, "bytes": size,
            "seconds": seconds, "rows_per_s": rows / seconds if status == 200 else None,
            "rss_before_mb": (rss_before or 0) / 1024,
            "peak_rss_mb": (procs.vm_kb(pid, "VmHWM") or 0) / 1024,
            "peak_is_since_start": not reset}
