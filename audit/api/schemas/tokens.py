"""Request and response models of /tokens (the token itself is returned only at creation)."""

from __future__ import annotations

from sqlmodel import Field, SQLModel

from audit.api.schemas.fields import NameText, UtcDatetime
from audit.tokens import Role


class TokenBase(SQLModel):
    name: NameText | None = Field(None, min_length=1, max_length=128)
    role: Role


class TokenCreate(TokenBase):
    pass


class TokenPublic(TokenBase):
    id: int
    name: str
    created_at: UtcDatetime
    revoked_at: UtcDatetime | None


class TokenCreated(TokenPublic):
    token: str = Field(description="Shown once; only its SHA-256 is stored.")


class TokensPublic(SQLModel):
    items: list[TokenPublic]
    count: int
