"""The topics riskwatch reads and writes."""

from __future__ import annotations

from dataclasses import dataclass

import faust
from faust.types import TopicT

from riskwatch.settings import Settings


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
        return app.topic(name, key_type=bytes, value_type=bytes, value_serializer="raw",
                         key_serializer="raw", partitions=settings.partitions)

    return Topics(
        events=raw(settings.events_topic),
        findings=raw(settings.findings_topic),
        dead_letters=raw(settings.dlq_topic),
    )
