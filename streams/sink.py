"""The audit sink: has a batch committed (by the runner), then publishes what it produced.

Ordering is the at-least-once contract: the runner commits the batch's rows (retrying while the
database is away) before anything is published, and the agent acks the batch only after
``handle`` returns.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Sequence
from typing import Any, Protocol

import orjson

from streams.batch import Outcome, RawMessage
from streams.metrics import WorkerMetrics
from streams.retry import retry_async
from streams.runner import Runner

log = logging.getLogger(__name__)


class Publisher(Protocol):
    async def __call__(
        self, topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> Awaitable[Any]:
        """Schedule one message; the returned awaitable resolves once the broker has it."""


class AuditSink:
    def __init__(
        self,
        runner: Runner,
        publish: Publisher,
        *,
        findings_topic: str,
        dlq_topic: str,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.runner = runner
        self.metrics = metrics
        self.publish = publish
        self.findings_topic = findings_topic
        self.dlq_topic = dlq_topic
        self.stats = {"batches": 0, "events": 0, "duplicates": 0, "dead_letters": 0, "findings": 0}

    async def start(self) -> None:
        await self.runner.start()

    async def handle(self, messages: Sequence[RawMessage]) -> Outcome:
        started = time.perf_counter()
        outcome = await self.runner.run(messages)
        await retry_async("publishing findings and dead letters", lambda: self._publish(outcome))
        if self.metrics is not None:
            self.metrics.observe(outcome, time.perf_counter() - started)
        self.stats["batches"] += 1
        self.stats["events"] += outcome.stored
        self.stats["duplicates"] += outcome.duplicates
        self.stats["dead_letters"] += len(outcome.rejected)
        self.stats["findings"] += len(outcome.findings)
        return outcome

    async def _publish(self, outcome: Outcome) -> None:
        pending = []
        for finding in outcome.findings:
            pending.append(
                await self.publish(
                    self.findings_topic,
                    finding.model_id.encode(),
                    orjson.dumps(finding.to_dict()),
                    [
                        ("riskwatch-category", str(finding.category).encode()),
                        ("riskwatch-severity", str(finding.severity).encode()),
                    ],
                )
            )
        for msg, letter in outcome.rejected:
            pending.append(
                await self.publish(
                    self.dlq_topic,
                    msg.key,
                    msg.value,
                    [
                        ("riskwatch-dlq-reason", letter.reason.encode()),
                        ("riskwatch-dlq-detail", letter.detail.encode("utf-8", "replace")[:1000]),
                        ("riskwatch-source", f"{msg.topic}/{msg.partition}/{msg.offset}".encode()),
                        ("riskwatch-rejected-at", str(int(time.time() * 1000)).encode()),
                    ],
                )
            )
        if pending:
            await asyncio.gather(*pending)
