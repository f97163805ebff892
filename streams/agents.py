"""The events agent: batches from Kafka into the audit sink, acked only once committed."""

from __future__ import annotations

import logging
from typing import Any, Sequence

import faust
from faust.types import EventT, StreamT

from riskwatch.settings import Settings
from streams.processor import RawMessage
from streams.sink import AuditSink
from streams.topics import Topics

log = logging.getLogger(__name__)


def _raw(event: EventT) -> RawMessage:
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


def _withhold_acks(events: Sequence[EventT]) -> None:
    # take_events() acks the batch in a `finally`, so a batch cut short (worker stopping while
    # the database is away, a crash) would be committed without its rows. Flagging the messages
    # as acked already makes that ack a no-op: their offsets are never committed and Kafka
    # redelivers them after the restart; the idempotent store absorbs any overlap.
    for event in events:
        event.message.acked = True


def register_agents(app: faust.App, topics: Topics, sink: AuditSink, settings: Settings) -> Any:
    @app.task
    async def prepare() -> None:
        for topic in topics.outputs:
            await topic.maybe_declare()
        await sink.restore()

    # concurrency=1: with more, Faust may commit past a batch that is still being written.
    @app.agent(topics.events, name="riskwatch.events", concurrency=1)
    async def monitor(stream: StreamT) -> None:
        async for events in stream.take_events(settings.batch_size, within=settings.batch_within_s):
            committed = False
            try:
                prepared = await sink.handle([_raw(e) for e in events])
                committed = True
                log.debug("batch: %d events, %d findings, %d dead letters", len(prepared.audit.events),
                          len(prepared.findings), len(prepared.rejected))
            finally:
                if not committed:
                    _withhold_acks(events)

    return monitor
