"""The HTML compliance report of one model over one period (``riskwatch report``, GET /reports).

Self-contained: inline CSS and server-drawn SVG, no scripts or external resources. Event and
finding content is hostile input, so the page is rendered by Jinja2 with autoescape on; only the
charts (escaped in audit/report/charts.py) are inserted as markup."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from audit.lifecycle import status_expr
from audit.models import EventRecord, FindingRecord, as_utc, table_of
from audit.report.bins import TimeBins, time_bins
from audit.report.charts import horizontal_bars, stacked_bars
from audit.report.incidents import FleetRow, ReportIncidents, collect_fleet, collect_incidents
from audit.report.monitoring import PostMarketMonitoring, collect_monitoring
from audit.report.summary import ChainState, FindingTally
from audit.verify import verify
from core.model_registry import Registry

EVENTS = table_of(EventRecord)
FINDINGS = table_of(FindingRecord)


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
    bins: TimeBins
    event_count: int = 0
    finding_count: int = 0
    findings_by_bin: dict[str, list[float]] = field(default_factory=dict)
    tally: FindingTally = field(default_factory=FindingTally)
    incidents: ReportIncidents = field(default_factory=ReportIncidents)
    fleet: list[FleetRow] = field(default_factory=list)
    chain: ChainState | None = None
    monitoring: PostMarketMonitoring | None = None
    drift: dict[str, float] = field(default_factory=dict)
    pii_rate: dict[str, float] = field(default_factory=dict)
    fairness: list[dict[str, Any]] = field(default_factory=list)
    cost_by_bin: list[float] = field(default_factory=list)
    cost_by_day: dict[str, float] = field(default_factory=dict)
    daily_budget: float | None = None

    @property
    def bin_budget(self) -> float | None:
        """The daily budget pro rata of one bin (the cost chart's reference line)."""
        if self.daily_budget is None:
            return None
        return self.daily_budget * (self.bins.width / timedelta(days=1))

    @property
    def over_budget(self) -> list[str]:
        budget = self.daily_budget
        return [d for d, v in self.cost_by_day.items() if budget is not None and v > budget]


def _day(value: datetime) -> str:
    return as_utc(value).date().isoformat()


def collect(
    engine: Engine, period: ReportPeriod, registry: Registry | None, now: datetime
) -> ReportData:
    since, until = as_utc(period.since), as_utc(period.until)
    bins = time_bins(since, until)
    data = ReportData(period, now, bins)
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
    per_bin: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(bins.starts))
    data.cost_by_bin = [0.0] * len(bins.starts)
    with engine.connect() as conn:
        data.event_count = conn.execute(select(func.count()).where(*in_events)).scalar_one()
        cost: dict[str, float] = defaultdict(float)
        for ts, usd in conn.execute(
            select(EVENTS.c.timestamp, EVENTS.c.cost_usd).where(
                *in_events, EVENTS.c.cost_usd.is_not(None)
            )
        ):
            cost[_day(ts)] += usd
            if (i := bins.index(ts)) is not None:
                data.cost_by_bin[i] += usd
        data.cost_by_day = {d: round(v, 6) for d, v in sorted(cost.items())}
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
        for mapping in rows:
            row = dict(mapping)
            data.finding_count += 1
            data.tally.add(row)
            if (i := bins.index(row["detected_at"])) is not None:
                per_bin[row["category"]][i] += 1
            evidence = row["evidence"] or {}
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
                data.fairness.append(row)
        data.incidents = collect_incidents(conn, period.model, since, until)
        data.fleet = collect_fleet(conn, since, until)
        data.monitoring = collect_monitoring(conn, period.model, since, until, registry, data.tally)
    data.findings_by_bin = dict(per_bin)
    data.chain = ChainState.of(verify(engine))
    if data.event_count:
        data.pii_rate = {
            k: round(v / data.event_count, 6) for k, v in sorted(entity_counts.items())
        }
    entry = registry.get(period.model) if registry else None
    data.daily_budget = entry.daily_cost_budget_usd if entry else None
    return data


_ENV = Environment(
    loader=PackageLoader("audit.report", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
)


def render(data: ReportData) -> str:
    labels = list(data.bins.labels)
    charts = {
        "findings": Markup(stacked_bars(labels, data.findings_by_bin)),
        "drift": Markup(horizontal_bars(data.drift)),
        "pii": Markup(horizontal_bars(data.pii_rate)),
        "cost": Markup(
            stacked_bars(
                labels,
                {"cost (USD)": data.cost_by_bin},
                limit=data.bin_budget,
                fmt="{:.4g}",
                legend=False,
            )
        ),
    }
    return _ENV.get_template("report.html.j2").render(
        d=data, charts=charts, subcategories=list(data.tally.subcategories.values())
    )


def build_report(
    engine: Engine, period: ReportPeriod, registry: Registry | None, now: datetime
) -> str:
    return render(collect(engine, period, registry, now))
