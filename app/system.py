"""Liveness and readiness probes."""

from fastapi import APIRouter
from sqlalchemy import text

from app.core.caching import NO_STORE
from app.core.db import get_engine
from app.core.errors import ServiceUnavailable, problem_responses
from app.core.migrations import current_revision, head_revision
from app.core.responses import FastJSONResponse

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> FastJSONResponse:
    return FastJSONResponse({"status": "ok"}, headers=NO_STORE)


@router.get("/readyz", summary="Readiness: database reachable and migrated to head",
            responses=problem_responses(503))
def readyz() -> FastJSONResponse:
    engine = get_engine()
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current = current_revision(engine)
    except Exception:  # any failure to reach the database means "not ready"
        raise ServiceUnavailable("the database is not reachable") from None
    head = head_revision()
    if current != head:
        raise ServiceUnavailable(f"the database schema is at {current}, not at {head}; "
                                 "run 'hrc-digest migrate'")
    return FastJSONResponse({"status": "ready", "database": engine.dialect.name,
                             "schema": current}, headers=NO_STORE)
