"""Response models of /chain: a chain link, and the report of a verification."""

from __future__ import annotations

from typing import Any

from sqlmodel import Field, SQLModel


class ChainLinkPublic(SQLModel):
    seq: int
    entry_hash: str
    content_hash: str | None = None
    prev_hash: str | None = None


class CheckpointsPublic(SQLModel):
    ok: bool
    checkpoints: int = Field(description="Signed checkpoints stored.")
    witnessed: int
    latest: dict[str, Any] | None
    problem: str | None


class ChainReportPublic(SQLModel):
    ok: bool = Field(description="The chain and its signed checkpoints both hold.")
    entries: int
    head: ChainLinkPublic
    broken: dict[str, Any] | None
    checkpoints: CheckpointsPublic
