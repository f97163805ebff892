"""The audit sink: commits a batch's rows, then publishes its findings and dead letters.

Ordering is the at-least-once contract: rows are committed (retrying for as long as the database
is away) before anything is published, and the agent acks the batch only after this returns.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable, Protocol, Sequence, TypeVar

import orjson

from audit.store import AuditStore
from streams.codec import EventPolicy
from streams.processor import BatchProcessor, Prepared, RawMessage, decode_batch

log = logging.getLogger(__name__)
T = TypeVar("T")


class Publisher(Protocol):
    async def __call__(
        self, topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> Awaitable[Any]:
        """Schedule one message; the returned awaitable resolves once the broker has it."""


async def retry_forever(
    what: str, fn: Callable[[], Awaitable[T]], *, first_delay: float = 0.2, max_delay: float = 10.0
) -> T:
    """Run ``fn`` until it succeeds; events are never skipped because a dependency is down."""
    delay = first_delay
    attempt = 0
    while True:
        try:
            return await fn()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            attempt += 1
            log.warning("%s failed (attempt %d, retrying in %.1fs): %s: %s",
                        what, attempt, delay, type(exc).__name__, str(exc)[:300])
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)


class AuditSink:
    def __init__(
        self,
        store: AuditStore,
        processor: BatchProcessor,
        publish: Publisher,
        *,
        findings_topic: str,
        dlq_topic: str,
        policy: EventPolicy,
    ) -> None:
        self.store = store
        self.processor = processor
        self.publish = publish
        self.findings_topic = findings_topic
        self.dlq_topic = dlq_topic
        self.policy = policy
        self.stats = {"batches": 0, "events": 0, "duplicates": 0, "dead_letters": 0, "findings": 0}

    async def restore(self) -> None:
        states = await retry_forever(
            "loading detector state", lambda: asyncio.to_thread(self.store.load_states,
                                                                self.processor.state_scope)
        )
        self.processor.restore(states)

    async def handle(self, messages: Sequence[RawMessage]) -> Prepared:
        decoded = decode_batch(messages, self.policy)
        ids = [e.event.event_id for e in decoded.events]
        known: set[str] = set()
        if ids:
            known = await retry_forever(
                "looking up stored event ids", lambda: asyncio.to_thread(self.store.known_event_ids, ids)
            )
        prepared = self.processor.prepare(decoded, known)
        await retry_forever(
            "writing to the audit store", lambda: asyncio.to_thread(self.store.write, prepared.audit)
        )
        await retry_forever("publishing findings and dead letters", lambda: self._publish(prepared))
        self._count(prepared)
        return prepared

    async def _publish(self, prepared: Prepared) -> None:
        pending = []
        for finding in prepared.findings:
            pending.append(await self.publish(
                self.findings_topic, finding.model_id.encode(), orjson.dumps(finding.to_dict()),
                [("riskwatch-category", str(finding.category).encode()),
                 ("riskwatch-severity", str(finding.severity).encode())],
            ))
        for msg, letter in prepared.rejected:
            pending.append(await self.publish(
                self.dlq_topic, msg.key, msg.value,
                [("riskwatch-dlq-reason", letter.reason.encode()),
                 ("riskwatch-dlq-detail", letter.detail.encode("utf-8", "replace")[:1000]),
                 ("riskwatch-source", f"{msg.topic}/{msg.partition}/{msg.offset}".encode()),
                 ("riskwatch-rejected-at", str(int(time.time() * 1000)).encode())],
            ))
        if pending:
            await asyncio.gather(*pending)

    def _count(self, prepared: Prepared) -> None:
        self.stats["batches"] += 1
        self.stats["events"] += len(prepared.audit.events)
        self.stats["duplicates"] += prepared.duplicates
        self.stats["dead_letters"] += len(prepared.rejected)
        self.stats["findings"] += len(prepared.findings)
