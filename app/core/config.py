"""Settings from the environment (and an optional .env file)."""

from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SQLITE_URL = "sqlite:///./data/hrc_digest.db"


def packaged_dir(package: str, folder: str) -> Path:
    """A data folder that ships inside the package (setup.py maps the top-level `folder`
    to `package`), found from the installed package, never from the working directory."""
    try:
        return Path(str(files(package)))
    except ModuleNotFoundError:  # a checkout run without (re)installing: beside app/
        return Path(__file__).resolve().parents[2] / folder


class Settings(BaseSettings):
    """Runtime configuration; every name but DATABASE_URL carries the HRC_DIGEST_ prefix."""

    model_config = SettingsConfigDict(env_prefix="HRC_DIGEST_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_SQLITE_URL,
        validation_alias=AliasChoices("DATABASE_URL", "HRC_DIGEST_DATABASE_URL"),
    )
    # A read replica: GET requests are served from it, everything else from DATABASE_URL.
    read_database_url: str | None = None
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])
    max_body_bytes: int = 2 * 1024 * 1024
    max_bulk_bytes: int = 64 * 1024 * 1024
    max_offset: int = 10_000
    count_cap: int = 10_000
    # Topics, sessions, the digest page and the loader's rules: the packaged seed_data/.
    seed_dir: Path = Field(default_factory=lambda: packaged_dir("app.seed_data", "seed_data"))
    auto_seed: bool = True
    log_level: str = "info"
    db_pool_size: int = Field(default=20, ge=1)  # reads (GET, HEAD, exports)
    db_write_pool_size: int = Field(default=5, ge=1)  # writes, on the primary
    log_format: Literal["json", "text"] = "json"
    rate_limit: int = Field(default=600, ge=0)
    rate_limit_keyed: int = Field(default=3000, ge=0)
    rate_limit_window: int = Field(default=60, ge=1)
    # Rate-limit counters and kept counts and facets in Redis, shared by every process;
    # unset: each process counts and keeps alone.
    redis_url: str | None = None
    redis_prefix: str = Field(default="hrc-digest", min_length=1)  # key prefix in that Redis
    trust_proxy: bool = False
    statement_timeout_ms: int = Field(default=15_000, ge=0)
    timeout_graceful_shutdown: int = Field(default=20, ge=0)
    cache_max_age: int = Field(default=0, ge=0)
    rank_window: int = Field(default=1000, ge=1, le=100_000)
    aggregate_cache: int = Field(default=1024, ge=0)  # counts and facets kept per process
    page_cache: int = Field(default=2048, ge=0)  # whole answers kept per process; 0: none
    page_cache_bytes: int = Field(default=64 * 1024 * 1024, ge=0)  # their bodies, at most
    # Seconds Redis keeps a count, facets or a list answer (with redis_url; 0: kept per
    # process only).
    aggregate_cache_ttl: int = Field(default=600, ge=0, le=30 * 86400)
    # Where clients reach the API root (scheme, host, any path prefix): the base of the
    # absolute links the app writes. Unset: links are root-relative, never from `Host`.
    public_url: str | None = None

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        """Accept a comma-separated list as well as JSON."""
        if isinstance(value, str) and not value.strip().startswith("["):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("database_url", "read_database_url")
    @classmethod
    def _check_scheme(cls, value: str | None) -> str | None:
        """Only the two supported engines; psycopg 3 is the PostgreSQL driver."""
        if value is None or value == "":
            return None
        if value.startswith(("postgres://", "postgresql://")):
            value = "postgresql+psycopg://" + value.split("://", 1)[1]
        if not value.startswith(("sqlite://", "postgresql+psycopg://")):
            raise ValueError("DATABASE_URL must be sqlite:///… or postgresql+psycopg://…")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        """redis:// or rediss:// (TLS), with an optional /db number; empty means unset."""
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ValueError("HRC_DIGEST_REDIS_URL must be redis://host:port/db or rediss://…")
        _ = parts.port  # a port that is not a number in 0-65535 raises ValueError
        return value.strip()

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        """An absolute http(s) URL without query or fragment; kept without a final `/`."""
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query \
                or parts.fragment or any(c.isspace() for c in value.strip()):
            raise ValueError("HRC_DIGEST_PUBLIC_URL must be an absolute http(s) URL such as "
                             "https://digest.example.org, without query or fragment")
        return value.strip().rstrip("/")


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return Settings()
