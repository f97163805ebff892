"""API bearer tokens: roles, creation (the token is shown once), lookup by hash, revocation."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from audit.models import ApiToken, table_of

TOKENS = table_of(ApiToken)
PREFIX = "rw_"


class Role(StrEnum):
    """Each role includes the ones before it: auditor reads, operator also acts on findings,
    admin also manages tokens (and later webhooks)."""

    AUDITOR = "auditor"
    OPERATOR = "operator"
    ADMIN = "admin"

    def includes(self, other: Role) -> bool:
        order = list(Role)
        return order.index(self) >= order.index(other)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role.value,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _info(row: Any) -> TokenInfo:
    return TokenInfo(row.id, row.name, Role(row.role), row.created_at, row.revoked_at)


def create_token(
    engine: Engine, *, role: Role | str, name: str | None = None
) -> tuple[TokenInfo, str]:
    """Create a token; returns its record and the token itself, which is not stored anywhere."""
    role = Role(role)
    token = PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        new_id = conn.execute(
            insert(TOKENS)
            .values(
                name=name or f"{role.value}-{secrets.token_hex(3)}",
                role=role.value,
                token_hash=hash_token(token),
                created_at=now,
                revoked_at=None,
            )
            .returning(TOKENS.c.id)
        ).scalar_one()
        row = conn.execute(select(TOKENS).where(TOKENS.c.id == new_id)).one()
    return _info(row), token


def list_tokens(engine: Engine) -> list[TokenInfo]:
    with engine.connect() as conn:
        return [_info(r) for r in conn.execute(select(TOKENS).order_by(TOKENS.c.id))]


def revoke_token(engine: Engine, *, token_id: int) -> TokenInfo | None:
    """Revoke a token (idempotent: the first revocation time is kept); None if unknown."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            update(TOKENS)
            .where(TOKENS.c.id == token_id, TOKENS.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        row = conn.execute(select(TOKENS).where(TOKENS.c.id == token_id)).first()
    return _info(row) if row else None


def authenticate(engine: Engine, token: str) -> TokenInfo | None:
    """The live (not revoked) token with this value, or None."""
    if not token.startswith(PREFIX) or len(token) > 256:
        return None
    with engine.connect() as conn:
        row = conn.execute(
            select(TOKENS).where(
                TOKENS.c.token_hash == hash_token(token), TOKENS.c.revoked_at.is_(None)
            )
        ).first()
    return _info(row) if row else None
