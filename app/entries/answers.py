"""Whole answers kept until the data changes: a read asked again is sent as kept.

`KeptAnswers`, the innermost HTTP layer (inside `core.http`'s), keeps the answers the
read routes mark as keepable (`keep`): every entry list (each kind's, `/search`,
`/timeline`) and every entry by id or slug (JSON, with `include`, or a citation).

1. A GET whose question (below) this process holds an answer for reads the data
   version now (`aggregates.answer_version`: the entries' change log and the reference
   data's, two index probes, on the lean path of `core.fetch`; on SQLite on the event
   loop, on PostgreSQL in a worker thread, `core.db.bounded_read`). A kept answer at
   exactly that version is sent as it is: its status line, fields and bytes, before any
   routing, query validation or SQL. Any other question goes to the app.
2. A route that marks its answer keepable (`keep`, with the version it read at) has it
   kept once it is sent whole and 200: in this process (`kept.answers`,
   `HRC_DIGEST_PAGE_CACHE` of them, with bodies of `HRC_DIGEST_PAGE_CACHE_BYTES` in all
   at most) and, for list pages when `HRC_DIGEST_REDIS_URL` is set, in Redis by the list
   route itself (`kept.SharedPages`; one worker's page serves every worker on every
   machine).

Why a kept answer is exact: it is kept under a data version read in its own statement's
snapshot (a list page, a detail as JSON) or before its data (a detail with `include`, a
citation), and on PostgreSQL only when no writer was in progress
(`aggregates.version_column`): the answer then holds every write up to that version, and
a write to an entry or to the reference data moves the version in the writing
transaction, so the version is the same again only if nothing was written since. What
else shapes an answer is part of its question: the database (`kept.identity`), the path
and query string as sent, the `Accept` field (a detail's JSON or citation) and the
settings that shape answers (`count_cap`, `public_url`, `max_offset`, `rank_window`). The
rest of the HTTP layer (`core.http`: rate limit, query checks, HEAD, `ETag` and 304,
`Cache-Control`, gzip, CORS, the request id, log line and metrics) applies to a kept
answer on every request, as to any other.

Not kept: any answer but a whole 200 (errors, 304s, streamed exports), a list page with
no rows (its statement carries no version; it costs an index probe or two anyway), one
computed while a write was in progress (PostgreSQL), one larger than
`kept.MAX_SHARED_BYTES` (256 KiB). `HRC_DIGEST_PAGE_CACHE=0` (or `…_BYTES=0`) turns
keeping off (every answer computed, no version read).
"""

from collections.abc import Callable
from contextlib import suppress
from typing import Any

from fastapi import Request, Response
from prometheus_client import Counter
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core import fetch
from app.core.config import get_settings
from app.core.db import bounded_read, get_read_engine
from app.core.responses import FastJSONResponse, page_links
from app.entries.listing import kept, run
from app.entries.listing.aggregates import answer_version
from app.entries.listing.parse import Scope as ListScope

ANSWERS = Counter("hrc_page_answers", "Whole answers (list pages, entries) kept, by where "
                  "they came from: the process's kept answers, Redis's, or the database.",
                  ["source"])
ANSWERED = {source: ANSWERS.labels(source) for source in ("process", "redis", "database")}
_KEEP_AT = "kept_answer_version"  # the request state's field `keep` sets (`Request.state`)

Embed = Callable[[Connection, list[dict[str, Any]]], None]


def keeping() -> bool:
    """Whether answers are kept (`HRC_DIGEST_PAGE_CACHE` and `…_BYTES` above 0)."""
    settings = get_settings()
    return settings.page_cache > 0 and settings.page_cache_bytes > 0


def question(scope: Scope) -> kept.PageQuestion:
    """What an answer is kept under (see the module's docstring)."""
    settings = get_settings()
    accept = next((value for name, value in scope["headers"] if name == b"accept"), b"")
    return kept.PageQuestion(
        f"{scope.get('root_path', '')} {scope['path']}", scope["query_string"], accept,
        (settings.count_cap, settings.public_url, settings.max_offset, settings.rank_window))


def keep(request: Request, version: int | None, source: str = "database") -> None:
    """Mark this request's answer keepable at `version` (None: not keepable), read in its
    data's snapshot or before it; count where it came from."""
    ANSWERED[source].inc()
    if version is not None:
        setattr(request.state, _KEEP_AT, version)


class KeptAnswers:
    """The HTTP layer that sends kept answers and keeps the ones routes mark (see above)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not keeping():
            await self.app(scope, receive, send)
            return
        asked = question(scope)
        engine = get_read_engine()
        key = kept.held(engine, asked)
        if key is not None:
            try:
                now = await bounded_read(engine, fetch.one, engine,
                                         answer_version(engine.dialect.name), {})
            except SQLAlchemyError:  # the route reads the database too, and answers why not
                now = None
            answer = None if now is None else kept.answers.get(key, now["version"])
            if answer is not None:
                ANSWERED["process"].inc()
                scope["route"] = answer.route  # for the request's log line and metrics
                # A copy of the fields: the outer layers add theirs to the list they get.
                await send({"type": "http.response.start", "status": 200,
                            "headers": list(answer.headers)})
                await send({"type": "http.response.body", "body": answer.body})
                return
        sent: dict[str, Any] = {}  # the start's status and fields as the route sent them

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                sent.update(status=message["status"], fields=list(message.get("headers", ())))
            elif message["type"] == "http.response.body" and not sent.get("body"):
                sent["body"] = True  # only a first body message can be the whole body
                if sent["status"] == 200 and not message.get("more_body", False):
                    await _keep(scope, engine, asked, sent["fields"], message.get("body", b""))
            await send(message)

        await self.app(scope, receive, watched)


async def _keep(scope: Scope, engine: Engine, asked: kept.PageQuestion,
                fields: list[tuple[bytes, bytes]], body: bytes) -> None:
    """Keep a whole 200 answer its route marked keepable (not one too large)."""
    version = scope.get("state", {}).get(_KEEP_AT)
    if version is None or len(body) > kept.MAX_SHARED_BYTES:
        return
    database = kept.known_identity(engine)
    if database is None:  # read once per engine (a list page's route reads it first)
        try:
            database = await bounded_read(engine, kept.engine_identity, engine)
        except (SQLAlchemyError, OSError):
            return  # not kept this time; the answer is sent all the same
    kept.answers.put((database, asked), version,
                     kept.Answer(fields, bytes(body), scope.get("route")))


# --- list pages ---------------------------------------------------------------------------


def _sent(page: kept.Page) -> Response:
    return Response(page.body, media_type=FastJSONResponse.media_type, headers={"Link": page.link})


def _computed(request: Request, engine: Engine, scope: ListScope, values: dict[str, Any],
              embed: Embed | None) -> Response:
    """Redis's page at the data version now, or the page computed (and marked keepable at
    the version its statement read, when it may be kept)."""
    keepable = keeping()
    with engine.connect() as connection:
        if keepable:  # once per engine, on this connection (`_keep`); a failure is the
            with suppress(OSError, SQLAlchemyError):  # page statement's to report
                kept.identity(connection)
        shared = kept.shared_store(connection, kept.SharedPages) if keepable else None
        if shared is not None:
            asked = question(request.scope)
            version = connection.execute(answer_version(engine.dialect.name)).scalar()
            page = shared.get(asked, version)
            if page is not None:
                keep(request, version, "redis")
                return _sent(page)
        answer, at = run.versioned_page(connection, scope, values, embed_json=True,
                                        versioned=keepable)
        if embed is not None:
            embed(connection, answer["items"])
    keep(request, at)
    links = page_links(request, answer["next_cursor"], answer["offset"], answer["limit"])
    response = FastJSONResponse(answer, headers=links)
    if shared is not None and at is not None and len(response.body) <= kept.MAX_SHARED_BYTES:
        shared.put(asked, at, kept.Page(bytes(response.body), links["Link"]))
    return response


async def list_answer(request: Request, scope: ListScope, values: dict[str, Any],
                      embed: Embed | None = None) -> Response:
    """A list page as JSON with its `Link` header, from Redis or computed; keepable."""
    return await run_in_threadpool(_computed, request, get_read_engine(), scope, values,
                                   embed)
