"""The sink commits before it publishes, and keeps retrying while the database is away."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError

from audit.queries import summary
from streams.runner import ThreadRunner
from streams.sink import AuditSink
from tests.unit.test_store import _handler, _messages


def test_database_outage_is_waited_out_and_publishing_follows_the_commit(tmp_path: Path) -> None:
    handler = _handler(tmp_path / "a.db")
    calls: list[str] = []
    real_write = handler.store.write

    def flaky_write(batch: Any) -> None:
        if calls.count("write-failed") < 2:
            calls.append("write-failed")
            raise OperationalError("insert", {}, Exception("database is locked"))
        real_write(batch)
        calls.append("committed")

    handler.store.write = flaky_write  # type: ignore[method-assign]

    async def publish(topic: str, key: bytes | None, value: bytes | None,
                      headers: list[tuple[str, bytes]]) -> Any:
        calls.append(f"publish:{topic}:{dict(headers).get('riskwatch-dlq-reason', b'').decode()}")
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut

    messages, traffic = _messages()
    sink = AuditSink(ThreadRunner(handler), publish, findings_topic="f", dlq_topic="d")

    async def go() -> Any:
        await sink.start()
        return await sink.handle(messages)

    outcome = asyncio.run(go())
    assert calls[:3] == ["write-failed", "write-failed", "committed"]
    published = calls[3:]
    assert len(published) == len(outcome.findings) + len(outcome.rejected) > 0
    dlq = sorted(c.rsplit(":", 1)[1] for c in published if c.startswith("publish:d:"))
    assert dlq == sorted(r for r, n in traffic.malformed.items() for _ in range(n))
    assert summary(handler.store.engine)["events"] == len(traffic.valid_event_ids)
    assert sink.stats["events"] == len(traffic.valid_event_ids)
