"""API keys: created and revoked by the CLI, stored only as hashes, required for writes."""

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import DateTime, Index, insert, select, text, update
from sqlalchemy.orm import Session
from sqlmodel import Field, SQLModel

from app.core.clock import as_utc, utcnow
from app.core.db import get_engine
from app.core.errors import Unauthorized

KEY_PREFIX = "hrcd_"


class ApiKey(SQLModel, table=True):
    """A client allowed to write. The secret itself is never stored."""

    __tablename__ = "api_keys"
    # One active key per name, so a name says which key it is; revoked keys keep theirs.
    __table_args__ = (Index("ix_api_keys_active_name", "name", unique=True,
                            sqlite_where=text("revoked_at IS NULL"),
                            postgresql_where=text("revoked_at IS NULL")),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, nullable=False)
    prefix: str = Field(max_length=16, nullable=False)
    key_hash: str = Field(max_length=64, nullable=False, unique=True)
    created_at: datetime = Field(sa_type=DateTime(timezone=True), nullable=False)
    expires_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


api_keys = ApiKey.__table__


def hash_key(secret: str) -> str:
    """SHA-256 of a key: keys are 256-bit random, so a fast hash is enough."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def create_key(session: Session, name: str, expires_at: datetime | None = None
               ) -> tuple[int, str]:
    """Create a key; return its id and the secret (shown once, never again)."""
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = session.execute(insert(api_keys).values(
        name=name, prefix=secret[:12], key_hash=hash_key(secret), created_at=utcnow(),
        expires_at=expires_at).returning(api_keys.c.id)).scalar_one()
    return key_id, secret


def active_key_named(session: Session, name: str) -> int | None:
    """The id of the key (not revoked) of this name, if there is one."""
    return session.scalar(select(api_keys.c.id).where(
        api_keys.c.name == name, api_keys.c.revoked_at.is_(None)))


def list_keys(session: Session) -> list[dict[str, Any]]:
    """Every key's id, name, prefix and dates; never a secret or hash."""
    stmt = select(api_keys.c.id, api_keys.c.name, api_keys.c.prefix, api_keys.c.created_at,
                  api_keys.c.expires_at, api_keys.c.revoked_at).order_by(api_keys.c.id)
    return [dict(row) for row in session.execute(stmt).mappings()]


def revoke_key(session: Session, key_id: int) -> bool:
    """Revoke a key at once; False when no active key has this id."""
    result = session.execute(update(api_keys).where(
        api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)).values(revoked_at=utcnow()))
    return result.rowcount > 0


def authenticate(session: Session, secret: str) -> dict[str, Any] | None:
    """The active key matching this secret, or None."""
    digest = hash_key(secret)
    row = session.execute(select(api_keys).where(api_keys.c.key_hash == digest)).mappings().first()
    # The lookup is by hash; compare again in constant time all the same.
    if row is None or not hmac.compare_digest(row["key_hash"], digest):
        return None
    if row["revoked_at"] is not None:
        return None
    if row["expires_at"] is not None and as_utc(row["expires_at"]) <= utcnow():
        return None
    return dict(row)


def look_up(secret: str) -> dict[str, Any] | None:
    """The active key matching this secret, or None: read on the primary (where the write
    that follows runs), in a transaction of its own.

    Not in the request's write session: on SQLite that takes the database's write lock as
    it begins (app.core.db), and a bulk upload would hold the lock from its headers on,
    while its body streams in, instead of from its first write."""
    with Session(get_engine()) as session:
        return authenticate(session, secret)


_bearer = HTTPBearer(auto_error=False, description="An API key from `hrc-digest keys create`.")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="hrc-digest"'}


def require_writer(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> dict[str, Any]:
    """The calling key, or 401 with a Bearer challenge."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("writes need 'Authorization: Bearer <api key>'", headers=_CHALLENGE)
    key = look_up(credentials.credentials)
    if key is None:
        raise Unauthorized(
            "the API key is not valid (unknown, revoked or expired)",
            headers={"WWW-Authenticate": 'Bearer realm="hrc-digest", error="invalid_token"'})
    return key


WriterDep = Annotated[dict[str, Any], Depends(require_writer)]
