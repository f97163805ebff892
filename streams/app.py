"""The Faust app: configuration only (topics in streams/topics.py, agents in streams/agent.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import faust

from core.settings import Settings

DRAIN_TIMEOUT_S = 25.0


class RiskwatchApp(faust.App):
    """A Faust app whose graceful stop first finishes the batches in hand.

    Batches are acked only once committed (streams/agent.py), so Faust's own wait for unacked
    messages at stop does not see them; without this, a SIGTERM would commit the offsets of the
    batches already acked and leave the ones in progress to be read again after the restart.
    """

    drain: Callable[[float], Awaitable[None]] | None = None

    async def _stop_consumer(self) -> None:
        if self.drain is not None:
            await self.drain(DRAIN_TIMEOUT_S)
        await super()._stop_consumer()


def create_app(settings: Settings) -> RiskwatchApp:
    datadir = settings.home / "worker"
    datadir.mkdir(parents=True, exist_ok=True)  # Faust creates only the last level
    return RiskwatchApp(
        settings.app_id,
        broker=[f"kafka://{server}" for server in settings.bootstrap_servers],
        value_serializer="raw",
        key_serializer="raw",
        store="memory://",
        datadir=str(datadir / settings.app_id),
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        # Commit soon after a batch is acked; acking only happens after its rows are committed.
        broker_commit_interval=1.0,
        broker_max_poll_records=settings.batch_size,
        consumer_max_fetch_size=4 * 1024 * 1024,
        producer_acks=-1,
        producer_linger_ms=5,
        web_enabled=False,
        stream_buffer_maxsize=max(4096, 2 * settings.batch_size),
        autodiscover=False,
    )
