"""One model's time series over a period, on the report's time bins: traffic, error rate and
latency, cost against the daily budget, drift score per feature, PII rate, and the fairness
metrics per protected attribute with each group's rates (the console's model page)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from audit.models import EventRecord, FindingRecord, as_utc, table_of
from audit.overview.fleet import default_period, period_of
from audit.report.bins import TimeBins, time_bins

EVENTS = table_of(EventRecord)
FINDINGS = table_of(FindingRecord)


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def _rate(part: list[float], whole: list[int]) -> list[float | None]:
    return [round(p / w, 6) if w else None for p, w in zip(part, whole, strict=True)]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


class _Series:
    """Per-bin accumulators of one model."""

    def __init__(self, bins: TimeBins) -> None:
        n = len(bins.starts)
        self.bins = bins
        self.events = [0] * n
        self.errors = [0.0] * n
        self.latencies: list[list[float]] = [[] for _ in range(n)]
        self.cost = [0.0] * n
        self.pii = [0.0] * n
        self.pii_entities: dict[str, int] = {}
        self.drift: dict[str, dict[str, Any]] = {}
        self.fairness: dict[str, dict[str, Any]] = {}

    def event(self, at: datetime, latency: float | None, cost: float | None, error: Any) -> None:
        if (i := self.bins.index(at)) is None:
            return
        self.events[i] += 1
        self.errors[i] += error is not None
        if latency is not None:
            self.latencies[i].append(latency)
        if cost is not None:
            self.cost[i] += cost

    def finding(self, at: datetime, detector: str, evidence: dict[str, Any]) -> None:
        if (i := self.bins.index(at)) is None:
            return
        if detector == "drift" and isinstance(evidence.get("column"), str):
            kind = evidence.get("score_kind")
            score = _number(evidence.get(kind)) if isinstance(kind, str) else None
            if score is None:
                return
            col = self.drift.setdefault(
                evidence["column"],
                {
                    "feature": evidence["column"],
                    "score_kind": kind,
                    "threshold": _number(evidence.get("threshold")),
                    "values": [None] * len(self.events),
                },
            )
            old = col["values"][i]
            col["values"][i] = score if old is None else max(old, score)
        elif detector == "pii" and isinstance(evidence.get("entities"), dict):
            for entity, n in evidence["entities"].items():
                if isinstance(n, int) and not isinstance(n, bool):
                    self.pii[i] += n
                    self.pii_entities[str(entity)] = self.pii_entities.get(str(entity), 0) + n
        elif detector == "fairness" and isinstance(evidence.get("metric"), str):
            value = _number(evidence.get("value"))
            if value is None:
                return
            attribute = str(evidence.get("attribute", ""))
            key = f"{attribute}|{evidence['metric']}"
            metric = self.fairness.setdefault(
                key,
                {
                    "attribute": attribute,
                    "metric": evidence["metric"],
                    "threshold": _number(evidence.get("threshold")),
                    "values": [None] * len(self.events),
                    "groups": {},
                },
            )
            metric["values"][i] = value  # findings arrive in time order: the bin's last
            groups = evidence.get("groups")
            if isinstance(groups, dict):
                metric["groups"] = {
                    str(name): {
                        k: _number(g.get(k))
                        for k in ("n", "selection_rate", "tpr", "fpr")
                        if _number(g.get(k)) is not None
                    }
                    for name, g in groups.items()
                    if isinstance(g, dict)
                }


def model_metrics(
    engine: Engine,
    model: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    daily_budget: float | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The model page's series; every list has one value per bin (None: nothing to measure)."""
    with engine.connect() as conn:
        since, until = default_period(conn, since, until, now or datetime.now(UTC))
        bins = time_bins(since, until)
        s = _Series(bins)
        for row in conn.execute(
            select(EVENTS.c.timestamp, EVENTS.c.latency_ms, EVENTS.c.cost_usd, EVENTS.c.error)
            .where(
                EVENTS.c.model_id == model,
                EVENTS.c.timestamp >= since,
                EVENTS.c.timestamp < until,
            )
            .order_by(EVENTS.c.timestamp)
        ):
            s.event(as_utc(row.timestamp), row.latency_ms, row.cost_usd, row.error)
        for found in conn.execute(
            select(FINDINGS.c.detected_at, FINDINGS.c.detector, FINDINGS.c.evidence)
            .where(
                FINDINGS.c.model_id == model,
                FINDINGS.c.detected_at >= since,
                FINDINGS.c.detected_at < until,
                FINDINGS.c.detector.in_(("drift", "fairness")),
            )
            .order_by(FINDINGS.c.detected_at, FINDINGS.c.finding_id)
        ):
            s.finding(as_utc(found.detected_at), found.detector, found.evidence or {})
        # PII is a property of an event: binned by the event's time, as the traffic is
        for pii in conn.execute(
            select(EVENTS.c.timestamp, FINDINGS.c.evidence)
            .join(EVENTS, EVENTS.c.event_id == FINDINGS.c.event_id)
            .where(
                FINDINGS.c.detector == "pii",
                EVENTS.c.model_id == model,
                EVENTS.c.timestamp >= since,
                EVENTS.c.timestamp < until,
            )
        ):
            s.finding(as_utc(pii.timestamp), "pii", pii.evidence or {})
    width = bins.width / timedelta(days=1)
    return {
        "model_id": model,
        "period": period_of(bins, since, until),
        "events": s.events,
        "error_rate": _rate(s.errors, s.events),
        "latency_mean_ms": [round(sum(v) / len(v), 3) if v else None for v in s.latencies],
        "latency_p95_ms": [_p95(v) for v in s.latencies],
        "cost_usd": [round(c, 6) for c in s.cost],
        "daily_budget_usd": daily_budget,
        "bin_budget_usd": None if daily_budget is None else round(daily_budget * width, 6),
        "pii_rate": _rate(s.pii, s.events),
        "pii_entities": dict(sorted(s.pii_entities.items())),
        "drift": [s.drift[k] for k in sorted(s.drift)],
        "fairness": [s.fairness[k] for k in sorted(s.fairness)],
    }
