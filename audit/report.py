"""The HTML compliance report of one model over one period (``riskwatch report``, GET /reports).

Self-contained: inline CSS and server-drawn SVG, no scripts or external resources. Event and
finding content is hostile input, so the page is rendered by Jinja2 with autoescape on; only the
charts (escaped in audit/report_charts.py) are inserted as markup."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from audit.lifecycle import Status, status_expr
from audit.models import EventRecord, FindingRecord, as_utc, table_of
from audit.report_charts import horizontal_bars, stacked_bars
from core.model_registry import Registry

EVENTS = table_of(EventRecord)
FINDINGS = table_of(FindingRecord)
MAX_OPEN_LISTED = 500


@dataclass(frozen=True)
class ReportPeriod:
    model: str
    since: datetime
    until: datetime

    def __post_init__(self) -> None:
        if not self.model.strip():
            raise ValueError("report: the model id is empty")
        if as_utc(self.since) >= as_utc(self.until):
            raise ValueError(
                f"report: since ({self.since.isoformat()}) must be before until "
                f"({self.until.isoformat()})"
            )
        if as_utc(self.until) - as_utc(self.since) > timedelta(days=3660):
            raise ValueError("report: the period is longer than ten years")


@dataclass
class ReportData:
    period: ReportPeriod
    generated_at: datetime
    event_count: int = 0
    finding_count: int = 0
    days: list[str] = field(default_factory=list)
    findings_by_day: dict[str, list[int]] = field(default_factory=dict)
    open_findings: list[dict[str, Any]] = field(default_factory=list)
    open_count: int = 0
    drift: dict[str, float] = field(default_factory=dict)
    pii_rate: dict[str, float] = field(default_factory=dict)
    fairness: list[dict[str, Any]] = field(default_factory=list)
    cost_by_day: dict[str, float] = field(default_factory=dict)
    daily_budget: float | None = None


def _day(value: datetime) -> str:
    return as_utc(value).date().isoformat()


def collect(
    engine: Engine, period: ReportPeriod, registry: Registry | None, now: datetime
) -> ReportData:
    since, until = as_utc(period.since), as_utc(period.until)
    data = ReportData(period, now)
    first = since.date()
    data.days = [
        (first + timedelta(days=i)).isoformat()
        for i in range(
            (until - timedelta(microseconds=1)).date().toordinal() - first.toordinal() + 1
        )
    ]
    in_events = (
        EVENTS.c.model_id == period.model,
        EVENTS.c.timestamp >= since,
        EVENTS.c.timestamp < until,
    )
    in_findings = (
        FINDINGS.c.model_id == period.model,
        FINDINGS.c.detected_at >= since,
        FINDINGS.c.detected_at < until,
    )
    entity_counts: Counter[str] = Counter()
    per_day: dict[str, Counter[str]] = defaultdict(Counter)
    with engine.connect() as conn:
        data.event_count = conn.execute(select(func.count()).where(*in_events)).scalar_one()
        cost: dict[str, float] = defaultdict(float)
        for ts, usd in conn.execute(
            select(EVENTS.c.timestamp, EVENTS.c.cost_usd).where(
                *in_events, EVENTS.c.cost_usd.is_not(None)
            )
        ):
            cost[_day(ts)] += usd
        data.cost_by_day = {d: round(cost.get(d, 0.0), 6) for d in data.days}
        rows = conn.execute(
            select(
                FINDINGS.c.finding_id,
                FINDINGS.c.detected_at,
                FINDINGS.c.category,
                FINDINGS.c.subcategory,
                FINDINGS.c.severity,
                FINDINGS.c.title,
                FINDINGS.c.detector,
                FINDINGS.c.rule_id,
                FINDINGS.c.evidence,
                FINDINGS.c.regulation_refs,
                status_expr().label("status"),
            )
            .where(*in_findings)
            .order_by(FINDINGS.c.detected_at)
        ).mappings()
        for row in rows:
            data.finding_count += 1
            per_day[row["category"]][_day(row["detected_at"])] += 1
            evidence = row["evidence"] or {}
            if row["status"] == Status.OPEN.value:
                data.open_count += 1
                if len(data.open_findings) < MAX_OPEN_LISTED:
                    data.open_findings.append(dict(row))
            if row["detector"] == "drift" and isinstance(evidence.get("column"), str):
                kind = evidence.get("score_kind")
                score = evidence.get(kind) if isinstance(kind, str) else None
                if isinstance(score, (int, float)):
                    col = evidence["column"]
                    data.drift[col] = max(data.drift.get(col, 0.0), float(score))
            if row["detector"] == "pii" and isinstance(evidence.get("entities"), dict):
                for entity, n in evidence["entities"].items():
                    if isinstance(n, int):
                        entity_counts[str(entity)] += n
            if row["detector"] == "fairness":
                data.fairness.append(dict(row))
    data.findings_by_day = {cat: [c[d] for d in data.days] for cat, c in per_day.items()}
    if data.event_count:
        data.pii_rate = {
            k: round(v / data.event_count, 6) for k, v in sorted(entity_counts.items())
        }
    entry = registry.get(period.model) if registry else None
    data.daily_budget = entry.daily_cost_budget_usd if entry else None
    return data


_ENV = Environment(
    loader=PackageLoader("audit", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
)


def render(data: ReportData) -> str:
    charts = {
        "findings": Markup(stacked_bars(data.days, data.findings_by_day)),
        "drift": Markup(horizontal_bars(data.drift)),
        "pii": Markup(horizontal_bars(data.pii_rate)),
        "cost": Markup(horizontal_bars(data.cost_by_day, limit=data.daily_budget)),
    }
    over = [
        d
        for d, v in data.cost_by_day.items()
        if data.daily_budget is not None and v > data.daily_budget
    ]
    return _ENV.get_template("report.html.j2").render(d=data, charts=charts, over_budget=over)


def build_report(
    engine: Engine, period: ReportPeriod, registry: Registry | None, now: datetime
) -> str:
    return render(collect(engine, period, registry, now))
