"""Liveness and readiness probes."""

from fastapi import APIRouter
from sqlalchemy import text

from app.core.config import get_settings
from app.core.db import get_engine, get_read_engine
from app.core.errors import ServiceUnavailable, problem_responses
from app.core.migrations import current_revision, head_revision
from app.core.responses import NO_STORE, FastJSONResponse

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> FastJSONResponse:  # no I/O: answered on the event loop
    return FastJSONResponse({"status": "ok"}, headers=NO_STORE)


@router.get("/readyz", summary="Readiness: database reachable and migrated to head",
            responses=problem_responses(503))
def readyz() -> FastJSONResponse:
    engines = {"database": get_engine()}
    if get_settings().read_database_url:
        engines["read replica"] = get_read_engine()
    head = head_revision()
    current = None
    for name, engine in engines.items():
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            current = current_revision(engine)
        except Exception:  # any failure to reach the database means "not ready"
            raise ServiceUnavailable(f"the {name} is not reachable") from None
        if current != head:
            raise ServiceUnavailable(f"the {name} schema is at {current}, not at {head}; "
                                     "run 'hrc-digest migrate'")
    return FastJSONResponse({"status": "ready", "database": engines["database"].dialect.name,
                             "schema": current}, headers=NO_STORE)
