"""What a detector observes and what it reports: the shared vocabulary of the batch path.

An ``ObservedEvent`` is an inference event with its Kafka position (``SourceRef``); a ``Signal``
is one observation a detector made of it (detectors score, policies decide); ``StateEntries``
are the keyed state changes a detector hands the store after a batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.events import FeedbackEvent, InferenceEvent
from core.taxonomy import Severity


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where an event came from in Kafka, so any finding can be traced and replayed."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class ObservedEvent:
    event: InferenceEvent
    source: SourceRef
    #: the event's JSON object as received (validated by ``event``); read-only
    document: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ObservedFeedback:
    """A ground-truth label (riskwatch.feedback/v1) as received, with its Kafka position."""

    feedback: FeedbackEvent
    source: SourceRef
    document: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Signal:
    """One observation by a detector. ``event_id`` is None for window-level signals."""

    detector: str
    kind: str
    model_id: str
    model_version: str | None
    title: str
    severity: Severity
    evidence: dict[str, Any]
    source: SourceRef | None
    event_id: str | None = None
    key: str = ""  # disambiguates several signals of one kind for one event or window
    context: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of_event(
        cls,
        observed: ObservedEvent,
        *,
        detector: str,
        kind: str,
        title: str,
        severity: Severity,
        evidence: dict[str, Any],
        key: str = "",
        context: dict[str, Any] | None = None,
    ) -> Signal:
        """A per-event signal, traced to its event, model version and Kafka position."""
        event = observed.event
        return cls(
            detector=detector,
            kind=kind,
            model_id=event.model.id,
            model_version=event.model.version,
            title=title,
            severity=severity,
            evidence=evidence,
            source=observed.source,
            event_id=event.event_id,
            key=key,
            context=dict(context or {}),
        )


@dataclass(slots=True)
class StateEntries:
    """Keyed state entries that changed since they were last saved: ``upserts`` (key → JSON
    value) and ``deletes``. A detector whose state is mostly many small independent entries
    (decisions waiting for their labels) saves these instead of every entry after every batch."""

    upserts: dict[str, Any] = field(default_factory=dict)
    deletes: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.upserts or self.deletes)
