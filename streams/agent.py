"""The Kafka-facing side of a worker: the events agent, publishing, and acking once committed.

Ordering is the at-least-once contract. The runner commits a batch's rows (retrying while the
database is away) before anything is published (AuditSink.handle), and the agent acks the batch
only after ``handle`` returns.

Faust's take_events() acks a batch as soon as the agent asks for the next one (and even when the
agent was cancelled mid-batch). The agent takes acking over instead: it flags each message as
acked so that take_events' ack is a no-op, keeps up to ``depth`` batches in flight so that Kafka
consumption overlaps with the batch work, and acks a batch for real only after its rows are
committed. A batch that never completes is never acked, so Kafka redelivers it after a restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Sequence
from typing import Any, Protocol

import faust
import orjson
from faust.types import EventT, StreamT

from core.secrets import mask_secrets, mask_secrets_in
from core.settings import Settings
from streams.app import RiskwatchApp
from streams.batch import Outcome, RawMessage
from streams.metrics import WorkerMetrics
from streams.retry import retry_async
from streams.runner import Runner
from streams.topics import Topics


def _published(finding: dict[str, Any]) -> dict[str, Any]:
    """A finding as the findings topic carries it: credentials masked in its title and
    evidence, as in the store (a rule's evidence may quote the event)."""
    return {
        **finding,
        "title": mask_secrets(finding["title"]),
        "evidence": mask_secrets_in(finding["evidence"]),
    }


log = logging.getLogger(__name__)


class Publisher(Protocol):
    """Faust's producer.send, as the worker hands it in (a fake in the tests)."""

    async def __call__(
        self, topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> Awaitable[Any]:
        """Schedule one message; the returned awaitable resolves once the broker has it."""


class AuditSink:
    """Has a batch committed (by the runner), then publishes what it produced: its findings, and
    its dead letters with their reason; published only after the commit, acked only after both."""

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
                    orjson.dumps(_published(finding.to_dict())),
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


def _raw(event: EventT[bytes]) -> RawMessage:
    msg = event.message
    ts = msg.timestamp
    return RawMessage(
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
        key=msg.key,
        value=msg.value,
        timestamp_ms=int(ts * 1000) if ts else None,
    )


class InFlight:
    """Batches handed to the sink, acked strictly in order, each once its own work has finished."""

    def __init__(
        self,
        sink: AuditSink,
        stream: StreamT[bytes],
        depth: int,
        acked: dict[tuple[str, int], int] | None = None,
    ) -> None:
        self.sink = sink
        self.stream = stream
        self._pending: asyncio.Queue[tuple[Sequence[EventT[bytes]], asyncio.Future[Outcome]]] = (
            asyncio.Queue(maxsize=max(depth - 1, 1))
        )
        self._previous: asyncio.Future[Outcome] | None = None
        # highest acked offset per partition, for the consumer-lag metric
        self.acked: dict[tuple[str, int], int] = {} if acked is None else acked
        self.submitted = self.acked_batches = 0
        self.closing = False
        self._acker: asyncio.Future[None] | None = None

    async def drain(self, timeout: float) -> None:
        """Take no more batches; wait (up to ``timeout``) until those in hand are committed and
        acked. Batches refused from now on are neither processed nor acked: read again later."""
        self.closing = True
        deadline = asyncio.get_running_loop().time() + timeout
        while self.acked_batches < self.submitted and asyncio.get_running_loop().time() < deadline:
            if self._acker is not None and self._acker.done():
                break  # acking failed; what is not acked is read again after the restart
            await asyncio.sleep(0.05)
        log.info(
            "stopping: %d of %d batches committed and acked", self.acked_batches, self.submitted
        )

    async def submit(self, events: Sequence[EventT[bytes]]) -> None:
        if self.closing:
            for event in events:
                event.message.acked = True  # not processed: take_events must not ack it either
            return
        self.submitted += 1
        if self._acker is None:
            self._acker = asyncio.ensure_future(self._ack_in_order())
        elif self._acker.done():
            self._acker.result()  # re-raise what stopped acking: the agent must not run on
        for event in events:
            event.message.acked = True  # take_events' own ack becomes a no-op
        task = asyncio.ensure_future(self._run_after(self._previous, [_raw(e) for e in events]))
        self._previous = task
        await self._pending.put((events, task))  # waits while `depth` batches are in flight

    async def _run_after(
        self, previous: asyncio.Future[Outcome] | None, messages: list[RawMessage]
    ) -> Outcome:
        if previous is not None:
            await asyncio.shield(previous)  # keep batch order: detector state depends on it
        return await self.sink.handle(messages)

    async def _ack_in_order(self) -> None:
        while True:
            events, task = await self._pending.get()
            await task
            for event in events:
                event.message.acked = False
                await self.stream.ack(event)
                msg = event.message
                self.acked[(msg.topic, msg.partition)] = msg.offset
            self.acked_batches += 1


def register_agents(app: faust.App, topics: Topics, sink: AuditSink, settings: Settings) -> Any:
    acked: dict[tuple[str, int], int] = {}

    # concurrency=1: with more, Faust may commit past a batch that is still being written.
    @app.agent(topics.events, name="riskwatch.events", concurrency=1)
    async def monitor(stream: StreamT[bytes]) -> None:
        await sink.start()
        inflight = InFlight(sink, stream, depth=settings.batches_in_flight, acked=acked)
        if isinstance(app, RiskwatchApp):
            app.drain = inflight.drain
        # take_events is Faust's (faust.streams.Stream); its StreamT interface does not declare it
        batches = stream.take_events(  # type: ignore[attr-defined]
            settings.batch_size, within=settings.batch_within_s
        )
        async for events in batches:
            await inflight.submit(events)

    metrics = sink.metrics
    if metrics is not None:
        # faust's App.timer is annotated as returning a bare Callable: an untyped decorator
        @app.timer(1.0)  # type: ignore[untyped-decorator]
        async def report_lag() -> None:
            lags = []
            for tp in app.consumer.assignment():
                high, done = app.consumer.highwater(tp), acked.get((tp.topic, tp.partition))
                if high is not None and done is not None:
                    lags.append((tp.topic, tp.partition, high - done - 1))
            metrics.set_lag(lags)

    return monitor
