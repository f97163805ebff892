"""How a rule's findings become incidents: the grouping a policy rule states, on the ground floor
so that the policies that set it and the store that applies it share one type.

An incident is one rule × model (× the rule's own key, e.g. the drifting column or the tenant)
while the condition lasts. It opens when ``threshold`` findings fall within ``window_s`` of event
time, closes itself as recovered after ``quiet_s`` without a finding, and escalates when a
finding's severity rises to ``escalate_at`` (any rise when unset).

A detector that sees an episode end (drift that recovered) says so with a finding of another rule;
that rule's policy ``ends`` names the rule whose live incident (same model and key values) the
finding closes as recovered, instead of filing an incident of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from core.taxonomy import Severity


class SeriousKind(StrEnum):
    """EU AI Act Art. 73(2)-(4): the reporting deadline of a serious incident."""

    STANDARD = "standard"  # 15 days after awareness
    DEATH = "death"  # 10 days
    WIDESPREAD = "widespread"  # 2 days: widespread infringement or critical infrastructure


ART73_DAYS = {SeriousKind.STANDARD: 15, SeriousKind.DEATH: 10, SeriousKind.WIDESPREAD: 2}


def art73_deadline(kind: SeriousKind, aware_at: datetime) -> datetime:
    return aware_at + timedelta(days=ART73_DAYS[kind])


@dataclass(frozen=True, slots=True)
class IncidentPolicy:
    #: evidence names whose values, beside rule and model, tell incidents apart
    key: tuple[str, ...] = ()
    threshold: int = 1
    window_s: int = 600
    quiet_s: int = 1800
    escalate_at: Severity | None = None
    #: set only for models of the high-risk tier whose rule marks a possible serious incident
    serious: SeriousKind | None = None
    #: the rule whose live incident (same model and key) a finding of this rule closes
    ends: str | None = None


DEFAULT_POLICY = IncidentPolicy()
