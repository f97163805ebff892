"""Subscriptions (filters, chain links, removal) and the outbox (idempotent enqueue, leases)."""

from __future__ import annotations

from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from audit import chain
from audit.models import WebhookDelivery
from audit.store import AuditStore
from audit.verify import verify
from audit.webhooks import outbox
from audit.webhooks.spec import Filters, NewSubscription, SubscriptionError
from audit.webhooks.subscriptions import (
    SubscriptionNotFound,
    create_subscription,
    list_subscriptions,
    remove_subscription,
)
from tests.unit.audit.webhooks.webhook_helpers import (
    T0,
    Severity,
    Subcategory,
    finding,
    new_store,
    write_findings,
)

URL = "http://127.0.0.1:9/hook"


def _row(
    model: str = "m",
    category: str = "technical",
    subcategory: str = "model_reliability",
    severity: str = "high",
) -> dict[str, str]:
    return {
        "model_id": model,
        "category": category,
        "subcategory": subcategory,
        "severity": severity,
    }


# --- filters ----------------------------------------------------------------------------------


def test_empty_filters_match_everything() -> None:
    assert Filters().matches(_row(severity="info"))
    assert Filters.of().matches(_row(model="x", category="legal", subcategory="ethics"))


@pytest.mark.parametrize(
    ("filters", "row", "expected"),
    [
        ({"models": ["m"]}, _row(model="m"), True),
        ({"models": ["m"]}, _row(model="n"), False),
        ({"models": ["m", "n"]}, _row(model="n"), True),
        ({"categories": ["legal"]}, _row(), False),
        ({"categories": ["legal", "technical"]}, _row(), True),
        ({"subcategories": ["security"]}, _row(), False),
        ({"subcategories": ["model_reliability"]}, _row(), True),
        ({"min_severity": "high"}, _row(severity="medium"), False),
        ({"min_severity": "high"}, _row(severity="high"), True),
        ({"min_severity": "high"}, _row(severity="critical"), True),
        ({"models": ["m"], "min_severity": "critical"}, _row(model="m", severity="high"), False),
    ],
)
def test_filter_matching(filters: dict[str, Any], row: dict[str, str], expected: bool) -> None:
    assert Filters.of(**filters).matches(row) is expected


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"categories": ["nope"]}, "unknown category 'nope'"),
        ({"subcategories": ["privacy"]}, "unknown subcategory 'privacy'"),
        ({"min_severity": "urgent"}, "unknown severity 'urgent'"),
        ({"models": [""]}, "model id"),
        ({"categories": ["technical"], "subcategories": ["data_privacy"]}, "never match"),
    ],
)
def test_bad_filters_are_refused_with_a_reason(filters: dict[str, Any], message: str) -> None:
    with pytest.raises(SubscriptionError, match=message):
        Filters.of(**filters)


@pytest.mark.parametrize(
    "url",
    ["", "ftp://h/x", "/relative", "http://", "https://u:p@h/x", "http://h:99999/", "x" * 3000],
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(SubscriptionError):
        NewSubscription(alert_on="findings", url=url)


def test_unknown_format_is_refused() -> None:
    with pytest.raises(SubscriptionError, match="format"):
        NewSubscription(alert_on="findings", url=URL, format="teams")  # type: ignore[arg-type]


# --- subscriptions and the chain ---------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> AuditStore:
    return new_store(tmp_path)


def test_create_returns_the_secret_once_and_chains_the_action(store: AuditStore) -> None:
    sub, secret = create_subscription(
        store.engine, NewSubscription(alert_on="findings", url=URL), actor="admin-1"
    )
    assert secret.startswith("whsec_") and len(secret) > 40
    assert sub.name == "127.0.0.1" and sub.active
    assert "secret" not in sub.to_dict() and secret not in repr(sub.to_dict())
    with store.engine.connect() as conn:
        link = chain.entry_for(conn, "webhook", f"{sub.id}/create")
    assert link is not None
    assert verify(store.engine).ok


def test_remove_is_soft_chained_and_idempotent(store: AuditStore) -> None:
    sub, _ = create_subscription(
        store.engine, NewSubscription(alert_on="findings", url=URL), actor="a"
    )
    removed = remove_subscription(store.engine, sub.id, actor="b")
    assert not removed.active and removed.removed_by == "b"
    again = remove_subscription(store.engine, sub.id, actor="c")
    assert again.removed_by == "b"
    assert list_subscriptions(store.engine) == []
    assert [s.id for s in list_subscriptions(store.engine, include_removed=True)] == [sub.id]
    report = verify(store.engine)
    assert report.ok and report.entries == 2
    with pytest.raises(SubscriptionNotFound):
        remove_subscription(store.engine, 999, actor="a")


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        ("UPDATE audit_chain SET content_hash = '{z}' WHERE kind = 'webhook'", "entry_hash"),
        (
            "UPDATE webhook_subscriptions SET url = 'https://attacker.example/x' WHERE id = 1",
            "webhook subscription 1 changed after its create",
        ),
        (
            "UPDATE webhook_subscriptions SET secret = 'whsec_known' WHERE id = 1",
            "webhook subscription 1 changed after its create",
        ),
        (
            "UPDATE webhook_subscriptions SET removed_at = NULL, removed_by = NULL WHERE id = 2",
            "webhook subscription 2 was removed, now it is active",
        ),
        (
            "UPDATE webhook_subscriptions SET removed_by = 'someone else' WHERE id = 2",
            "webhook subscription 2 changed after its remove",
        ),
        ("DELETE FROM webhook_subscriptions WHERE id = 1", "webhook subscription 1 was deleted"),
        (
            "INSERT INTO webhook_subscriptions (name, url, format, models, categories, "
            "subcategories, min_severity, secret, created_by, created_at) "
            "VALUES ('x', 'https://attacker.example', "
            "'generic', '[]', '[]', '[]', 'info', 's', 'x', '2026-01-01 00:00:00')",
            "webhook subscription 3 is not in the chain",
        ),
    ],
)
def test_verify_catches_subscriptions_altered_with_plain_sql(
    store: AuditStore, tamper: str, problem: str
) -> None:
    create_subscription(store.engine, NewSubscription(alert_on="findings", url=URL), actor="a")
    second, _ = create_subscription(
        store.engine, NewSubscription(alert_on="findings", url=URL), actor="a"
    )
    remove_subscription(store.engine, second.id, actor="b")
    assert verify(store.engine).ok
    with store.engine.begin() as conn:
        conn.execute(text(tamper.format(z="0" * 64)))
    report = verify(store.engine)
    assert not report.ok and report.broken is not None
    assert problem in report.broken.problem, report.broken


# --- the outbox ----------------------------------------------------------------------------


def _deliveries(store: AuditStore) -> list[dict[str, Any]]:
    table = WebhookDelivery.__table__
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table)).mappings()]


def test_one_delivery_per_finding_and_matching_subscription(store: AuditStore) -> None:
    everything, _ = create_subscription(
        store.engine, NewSubscription(alert_on="findings", url=URL), actor="a"
    )
    privacy, _ = create_subscription(
        store.engine,
        NewSubscription(
            alert_on="findings",
            url=URL,
            filters=Filters.of(categories=["legal"], min_severity="medium"),
        ),
        actor="a",
    )
    findings = [
        finding(1),
        finding(2, subcategory=Subcategory.DATA_PRIVACY),
        finding(3, subcategory=Subcategory.DATA_PRIVACY, severity=Severity.LOW),
    ]
    write_findings(store, findings)
    pairs = {(d["finding_id"], d["subscription_id"]) for d in _deliveries(store)}
    assert pairs == {(f.finding_id, everything.id) for f in findings} | {
        (findings[1].finding_id, privacy.id)
    }
    for d in _deliveries(store):
        assert d["delivery_id"] == outbox.delivery_id_for(d["finding_id"], d["subscription_id"])
        assert (d["status"], d["attempts"]) == ("pending", 0)


def test_a_redelivered_batch_adds_no_delivery(store: AuditStore) -> None:
    create_subscription(store.engine, NewSubscription(alert_on="findings", url=URL), actor="a")
    batch = [finding(1), finding(2), finding(2)]  # a duplicate inside the batch too
    write_findings(store, batch)
    first = _deliveries(store)
    assert len(first) == 2
    write_findings(store, batch)
    # A subscription added later does not alert on replayed (already stored) findings either.
    create_subscription(store.engine, NewSubscription(alert_on="findings", url=URL), actor="a")
    write_findings(store, batch)
    assert _deliveries(store) == first


def test_deliveries_commit_with_their_findings(
    store: AuditStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from audit.models import FindingRecord
    from audit.store import AuditBatch, DetectorState

    create_subscription(store.engine, NewSubscription(alert_on="findings", url=URL), actor="a")

    def broken(*_args: object) -> None:
        raise RuntimeError("database went away mid-batch")

    # The batch's last statement fails after its findings and deliveries were inserted.
    monkeypatch.setattr(AuditStore, "_upsert_state", broken)
    with pytest.raises(RuntimeError):
        store.write(AuditBatch(findings=[finding(4)], states=[DetectorState("d", "1", {})]))
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(FindingRecord.__table__)).scalar() == 0
    assert _deliveries(store) == []
    monkeypatch.undo()
    write_findings(store, [finding(4)])  # the replay then files both
    assert len(_deliveries(store)) == 1


def test_no_subscription_no_delivery(store: AuditStore) -> None:
    write_findings(store, [finding(1)])
    assert _deliveries(store) == []


def test_removal_cancels_pending_deliveries(store: AuditStore) -> None:
    sub, _ = create_subscription(
        store.engine, NewSubscription(alert_on="findings", url=URL), actor="a"
    )
    write_findings(store, [finding(1)])
    remove_subscription(store.engine, sub.id, actor="a")
    assert [d["status"] for d in _deliveries(store)] == ["cancelled"]
    write_findings(store, [finding(2)])
    assert len(_deliveries(store)) == 1  # removed subscriptions get nothing new
    assert outbox.claim(store.engine, "d1", now=T0 + timedelta(days=1)) == []


# --- claims and leases --------------------------------------------------------------------------


@pytest.fixture
def queued(store: AuditStore) -> AuditStore:
    create_subscription(store.engine, NewSubscription(alert_on="findings", url=URL), actor="a")
    write_findings(store, [finding(i) for i in range(5)])
    return store


def test_a_claimed_delivery_is_leased_to_one_dispatcher(queued: AuditStore) -> None:
    from datetime import datetime

    now = datetime.now(UTC) + timedelta(seconds=1)
    first = outbox.claim(queued.engine, "d1", now=now, lease_s=30, limit=3)
    second = outbox.claim(queued.engine, "d2", now=now, lease_s=30)
    assert len(first) == 3 and len(second) == 2
    assert not {c.delivery_id for c in first} & {c.delivery_id for c in second}
    assert outbox.claim(queued.engine, "d3", now=now) == []
    item = first[0]
    assert item.secret.startswith("whsec_") and item.secret not in repr(item)
    assert item.finding["finding_id"] and item.url == URL
    # Only the lease owner records a result.
    assert not outbox.mark_delivered(queued.engine, item.delivery_id, "d2", status_code=200)
    assert outbox.mark_delivered(queued.engine, item.delivery_id, "d1", status_code=200)
    # An expired lease (its dispatcher died) is claimed again; the result of the late owner is
    # then refused.
    later = now + timedelta(seconds=31)
    again = outbox.claim(queued.engine, "d4", now=later)
    assert {c.delivery_id for c in again} == {c.delivery_id for c in first[1:] + second}
    assert not outbox.mark_failed(
        queued.engine, first[1].delivery_id, "d1", error="x", status_code=500, retry_at=later
    )


def test_failures_reschedule_or_kill_and_dead_ones_can_be_retried(queued: AuditStore) -> None:
    from datetime import datetime

    now = datetime.now(UTC) + timedelta(seconds=1)
    a, b, *_ = outbox.claim(queued.engine, "d1", now=now)
    assert outbox.mark_failed(
        queued.engine,
        a.delivery_id,
        "d1",
        error="HTTP 500",
        status_code=500,
        retry_at=now + timedelta(seconds=60),
    )
    assert outbox.mark_failed(
        queued.engine, b.delivery_id, "d1", error="HTTP 404", status_code=404, retry_at=None
    )
    got_a = outbox.get_delivery(queued.engine, a.delivery_id)
    assert got_a is not None and (got_a["status"], got_a["attempts"]) == ("pending", 1)
    assert got_a["last_error"] == "HTTP 500" and got_a["last_status_code"] == 500
    # not due before its retry time
    assert a.delivery_id not in {
        c.delivery_id for c in outbox.claim(queued.engine, "d2", now=now + timedelta(seconds=31))
    }
    dead = outbox.list_deliveries(queued.engine, status="dead")
    assert [d["delivery_id"] for d in dead] == [b.delivery_id]
    assert outbox.status_counts(queued.engine)["dead"] == 1
    assert outbox.retry_dead(queued.engine, delivery_ids=[b.delivery_id]) == 1
    revived = outbox.get_delivery(queued.engine, b.delivery_id)
    assert revived is not None and (revived["status"], revived["attempts"]) == ("pending", 0)
    assert outbox.retry_dead(queued.engine) == 0  # nothing else is dead
