"""Structured logs (JSON or text), the per-request record, and Prometheus metrics."""

import contextvars
import json
import logging
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from fastapi import APIRouter
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.responses import Response
from starlette.types import Scope

from app.core.db import get_engine, get_read_engine
from app.core.responses import NO_STORE

UNMATCHED = "<unmatched>"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_LOGGER_NAME = "hrc_digest"

access_log = logging.getLogger("hrc_digest.access")
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None)

REQUESTS = Counter("hrc_http_requests", "HTTP requests answered, by route template and status.",
                   ["method", "route", "status"])
LATENCY = Histogram("hrc_http_request_duration_seconds",
                    "Time from request start to the last byte of the response.",
                    ["method", "route"])


# --- one record per request (app.core.http.RequestLog calls it) -----------------------


def route_label(scope: Scope) -> str:
    """The matched route's template (bounded cardinality), or <unmatched>.

    Every route sits on the app's own list with its full path (`routing.add_routes`)."""
    path = getattr(scope.get("route"), "path_format", None)
    return path if isinstance(path, str) else UNMATCHED


@lru_cache(maxsize=4096)  # bounded: methods × route templates × statuses
def _series(method: str, route: str, status: int) -> tuple[Any, Any]:
    """The counter and histogram children of one (method, route, status), looked up once."""
    return REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route)


def record(scope: Scope, status: int, seconds: float, request_id: str, client: str) -> None:
    """Count the request, observe its latency and write its log line."""
    method = scope.get("method", "")
    method = method if method in _METHODS else "OTHER"  # anything unusual folded
    route = route_label(scope)
    requests, latency = _series(method, route, status)
    requests.inc()
    latency.observe(seconds)
    if not access_log.isEnabledFor(logging.INFO):
        return  # HRC_DIGEST_LOG_LEVEL above info: no line, so nothing to put in one
    access_log.info("request", extra={"http": {
        "method": method, "route": route, "status": status,
        "duration_ms": round(seconds * 1000, 2), "request_id": request_id,
        "client": client}})


# --- logging --------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, request fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record as a single JSON line."""
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "http", {}))
        entry.setdefault("request_id", request_id_var.get())
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Human-readable lines, with the request fields appended as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record as one text line (plus any traceback)."""
        fields = getattr(record, "http", {}) or {"request_id": request_id_var.get()}
        extra = " ".join(f"{key}={value}" for key, value in fields.items() if value is not None)
        record.fields = extra
        return super().format(record)


class StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time of each record."""

    @property
    def stream(self) -> Any:
        """The current sys.stderr (pytest and others swap it)."""
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        """Ignore the stream the base class sets."""


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s %(fields)s"


def configure_logging(log_format: str, level: str) -> None:
    """Send the app's own loggers to stderr in the chosen format (idempotent)."""
    logger = logging.getLogger(_LOGGER_NAME)
    logger.setLevel(level.upper())
    formatter: logging.Formatter = JsonFormatter() if log_format == "json" else TextFormatter(
        TEXT_FORMAT)
    handler = next((h for h in logger.handlers if isinstance(h, StderrHandler)), None)
    if handler is None:
        handler = StderrHandler()
        logger.addHandler(handler)
    handler.setFormatter(formatter)


def uvicorn_log_config(log_format: str, level: str) -> dict[str, Any]:
    """uvicorn's `log_config`: its own loggers write through the app's formatter and
    handler, so with JSON logs every line the server writes is JSON."""
    formatter: dict[str, Any] = ({"()": JsonFormatter} if log_format == "json"
                                 else {"()": TextFormatter, "fmt": TEXT_FORMAT})
    own = {"handlers": ["stderr"], "level": level.upper(), "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"app": formatter},
        "handlers": {"stderr": {"()": StderrHandler, "formatter": "app"}},
        # uvicorn.error reaches the handler through its parent, uvicorn, as in uvicorn's
        # own configuration; access lines are off (the app logs requests itself).
        "loggers": {"uvicorn": own, "uvicorn.error": {"level": level.upper()},
                    "uvicorn.access": own},
    }


# --- metrics --------------------------------------------------------------------------


class PoolCollector(Collector):
    """The database connection pools of this process (`pool="read"`, `pool="write"`), read
    at scrape time."""

    _GAUGES = (("size", "Connections the pool keeps open."),
               ("checkedout", "Connections in use by requests."),
               ("checkedin", "Idle connections in the pool."),
               ("overflow", "Connections opened beyond the pool size (negative: unused room)."))

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One gauge per figure the pool class reports (SQLite and PostgreSQL may differ)."""
        pools = {"read": get_read_engine().pool, "write": get_engine().pool}
        for name, doc in self._GAUGES:
            family = GaugeMetricFamily(f"hrc_db_pool_{name}", doc, labels=["pool"])
            for label, pool in pools.items():
                reader = getattr(pool, name, None)
                if callable(reader):
                    family.add_metric([label], float(reader()))
            if family.samples:
                yield family


REGISTRY.register(PoolCollector())


def multiprocess_dir() -> str | None:
    """The directory of prometheus-client's multiprocess mode, when it is on."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def scrape_registry() -> CollectorRegistry:
    """This process's registry, or in multiprocess mode one merging every worker's files."""
    if multiprocess_dir() is None:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(PoolCollector())
    return registry


metrics_router = APIRouter(tags=["operations"])


@metrics_router.get(
    "/metrics", summary="Prometheus metrics", response_class=Response,
    responses={200: {"description": "Prometheus text exposition format.",
                     "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}})
def metrics() -> Response:
    """Requests by route and status, latency, the database pool and process figures."""
    return Response(generate_latest(scrape_registry()), media_type=CONTENT_TYPE_LATEST,
                    headers=NO_STORE)
