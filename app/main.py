"""The application: routers, error handlers and middleware."""

import gc

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app.changes.router import router as changes_router
from app.core.config import get_settings
from app.core.db import get_read_engine
from app.core.errors import install_error_handlers
from app.core.http import HttpPolicies, RequestLog
from app.core.observability import configure_logging, metrics_router
from app.core.openapi import install_openapi
from app.core.routing import API_PREFIX, add_routes
from app.docs import router as docs_router
from app.entries.answers import KeptAnswers
from app.entries.registry import KINDS
from app.entries.router import build_router
from app.feeds.router import router as feeds_router
from app.reference.router import router as reference_router
from app.search.router import router as search_router
from app.system import router as system_router

DESCRIPTION = """
A digest of UN Human Rights Council coverage: **articles**, **events** and
**statements**, each tagged with the Council session, topics and countries.

* Reads are public. Writes need `Authorization: Bearer <api key>`
  (create one with `hrc-digest keys create NAME`).
* Errors are RFC 9457 `application/problem+json`.
* Lists page with `limit`/`offset` or the opaque keyset `cursor` from `next_cursor`.
"""

TAGS = [
    *({"name": spec.plural, "description": spec.description} for spec in KINDS),
    {"name": "search", "description": "Across kinds: ranked search, timeline, related."},
    {"name": "topics", "description": "The topic taxonomy, with entry counts."},
    {"name": "countries", "description": "ISO 3166-1 countries, with entry counts."},
    {"name": "sessions", "description": "Human Rights Council sessions, with entry counts."},
    {"name": "changes", "description": "What changed since a point, for mirrors."},
    {"name": "feeds", "description": "Atom feeds and an iCalendar of events, with list filters."},
    {"name": "operations", "description": "Health, readiness and Prometheus metrics."},
    {"name": "index", "description": "Links to the documentation and the collections."},
]


def bulk_paths() -> frozenset[str]:
    """The bulk routes (`POST /api/v1/{kind}/bulk`), the only ones allowed the bulk body cap."""
    return frozenset(f"{API_PREFIX}/{spec.plural}/bulk" for spec in KINDS)


def create_app() -> FastAPI:
    """Build the ASGI application."""
    settings = get_settings()
    app = FastAPI(
        title="hrc-digest",
        version="0.1.0",
        summary="REST API for a digest of UN Human Rights Council coverage.",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        # Metrics are Prometheus's (app/core/observability.py). FastAPI's own
        # OpenTelemetry hooks, switched off here, skip their per-request look-ups of
        # the global providers.
        telemetry={"tracing": False, "metrics": False, "logs": False,
                   "operation_spans": False},
        # No redirect of `/path/` to `/path`: Starlette builds its Location from the Host
        # header, which any client sets (see app/core/responses.py); such a path is a 404.
        redirect_slashes=False,
        # Served by app.docs from local copies of their assets (no CDN): they work offline.
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    configure_logging(settings.log_format, settings.log_level)
    # Outermost last: request id, log and metrics > CORS > the request policies (rate
    # limit, body cap, query checks, HEAD as GET, conditional GET) (app.core.http) > kept
    # answers (app.entries.answers) > routes.
    rate_limited = bool(settings.rate_limit or settings.rate_limit_keyed)
    rate_limits = {"anonymous": settings.rate_limit, "keyed": settings.rate_limit_keyed,
                   "window": settings.rate_limit_window, "redis_url": settings.redis_url,
                   "redis_prefix": settings.redis_prefix} if rate_limited else None
    # Innermost: kept answers are sent before routing, inside every policy above.
    app.add_middleware(KeptAnswers)
    app.add_middleware(HttpPolicies, rate_limits=rate_limits, max_body=settings.max_body_bytes,
                       max_bulk_body=settings.max_bulk_bytes, bulk_paths=bulk_paths(),
                       max_age=settings.cache_max_age, trust_proxy=settings.trust_proxy)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "If-Match", "If-None-Match",
                       "X-Request-ID"],
        # What a page on another origin may read: Content-Disposition carries an export's
        # file name.
        expose_headers=["ETag", "Location", "Link", "X-Request-ID", "RateLimit",
                        "RateLimit-Policy", "Retry-After", "Content-Disposition"],
    )
    app.add_middleware(RequestLog, trust_proxy=settings.trust_proxy)
    # Starlette tries the routes in order until one matches: the probes first (polled
    # every few seconds by a load balancer), then the kinds' routes, what clients ask for
    # most, then the rest (the docs and metrics, which they now precede, answer none of
    # their paths: no answer changes).
    for router in (system_router, *(build_router(spec) for spec in KINDS), docs_router,
                   metrics_router, search_router, changes_router, feeds_router,
                   reference_router):
        add_routes(app, router)
    install_openapi(app, rate_limited=rate_limited)
    return app


def serve_app() -> FastAPI:
    """The application as a server process runs it (`hrc-digest serve`, one per worker).

    Everything made at start-up (routes, schemas, validators, table metadata) lives as
    long as the process, so it is moved out of the garbage collector's sight: full
    collections then no longer walk it, and they had been pausing the process long enough
    to set the p99 latency of every route (figures: docs/benchmarks.md).
    """
    app = create_app()
    get_read_engine()  # made once here, not by the first requests' threads at once
    # The OpenAPI document too (some 0.5 s of CPU): built here, not by the first request
    # that reads it (/openapi.json, or a 400 that lists a route's parameters).
    app.openapi()
    gc.collect()
    gc.freeze()
    return app
