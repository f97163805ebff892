"""Response and request models of /incidents."""

from __future__ import annotations

from typing import Any, Literal

from sqlmodel import Field, SQLModel

from audit.api.schemas.fields import Statement, UtcDatetime
from audit.api.schemas.findings import FindingBase
from core.taxonomy import Category, Severity, Subcategory

IncidentStatus = Literal["open", "acknowledged", "resolved", "false_positive"]


class IncidentPublic(SQLModel):
    incident_id: str
    rule_id: str
    model_id: str
    key: dict[str, Any] = Field(description="The rule's key values (e.g. the drifting column).")
    category: Category
    subcategory: Subcategory
    title: str
    status: IncidentStatus
    resolution: str | None = Field(
        description="recovered (quiet for the rule's time), resolved or false_positive."
    )
    severity: Severity = Field(description="The worst severity of its findings.")
    escalated: bool
    count: int = Field(description="Findings in the incident.")
    first_seen: UtcDatetime
    last_seen: UtcDatetime
    opened_at: UtcDatetime | None
    closed_at: UtcDatetime | None
    quiet_until: UtcDatetime
    threshold: int
    window_s: int
    quiet_s: int
    escalate_at: Severity | None
    serious: str | None = Field(description="EU AI Act Art. 73 kind, for high-risk models.")
    report_deadline: UtcDatetime | None = Field(description="Art. 73 reporting deadline.")
    last_finding_id: str
    updated_at: UtcDatetime


class IncidentsPublic(SQLModel):
    items: list[IncidentPublic]
    count: int = Field(description="Incidents matching the filters, over all pages.")
    limit: int
    offset: int


class IncidentEventPublic(SQLModel):
    id: int
    incident_id: str
    event: str
    actor: str
    reason: str
    severity: Severity
    count: int
    finding_id: str | None
    at: UtcDatetime


class IncidentDetailPublic(IncidentPublic):
    events: list[IncidentEventPublic]
    findings: list[FindingBase]


class IncidentActionCreate(SQLModel):
    # not blank: the state change is chained with its reason (a blank one is a 422, not a 500)
    reason: Statement = Field(min_length=1, max_length=2000)


class IncidentActionResult(IncidentPublic):
    event: IncidentEventPublic
