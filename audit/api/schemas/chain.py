"""Response models of /chain: a chain link, and the report of a verification."""

from __future__ import annotations

from typing import Any

from sqlmodel import SQLModel


class ChainLinkPublic(SQLModel):
    seq: int
    entry_hash: str
    content_hash: str | None = None
    prev_hash: str | None = None


class ChainReportPublic(SQLModel):
    ok: bool
    entries: int
    head: ChainLinkPublic
    broken: dict[str, Any] | None
