"""Each webhook delivery's final outcome (delivered or dead) and each revival of a dead one is
chained (audit/webhooks/outbox.py): an outcome edited, deleted or written behind riskwatch's back
fails `audit verify`; failed attempts that will be retried add no link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, select, update

from audit import chain
from audit.store import AuditStore
from audit.verify import verify
from audit.webhooks import outbox
from audit.webhooks.spec import NewSubscription
from audit.webhooks.subscriptions import create_subscription
from tests.unit.audit.webhooks.webhook_helpers import finding, new_store, write_findings

D = outbox.DELIVERIES


def _queued(tmp_path: Path) -> AuditStore:
    store = new_store(tmp_path)
    create_subscription(
        store.engine, NewSubscription(alert_on="findings", url="http://127.0.0.1:9/h"), actor="a"
    )
    write_findings(store, [finding(i) for i in range(4)])
    return store


def _subjects(store: AuditStore) -> list[str]:
    with store.engine.connect() as conn:
        return list(
            conn.execute(
                select(chain.CHAIN.c.subject)
                .where(chain.CHAIN.c.kind == "delivery")
                .order_by(chain.CHAIN.c.seq)
            ).scalars()
        )


def _set(store: AuditStore, delivery_id: str, **values: object) -> None:
    with store.engine.begin() as conn:
        conn.execute(update(D).where(D.c.delivery_id == delivery_id).values(**values))


def test_outcomes_are_chained_and_verified(tmp_path: Path) -> None:
    store = _queued(tmp_path)
    engine, now = store.engine, datetime.now(UTC) + timedelta(seconds=1)
    a, b, c, _ = outbox.claim(engine, "d1", now=now)
    assert outbox.mark_delivered(engine, a.delivery_id, "d1", status_code=200)
    assert outbox.mark_failed(
        engine, b.delivery_id, "d1", error="HTTP 500", status_code=500, retry_at=now
    )
    assert outbox.mark_failed(
        engine, c.delivery_id, "d1", error="HTTP 404", status_code=404, retry_at=None
    )
    assert [s.split("/")[::2] for s in _subjects(store)] == [
        [a.delivery_id, "delivered"],
        [c.delivery_id, "dead"],
    ]
    assert verify(engine).ok
    assert outbox.retry_dead(engine, delivery_ids=[c.delivery_id]) == 1
    assert c.delivery_id in {x.delivery_id for x in outbox.claim(engine, "d2", now=now)}
    assert outbox.mark_delivered(engine, c.delivery_id, "d2", status_code=204)
    assert [s.split("/")[::2] for s in _subjects(store)[-2:]] == [
        [c.delivery_id, "retry"],
        [c.delivery_id, "delivered"],
    ]
    with engine.connect() as conn:  # the number in a subject is the link's own seq
        for seq, subject in conn.execute(
            select(chain.CHAIN.c.seq, chain.CHAIN.c.subject).where(chain.CHAIN.c.kind == "delivery")
        ):
            assert subject.split("/")[1] == str(seq)
    report = verify(engine)
    assert report.ok, report.broken

    _set(store, a.delivery_id, last_status_code=500)  # the receiver "refused" it after all
    broken = verify(engine).broken
    assert broken is not None and broken.kind == "delivery" and broken.subject == a.delivery_id
    assert "changed after its outcome (delivered) was chained" in broken.problem
    _set(store, a.delivery_id, last_status_code=200)
    assert verify(engine).ok


def test_an_outcome_written_or_deleted_behind_riskwatch_is_caught(tmp_path: Path) -> None:
    store = _queued(tmp_path)
    engine, now = store.engine, datetime.now(UTC) + timedelta(seconds=1)
    a, b, *_ = outbox.claim(engine, "d1", now=now)
    assert outbox.mark_failed(
        engine, a.delivery_id, "d1", error="HTTP 404", status_code=404, retry_at=None
    )
    _set(store, a.delivery_id, status="delivered", last_status_code=200)  # dead made delivered
    broken = verify(engine).broken
    assert broken is not None and broken.subject == a.delivery_id
    assert "changed after its outcome (dead) was chained" in broken.problem
    _set(store, a.delivery_id, status="dead", last_status_code=404)
    assert verify(engine).ok

    _set(store, b.delivery_id, status="delivered", last_status_code=200, attempts=1)
    broken = verify(engine).broken
    assert broken is not None and broken.subject == b.delivery_id
    assert "is delivered but that outcome is not in the chain" in broken.problem
    _set(store, b.delivery_id, status="pending", last_status_code=None, attempts=0)

    with engine.begin() as conn:
        conn.execute(delete(D).where(D.c.delivery_id == a.delivery_id))
    broken = verify(engine).broken
    assert broken is not None and broken.subject == a.delivery_id and "deleted" in broken.problem
