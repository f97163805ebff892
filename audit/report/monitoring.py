"""The report's post-market monitoring section for a high-risk model (EU AI Act Art. 72): what is
monitored, what was found, what was done.

audit/ may not import policies/ (ARCHITECTURE.md), so "what is monitored" is read from what the
store and the registry know: the model's registry thresholds, the detectors configured in the
registry, and every rule that has filed a finding in this store (for any model: the packs apply to
every model), each marked with what it filed for this model in the period."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.engine import Connection

from audit.lifecycle import Action
from audit.models import FindingAction, FindingRecord, table_of
from audit.report.summary import FindingTally
from core.model_registry import ModelEntry, Registry

FINDINGS = table_of(FindingRecord)
ACTIONS = table_of(FindingAction)
#: registry fields that describe the model rather than set what is watched
_NOT_THRESHOLDS = frozenset({"owner", "risk_tier", "region", "alert_webhook"})


@dataclass(frozen=True)
class MonitoredRule:
    rule_id: str
    detector: str
    subcategory: str
    in_period: int  # findings for this model in the period
    for_model: int  # findings for this model, ever


@dataclass
class PostMarketMonitoring:
    owner: str
    thresholds: list[tuple[str, str]]
    detectors: list[str]
    rules: list[MonitoredRule]
    actions: Counter[str] = field(default_factory=Counter)
    actors: int = 0

    @property
    def rules_fired(self) -> int:
        return sum(1 for r in self.rules if r.in_period)

    def action_rows(self) -> list[tuple[str, int]]:
        return [(a.value, self.actions.get(a.value, 0)) for a in Action]


def thresholds_of(entry: ModelEntry) -> list[tuple[str, str]]:
    """The registry settings the detectors and rules check this model against, as text."""
    values: dict[str, Any] = entry.model_dump(exclude_none=True)
    return [
        (name, ", ".join(map(str, value)) if isinstance(value, list) else str(value))
        for name, value in values.items()
        if name not in _NOT_THRESHOLDS and value not in ([], {}, "")
    ]


def collect_monitoring(
    conn: Connection,
    model: str,
    since: datetime,
    until: datetime,
    registry: Registry | None,
    tally: FindingTally,
) -> PostMarketMonitoring | None:
    """The section for a model the registry puts in the high risk tier; None for any other."""
    entry = registry.get(model) if registry is not None else None
    if registry is None or entry is None or entry.risk_tier != "high":
        return None
    mine = FINDINGS.c.model_id == model
    rows = conn.execute(
        select(
            FINDINGS.c.rule_id,
            FINDINGS.c.detector,
            FINDINGS.c.subcategory,
            func.sum(case((mine, 1), else_=0)),
        ).group_by(FINDINGS.c.rule_id, FINDINGS.c.detector, FINDINGS.c.subcategory)
    ).all()
    rules = sorted(
        (
            MonitoredRule(
                rule_id,
                detector,
                subcategory,
                tally.rules[rule_id].count if rule_id in tally.rules else 0,
                int(ever or 0),
            )
            for rule_id, detector, subcategory, ever in rows
        ),
        key=lambda r: r.rule_id,
    )
    actions = conn.execute(
        select(ACTIONS.c.action, func.count())
        .join(FINDINGS, FINDINGS.c.finding_id == ACTIONS.c.finding_id)
        .where(mine, ACTIONS.c.at >= since, ACTIONS.c.at < until)
        .group_by(ACTIONS.c.action)
    ).all()
    actors = conn.execute(
        select(func.count(ACTIONS.c.actor.distinct()))
        .join(FINDINGS, FINDINGS.c.finding_id == ACTIONS.c.finding_id)
        .where(mine, ACTIONS.c.at >= since, ACTIONS.c.at < until)
    ).scalar_one()
    return PostMarketMonitoring(
        owner=entry.owner,
        thresholds=thresholds_of(entry),
        detectors=sorted(set(registry.detectors) | {r.detector for r in rules}),
        rules=rules,
        actions=Counter({a: int(n) for a, n in actions}),
        actors=int(actors),
    )
