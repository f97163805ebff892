"""Batch links (audit/batchchain.py): each batch's new events and new feedback labels are one
chain link each; an edited, deleted or inserted row breaks `audit verify` and is named, a GDPR
erasure (labels deleted, events reduced to skeletons) and a retention purge do not, and rows
stored before batch links existed are chained by migration 0010."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import delete, insert, select, text, update

from audit import batchchain
from audit.chain import CHAIN, REMOVALS
from audit.db import make_engine
from audit.migrate import upgrade
from audit.models import as_utc
from audit.removal.erasure import erase_subject
from audit.removal.retention import purge_events
from audit.verify import verify
from riskwatch.simulator import demo_traffic
from streams.batch import RawMessage
from tests.dburl import db_url
from tests.unit.audit.audit_helpers import REGISTRY, make_handler

FEEDBACK, EVENTS = batchchain.FEEDBACK, batchchain.EVENTS
NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)


def _store(db: Path, n: int = 600) -> tuple[Any, Any, dict[str, str]]:
    """``n`` simulated events with labels for 80% of the decisions, in batches of 200; the
    handler, its messages, and event_id → user_ref."""
    handler = make_handler(db)
    traffic = demo_traffic(n, registry=REGISTRY, seed=5, run_id="b", feedback_fraction=0.8)
    msgs = [RawMessage("ev", 0, i, m.key, m.value) for i, m in enumerate(traffic.messages)]
    for i in range(0, len(msgs), 200):
        handler.handle(msgs[i : i + 200])
    refs = {}
    for m in traffic.messages:
        doc = orjson.loads(m.value) if m.kind in ("valid", "duplicate") else None
        if doc and (ref := doc.get("context", {}).get("user_ref")):
            refs[doc["event_id"]] = ref
    return handler, msgs, refs


def _labels(engine: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(FEEDBACK).order_by(FEEDBACK.c.event_id)).mappings())


def _links(engine: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(select(CHAIN).where(CHAIN.c.kind == "feedback").order_by(CHAIN.c.seq))
        )


def test_one_link_per_batch_covers_its_labels_and_replay_adds_none(tmp_path: Path) -> None:
    handler, msgs, _ = _store(tmp_path / "a.db")
    engine = handler.store.engine
    labels, links = _labels(engine), _links(engine)
    assert len(labels) > 50
    per_batch = Counter(r["chain_batch"] for r in labels)
    assert None not in per_batch
    assert sorted(link.subject for link in links) == sorted(per_batch)
    assert len(links) < len(labels) / 10  # one link per batch, not per label
    for link in links:
        rows = [r for r in labels if r["chain_batch"] == link.subject]
        leaves = [batchchain.leaf_entry("feedback", r) for r in rows]
        assert batchchain.batch_hash(leaves) == link.content_hash
    assert verify(engine).ok
    handler.handle(msgs)  # the same traffic again: nothing new, no link
    assert len(_links(engine)) == len(links) and verify(engine).ok


def test_an_edited_label_is_named(tmp_path: Path) -> None:
    engine = _store(tmp_path / "a.db")[0].store.engine
    victim = _labels(engine)[7]
    flipped = 0 if victim["label"] else 1
    with engine.begin() as conn:
        conn.execute(
            update(FEEDBACK).where(FEEDBACK.c.event_id == victim["event_id"]).values(label=flipped)
        )
    broken = verify(engine).broken
    assert broken is not None and broken.kind == "feedback"
    assert broken.subject == victim["chain_batch"]
    assert f"feedback label of event {victim['event_id']} was edited" in broken.problem


def test_a_deleted_or_inserted_label_is_caught(tmp_path: Path) -> None:
    engine = _store(tmp_path / "a.db")[0].store.engine
    victim = _labels(engine)[3]
    with engine.begin() as conn:
        conn.execute(delete(FEEDBACK).where(FEEDBACK.c.event_id == victim["event_id"]))
    broken = verify(engine).broken
    assert broken is not None and broken.kind == "feedback"
    assert broken.subject == victim["chain_batch"]
    assert f"event {victim['event_id']} was deleted outside an erasure" in broken.problem
    with engine.begin() as conn:  # put it back: the chain verifies again
        conn.execute(insert(FEEDBACK).values(**victim))
    assert verify(engine).ok

    forged = {**victim, "event_id": "forged-label"}
    with engine.begin() as conn:  # into an existing batch: that batch's link breaks
        conn.execute(insert(FEEDBACK).values(**forged))
    broken = verify(engine).broken
    assert broken is not None and broken.subject == victim["chain_batch"]
    assert "feedback label of event forged-label was inserted" in broken.problem
    for batch in (None, "f" * 32):  # with no batch, or one no link has: not in the chain
        with engine.begin() as conn:
            conn.execute(
                update(FEEDBACK)
                .where(FEEDBACK.c.event_id == "forged-label")
                .values(chain_batch=batch)
            )
        broken = verify(engine).broken
        assert broken is not None and broken.seq is None and broken.subject == "forged-label"
        assert "not in the chain" in broken.problem


def test_an_erasure_that_deletes_labels_keeps_the_links_verifying(tmp_path: Path) -> None:
    handler, _, refs = _store(tmp_path / "a.db")
    engine = handler.store.engine
    labelled = Counter(refs[r["event_id"]] for r in _labels(engine) if r["event_id"] in refs)
    ref, count = labelled.most_common(1)[0]
    result = erase_subject(engine, ref, reason="DSR-9", by="dpo", now=NOW)
    assert result.feedback == count > 0
    report = verify(engine)
    assert report.ok, report.broken
    with engine.connect() as conn:
        removed = conn.execute(
            select(REMOVALS.c.removed).where(REMOVALS.c.id == result.removal_id)
        ).scalar_one()
    assert sum(len(v) for v in removed["feedback"].values()) == count

    with engine.begin() as conn:  # the record cannot be made to account for another deletion
        other = conn.execute(select(FEEDBACK).limit(1)).mappings().one()
        conn.execute(delete(FEEDBACK).where(FEEDBACK.c.event_id == other["event_id"]))
    broken = verify(engine).broken
    assert broken is not None and broken.subject == other["chain_batch"]
    assert f"event {other['event_id']} was deleted outside an erasure" in broken.problem
    batch = removed["feedback"].setdefault(other["chain_batch"], [])
    batch.append([other["event_id"], batchchain.leaf("feedback", other), None])
    with engine.begin() as conn:
        conn.execute(
            update(REMOVALS).where(REMOVALS.c.id == result.removal_id).values(removed=removed)
        )
    broken = verify(engine).broken
    assert broken is not None and broken.kind == "erasure" and "changed" in broken.problem


def test_migration_0010_chains_the_labels_stored_before(tmp_path: Path) -> None:
    engine = make_engine(db_url(tmp_path / "old.db"))
    upgrade(engine, "0009")
    with engine.begin() as conn:
        for i in range(3):
            conn.execute(
                text(
                    "INSERT INTO feedback (event_id, timestamp, model_id, model_version, label, "
                    "payload, source_topic, source_partition, source_offset, stored_at) VALUES "
                    "(:e, '2026-11-28 12:00:00+00:00', 'm', '1', :l, '{}', 'fb', 0, :i, "
                    "'2026-11-28 12:00:01+00:00')"
                ),
                {"e": f"e{i}", "l": str(i % 2), "i": i},
            )
            conn.execute(
                text(
                    "INSERT INTO events (event_id, schema_name, timestamp, model_id, "
                    "model_version, latency_ms, payload, source_topic, source_partition, "
                    "source_offset, stored_at) VALUES (:e, 'riskwatch.inference/v1', "
                    "'2026-11-28 12:00:00+00:00', 'm', '1', 12, '{\"a\": 1.0}', 'ev', 0, :i, "
                    "'2026-11-28 12:00:01+00:00')"
                ),
                {"e": f"e{i}", "i": i},
            )
    upgrade(engine)
    with engine.connect() as conn:
        kinds = conn.execute(select(CHAIN.c.kind).order_by(CHAIN.c.seq)).scalars().all()
    assert kinds == ["events", "feedback"] and verify(engine).ok
    upgrade(engine)  # idempotent: nothing chained twice
    assert len(_links(engine)) == 1
    with engine.begin() as conn:
        conn.execute(update(EVENTS).where(EVENTS.c.event_id == "e2").values(model_id="n"))
    broken = verify(engine).broken
    assert broken is not None and broken.kind == "events"
    assert "event e2 was edited after it was chained" in broken.problem
    with engine.begin() as conn:
        conn.execute(update(EVENTS).where(EVENTS.c.event_id == "e2").values(model_id="m"))
    with engine.begin() as conn:
        conn.execute(update(FEEDBACK).where(FEEDBACK.c.event_id == "e1").values(label=5))
    broken = verify(engine).broken
    assert broken is not None and broken.kind == "feedback"
    assert "feedback label of event e1 was edited" in broken.problem


def _events(engine: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(EVENTS).order_by(EVENTS.c.timestamp)).mappings())


def test_each_batch_of_events_is_one_link_and_an_edit_is_named(tmp_path: Path) -> None:
    handler, msgs, _ = _store(tmp_path / "a.db")
    engine = handler.store.engine
    events = _events(engine)
    with engine.connect() as conn:
        links = conn.execute(select(CHAIN).where(CHAIN.c.kind == "events")).all()
    assert (
        len(links) == len({r["chain_batch"] for r in events}) <= len(msgs) // 200 + 1
    )  # per batch
    assert verify(engine).ok
    victim = events[42]
    with engine.begin() as conn:  # a cheaper model call than the one that happened
        conn.execute(
            update(EVENTS)
            .where(EVENTS.c.event_id == victim["event_id"])
            .values(cost_usd=(victim["cost_usd"] or 0) + 1)
        )
    broken = verify(engine).broken
    assert broken is not None and broken.kind == "events"
    assert f"event {victim['event_id']} was edited after it was chained" in broken.problem
    with engine.begin() as conn:
        conn.execute(
            update(EVENTS)
            .where(EVENTS.c.event_id == victim["event_id"])
            .values(cost_usd=victim["cost_usd"])
        )
        conn.execute(delete(EVENTS).where(EVENTS.c.event_id == victim["event_id"]))
    broken = verify(engine).broken
    assert broken is not None
    assert f"event {victim['event_id']} was deleted outside an erasure" in broken.problem


def test_a_retention_purge_verifies_a_deletion_after_it_does_not(tmp_path: Path) -> None:
    handler, _, _ = _store(tmp_path / "a.db")
    engine = handler.store.engine
    events = _events(engine)
    middle = events[len(events) // 2]["timestamp"]
    cutoff = as_utc(middle)
    result = purge_events(engine, 30, by="ops", now=cutoff + timedelta(days=30))
    assert 0 < result.deleted < len(events)
    report = verify(engine)
    assert report.ok, report.broken
    left = _events(engine)
    assert left and all(as_utc(r["timestamp"]) >= cutoff for r in left)
    with engine.begin() as conn:  # an event the purge did not reach
        conn.execute(delete(EVENTS).where(EVENTS.c.event_id == left[-1]["event_id"]))
    broken = verify(engine).broken
    assert broken is not None and broken.kind == "events"
    assert f"event {left[-1]['event_id']} was deleted outside" in broken.problem


def test_an_erasure_keeps_event_links_and_an_edited_skeleton_is_named(tmp_path: Path) -> None:
    handler, _, refs = _store(tmp_path / "a.db")
    engine = handler.store.engine
    ref = Counter(refs.values()).most_common(1)[0][0]
    result = erase_subject(engine, ref, reason="DSR-10", by="dpo", now=NOW)
    assert result.events > 0
    report = verify(engine)
    assert report.ok, report.broken
    erased = sorted(e for e, r in refs.items() if r == ref)
    with engine.begin() as conn:  # the skeleton of an erased event, edited afterwards
        conn.execute(update(EVENTS).where(EVENTS.c.event_id == erased[0]).values(latency_ms=1e6))
    broken = verify(engine).broken
    assert broken is not None and broken.kind == "events"
    assert f"event {erased[0]} was edited after it was chained" in broken.problem
