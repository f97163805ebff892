"""The report's tally: a row per risk subcategory, open and closed counts, regulations with counts,
findings grouped by rule (fed rows by hand, no store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from audit.report.summary import MAX_LISTED_PER_RULE, FindingTally, worse
from core.taxonomy import Subcategory

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def row(rule: str, sub: str, severity: str, status: str, minute: int, **kw: Any) -> dict[str, Any]:
    return {
        "finding_id": f"{rule}-{minute}",
        "rule_id": rule,
        "title": f"title of {rule}",
        "detector": "policy",
        "subcategory": sub,
        "severity": severity,
        "status": status,
        "detected_at": T0 + timedelta(minutes=minute),
        "regulation_refs": kw.get("refs", []),
    }


def tally() -> FindingTally:
    t = FindingTally()
    t.add(row("RW-A", "security", "medium", "open", 5, refs=["GDPR Art. 32", "GDPR Art. 32"]))
    t.add(row("RW-A", "security", "critical", "resolved", 1, refs=["GDPR Art. 32"]))
    t.add(row("RW-A", "security", "high", "acknowledged", 9))
    t.add(row("RW-B", "cost_control", "low", "false_positive", 3, refs=["EU AI Act Art. 72"]))
    t.add(row("RW-C", "ethics", "info", "open", 4, refs=["GDPR Art. 32"]))
    return t


def test_a_row_per_subcategory_with_open_count_and_worst_open_severity() -> None:
    subs = tally().subcategories
    assert list(subs) == [s.value for s in Subcategory]  # all nine, in taxonomy order
    assert (subs["security"].open, subs["security"].worst_open) == (2, "high")  # resolved: not open
    assert subs["security"].state == "2 open, worst high"
    assert subs["cost_control"].state == "no open findings (1 closed)"
    assert subs["regulation"].state == "no findings"
    assert subs["ethics"].state == "1 open, worst info"


def test_open_closed_status_and_regulation_counts() -> None:
    t = tally()
    assert (t.open, t.closed) == (3, 2)
    assert t.status_rows() == [
        ("open", 2),
        ("acknowledged", 1),
        ("resolved", 1),
        ("false_positive", 1),
    ]
    # a reference cited twice by one finding counts that finding once
    assert t.regulation_rows() == [("GDPR Art. 32", 3, 2), ("EU AI Act Art. 72", 1, 0)]


def test_findings_grouped_by_rule_worst_first() -> None:
    groups = tally().rule_groups()
    assert [g.rule_id for g in groups] == ["RW-A", "RW-B", "RW-C"]
    a = groups[0]
    assert (a.count, a.open, a.worst, a.title) == (3, 2, "critical", "title of RW-A")
    assert (a.first_seen, a.last_seen) == (T0 + timedelta(minutes=1), T0 + timedelta(minutes=9))
    assert [f["finding_id"] for f in a.findings] == ["RW-A-5", "RW-A-1", "RW-A-9"]


def test_a_group_lists_at_most_its_cap_but_counts_all() -> None:
    t = FindingTally()
    for i in range(MAX_LISTED_PER_RULE + 5):
        t.add(row("RW-X", "security", "low", "open", i))
    (g,) = t.rule_groups()
    assert g.count == MAX_LISTED_PER_RULE + 5 and len(g.findings) == MAX_LISTED_PER_RULE


def test_unknown_severities_never_win() -> None:
    assert worse(None, "low") == "low"
    assert worse("low", "bogus") == "low"
    assert worse("high", "critical") == "critical"
