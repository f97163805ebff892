"""A batch at the two ends of the pipeline: the Kafka messages that go in, what comes out.

The agent turns Faust's events into RawMessages and publishes the Outcome; the runner carries
both across the process boundary (so they stay plain, picklable data); the pipeline reads the
one and builds the other; the metrics count the Outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from audit.store import DeadLetter
from core.findings import Finding


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One Kafka message as read, with its coordinates (they identify a dead letter's source)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a committed batch leaves to publish, and its counts."""

    findings: list[Finding]
    #: each dead-lettered message with its DeadLetter, which keeps the reason code and detail
    rejected: list[tuple[RawMessage, DeadLetter]]
    stored: int
    duplicates: int
    detector_seconds: dict[str, float] = field(default_factory=dict)
    detector_failures: list[str] = field(default_factory=list)
