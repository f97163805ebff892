"""Response model of /summary: finding counts per group."""

from __future__ import annotations

from sqlmodel import SQLModel

from audit.api.schemas.fields import UtcDatetime


class GroupCount(SQLModel):
    key: str
    count: int


class SummaryPublic(SQLModel):
    group_by: str
    bucket: str | None
    since: UtcDatetime | None
    until: UtcDatetime | None
    total: int
    groups: list[GroupCount]
