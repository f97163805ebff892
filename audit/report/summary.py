"""The report's summary and its findings grouped by rule, tallied from the period's findings.

A finding counts as *open* while it is ``open`` or ``acknowledged`` (someone may be on it, nobody
closed it) and as *closed* once ``resolved`` or marked ``false_positive`` (audit/lifecycle.py)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from audit.lifecycle import Status
from audit.models import as_utc
from audit.verify import Report as ChainReport
from core.taxonomy import SUBCATEGORIES, Category, Severity, Subcategory

OPEN_STATUSES = frozenset({Status.OPEN.value, Status.ACKNOWLEDGED.value})
#: findings listed under each rule group (the group's count covers them all)
MAX_LISTED_PER_RULE = 100


def severity_rank(value: str | None) -> int:
    """A stored severity's rank (info 0 ... critical 4); -1 for none or an unknown value."""
    try:
        return Severity(value).rank if value is not None else -1
    except ValueError:
        return -1


def worse(a: str | None, b: str | None) -> str | None:
    return b if severity_rank(b) > severity_rank(a) else a


@dataclass
class SubcategoryRow:
    """One of the nine risk subcategories, as the summary states it."""

    category: Category
    subcategory: Subcategory
    total: int = 0
    open: int = 0
    worst_open: str | None = None

    @property
    def state(self) -> str:
        if self.open:
            return f"{self.open} open, worst {self.worst_open}"
        if self.total:
            return f"no open findings ({self.total} closed)"
        return "no findings"


@dataclass
class RuleGroup:
    """The period's findings of one rule."""

    rule_id: str
    title: str
    detector: str
    subcategory: str
    count: int = 0
    open: int = 0
    worst: str | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)

    def add(self, row: dict[str, Any]) -> None:
        at = as_utc(row["detected_at"])
        self.count += 1
        self.open += row["status"] in OPEN_STATUSES
        self.worst = worse(self.worst, row["severity"])
        self.first_seen = at if self.first_seen is None else min(self.first_seen, at)
        self.last_seen = at if self.last_seen is None else max(self.last_seen, at)
        if len(self.findings) < MAX_LISTED_PER_RULE:
            self.findings.append(row)


@dataclass(frozen=True)
class ChainState:
    """The audit chain's verification (audit/verify.py) as the report states it."""

    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    problem: str | None

    @classmethod
    def of(cls, report: ChainReport) -> ChainState:
        return cls(
            report.ok,
            report.entries,
            report.head.seq,
            report.head.entry_hash,
            report.broken.problem if report.broken else None,
        )


@dataclass
class FindingTally:
    """Everything the summary and the grouped findings say, fed one finding row at a time."""

    by_status: Counter[str] = field(default_factory=Counter)
    by_severity: Counter[str] = field(default_factory=Counter)
    subcategories: dict[str, SubcategoryRow] = field(
        default_factory=lambda: {
            sub.value: SubcategoryRow(cat, sub)
            for cat, subs in SUBCATEGORIES.items()
            for sub in subs
        }
    )
    #: regulation reference -> [findings citing it, open ones among them]
    regulations: dict[str, list[int]] = field(default_factory=dict)
    rules: dict[str, RuleGroup] = field(default_factory=dict)

    def add(self, row: dict[str, Any]) -> None:
        is_open = row["status"] in OPEN_STATUSES
        self.by_status[row["status"]] += 1
        self.by_severity[row["severity"]] += 1
        sub = self.subcategories.get(row["subcategory"])
        if sub is not None:
            sub.total += 1
            if is_open:
                sub.open += 1
                sub.worst_open = worse(sub.worst_open, row["severity"])
        for ref in dict.fromkeys(row["regulation_refs"] or ()):
            counts = self.regulations.setdefault(str(ref), [0, 0])
            counts[0] += 1
            counts[1] += is_open
        group = self.rules.get(row["rule_id"])
        if group is None:
            group = self.rules[row["rule_id"]] = RuleGroup(
                row["rule_id"], row["title"], row["detector"], row["subcategory"]
            )
        group.add(row)

    @property
    def open(self) -> int:
        return sum(n for s, n in self.by_status.items() if s in OPEN_STATUSES)

    @property
    def closed(self) -> int:
        return sum(n for s, n in self.by_status.items() if s not in OPEN_STATUSES)

    def status_rows(self) -> list[tuple[str, int]]:
        return [(s.value, self.by_status.get(s.value, 0)) for s in Status]

    def regulation_rows(self) -> list[tuple[str, int, int]]:
        """(reference, findings, open), most cited first."""
        return sorted(
            ((ref, n, o) for ref, (n, o) in self.regulations.items()), key=lambda r: (-r[1], r[0])
        )

    def rule_groups(self) -> list[RuleGroup]:
        """Worst severity first, then the most findings, then by rule id."""
        return sorted(
            self.rules.values(), key=lambda g: (-severity_rank(g.worst), -g.count, g.rule_id)
        )
