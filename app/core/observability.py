"""Request ids, one structured log line per request, and Prometheus metrics."""

import contextvars
import json
import logging
import os
import random
import re
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
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
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.caching import NO_STORE
from app.core.db import get_engine, get_read_engine
from app.core.errors import internal_error
from app.core.routing import ApiRoute

REQUEST_ID_HEADER = "X-Request-ID"
UNMATCHED = "<unmatched>"
_VALID_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
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


# --- request ids and client addresses -------------------------------------------------

_ids = random.Random()  # seeded from os.urandom once per process


def request_id_from(headers: Headers) -> str:
    """The caller's X-Request-ID when it is safe to echo and log, else a new one."""
    incoming = headers.get(REQUEST_ID_HEADER)
    if incoming is not None and _VALID_ID.fullmatch(incoming):
        return incoming
    # 128 random bits as 32 hex digits, like uuid4().hex, without its os.urandom system call
    # on every request (an id needs uniqueness, not secrecy).
    return f"{_ids.getrandbits(128):032x}"


def client_address(scope: Scope, *, trust_proxy: bool = False) -> str:
    """The client's address; the last X-Forwarded-For hop only when a proxy is trusted."""
    if trust_proxy:
        forwarded = Headers(scope=scope).get("x-forwarded-for", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1]
    client = scope.get("client")
    return client[0] if client else "unknown"


def route_label(scope: Scope) -> str:
    """The matched route's template (bounded cardinality), or <unmatched>.

    Every route sits on the app's own list with its full path (`routing.add_routes`)."""
    path = getattr(scope.get("route"), "path_format", None)
    return path if isinstance(path, str) else UNMATCHED


def method_label(scope: Scope) -> str:
    """The request method, with anything unusual folded into OTHER."""
    method = scope.get("method", "")
    return method if method in _METHODS else "OTHER"


# --- the middleware -------------------------------------------------------------------


class RequestObservability:
    """Assign a request id, then log and count every request once it has been answered."""

    def __init__(self, app: ASGIApp, *, trust_proxy: bool = False) -> None:
        self.app, self.trust_proxy = app, trust_proxy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(Headers(scope=scope))
        token = request_id_var.set(request_id)
        started, status, answered = time.perf_counter(), 500, False

        async def send_with_id(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status, answered = message["status"], True
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if answered:
                raise  # mid-body: nothing else can be sent; the server closes the connection
            # Answered here, not by Starlette's outermost error layer: so the 500 carries
            # its X-Request-ID and its log line the request id.
            response = await internal_error(Request(scope), exc)
            await response(scope, receive, send_with_id)
        finally:
            try:
                self._record(scope, status, time.perf_counter() - started, request_id)
            except Exception:  # bookkeeping must never turn an answer into an error
                logging.getLogger("hrc_digest.observability").exception("recording failed")
            request_id_var.reset(token)

    def _record(self, scope: Scope, status: int, seconds: float, request_id: str) -> None:
        """Count the request, observe its latency and write its log line."""
        method, route = method_label(scope), route_label(scope)
        REQUESTS.labels(method, route, str(status)).inc()
        LATENCY.labels(method, route).observe(seconds)
        if not access_log.isEnabledFor(logging.INFO):
            return  # HRC_DIGEST_LOG_LEVEL above info: no line, so nothing to put in one
        access_log.info("request", extra={"http": {
            "method": method, "route": route, "status": status,
            "duration_ms": round(seconds * 1000, 2), "request_id": request_id,
            "client": client_address(scope, trust_proxy=self.trust_proxy)}})


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


metrics_router = APIRouter(tags=["operations"], route_class=ApiRoute)


@metrics_router.get(
    "/metrics", summary="Prometheus metrics", response_class=Response,
    responses={200: {"description": "Prometheus text exposition format.",
                     "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}})
def metrics() -> Response:
    """Requests by route and status, latency, the database pool and process figures."""
    return Response(generate_latest(scrape_registry()), media_type=CONTENT_TYPE_LATEST,
                    headers=NO_STORE)
