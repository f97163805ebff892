"""The audit sink commits before it publishes, waits out a database outage, dead-letters bad
messages with their reason, and neither stores nor re-detects duplicates."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
from sqlalchemy.exc import OperationalError

import streams.agent
import streams.pipeline
import streams.retry
from audit.queries import summary
from audit.store import AuditBatch, AuditStore
from core.model_registry import load_registry
from core.signals import ObservedEvent, Signal
from detectors.base import Detector
from detectors.usage_slo import UsageSLODetector
from policies.engine import PolicyEngine
from streams.agent import AuditSink
from streams.batch import Outcome, RawMessage
from streams.codec import DeadLetterReason as R
from streams.codec import EventPolicy
from streams.pipeline import BatchHandler, BatchProcessor
from streams.runner import ThreadRunner
from tests.dburl import db_url
from tests.unit.paths import REPO
from tests.unit.policies.policy_helpers import signal_rule_packs

REGISTRY = load_registry(REPO / "riskwatch.yaml")  # credit-scoring: 250 ms latency SLO


class SpyDetector(Detector):
    name: ClassVar[str] = "spy"
    signal_kinds: ClassVar[tuple[str, ...]] = ()

    def __init__(self, registry: Any) -> None:
        super().__init__(registry)
        self.seen: list[str] = []

    def process(self, batch: Sequence[ObservedEvent]) -> list[Signal]:
        self.seen += [o.event.event_id for o in batch]
        return []


class FlakyStore:
    """A real SQLite store whose first ``failures`` writes raise OperationalError."""

    def __init__(self, real: AuditStore, calls: list[Any], failures: int = 2) -> None:
        self.real, self.engine, self.calls, self.failures = real, real.engine, calls, failures

    def known_event_ids(self, ids: Any) -> set[str]:
        return self.real.known_event_ids(ids)

    def load_states(self, scope: str = "global") -> Any:
        return self.real.load_states(scope)

    def write(self, batch: AuditBatch) -> None:
        if self.failures > 0:
            self.failures -= 1
            self.calls.append("write-failed")
            raise OperationalError("INSERT INTO events", {}, Exception("database is locked"))
        self.real.write(batch)
        self.calls.append("committed")


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    sync, forever = streams.retry.retry_sync, streams.retry.retry_async
    monkeypatch.setattr(
        streams.pipeline,
        "retry_sync",
        lambda what, fn, **_: sync(what, fn, first_delay=0.001, max_delay=0.001),
    )
    monkeypatch.setattr(
        streams.agent,
        "retry_async",
        lambda what, fn, **_: forever(what, fn, first_delay=0.001, max_delay=0.001),
    )


def _event(i: int, latency: float = 100.0, error: str | None = None) -> bytes:
    return orjson.dumps(
        {
            "event_id": f"e{i}",
            "timestamp": f"2026-11-28T12:00:{i:02d}Z",
            "model": {"id": "credit-scoring", "version": "1"},
            "usage": {"latency_ms": latency, "error": error},
        }
    )


def _messages(values: list[bytes], first_offset: int = 0) -> list[RawMessage]:
    return [RawMessage("ev", 0, first_offset + k, b"key", v) for k, v in enumerate(values)]


class Rig:
    def __init__(self, tmp_path: Path, failures: int = 2, publish_failures: int = 0) -> None:
        self.calls: list[Any] = []
        self.published: list[tuple[str, bytes | None, bytes | None, dict[str, bytes]]] = []
        self.real = AuditStore.from_url(db_url(tmp_path / "a.db"))
        self.spy = SpyDetector(REGISTRY)
        processor = BatchProcessor(
            [self.spy, UsageSLODetector(REGISTRY)], PolicyEngine(signal_rule_packs(), REGISTRY)
        )
        handler = BatchHandler(
            FlakyStore(self.real, self.calls, failures), processor, EventPolicy()
        )  # type: ignore[arg-type]
        self.publish_failures = publish_failures
        self.sink = AuditSink(
            ThreadRunner(handler), self.publish, findings_topic="findings", dlq_topic="dlq"
        )

    async def publish(
        self, topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> Any:
        if self.publish_failures > 0:
            self.publish_failures -= 1
            raise ConnectionError("broker away")
        self.calls.append(("publish", topic))
        self.published.append((topic, key, value, dict(headers)))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def handle(self, *batches: list[RawMessage]) -> list[Outcome]:
        async def go() -> list[Outcome]:
            await self.sink.start()
            return [await self.sink.handle(b) for b in batches]

        return asyncio.run(go())


def test_outage_is_waited_out_and_publishing_follows_the_commit(tmp_path: Path) -> None:
    rig = Rig(tmp_path, failures=2)
    values = [
        _event(0),
        _event(1, latency=900.0),
        _event(2, error="timeout"),
        b"",
        b"{nope",
        b"[1]",
    ]
    (outcome,) = rig.handle(_messages(values))
    assert rig.calls[:3] == ["write-failed", "write-failed", "committed"]
    assert all(c[0] == "publish" for c in rig.calls[3:]) and len(rig.calls) == 3 + 5
    assert outcome.stored == 3 and outcome.duplicates == 0
    s = summary(rig.real.engine)
    assert s["events"] == 3 and s["dead_letters"] == 3 and s["findings"] == {"technical": 2}
    findings = [p for p in rig.published if p[0] == "findings"]
    assert sorted(orjson.loads(v)["rule_id"] for _, _, v, _ in findings) == [
        "RW-TR-001",
        "RW-TR-002",
    ]  # type: ignore[arg-type]
    assert all(
        k == b"credit-scoring" and h["riskwatch-category"] == b"technical"
        for _, k, _, h in findings
    )
    assert rig.sink.stats == {
        "batches": 1,
        "events": 3,
        "duplicates": 0,
        "dead_letters": 3,
        "findings": 2,
    }


def test_malformed_messages_go_to_the_dlq_with_their_reason(tmp_path: Path) -> None:
    rig = Rig(tmp_path, failures=0)
    bad = {
        b"": R.EMPTY,
        b"\xff\xfe": R.NOT_UTF8,
        b"{nope": R.NOT_JSON,
        b"42": R.NOT_OBJECT,
        orjson.dumps({"schema": "riskwatch.feedback/v9"}): R.UNSUPPORTED_SCHEMA,
        orjson.dumps({"event_id": "x"}): R.INVALID_EVENT,
    }
    rig.handle(_messages([_event(0), *bad]))
    dlq = [p for p in rig.published if p[0] == "dlq"]
    assert [h["riskwatch-dlq-reason"].decode() for _, _, _, h in dlq] == list(bad.values())
    for k, (_, key, value, headers) in enumerate(dlq, start=1):
        assert key == b"key" and value == list(bad)[k - 1]  # the original bytes, for replay
        assert headers["riskwatch-source"] == f"ev/0/{k}".encode()
        assert headers["riskwatch-dlq-detail"] and int(headers["riskwatch-rejected-at"]) > 0
    s = summary(rig.real.engine)
    assert s["dead_letters_by_reason"] == {r: 1 for r in sorted(bad.values())}


def test_duplicates_are_neither_stored_nor_redetected(tmp_path: Path) -> None:
    rig = Rig(tmp_path, failures=0)
    slow = _event(1, latency=900.0)
    first = _messages([_event(0), slow, slow, _event(0)])  # in-batch copies
    second = _messages([slow, _event(2, latency=900.0), _event(0)], first_offset=10)  # redelivery
    one, two = rig.handle(first, second)
    assert rig.spy.seen == ["e0", "e1", "e2"], "each event must reach the detectors once"
    assert (one.stored, one.duplicates) == (2, 2) and (two.stored, two.duplicates) == (1, 2)
    assert [f.event_id for f in one.findings] == ["e1"] and [f.event_id for f in two.findings] == [
        "e2"
    ]
    assert summary(rig.real.engine)["events"] == 3
    assert sum(summary(rig.real.engine)["findings"].values()) == 2
    assert rig.sink.stats["duplicates"] == 4 and rig.sink.stats["batches"] == 2
    assert [p[0] for p in rig.published] == ["findings", "findings"]


def test_publish_failures_are_retried_without_writing_again(tmp_path: Path) -> None:
    rig = Rig(tmp_path, failures=0, publish_failures=1)
    (outcome,) = rig.handle(_messages([_event(0, latency=900.0), b""]))
    assert rig.calls.count("committed") == 1
    assert {p[0] for p in rig.published} == {"findings", "dlq"} and len(outcome.findings) == 1


def test_detector_state_is_committed_with_the_batch(tmp_path: Path) -> None:
    rig = Rig(tmp_path, failures=1)
    rig.handle(_messages([_event(i, error="x") for i in range(3)]))
    states = rig.real.load_states()
    assert set(states) == {"spy", "usage_slo", "policies"}  # policies: window-rule state
    assert states["usage_slo"].state["credit-scoring"]["calls"] == 3


def test_the_findings_topic_carries_no_credential() -> None:
    from streams.agent import _published

    key = "AKIAIOSFODNN7EXAMPLQ"
    published = _published(
        {"title": f"leak {key}", "evidence": {"quote": f"use {key}"}, "finding_id": "f"}
    )
    assert key not in str(published) and published["finding_id"] == "f"
