"""Whole list answers kept until the data changes: a page asked again is sent as kept.

Every list route (each kind's, `/search`, `/timeline`) answers through `list_answer`:

1. The data version now (`aggregates.answer_version`: the entries' change log and the
   reference data's, two index probes, read on the lean path of `core.fetch`) and this
   process's kept answers (`kept.pages`, `HRC_DIGEST_PAGE_CACHE` of them). A kept
   answer at exactly that version is sent as it is: its bytes and its `Link` header. On
   SQLite this runs on the event loop, on PostgreSQL in a worker thread
   (`core.db.bounded_read`): a lookup bounded by an index probe.
2. Otherwise, in a worker thread: Redis's kept answer at that version when
   `HRC_DIGEST_REDIS_URL` is set (`kept.SharedPages`; one worker's answer serves every
   worker on every machine), else the page is computed (`run.versioned_page`), and kept
   in both under the version its page statement read at.

Why a kept answer is exact: it is kept under the data version its own page statement
read, in the same snapshot as its rows, and on PostgreSQL only when no writer was in
progress (`aggregates.version_column`); a write to an entry or to the reference data
moves the version in the writing transaction, so the version is the same again only if
nothing was written since. What else shapes an answer is part of its key: the database
(`kept.identity`), the path and query string as sent, the settings that shape answers
(`count_cap`, `public_url`, `max_offset`, `rank_window`) and, in Redis, this release and
its newest migration. The request's headers do not shape a list answer: content
negotiation, `ETag` and `Vary`, gzip and CORS are the HTTP layer's, applied to the
answer's bytes on every request (`core.http`).

Not kept: an answer with no rows (its statement carries no version; such pages cost an
index probe or two anyway), one computed while a write was in progress (PostgreSQL), one
larger than `kept.MAX_SHARED_BYTES` (256 KiB: a process keeps at most
`HRC_DIGEST_PAGE_CACHE` × that), any error. `HRC_DIGEST_PAGE_CACHE=0` turns keeping off
(every page computed).
"""

from collections.abc import Callable
from typing import Any

from fastapi import Request, Response
from prometheus_client import Counter
from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool

from app.core import fetch
from app.core.config import get_settings
from app.core.db import bounded_read, get_read_engine
from app.core.responses import FastJSONResponse, page_links
from app.entries.listing import kept, run
from app.entries.listing.aggregates import answer_version
from app.entries.listing.parse import Scope

ANSWERS = Counter("hrc_page_answers", "List answers, by where they came from: the "
                  "process's kept answers, Redis's, or the database.", ["source"])
ANSWERED = {source: ANSWERS.labels(source) for source in ("process", "redis", "database")}

Embed = Callable[[Connection, list[dict[str, Any]]], None]


def question(request: Request) -> kept.PageQuestion | None:
    """What a list answer is kept under (see the module's docstring); None when answers
    are not kept."""
    settings = get_settings()
    if settings.page_cache <= 0:
        return None
    scope = request.scope
    return kept.PageQuestion(
        f"{scope.get('root_path', '')} {scope['path']}", scope["query_string"],
        (settings.count_cap, settings.public_url, settings.max_offset, settings.rank_window))


def _remembered(engine: Engine, asked: kept.PageQuestion
                ) -> tuple[int | None, kept.Page | None]:
    """The data version now, and this process's answer kept at it, if any."""
    row = fetch.one(engine, answer_version(engine.dialect.name), {})
    version = row["version"] if row is not None else None
    database = kept.known_identity(engine)
    if version is None or database is None:
        return version, None
    page = kept.pages.get((database, asked), version)
    if page is not None:
        ANSWERED["process"].inc()
    return version, page


def _sent(page: kept.Page) -> Response:
    return Response(page.body, media_type=FastJSONResponse.media_type, headers={"Link": page.link})


def _computed(request: Request, engine: Engine, scope: Scope, values: dict[str, Any],
              embed: Embed | None, asked: kept.PageQuestion | None, version: int | None
              ) -> Response:
    """Redis's answer at `version`, or the page computed (and kept, when it may be)."""
    with engine.connect() as connection:
        shared = kept.shared_store(connection, kept.SharedPages) if asked else None
        if shared is not None and version is not None:
            page = shared.get(asked, version)
            if page is not None:
                kept.pages.put((kept.identity(connection), asked), version, page)
                ANSWERED["redis"].inc()
                return _sent(page)
        answer, at = run.versioned_page(connection, scope, values, embed_json=True,
                                        versioned=asked is not None)
        if embed is not None:
            embed(connection, answer["items"])
        database = kept.identity(connection) if asked is not None and at is not None else None
    ANSWERED["database"].inc()
    links = page_links(request, answer["next_cursor"], answer["offset"], answer["limit"])
    response = FastJSONResponse(answer, headers=links)
    if database is not None and len(response.body) <= kept.MAX_SHARED_BYTES:
        page = kept.Page(bytes(response.body), links["Link"])
        kept.pages.put((database, asked), at, page)
        if shared is not None:
            shared.put(asked, at, page)
    return response


async def list_answer(request: Request, scope: Scope, values: dict[str, Any],
                      embed: Embed | None = None) -> Response:
    """A list page as JSON with its `Link` header: kept, or computed and kept."""
    engine = get_read_engine()
    asked = question(request)
    version = None
    if asked is not None:
        version, page = await bounded_read(engine, _remembered, engine, asked)
        if page is not None:
            return _sent(page)
    return await run_in_threadpool(_computed, request, engine, scope, values, embed, asked,
                                   version)
