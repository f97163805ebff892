"""Operators move incidents (API and CLI), auditors read them, and subscriptions that alert on
incidents receive opened, escalated and resolved, not every finding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from audit.api.app import create_app
from audit.incidents.lifecycle import IncidentNotFound, InvalidIncidentTransition, act
from audit.incidents.queries import IncidentFilter, list_incidents
from audit.store import AuditStore
from audit.tokens import create_token
from audit.verify import verify
from audit.webhooks import outbox
from audit.webhooks.payloads import render
from audit.webhooks.spec import Filters, NewSubscription, WebhookFormat
from audit.webhooks.subscriptions import create_subscription
from core.incidents import IncidentPolicy
from core.settings import Settings, get_settings
from core.taxonomy import Severity
from riskwatch.cli import main
from tests.dburl import db_url
from tests.unit.audit.incidents.incident_helpers import event, finding, write

URL = "https://hooks.example/incidents"


@pytest.fixture
def store(tmp_path: Path) -> AuditStore:
    return AuditStore.from_url(db_url(tmp_path / "i.db"))


def _only(store: AuditStore, **flt: Any) -> dict[str, Any]:
    (incident,) = list_incidents(store.engine, IncidentFilter(**flt))[0]
    return incident


def test_acknowledge_then_resolve_and_the_transitions_that_do_not_apply(
    store: AuditStore,
) -> None:
    write(store, finding(1, 0))
    iid = _only(store)["incident_id"]
    with pytest.raises(ValueError, match="reason"):
        act(store.engine, iid, "acknowledge", actor="ops", reason=" ")
    assert act(store.engine, iid, "acknowledge", actor="ops", reason="on it")["status"] == (
        "acknowledged"
    )
    with pytest.raises(InvalidIncidentTransition):
        act(store.engine, iid, "acknowledge", actor="ops", reason="again")
    done = act(store.engine, iid, "resolve", actor="ops", reason="rolled back")
    assert (done["status"], done["resolution"], done["event"]["actor"]) == (
        "resolved",
        "resolved",
        "ops",
    )
    with pytest.raises(InvalidIncidentTransition):
        act(store.engine, iid, "false_positive", actor="ops", reason="late")
    with pytest.raises(IncidentNotFound):
        act(store.engine, "nope", "resolve", actor="ops", reason="r")
    # resolved: the next breach opens a new incident instead of joining the closed one
    write(store, finding(2, 1))
    assert _only(store, status="open")["incident_id"] != iid
    assert verify(store.engine).ok


def _deliveries(store: AuditStore) -> list[outbox.Claimed]:
    return outbox.claim(store.engine, "test", limit=1000)


def test_incident_subscriptions_get_state_changes_and_finding_subscriptions_every_finding(
    store: AuditStore,
) -> None:
    incidents, _ = create_subscription(store.engine, NewSubscription(url=URL), actor="admin")
    every, _ = create_subscription(
        store.engine, NewSubscription(url=URL, alert_on="findings"), actor="admin"
    )
    severe_only, _ = create_subscription(
        store.engine,
        NewSubscription(url=URL, filters=Filters.of(min_severity="critical")),
        actor="admin",
    )
    policy = IncidentPolicy(escalate_at=Severity.CRITICAL, quiet_s=600)
    write(store, *[finding(n, n * 0.1, policy=policy) for n in range(20)])
    write(store, finding(20, 3, policy=policy, severity=Severity.CRITICAL))
    write(store, events=[event(1, 60)])  # quiet for 10 minutes of event time: recovered
    claimed = _deliveries(store)
    per_sub: dict[int, list[outbox.Claimed]] = {}
    for c in claimed:
        per_sub.setdefault(c.subscription_id, []).append(c)
    assert len(per_sub[every.id]) == 21 and all(c.incident is None for c in per_sub[every.id])
    changes = [c.incident["event"]["event"] for c in per_sub[incidents.id] if c.incident]
    assert sorted(changes) == ["escalated", "opened", "recovered"]
    # the filters see the state change's severity: the opening (medium) is below critical; the
    # escalation and the recovery of the (now critical) incident are not
    assert sorted(c.incident["event"]["event"] for c in per_sub[severe_only.id] if c.incident) == [
        "escalated",
        "recovered",
    ]
    opened = next(c for c in per_sub[incidents.id] if c.incident["event"]["event"] == "opened")  # type: ignore[index]
    body = orjson.loads(
        render(
            WebhookFormat.GENERIC,
            opened.finding,
            delivery_id=opened.delivery_id,
            subscription_id=opened.subscription_id,
            incident=opened.incident,
        )
    )
    assert body["type"] == "incident" and body["incident"]["event"]["type"] == "opened"
    assert body["incident"]["model_id"] == "credit-scoring" and body["finding"]["finding_id"]
    slack = orjson.loads(
        render(
            WebhookFormat.SLACK,
            opened.finding,
            delivery_id=opened.delivery_id,
            subscription_id=opened.subscription_id,
            incident=opened.incident,
        )
    )
    assert slack["text"].startswith("[MEDIUM] Incident opened: credit-scoring")


def test_resolving_by_hand_alerts_once(store: AuditStore) -> None:
    sub, _ = create_subscription(store.engine, NewSubscription(url=URL), actor="admin")
    write(store, finding(1, 0))
    iid = _only(store)["incident_id"]
    act(store.engine, iid, "acknowledge", actor="ops", reason="looking")
    act(store.engine, iid, "resolve", actor="ops", reason="fixed")
    changes = sorted(c.incident["event"]["event"] for c in _deliveries(store) if c.incident)
    assert changes == ["opened", "resolved"] and sub.id


def test_the_api_lists_shows_and_moves_incidents_by_role(tmp_path: Path) -> None:
    db = tmp_path / "api.db"
    store = AuditStore.from_url(db_url(db))
    write(store, *[finding(n, n) for n in range(3)])
    write(store, finding(9, 0, model="fraud", severity=Severity.HIGH))
    client = TestClient(create_app(Settings(database_url=db_url(db))))
    tokens = {r: create_token(store.engine, role=r, name=r)[1] for r in ("auditor", "operator")}

    def call(method: str, path: str, role: str = "auditor", **kw: Any) -> Any:
        return client.request(
            method, path, headers={"Authorization": f"Bearer {tokens[role]}"}, **kw
        )

    assert client.get("/incidents").status_code == 401
    listed = call("GET", "/incidents").json()
    assert listed["count"] == 2
    fraud = call("GET", "/incidents", params={"model": "fraud"}).json()["items"]
    assert [i["severity"] for i in fraud] == ["high"]
    iid = fraud[0]["incident_id"]
    detail = call("GET", f"/incidents/{iid}").json()
    assert detail["count"] == 1 and detail["events"][0]["event"] == "opened"
    assert detail["findings"][0]["model_id"] == "fraud"
    assert call("GET", "/incidents/nope").status_code == 404
    body = {"json": {"reason": "checked"}}
    assert call("POST", f"/incidents/{iid}/acknowledge", **body).status_code == 403
    acked = call("POST", f"/incidents/{iid}/acknowledge", "operator", **body)
    assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
    assert acked.json()["event"]["actor"] == "operator"
    assert call("POST", f"/incidents/{iid}/acknowledge", "operator", **body).status_code == 409
    assert call("POST", f"/incidents/{iid}/delete", "operator", **body).status_code == 422
    assert (
        call("POST", f"/incidents/{iid}/resolve", "operator", json={"reason": ""}).status_code
        == 422
    )
    fp = call("POST", f"/incidents/{iid}/false-positive", "operator", **body).json()
    assert fp["status"] == "false_positive"
    statuses = call("GET", "/incidents", params={"status": "false_positive"}).json()
    assert [i["incident_id"] for i in statuses["items"]] == [iid]
    assert call("GET", "/chain/verify").json()["ok"]


def test_the_cli_lists_shows_and_moves_incidents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "cli.db"
    store = AuditStore.from_url(db_url(db))
    write(store, finding(1, 0), finding(2, 1, model="fraud"))
    monkeypatch.setenv("RISKWATCH_DATABASE_URL", db_url(db))
    get_settings.cache_clear()
    try:
        run = CliRunner().invoke
        rows = orjson.loads(run(main, ["audit", "incidents", "--format", "json"]).output)
        assert {r["model_id"] for r in rows} == {"credit-scoring", "fraud"}
        table = run(main, ["audit", "incidents", "--model", "fraud"]).output
        assert "fraud" in table and "credit-scoring" not in table
        iid = next(r["incident_id"] for r in rows if r["model_id"] == "fraud")
        shown = run(main, ["audit", "incident", "show", iid]).output
        assert "opened" in shown and "state changes" in shown
        ack = run(main, ["audit", "incident", "ack", iid, "--reason", "seen", "--actor", "me"])
        assert ack.exit_code == 0 and "acknowledged" in ack.output
        again = run(main, ["audit", "incident", "ack", iid, "--reason", "seen", "--actor", "me"])
        assert again.exit_code == 1 and "cannot acknowledge" in again.output
        missing = run(main, ["audit", "incident", "show", "nope"])
        assert missing.exit_code == 1 and "no incident" in missing.output
        bad = run(main, ["audit", "incidents", "--subcategory", "nonsense"])
        assert bad.exit_code == 2 and "unknown subcategory" in bad.output
        csv = run(main, ["audit", "incidents", "--status", "acknowledged", "--format", "csv"])
        assert csv.output.count("\n") == 2 and iid in csv.output  # header and one row
    finally:
        get_settings.cache_clear()
