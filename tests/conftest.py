"""Test setup: one migrated database per run (SQLite, or PostgreSQL when TEST_DATABASE_URL
is set). The app runs with its own sessions and real commits; every table but the
reference data is emptied after each test.

One app serves every test that takes the `app` or `client` fixture (building its routes
costs about 0.1 s, and some 700 tests use one); each test still gets what a new app has
(empty rate-limit windows, no cached keys) because its middleware is rebuilt. A test
that changed a setting the app reads when built gets an app of its own; a test that adds
routes takes `fresh_app`."""

import os
import uuid
from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import event
from sqlalchemy.orm import Session

from tests.databases import ROOT, configure_environment, drop_created_databases

configure_environment()

from app.core import db as core_db  # noqa: E402
from app.core.config import get_settings  # noqa: E402
from app.core.migrations import upgrade  # noqa: E402
from app.core.observability import configure_logging  # noqa: E402
from app.core.security import create_key  # noqa: E402
from app.entries.registry import KINDS  # noqa: E402
from app.main import create_app  # noqa: E402
from app.reference.seed import load_reference_data  # noqa: E402
from tests.databases import BASE_URL  # noqa: E402
from tests.helpers import (  # noqa: E402
    REDIS_URL,
    Rewritable,
    empty_database,
    sample,
    seed,
    statements_sent,
)


def pytest_sessionfinish(session, exitstatus) -> None:
    """Drop the databases made for CLI and process tests."""
    drop_created_databases()


@pytest.fixture(scope="session")
def engine():
    """The run's database, migrated to head with reference data loaded."""
    upgrade(BASE_URL)
    engine = core_db.get_engine()
    with Session(engine) as session:
        load_reference_data(session, ROOT / "seed_data")
        session.commit()
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def _clean_database(request):
    """Each test starts from migrated tables holding only the reference data."""
    yield
    if "engine" not in request.fixturenames:
        return
    empty_database(request.getfixturevalue("engine"))


@pytest.fixture
def db(engine) -> Iterator[Session]:
    """A session on the test database; what it commits is removed after the test."""
    session = Session(engine, expire_on_commit=False)
    yield session
    session.rollback()
    session.close()


@pytest.fixture(scope="session")
def _shared_app(engine):
    """The app most tests share, and the settings it was built with."""
    return create_app(), get_settings().model_dump()


@pytest.fixture
def app(_shared_app):
    """The application, on the test database, as if new."""
    shared, built_with = _shared_app
    settings = get_settings()
    if settings.model_dump() != built_with:  # changed before the app was asked for
        yield create_app()
        return
    configure_logging(settings.log_format, settings.log_level)  # as create_app does
    # Starlette builds the middleware stack again at the next request: new instances, so
    # rate-limit windows and the API-key cache start empty, as in a new app.
    shared.middleware_stack = None
    routes, middleware = list(shared.routes), list(shared.user_middleware)
    yield shared
    assert shared.routes == routes and shared.user_middleware == middleware, (
        "a test changed the shared app; let it take `fresh_app`")


@pytest.fixture
def fresh_app(engine):
    """An application of the test's own, for a test that adds routes to it."""
    return create_app()


@pytest.fixture
def client(app):
    """An HTTP client for the app."""
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def api_key(db) -> str:
    """A valid API key (inside the test's transaction)."""
    _, secret = create_key(db, "tests")
    db.commit()
    return secret


@pytest.fixture
def auth(api_key) -> dict[str, str]:
    """Headers that authorise a write."""
    return {"Authorization": f"Bearer {api_key}"}


@pytest.fixture(scope="session")
def seed_rows(engine) -> Rewritable:
    """What seeding the shipped page writes, kept to be written again (tests.helpers)."""
    return Rewritable(engine, seed)


@pytest.fixture
def seeded(db, seed_rows) -> None:
    """The shipped digest page loaded (26 entries of the 46th session)."""
    seed_rows.write(db)


@pytest.fixture
def every_kind(seeded, client, auth) -> None:
    """The shipped page, and three entries written from its example for each kind the page
    holds none of (a kind added since): every kind's list has entries."""
    for spec in KINDS:
        if client.get(f"/api/v1/{spec.plural}?limit=1").json()["items"]:
            continue
        for n in range(3):
            created = client.post(f"/api/v1/{spec.plural}", headers=auth, json=sample(
                spec, title=f"{spec.title} example {n}", slug=f"{spec.type}-example-{n}"))
            assert created.status_code == 201, created.text


@pytest.fixture
def key_lookups(engine) -> Iterator[list[str]]:
    """Every statement sent to the database that reads the API keys, while the test runs."""
    with statements_sent(lambda statement: "api_keys" in statement) as seen:
        yield seen


def _statements_with(marker: str) -> Iterator[list[str]]:
    """The statements holding `marker` that the read pool sends, as they are sent."""
    sent: list[str] = []

    def before(_conn, _cursor, statement, _parameters, _context, _many):
        if marker in statement:
            sent.append(statement)

    engine = core_db.get_read_engine()
    event.listen(engine, "before_cursor_execute", before)
    yield sent
    event.remove(engine, "before_cursor_execute", before)


@pytest.fixture
def aggregate_runs():
    """The aggregate statements (counts, facets; with page keeping off, the only ones that
    read the data version) the read pool sends."""
    yield from _statements_with("_version")


@pytest.fixture
def page_runs():
    """The page statements the read pool sends (the only ones with `_sort0`)."""
    yield from _statements_with("_sort0")


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix for this test alone in a reachable Redis (TEST_REDIS_URL, by default
    127.0.0.1:6379); its keys are deleted after. Unreachable: the test is skipped, naming
    why, except under CI (`CI=true`, .ci/run starts Redis), where it fails."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        reason = f"Redis unreachable at {REDIS_URL} ({error}); start redis-server to run this"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)  # CI starts Redis (.ci/run): never skip silently there
        pytest.skip(reason)
    prefix = f"hrc-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()
