"""Request and response models of /erasures and /removals."""

from __future__ import annotations

from typing import Literal

from sqlmodel import Field, SQLModel

from audit.api.schemas.fields import NameText, Statement, UtcDatetime


class ErasureCreate(SQLModel):
    user_ref: NameText = Field(
        min_length=1, max_length=256, description="The data subject's context.user_ref."
    )
    reason: Statement = Field(
        min_length=1, max_length=2000, description="The request this answers (e.g. its ticket)."
    )


class ErasurePublic(SQLModel):
    removal_id: int
    chain_seq: int
    user_ref_hash: str
    events: int = Field(description="Events whose content was removed.")
    findings: int = Field(description="Findings whose evidence was replaced by its hash.")
    findings_kept: int = Field(
        description="Findings chained with inline evidence, left as they are."
    )
    feedback: int = Field(description="Feedback labels deleted.")
    by: str
    reason: str
    at: str
    data_keys: int = Field(
        0, description="The subject's data keys destroyed: texts sealed under them are unreadable."
    )


class RemovalPublic(SQLModel):
    id: int
    kind: Literal["erasure", "retention"]
    at: UtcDatetime
    requested_by: str
    reason: str
    user_ref_hash: str | None
    cutoff: UtcDatetime | None
    events: int
    findings: int
    feedback: int


class RemovalDetail(RemovalPublic):
    finding_ids: list[str]


class RemovalsPublic(SQLModel):
    items: list[RemovalPublic]
    count: int
