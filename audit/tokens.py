"""API bearer tokens: roles, creation (the token is shown once), lookup by hash, revocation.

A token may carry an expiry (``expires_at``; none by default: a token lives until revoked, and
``riskwatch tokens create --expires-in 90d`` or ``expires_at`` in POST /tokens sets one); an
expired token authenticates as nothing (401). Names are unique (a unique index since migration
0005): a second token of the same name is refused with TokenNameTaken.

Creating and revoking a token are chained (kind ``token``, subject ``<id>/create`` or
``<id>/revoke``) in the transaction that writes them, so a database writer who adds a token,
raises a token's role, lifts an expiry or undoes a revocation breaks ``audit verify``."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from audit import chain, chained_records
from audit.models import ApiToken, RowData, as_utc, table_of

TOKENS = table_of(ApiToken)
PREFIX = "rw_"
CHAIN_KIND = "token"
CREATE_FIELDS = ("id", "name", "role", "token_hash", "created_at", "expires_at")
REVOKE_FIELDS = ("id", "revoked_at")


class Role(StrEnum):
    """Each role includes the ones before it: auditor reads, operator also acts on findings,
    admin also manages tokens (and later webhooks)."""

    AUDITOR = "auditor"
    OPERATOR = "operator"
    ADMIN = "admin"

    def includes(self, other: Role) -> bool:
        order = list(Role)
        return order.index(self) >= order.index(other)


class TokenError(ValueError):
    """A token that cannot be created: the message says why."""


class TokenNameTaken(TokenError):
    """Another token (live, expired or revoked) already has this name."""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role.value,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
            "expires_at": self.expires_at,
        }


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def chain_link(row: RowData, action: str) -> chain.Link:
    """The chain link of a token's creation or revocation."""
    fields = CREATE_FIELDS if action == "create" else REVOKE_FIELDS
    return chain.Link(CHAIN_KIND, f"{row['id']}/{action}", chain.content_hash(row, fields))


CHAINED = chained_records.ChainedRecord(
    what="API token",
    kind=CHAIN_KIND,
    table=TOKENS,
    close="revoke",
    closed_at="revoked_at",
    undone="revoked, now it is live again",
    link=chain_link,
)


def _info(row: Any) -> TokenInfo:
    return TokenInfo(
        row.id, row.name, Role(row.role), row.created_at, row.revoked_at, row.expires_at
    )


def create_token(
    engine: Engine,
    *,
    role: Role | str,
    name: str | None = None,
    expires_at: datetime | None = None,
    expires_in: timedelta | None = None,
) -> tuple[TokenInfo, str]:
    """Create a token; returns its record and the token itself, which is not stored anywhere.
    ``expires_at`` (or ``expires_in`` from now) must lie in the future; none: no expiry.
    Raises TokenNameTaken when ``name`` is in use."""
    role = Role(role)
    token = PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    if expires_in is not None:
        if expires_at is not None:
            raise TokenError("give expires_at or expires_in, not both")
        expires_at = now + expires_in
    if expires_at is not None:
        expires_at = as_utc(expires_at)
        if expires_at <= now:
            raise TokenError(f"expires_at {expires_at.isoformat()} is not in the future")
    chosen = name or f"{role.value}-{secrets.token_hex(3)}"
    try:
        with engine.begin() as conn:
            head = chain.lock_head(conn)
            new_id = conn.execute(
                insert(TOKENS)
                .values(
                    name=chosen,
                    role=role.value,
                    token_hash=hash_token(token),
                    created_at=now,
                    revoked_at=None,
                    expires_at=expires_at,
                )
                .returning(TOKENS.c.id)
            ).scalar_one()
            row = conn.execute(select(TOKENS).where(TOKENS.c.id == new_id)).one()
            chain.append(conn, [chain_link(row._mapping, "create")], now, head=head)
    except IntegrityError:
        if name is None:  # a generated name that happened to be taken: draw another
            return create_token(engine, role=role, expires_at=expires_at)
        raise TokenNameTaken(
            f"a token named {name!r} already exists; names are unique (revoked ones included)"
        ) from None
    return _info(row), token


def list_tokens(engine: Engine) -> list[TokenInfo]:
    with engine.connect() as conn:
        return [_info(r) for r in conn.execute(select(TOKENS).order_by(TOKENS.c.id))]


def revoke_token(engine: Engine, *, token_id: int) -> TokenInfo | None:
    """Revoke a token (idempotent: the first revocation time is kept); None if unknown."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        head = chain.lock_head(conn)
        revoked = conn.execute(
            update(TOKENS)
            .where(TOKENS.c.id == token_id, TOKENS.c.revoked_at.is_(None))
            .values(revoked_at=now)
        ).rowcount
        row = conn.execute(select(TOKENS).where(TOKENS.c.id == token_id)).first()
        if revoked and row is not None:
            chain.append(conn, [chain_link(row._mapping, "revoke")], now, head=head)
    return _info(row) if row else None


# --- verification (called by audit/verify.py) -----------------------------------------------------


def chained_token_problems(conn: Any, entries: list[Any]) -> dict[str, str]:
    """For chain entries of kind ``token``: subject → what no longer matches the stored token
    (role, hash, name or expiry edited; a revocation undone; a deleted token)."""
    return chained_records.problems(CHAINED, conn, entries)


def unchained_token(conn: Any) -> int | None:
    """A token with no ``create`` link (inserted outside riskwatch), or None."""
    return chained_records.unchained(CHAINED, conn)


def authenticate(engine: Engine, token: str) -> TokenInfo | None:
    """The live (neither revoked nor expired) token with this value, or None."""
    if not token.startswith(PREFIX) or len(token) > 256:
        return None
    now = datetime.now(UTC)
    with engine.connect() as conn:
        row = conn.execute(
            select(TOKENS).where(
                TOKENS.c.token_hash == hash_token(token),
                TOKENS.c.revoked_at.is_(None),
                or_(TOKENS.c.expires_at.is_(None), TOKENS.c.expires_at > now),
            )
        ).first()
    return _info(row) if row else None
