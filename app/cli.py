"""The hrc-digest command line: serve, migrate, seed and manage API keys."""

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
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from app.core.config import get_settings
from app.core.db import new_session

cli = typer.Typer(help="Serve and manage the hrc-digest API.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
keys_cli = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
cli.add_typer(keys_cli, name="keys")
err = Console(stderr=True, highlight=False, soft_wrap=True)


class CliError(Exception):
    """An expected failure: reported as one line on stderr, exit code 1."""


def fail(message: str) -> None:
    """Print a one-line reason and exit 1."""
    err.print(f"error: {message}", markup=False)
    raise typer.Exit(1)


@contextmanager
def database_session() -> Iterator[Session]:
    """A session that commits on success; database failures become one-line errors."""
    session = new_session()
    try:
        yield session
        session.commit()
    except OperationalError as exc:
        session.rollback()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "unreachable"
        fail(f"cannot use the database: {reason}")
    except SQLAlchemyError as exc:
        session.rollback()
        fail(f"database error: {exc.__class__.__name__}")
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _run_step(step: Callable[[], object], what: str) -> None:
    try:
        step()
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "unreachable"
        fail(f"{what}: cannot reach the database: {reason}")


def migrate_and_load_reference() -> dict[str, int]:
    """Upgrade the schema to head and insert missing reference data."""
    from app.core.migrations import upgrade
    from app.reference.seed import load_reference_data

    settings = get_settings()
    _run_step(lambda: upgrade(settings.database_url), "migrate")
    with database_session() as session:
        return load_reference_data(session, settings.seed_dir)


@cli.command()
def migrate() -> None:
    """Bring the database schema to the newest migration and load reference data."""
    added = migrate_and_load_reference()
    typer.echo(f"schema at head; reference data added: {added}")


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    reload: Annotated[bool, typer.Option(help="Reload on code changes (development).")] = False,
) -> None:
    """Migrate, load reference data, seed an empty database, then serve with uvicorn."""
    import uvicorn

    migrate_and_load_reference()
    if get_settings().auto_seed:
        _seed_if_empty()
    uvicorn.run("app.main:create_app", factory=True, host=host, port=port, workers=workers,
                reload=reload, log_level=get_settings().log_level, proxy_headers=True,
                timeout_graceful_shutdown=20)


def _seed_if_empty() -> None:
    """Load the digest pages in seed_data/ when the database holds no entries."""
    from app.loader import seeding

    settings = get_settings()
    with database_session() as session:
        if seeding.database_is_empty(session):
            report = _load_pages(session, seeding.default_pages(settings.seed_dir))
            typer.echo(f"seeded empty database: {report.summary()}", err=True)


def _load_pages(session: Session, paths: list) -> "seeding.SeedReport":  # noqa: F821
    """Plan then save pages; expected failures become one-line errors."""
    from app.loader import DigestError, seeding

    try:
        return seeding.save(session, seeding.plan(paths, get_settings().seed_dir, session))
    except (DigestError, seeding.SeedError) as exc:
        session.rollback()
        fail(str(exc))
        raise  # unreachable: fail() exits


@cli.command()
def seed(
    files: Annotated[list[Path] | None, typer.Argument(
        help="Digest pages to load (default: seed_data/*.txt).", show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the records as a JSON array; write nothing.")] = False,
) -> None:
    """Load digest pages: parse, classify, enrich, then upsert by slug in one transaction."""
    from app.loader import DigestError, seeding

    settings = get_settings()
    paths = list(files) if files else seeding.default_pages(settings.seed_dir)
    if not paths:
        fail(f"no digest pages given and none in {settings.seed_dir}")
    if dry_run:
        session = new_session()
        try:
            results = seeding.plan(paths, settings.seed_dir, session)
        except (DigestError, seeding.SeedError) as exc:
            fail(str(exc))
        finally:
            session.close()
        records = [record for result in results for record in result.records]
        sys.stdout.buffer.write(orjson.dumps(records, option=orjson.OPT_INDENT_2) + b"\n")
        return
    migrate_and_load_reference()
    with database_session() as session:
        report = _load_pages(session, paths)
    typer.echo(report.summary())


@keys_cli.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="Who or what the key is for.")],
    expires_in_days: Annotated[int | None, typer.Option(
        min=1, help="Expire the key after this many days.")] = None,
) -> None:
    """Create an API key and print it once (alone on the last line)."""
    if not name.strip() or len(name) > 200:
        fail("key name must be 1-200 characters")
    from app.core.security import create_key

    expires = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
    with database_session() as session:
        key_id, secret = create_key(session, name.strip(), expires)
    typer.echo(f"created key {key_id} '{name.strip()}'; store it now, it is not shown again:")
    typer.echo(secret)


@keys_cli.command("list")
def keys_list() -> None:
    """List keys: id, name, prefix and dates (never the secret)."""
    from app.core.security import list_keys

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
    try:
        cli()
    except CliError as exc:
        err.print(f"error: {exc}", markup=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
