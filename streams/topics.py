"""The topics riskwatch reads and writes."""

from __future__ import annotations

import logging
from dataclasses import dataclass

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


def ensure_topics(settings: Settings) -> None:
    """Create riskwatch's topics if missing, before the consumer subscribes (Faust does not create
    a source topic, and would only notice one created later at its next metadata refresh)."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    names = [settings.events_topic, settings.findings_topic, settings.dlq_topic]
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=settings.bootstrap_servers, client_id=f"{settings.app_id}-admin"
        )
    except KafkaError as exc:
        log.warning("cannot reach Kafka to check topics (%s); the worker will retry", exc)
        return
    try:
        missing = [n for n in names if n not in set(admin.list_topics())]
        for name in missing:
            try:
                admin.create_topics([NewTopic(name, settings.partitions, 1)])
                log.info("created topic %s with %d partitions", name, settings.partitions)
            except TopicAlreadyExistsError:
                pass
            except KafkaError as exc:
                log.warning("could not create topic %s (%s); create it beforehand", name, exc)
    finally:
        admin.close()
