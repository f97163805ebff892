"""Findings into incidents: one per rule × model × key, thresholds over a window, quiet
recovery, escalation, the Art. 73 clock, and a chain that covers every state change."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from audit.incidents.queries import IncidentFilter, get_incident, list_incidents
from audit.store import AuditStore
from audit.verify import verify
from core.incidents import IncidentPolicy, SeriousKind
from core.taxonomy import Severity
from tests.dburl import db_url
from tests.unit.audit.incidents.incident_helpers import at, event, finding, write


@pytest.fixture
def store(tmp_path: Path) -> AuditStore:
    return AuditStore.from_url(db_url(tmp_path / "i.db"))


def _incidents(store: AuditStore, **flt: object) -> list[dict[str, object]]:
    return list_incidents(store.engine, IncidentFilter(**flt))[0]  # type: ignore[arg-type]


def _events(store: AuditStore, incident_id: str) -> list[str]:
    found = get_incident(store.engine, incident_id)
    assert found is not None
    return [e["event"] for e in found["events"]]


def test_a_flood_of_findings_is_one_incident_per_rule_and_model(store: AuditStore) -> None:
    write(store, *[finding(n, n * 0.5) for n in range(40)])
    write(store, *[finding(n, n * 0.5, model="fraud") for n in range(3)])
    write(
        store, *[finding(n, 30 + (n - 40) * 0.5) for n in range(40, 60)]
    )  # a later batch joins it
    incidents = {i["model_id"]: i for i in _incidents(store)}
    assert set(incidents) == {"credit-scoring", "fraud"}
    main = incidents["credit-scoring"]
    assert main["status"] == "open" and main["count"] == 60
    assert main["first_seen"] == at(0) and main["last_seen"] == at(30 + 19 * 0.5)
    assert _events(store, str(main["incident_id"])) == ["opened"]
    found = get_incident(store.engine, str(main["incident_id"]))
    assert found is not None and len(found["findings"]) == 60
    assert verify(store.engine).ok


def test_the_rules_key_tells_incidents_apart(store: AuditStore) -> None:
    policy = IncidentPolicy(key=("column",))
    write(
        store,
        finding(1, 0, policy=policy, evidence={"column": "age"}),
        finding(2, 1, policy=policy, evidence={"column": "income"}),
        finding(3, 2, policy=policy, evidence={"column": "age"}),
    )
    keys = sorted((i["key"]["column"], i["count"]) for i in _incidents(store))  # type: ignore[index]
    assert keys == [("age", 2), ("income", 1)]


def test_a_threshold_over_a_window_holds_the_incident_until_it_is_met(store: AuditStore) -> None:
    policy = IncidentPolicy(threshold=5, window_s=600, quiet_s=3600)
    # four breaches 4 minutes apart: never five within 10 minutes
    write(store, *[finding(n, n * 4, policy=policy) for n in range(4)])
    assert _incidents(store) == []
    # then five within two minutes: it opens, at the fifth
    write(store, *[finding(n, 25 + (n - 10) * 0.5, policy=policy) for n in range(10, 15)])
    (incident,) = _incidents(store)
    assert incident["status"] == "open" and incident["opened_at"] == at(27)
    assert _events(store, str(incident["incident_id"])) == ["opened"]


def test_a_pending_incident_that_never_reaches_its_threshold_lapses_unseen(
    store: AuditStore,
) -> None:
    policy = IncidentPolicy(threshold=3, window_s=600, quiet_s=600)
    write(store, finding(1, 0, policy=policy))
    write(store, events=[event(1, 30)])
    assert _incidents(store) == []
    with store.engine.connect() as conn:
        assert conn.execute(text("select status, live from incidents")).one() == ("lapsed", 0)
        assert conn.execute(text("select count(*) from incident_events")).scalar() == 0


def test_quiet_time_recovers_the_incident_and_a_new_breach_opens_another(
    store: AuditStore,
) -> None:
    policy = IncidentPolicy(quiet_s=1800)
    write(store, finding(1, 0, policy=policy), finding(2, 5, policy=policy))
    # 40 minutes of event time later, traffic of another model: the first incident recovers
    write(store, events=[event(1, 40)])
    (first,) = _incidents(store)
    assert (first["status"], first["resolution"]) == ("resolved", "recovered")
    assert first["closed_at"] == at(35)
    assert _events(store, str(first["incident_id"])) == ["opened", "recovered"]
    write(store, finding(3, 50, policy=policy))
    second = [i for i in _incidents(store) if i["incident_id"] != first["incident_id"]]
    assert len(second) == 1 and second[0]["status"] == "open" and second[0]["count"] == 1
    assert verify(store.engine).ok


def test_a_finding_after_the_quiet_time_in_the_same_batch_starts_a_new_incident(
    store: AuditStore,
) -> None:
    policy = IncidentPolicy(quiet_s=600)
    write(store, finding(1, 0, policy=policy), finding(2, 30, policy=policy))
    incidents = sorted(_incidents(store), key=lambda i: str(i["first_seen"]))
    assert [(i["status"], i["count"]) for i in incidents] == [("resolved", 1), ("open", 1)]


def test_a_more_severe_finding_escalates_an_open_incident(store: AuditStore) -> None:
    policy = IncidentPolicy(escalate_at=Severity.HIGH)
    write(store, finding(1, 0, policy=policy, severity=Severity.LOW))
    write(store, finding(2, 1, policy=policy, severity=Severity.MEDIUM))  # below escalate_at
    (incident,) = _incidents(store)
    assert incident["severity"] == "medium" and not incident["escalated"]
    write(store, finding(3, 2, policy=policy, severity=Severity.CRITICAL))
    (incident,) = _incidents(store)
    assert incident["severity"] == "critical" and incident["escalated"]
    assert _events(store, str(incident["incident_id"])) == ["opened", "escalated"]


@pytest.mark.parametrize(
    ("kind", "days"),
    [(SeriousKind.STANDARD, 15), (SeriousKind.DEATH, 10), (SeriousKind.WIDESPREAD, 2)],
)
def test_a_possible_serious_incident_carries_the_art_73_clock(
    store: AuditStore, kind: SeriousKind, days: int
) -> None:
    write(store, finding(1, 0, policy=IncidentPolicy(serious=kind)))
    (incident,) = _incidents(store)
    deadline, updated = incident["report_deadline"], incident["updated_at"]
    assert incident["serious"] == kind.value
    assert deadline is not None and deadline - updated == timedelta(days=days)  # type: ignore[operator]


def test_no_clock_without_a_serious_marking(store: AuditStore) -> None:
    write(store, finding(1, 0))
    (incident,) = _incidents(store)
    assert incident["serious"] is None and incident["report_deadline"] is None


def test_an_edited_state_change_breaks_the_chain(store: AuditStore) -> None:
    write(store, finding(1, 0))
    assert verify(store.engine).ok
    with store.engine.begin() as conn:
        conn.execute(text("update incident_events set actor = 'someone else'"))
    broken = verify(store.engine).broken
    assert broken is not None and "incident state change" in broken.problem
    with store.engine.begin() as conn:
        conn.execute(text("update incident_events set actor = 'riskwatch'"))
        conn.execute(
            text(
                "insert into incident_events (incident_id, event, actor, reason, severity, count,"
                " finding_id, at) select incident_id, 'resolved', 'forger', 'x', severity, count,"
                " finding_id, at from incident_events"
            )
        )
    broken = verify(store.engine).broken
    assert broken is not None and "not in the chain" in broken.problem


def test_an_episode_end_closes_the_incident_of_its_rule_and_key(store: AuditStore) -> None:
    opens = IncidentPolicy(key=("column",), quiet_s=7 * 86400)
    ends = IncidentPolicy(key=("column",), ends="RW-TR-020")
    age, income = {"column": "age"}, {"column": "income"}
    write(
        store,
        finding(1, 0, rule="RW-TR-020", policy=opens, evidence=age),
        finding(2, 1, rule="RW-TR-020", policy=opens, evidence=income),
    )
    # the end of the age episode, in a later batch: only age's incident closes, and it holds
    # the end finding; no incident of the ending rule appears
    write(store, finding(3, 90, rule="RW-TR-022", policy=ends, evidence=age))
    by_column = {i["key"]["column"]: i for i in _incidents(store)}  # type: ignore[index]
    assert set(by_column) == {"age", "income"}
    closed = by_column["age"]
    assert (closed["status"], closed["resolution"]) == ("resolved", "recovered")
    assert closed["closed_at"] == at(90) and closed["count"] == 2
    assert _events(store, str(closed["incident_id"])) == ["opened", "recovered"]
    assert by_column["income"]["status"] == "open"
    # an end with no live incident (already closed) stands alone as a finding
    write(store, finding(4, 95, rule="RW-TR-022", policy=ends, evidence=age))
    assert len(_incidents(store)) == 2
    # a new episode of the same column opens a new incident; open and end in one batch
    write(
        store,
        finding(5, 100, rule="RW-TR-020", policy=opens, evidence=age),
        finding(6, 120, rule="RW-TR-022", policy=ends, evidence=age),
    )
    ages = [i for i in _incidents(store) if i["key"] == age]  # type: ignore[comparison-overlap]
    assert sorted(str(i["status"]) for i in ages) == ["resolved", "resolved"]
    assert verify(store.engine).ok
