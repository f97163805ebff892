"""Request and response models of /tokens (the token itself is returned only at creation)."""

from __future__ import annotations

from sqlmodel import Field, SQLModel

from audit.api.schemas.fields import NameText, RequestDatetime, UtcDatetime
from audit.tokens import Role


class TokenBase(SQLModel):
    name: NameText | None = Field(None, min_length=1, max_length=128)
    role: Role


class TokenCreate(TokenBase):
    expires_at: RequestDatetime | None = Field(
        None,
        description="RFC 3339, in the future; the token is refused (401) from then on. "
        "Default: no expiry (until revoked).",
    )


class TokenPublic(TokenBase):
    id: int
    name: str
    created_at: UtcDatetime
    revoked_at: UtcDatetime | None
    expires_at: UtcDatetime | None = None


class TokenCreated(TokenPublic):
    token: str = Field(description="Shown once; only its SHA-256 is stored.")


class TokensPublic(SQLModel):
    items: list[TokenPublic]
    count: int
