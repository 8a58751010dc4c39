"""The hrc-digest command line: serve, migrate, seed and manage API keys."""

import logging
import re
import shlex
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from app.core.config import get_settings
from app.core.db import describe_database, get_engine, new_session, sqlite_file

cli = typer.Typer(help="Serve and manage the hrc-digest API.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
keys_cli = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
cli.add_typer(keys_cli, name="keys")
err = Console(stderr=True, highlight=False, soft_wrap=True)
MIGRATE = "run 'hrc-digest migrate'"
_MISSING_PG_DATABASE = re.compile(r'database "[^"]*" does not exist')
# Set by `serve` once logging is configured: its errors are then log lines in the log's
# format (JSON by default), like everything else the server process writes.
_server_log: logging.Logger | None = None


class CliError(Exception):
    """An expected failure: reported as one line on stderr, exit code 1."""


def fail(message: str) -> None:
    """Print a one-line reason and exit 1."""
    if _server_log is not None:
        _server_log.error(message)
    else:
        err.print(f"error: {message}", markup=False)
    raise typer.Exit(1)


def database_name() -> str:
    """The database this command uses, as messages name it (no password)."""
    return describe_database(get_settings().database_url)


def unusable(exc: OperationalError) -> str:
    """One line on a database that cannot be used: which one, why, and the fix if known."""
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "unreachable"
    hint = ""
    if _MISSING_PG_DATABASE.search(reason):
        hint = f"; create it, then {MIGRATE}"
    elif "no such table" in reason:
        hint = f"; {MIGRATE}"
    return f"cannot use the database {database_name()}: {reason}{hint}"


def schema_problem() -> str | None:
    """Why the database cannot serve this command as it is (missing, never migrated, at
    another migration), or None. Creates no SQLite file and no folder."""
    from app.core.migrations import current_revision, head_revision, is_known_revision

    path = sqlite_file(get_settings().database_url)
    if path is not None and not path.is_file():
        return f"no database at {path}; {MIGRATE} to create it (or set DATABASE_URL)"
    try:
        current = current_revision(get_engine())
    except OperationalError as exc:
        fail(unusable(exc))
    head = head_revision()
    if current is None:
        return f"the database {database_name()} is not migrated; {MIGRATE}"
    if current != head and not is_known_revision(current):
        return (f"the database {database_name()} is at migration {current}, newer than "
                f"this hrc-digest knows ({head}); upgrade hrc-digest")
    if current != head:
        return (f"the database {database_name()} is at migration {current}, this "
                f"hrc-digest needs {head}; {MIGRATE}")
    return None


def require_database() -> None:
    """Exit 1 with one line unless the database exists and is at the newest migration."""
    problem = schema_problem()
    if problem is not None:
        fail(problem)


@contextmanager
def database_session() -> Iterator[Session]:
    """A session that commits on success; database failures become one-line errors."""
    session = new_session()
    try:
        yield session
        session.commit()
    except OperationalError as exc:
        session.rollback()
        fail(unusable(exc))
    except SQLAlchemyError as exc:
        session.rollback()
        fail(f"database error on {database_name()}: {exc.__class__.__name__}")
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _run_step(step: Callable[[], object], what: str) -> None:
    from app.core.migrations import MigrationsNotFound

    try:
        step()
    except MigrationsNotFound as exc:
        fail(f"{what}: {exc}")
    except OperationalError as exc:
        fail(f"{what}: {unusable(exc)}")


def migrate_and_load_reference() -> dict[str, int]:
    """Upgrade the schema to head and insert missing reference data."""
    from app.core.migrations import upgrade
    from app.reference.seed import load_reference_data

    settings = get_settings()
    _run_step(lambda: upgrade(settings.database_url), "migrate")
    with database_session() as session:
        try:
            return load_reference_data(session, settings.seed_dir)
        except OSError as exc:
            fail(_unreadable(exc))
            raise  # unreachable: fail() exits


def _unreadable(exc: OSError) -> str:
    """One line on reference data that cannot be read (a wrong HRC_DIGEST_SEED_DIR)."""
    return (f"cannot read reference data {exc.filename}: {exc.strerror or exc}; "
            "check HRC_DIGEST_SEED_DIR")


@cli.callback()
def options(verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Say on stderr which database and reference data the "
                                "command uses.")] = False) -> None:
    """Serve and manage the hrc-digest API."""
    if verbose:
        err.print(f"database: {database_name()}", markup=False)
        err.print(f"reference data: {get_settings().seed_dir}", markup=False)


@cli.command()
def migrate() -> None:
    """Bring the database schema to the newest migration and load reference data."""
    added = migrate_and_load_reference()
    typer.echo(f"schema at head; reference data added: {added}")


@cli.command()
def recount() -> None:
    """Count the tallies behind exact totals and facets afresh from the entries (after
    writes that bypassed the app: SQL by hand, a partial restore)."""
    from app.entries import tallies

    require_database()
    with database_session() as session:
        before = tallies.stored(session)
        tallies.rebuild(session)
        after = tallies.stored(session)
    changed = sum(before.get(key) != after.get(key) for key in before.keys() | after.keys())
    typer.echo(f"tallies recounted: {len(after)} values, {changed} corrected")


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    reload: Annotated[bool, typer.Option(help="Reload on code changes (development).")] = False,
    timeout_keep_alive: Annotated[int, typer.Option(
        min=1, help="Close an idle keep-alive connection after this many seconds.")] = 5,
    limit_concurrency: Annotated[int | None, typer.Option(
        min=1, help="Per worker: past this many connections and tasks, answer 503 at once.",
        show_default="no limit")] = None,
    backlog: Annotated[int, typer.Option(
        min=1, help="Connections the kernel queues before they are accepted.")] = 2048,
    timeout_graceful_shutdown: Annotated[int | None, typer.Option(
        min=0, help="On SIGTERM, seconds running requests get to finish "
                    "(default: HRC_DIGEST_TIMEOUT_GRACEFUL_SHUTDOWN, else 20).",
        show_default=False)] = None,
) -> None:
    """Migrate, load reference data, seed an empty database, then serve with uvicorn."""
    import uvicorn

    from app.core.db import use_statement_timeout
    from app.core.observability import configure_logging, uvicorn_log_config

    global _server_log
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    _server_log = logging.getLogger("hrc_digest.cli")
    migrate_and_load_reference()
    if settings.auto_seed:
        _seed_if_empty()
    use_statement_timeout(True)  # requests are cut at HRC_DIGEST_STATEMENT_TIMEOUT_MS
    # With one worker uvicorn re-raises SIGTERM once its graceful shutdown is over, which
    # would end the process as killed by the signal (status 143); a finished graceful
    # shutdown is a clean exit, 0, as it is with several workers.
    signal.signal(signal.SIGTERM, lambda *_: None)
    grace = (settings.timeout_graceful_shutdown if timeout_graceful_shutdown is None
             else timeout_graceful_shutdown)
    uvicorn.run("app.main:serve_app", factory=True, host=host, port=port, workers=workers,
                reload=reload, log_level=settings.log_level, proxy_headers=True,
                timeout_keep_alive=timeout_keep_alive, limit_concurrency=limit_concurrency,
                backlog=backlog, timeout_graceful_shutdown=grace,
                # uvicorn's own lines in the app's log format; no access lines: the app logs
                # each request itself, without query strings
                log_config=uvicorn_log_config(settings.log_format, settings.log_level),
                access_log=False)


def _seed_if_empty() -> None:
    """Load the digest pages in seed_data/ when the database holds no entries."""
    from app.loader import seeding

    settings = get_settings()
    statistics = _entry_statistics()
    with database_session() as session:
        if seeding.database_is_empty(session):
            report = _load_pages(session, seeding.default_pages(settings.seed_dir),
                                 statistics)
            logging.getLogger("hrc_digest.cli").info("seeded empty database: %s",
                                                     report.summary())
    statistics.after_commit(get_engine())


def _entry_statistics(kinds: list | None = None) -> "StatisticsRefresh":  # noqa: F821
    """The planner statistics refresh of the tables a write of entries touches (of every
    kind unless told): after a large load, the next query is planned on its rows."""
    from app.entries.bulk.statistics import StatisticsRefresh, entry_tables
    from app.entries.registry import KINDS

    return StatisticsRefresh(entry_tables(kinds or KINDS))


def _load_pages(session: Session, paths: list,
                statistics: "StatisticsRefresh") -> "seeding.SeedReport":  # noqa: F821
    """Plan then save pages, counting what they wrote for the statistics refresh;
    expected failures become one-line errors."""
    from app.loader import DigestError, seeding

    try:
        report = seeding.save(session, seeding.plan(paths, get_settings().seed_dir, session))
    except (DigestError, seeding.SeedError) as exc:
        session.rollback()
        fail(str(exc))
        raise  # unreachable: fail() exits
    statistics.before_commit(session, report.outcomes["created"] + report.outcomes["updated"])
    return report


@cli.command()
def seed(
    files: Annotated[list[Path] | None, typer.Argument(
        help="Digest pages to load (default: seed_data/*.txt).", show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the records as a JSON array; write nothing.")] = False,
    explain: Annotated[bool, typer.Option(
        "--explain", help="With --dry-run: print each value's evidence (rule, line, text) "
        "instead of JSON.")] = False,
    report: Annotated[bool, typer.Option(
        "--report", help="With --dry-run: list the least certain kind decisions.")] = False,
) -> None:
    """Load digest pages: parse, classify, enrich, then upsert by slug in one transaction."""
    from app.loader import DigestError, seeding
    from app.loader.explain import explain as explain_records
    from app.loader.explain import least_certain

    settings = get_settings()
    paths = list(files) if files else seeding.default_pages(settings.seed_dir)
    if not paths:
        fail(f"no digest pages given and none in {settings.seed_dir}")
    if (explain or report) and not dry_run:
        fail("--explain and --report need --dry-run")
    if dry_run:
        # The taxonomy curators keep in the database when there is one at head; else the
        # packaged one (what `migrate` would load). Either way nothing is written.
        session = new_session() if schema_problem() is None else None
        try:
            results = seeding.plan(paths, settings.seed_dir, session)
        except (DigestError, seeding.SeedError) as exc:
            fail(str(exc))
        except OSError as exc:
            fail(_unreadable(exc))
        finally:
            if session is not None:
                session.close()
        records = [record for result in results for record in result.records]
        if explain or report:
            text = explain_records(records) if explain else ""
            typer.echo(text + ("\n" if explain and report else "") +
                       (least_certain(records) if report else ""), nl=False)
            return
        sys.stdout.buffer.write(orjson.dumps(records, option=orjson.OPT_INDENT_2) + b"\n")
        return
    migrate_and_load_reference()
    statistics = _entry_statistics()
    with database_session() as session:
        report = _load_pages(session, paths, statistics)
    statistics.after_commit(get_engine())
    typer.echo(report.summary())


def _kind(name: str):
    from app.entries.registry import BY_PLURAL, BY_TYPE

    spec = BY_PLURAL.get(name) or BY_TYPE.get(name)
    if spec is None:
        fail(f"unknown kind '{name}'; use {', '.join(BY_PLURAL)}")
    return spec


def _resume_hint(done: int, checkpoint: Path) -> None:
    """Say on stderr what an interrupted import kept and the exact command that resumes it."""
    command = shlex.join(["hrc-digest", *sys.argv[1:]])
    err.print(f"interrupted: the first {done:,} records are committed (resume point: "
              f"{checkpoint}); to resume, run the same command again:\n{command}",
              markup=False)


@cli.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="NDJSON, CSV or JSON file of records.")],
    kind: Annotated[str, typer.Option("--kind", help="articles, events or statements.")],
    file_format: Annotated[str | None, typer.Option(
        "--format", help="ndjson, csv or json (default: from the file name).")] = None,
    on_conflict: Annotated[str, typer.Option(
        help="When a slug exists: update, skip or error.")] = "update",
    state_dir: Annotated[Path, typer.Option(
        "--state-dir", envvar="HRC_DIGEST_STATE_DIR",
        help="Folder of the working files, named after the input's file name NAME: the "
             "resume point NAME.progress.json, the rejected rows as read "
             "NAME.rejected.ndjson (.csv for CSV), ready to fix and import again, and why "
             "each was rejected NAME.errors.ndjson.")] = Path(".hrc-digest"),
) -> None:
    """Load records straight into the database, in batches; resumes after an interruption."""
    from app.entries.bulk.files import FileFormatError, guess_format
    from app.entries.bulk.import_state import ImportState

    spec = _kind(kind)
    if on_conflict not in ("update", "skip", "error"):
        fail("--on-conflict must be update, skip or error")
    if not file.is_file():
        fail(f"{file}: no such file" if not file.exists() else f"{file}: not a regular file")
    try:
        chosen = file_format or guess_format(file)
    except FileFormatError as exc:
        fail(str(exc))
    if chosen not in ("ndjson", "csv", "json"):
        fail("--format must be ndjson, csv or json")
    state = ImportState(state_dir, file, spec.type, chosen)  # type: ignore[arg-type]
    try:
        skip = state.start()
    except OSError as exc:
        fail(f"{exc.filename or state_dir}: cannot write: {exc.strerror or exc}")
    totals = {"created": 0, "updated": 0, "unchanged": 0, "failed": 0}
    progress = {"done": skip}
    try:
        migrate_and_load_reference()
        _import_rows(spec, state, skip, on_conflict, totals, progress)
        state.finish()
    except KeyboardInterrupt:
        _resume_hint(progress["done"], state.checkpoint)
        raise typer.Exit(130) from None
    finally:
        state.tidy()
    resumed = f" (resumed after {skip:,})" if skip else ""
    typer.echo(f"{spec.plural}: {totals['created']} created, {totals['updated']} updated, "
               f"{totals['unchanged']} unchanged, {totals['failed']} failed{resumed}")
    if state.rejected_rows:
        again = shlex.join(["hrc-digest", "import", str(state.rejected), "--kind", spec.plural,
                            *(["--on-conflict", on_conflict] if on_conflict != "update" else [])])
        fail(f"{state.rejected_rows} rows were rejected: they are in {state.rejected} "
             f"(why: {state.errors}); fix them there and run: {again}")


def _import_rows(spec, state, skip: int, on_conflict: str, totals: dict[str, int],
                 progress: dict[str, int]) -> None:
    """Read, write and record the file batch by batch, with a progress bar; each committed
    batch moves the resume point (`progress["done"]`). Expected failures exit 1."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from app.entries.bulk.files import FileFormatError, read_records
    from app.entries.bulk.writer import BATCH_SIZE

    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,} "
               "rows"), TextColumn("{task.fields[rate]:,.0f} rows/s"), TimeElapsedColumn())
    started = datetime.now(UTC)
    statistics = _entry_statistics([spec])
    try:
        with Progress(*columns, console=err) as bar:
            task = bar.add_task(f"importing {spec.plural}", total=None, rate=0.0)
            batch: list = []
            rows = (row for row in read_records(state.source, state.file_format, spec)
                    if row.index >= skip)
            for row in rows:
                batch.append(row)
                if len(batch) >= BATCH_SIZE:
                    progress["done"] = _import_batch(spec, batch, on_conflict, totals, state,
                                                     statistics)
                    elapsed = (datetime.now(UTC) - started).total_seconds() or 1e-9
                    bar.update(task, completed=progress["done"],
                               rate=(progress["done"] - skip) / elapsed)
                    batch = []
            if batch:
                progress["done"] = _import_batch(spec, batch, on_conflict, totals, state,
                                                 statistics)
                bar.update(task, completed=progress["done"])
    except (FileFormatError, UnicodeDecodeError) as exc:
        fail(f"{state.source}: {exc}" if isinstance(exc, UnicodeDecodeError) else str(exc))
    except OSError as exc:  # a state file cannot be written
        fail(f"{exc.filename or state.folder}: cannot write: {exc.strerror or exc}")
    statistics.after_commit(get_engine())


def _import_batch(spec, batch, on_conflict, totals, state, statistics) -> int:
    """Write one batch in its own transaction, then record its rejected rows and the resume
    point; return how many records are now done."""
    from app.entries.bulk.writer import BulkWriter

    with database_session() as session:
        writer = BulkWriter(session, spec, on_conflict=on_conflict, atomic=False)
        writer.add_batch([(row.index, row.record, row.line) for row in batch])
        statistics.before_commit(session, writer.report.created + writer.report.updated)
    report = writer.report
    for key in ("created", "updated", "unchanged", "failed"):
        totals[key] += getattr(report, key)
    by_index = {row.index: row for row in batch}
    state.reject([(by_index[error["index"]], error)
                  for error in sorted(report.errors, key=lambda e: e["index"])])
    done = batch[-1].index + 1
    state.save(done)
    return done


def _precisions(values: list[str] | None) -> list[str] | None:
    """--date-precision values, checked (a usage error names a bad one)."""
    from app.entries.fields import PRECISIONS

    for value in values or []:
        if value not in PRECISIONS:
            fail(f"--date-precision takes {', '.join(PRECISIONS)}, not '{value}'")
    return values


@cli.command("export")
def export_file(
    kind: Annotated[str, typer.Option("--kind", help="articles, events or statements.")],
    file_format: Annotated[str, typer.Option(
        "--format", help="ndjson, csv, or a citation format: csl-json, ris, bibtex.")] = "ndjson",
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="File to write (default: standard output).")] = None,
    q: Annotated[str | None, typer.Option(help="Full-text query.")] = None,
    topic: Annotated[list[str] | None, typer.Option(help="Topic slug (repeatable).")] = None,
    country: Annotated[list[str] | None, typer.Option(help="Country code (repeatable).")] = None,
    session_number: Annotated[list[int] | None, typer.Option(
        "--session", help="Session number (repeatable).")] = None,
    date_from: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    date_to: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    date_precision: Annotated[list[str] | None, typer.Option(
        help="day, month, session or unknown (repeatable).")] = None,
    entry_id: Annotated[list[str] | None, typer.Option(
        "--id", help="Entry id or comma list; a leading - excludes (repeatable).")] = None,
    slug: Annotated[list[str] | None, typer.Option(
        help="Entry slug or comma list; a leading - excludes (repeatable).")] = None,
    where: Annotated[list[str] | None, typer.Option(
        help="A kind filter as NAME=VALUE, e.g. speaker='Chen Xu' (repeatable).")] = None,
) -> None:
    """Write every matching record as NDJSON, CSV or citations, streamed."""
    from datetime import date

    from app.core.errors import ProblemError
    from app.entries import citations
    from app.entries.bulk import transfer
    from app.entries.listing.parse import cited_scope, kind_scope
    from app.entries.listing.run import stream

    spec = _kind(kind)
    formats = ("ndjson", "csv", *citations.FORMATS)
    if file_format not in formats:
        fail(f"--format must be one of {', '.join(formats)}")
    params: dict = {"q": q, "topic": topic, "country": country, "session": session_number,
                    "id": entry_id, "slug": slug}
    try:
        params["date_from"] = date.fromisoformat(date_from) if date_from else None
        params["date_to"] = date.fromisoformat(date_to) if date_to else None
    except ValueError:
        fail("--date-from and --date-to take YYYY-MM-DD")
    params["date_precision"] = _precisions(date_precision)
    known = {f.param: f for f in spec.filters}
    for condition in where or []:
        name, _, value = condition.partition("=")
        if name not in known or not value:
            fail(f"--where takes NAME=VALUE with NAME one of {', '.join(known)}")
        params.setdefault(name, []).append(int(value) if known[name].match == "int" else value)
    require_database()
    try:
        target = output.open("wb") if output else sys.stdout.buffer
    except OSError as exc:
        fail(f"{output}: cannot write: {exc.strerror or exc}")
    try:
        with database_session() as session:
            cited = citations.FORMATS.get(file_format)
            scope = cited_scope(kind_scope(spec)) if cited else kind_scope(spec)
            rows = stream(session.connection(), scope, params)
            if cited:
                lines = citations.export_chunks(cited, rows, {spec.type: spec})
            elif file_format == "csv":
                lines = transfer.csv_lines(list(spec.public_model.model_fields), rows)
            else:
                lines = transfer.ndjson_lines(rows)
            for chunk in lines:
                target.write(chunk)
    except ProblemError as exc:
        fail(exc.detail)
    finally:
        if output:
            target.close()


@keys_cli.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="Who or what the key is for.")],
    expires_in_days: Annotated[int | None, typer.Option(
        min=1, help="Expire the key after this many days.")] = None,
) -> None:
    """Create an API key and print it once (alone on the last line)."""
    if not name.strip() or len(name) > 200:
        fail("key name must be 1-200 characters")
    from app.core.security import active_key_named, create_key

    name = name.strip()
    require_database()
    expires = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
    with database_session() as session:
        existing = active_key_named(session, name)
        if existing is None:
            try:
                key_id, secret = create_key(session, name, expires)
            except IntegrityError:  # another process made one since the check: its id
                session.rollback()
                existing = active_key_named(session, name) or "unknown"
        if existing is not None:
            fail(f"a key named '{name}' exists (id {existing}); revoke it or choose "
                 "another name")
    typer.echo(f"created key {key_id} '{name}'; store it now, it is not shown again:")
    typer.echo(secret)


@keys_cli.command("list")
def keys_list() -> None:
    """List keys: id, name, prefix and dates (never the secret)."""
    from app.core.security import list_keys

    require_database()
    with database_session() as session:
        rows = list_keys(session)
    table = Table("id", "name", "prefix", "created", "expires", "revoked")
    for row in rows:
        table.add_row(str(row["id"]), row["name"], row["prefix"] + "…",
                      *(_when(row[k]) for k in ("created_at", "expires_at", "revoked_at")))
    Console(width=200).print(table)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


@keys_cli.command("revoke")
def keys_revoke(key_id: Annotated[int, typer.Argument(help="Id from 'keys list'.")]) -> None:
    """Revoke a key; it stops working at once in every process."""
    from app.core.security import revoke_key

    require_database()
    with database_session() as session:
        revoked = revoke_key(session, key_id)
    if not revoked:
        fail(f"no active key with id {key_id}")
    typer.echo(f"revoked key {key_id}")


def _check_settings() -> None:
    """Refuse to start on invalid settings, naming the first bad one."""
    from pydantic import ValidationError

    try:
        get_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        name = name if name == "DATABASE_URL" else f"HRC_DIGEST_{name}"
        message = first["msg"].removeprefix("Value error, ")
        err.print(f"error: invalid setting {name}: {message}", markup=False)
        sys.exit(1)


def main() -> None:
    """Console-script entry point: expected failures exit 1 with one line, usage errors 2."""
    _check_settings()
    from app.core.db import use_statement_timeout

    use_statement_timeout(False)  # the CLI's own jobs may run for minutes; `serve` turns it on
    try:
        cli()
    except CliError as exc:
        err.print(f"error: {exc}", markup=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
