"""The topics riskwatch reads and writes."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import faust
from faust.types import TopicT

from core.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Topics:
    events: TopicT
    findings: TopicT
    dead_letters: TopicT

    @property
    def outputs(self) -> tuple[TopicT, TopicT]:
        return (self.findings, self.dead_letters)


def declare_topics(app: faust.App, settings: Settings) -> Topics:
    def raw(name: str) -> TopicT:
        return app.topic(
            name,
            key_type=bytes,
            value_type=bytes,
            value_serializer="raw",
            key_serializer="raw",
            partitions=settings.partitions,
        )

    return Topics(
        events=raw(settings.events_topic),
        findings=raw(settings.findings_topic),
        dead_letters=raw(settings.dlq_topic),
    )


class DescribesTopics(Protocol):
    """The part of kafka-python's KafkaAdminClient that wait_for_topics uses."""

    def describe_topics(self, topics: list[str] | None = None) -> Sequence[Mapping[str, Any]]: ...


def not_ready(described: Iterable[Mapping[str, Any]], names: Iterable[str]) -> dict[str, str]:
    """Which of ``names`` a metadata answer (``describe_topics``) shows unusable, and why: missing,
    an error code, no partitions, or a partition with an error or without a leader."""
    by_name = {t.get("name"): t for t in described}
    pending: dict[str, str] = {}
    for name in names:
        topic = by_name.get(name)
        if topic is None:
            pending[name] = "not in the metadata"
        elif topic.get("error_code", 0):
            pending[name] = f"error code {topic['error_code']}"
        elif not topic.get("partitions"):
            pending[name] = "no partitions"
        else:
            bad = [
                str(p.get("partition_index", p.get("partition")))
                for p in topic["partitions"]
                if p.get("error_code", 0) or p.get("leader_id", p.get("leader", -1)) < 0
            ]
            if bad:
                pending[name] = f"no leader yet for partitions {', '.join(bad)}"
    return pending


def wait_for_topics(
    admin: DescribesTopics,
    names: Sequence[str],
    *,
    timeout_s: float = 30.0,
    interval_s: float = 0.2,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Block until every topic of ``names`` is in the cluster metadata with a leader for each
    partition. A topic the controller has just created is not usable at once: a producer sending
    to it then logs "Topic ... not found in cluster metadata" and retries on
    NotLeaderForPartitionError. Raises TimeoutError naming what is still missing."""
    from kafka.errors import KafkaError

    if not names:
        return
    deadline = clock() + timeout_s
    while True:
        try:
            pending = not_ready(admin.describe_topics(list(names)), names)
        except KafkaError as exc:
            pending = {name: f"metadata request failed: {exc}" for name in names}
        if not pending:
            return
        if clock() >= deadline:
            raise TimeoutError(
                f"Kafka topics not ready after {timeout_s:g}s: "
                + "; ".join(f"{n}: {why}" for n, why in pending.items())
            )
        sleep(interval_s)


def ensure_topics(settings: Settings, *, timeout_s: float = 30.0) -> None:
    """Create riskwatch's topics if missing and wait until each has a leader for every partition,
    before the consumer subscribes or anything is produced (Faust does not create a source topic,
    and would only notice one created later at its next metadata refresh)."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    names = [
        settings.events_topic,
        settings.findings_topic,
        settings.dlq_topic,
        settings.checkpoints_topic,
    ]
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=settings.bootstrap_servers, client_id=f"{settings.app_id}-admin"
        )
    except KafkaError as exc:
        log.warning("cannot reach Kafka to check topics (%s); the worker will retry", exc)
        return
    try:
        missing = [n for n in names if n not in set(admin.list_topics())]
        failed: set[str] = set()
        for name in missing:
            try:
                admin.create_topics([NewTopic(name, settings.partitions, 1)])
                log.info("created topic %s with %d partitions", name, settings.partitions)
            except TopicAlreadyExistsError:
                pass
            except KafkaError as exc:
                log.warning("could not create topic %s (%s); create it beforehand", name, exc)
                failed.add(name)
        try:
            wait_for_topics(admin, [n for n in names if n not in failed], timeout_s=timeout_s)
        except TimeoutError as exc:
            log.warning("%s; carrying on, clients will retry", exc)
    finally:
        admin.close()
