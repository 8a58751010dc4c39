"""Rate limits shared through Redis (`HRC_DIGEST_REDIS_URL`), across apps and processes.

Without Redis every process counts alone, so behind a load balancer a client gets each
process's quota: the last test shows it, and is why the setting exists. Tests that need
Redis skip when it is unreachable, except under CI (`CI=true`), where they fail.
Each test uses a key prefix of its own (`redis_prefix`, tests/conftest.py: its keys are
deleted after), so parallel runs never share counters; every request and wait is bounded.
"""

import secrets
from contextlib import AbstractContextManager

import httpx
import pytest
from fastapi.testclient import TestClient

from app.core.config import get_settings
from app.core.ratelimit import TOKEN_LOOKUPS
from app.main import create_app
from tests.databases import new_database_url
from tests.helpers import REDIS_URL, assert_problem, redis_keys
from tests.process.server import cli, server_env, side_by_side

TOPICS = "/api/v1/topics"
LIMIT = 10


def shared_app(monkeypatch, prefix: str, **settings) -> TestClient:
    """An app of its own that counts in Redis under the prefix."""
    for name, value in {"redis_url": REDIS_URL, "redis_prefix": prefix, **settings}.items():
        monkeypatch.setattr(get_settings(), name, value)
    return TestClient(create_app(), raise_server_exceptions=False)


# --- in this process: two apps on one Redis ------------------------------------------


def test_quota_and_headers_are_the_same_with_redis(monkeypatch, engine, auth, redis_prefix):
    with shared_app(monkeypatch, redis_prefix, rate_limit=3, rate_limit_keyed=5,
                    rate_limit_window=60) as limited:
        for remaining in (2, 1, 0):
            response = limited.get(TOPICS)
            assert response.status_code == 200
            assert response.headers["RateLimit-Policy"] == '"anonymous";q=3;w=60'
            assert response.headers["RateLimit"].startswith(f'"anonymous";r={remaining};t=')
        refused = limited.get(TOPICS)
        assert_problem(refused, 429, "3 requests per 60 seconds")
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.headers["RateLimit"].startswith('"anonymous";r=0;t=')
        keyed = limited.get(TOPICS, headers=auth)
        assert keyed.status_code == 200
        assert keyed.headers["RateLimit"].startswith('"api-key";r=4;')
    assert redis_keys(redis_prefix)  # counted in Redis, not in this process


def test_two_apps_on_one_redis_share_a_quota(monkeypatch, engine, redis_prefix):
    with shared_app(monkeypatch, redis_prefix, rate_limit=4) as one, \
            shared_app(monkeypatch, redis_prefix, rate_limit=4) as two:
        codes = [(one if n % 2 else two).get(TOPICS).status_code for n in range(8)]
    assert codes == [200] * 4 + [429] * 4


def test_the_token_lookup_budget_is_shared_too(monkeypatch, engine, key_lookups, redis_prefix):
    with shared_app(monkeypatch, redis_prefix, rate_limit=3, rate_limit_keyed=50) as one, \
            shared_app(monkeypatch, redis_prefix, rate_limit=3, rate_limit_keyed=50) as two:
        for n in range(4 * TOKEN_LOOKUPS):
            token = {"Authorization": f"Bearer hrcd_{secrets.token_urlsafe(32)}"}
            (one if n % 2 else two).get(TOPICS, headers=token)
    # Each app alone would allow TOKEN_LOOKUPS; together they still get only that many.
    assert TOKEN_LOOKUPS // 2 < len(key_lookups) <= TOKEN_LOOKUPS


# --- two server processes --------------------------------------------------------------


@pytest.fixture(scope="module")
def database_url() -> str:
    """A migrated database the servers of this module share."""
    url = new_database_url()
    migrated = cli(server_env(url), "migrate")
    assert migrated.returncode == 0, migrated.stderr
    return url


def two_servers(database_url: str, **settings: str
                ) -> AbstractContextManager[tuple[str, ...]]:
    """Two one-worker servers on the database, started side by side; killed at the end."""
    return side_by_side(server_env(database_url, HRC_DIGEST_AUTO_SEED="false",
                                   HRC_DIGEST_RATE_LIMIT=str(LIMIT),
                                   HRC_DIGEST_RATE_LIMIT_WINDOW="60", **settings))


def spread(bases: tuple[str, str], requests: int) -> list[httpx.Response]:
    """Requests from one client address, alternating between the servers."""
    with httpx.Client(timeout=10) as one, httpx.Client(timeout=10) as two:
        return [(one, two)[n % 2].get(bases[n % 2] + TOPICS) for n in range(requests)]


def test_processes_sharing_redis_hold_a_client_to_one_quota(database_url, redis_prefix):
    with two_servers(database_url, HRC_DIGEST_REDIS_URL=REDIS_URL,
                     HRC_DIGEST_REDIS_PREFIX=redis_prefix) as bases:
        responses = spread(bases, 2 * LIMIT)
    statuses = [r.status_code for r in responses]
    assert statuses.count(429) == LIMIT and statuses.count(200) == LIMIT, statuses
    # One count: the answers' remaining requests run down once, not once per process.
    remaining = sorted(int(r.headers["RateLimit"].split("r=")[1].split(";")[0])
                       for r in responses if r.status_code == 200)
    assert remaining == list(range(LIMIT))


def test_without_redis_each_process_has_its_own_budget(database_url):
    with two_servers(database_url, HRC_DIGEST_REDIS_URL="") as bases:
        responses = spread(bases, 2 * LIMIT)
    # The same 20 requests all pass: each process allowed its own 10.
    assert [r.status_code for r in responses] == [200] * (2 * LIMIT)
    assert all(r.headers["RateLimit"].startswith('"anonymous";r=') for r in responses)
