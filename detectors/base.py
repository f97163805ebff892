"""The detector interface: a batch of events in, signals out; state that can be saved and restored.

Detectors *score*; policies *decide* (see policies/engine.py). A Signal says what was observed
and how strongly; the policy pack maps it to the taxonomy, a severity and regulation clauses.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

from policies.taxonomy import Severity
from riskwatch.registry import ConfigError, Registry
from streams.schema import FeedbackEvent, InferenceEvent


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


@dataclass(slots=True)
class StateEntries:
    """Keyed state entries that changed since they were last saved: ``upserts`` (key → JSON
    value) and ``deletes``. A detector whose state is mostly many small independent entries
    (decisions waiting for their labels) saves these instead of every entry after every batch."""

    upserts: dict[str, Any] = field(default_factory=dict)
    deletes: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.upserts or self.deletes)


class Detector(ABC):
    """Base class of every detector.

    Contract: ``process`` receives events in arrival order (each event at most once, already
    de-duplicated) and returns the signals they raise. It must not do I/O: no Kafka, no SQL.
    ``state_dict``/``load_state`` round-trip everything needed to continue after a restart;
    the worker saves it in the same transaction as the batch's rows.
    """

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    #: every Signal.kind this detector can emit; each needs a rule in a policy pack
    signal_kinds: ClassVar[tuple[str, ...]] = ()

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    @abstractmethod
    def process(self, batch: Sequence[ObservedEvent]) -> list[Signal]:
        """Score a batch of events; return the signals they raise (possibly none)."""

    def observe_feedback(self, items: Sequence[ObservedFeedback]) -> None:  # noqa: B027
        """Take the batch's labels; called before ``process`` with the same batch's feedback (in
        arrival order, de-duplicated within the batch; a redelivered label may come again). A
        label may arrive before or long after its event. Default: ignored."""

    def redactions(self) -> dict[str, dict[str, str]]:
        """Redacted texts of the batch ``process`` just saw: event_id → {"input.text": "…",
        "output.text": "…"}. The audit store keeps these instead of the originals. Only a
        detector that finds personal data in text (detectors/pii.py) returns anything."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load(self) -> None:  # noqa: B027 - optional hook
        """Load heavy resources (models, libraries) now, at worker start, so that the first
        batch does not wait for them."""

    def load_state(self, state: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """Restore what ``state_dict`` returned."""

    def saved_state(self) -> tuple[dict[str, Any], StateEntries | None]:
        """What the worker saves after a batch: ``state_dict()``, and no entries. A detector with
        keyed entries returns its state without them, and the entries changed since the previous
        call (so it must be called once per saved batch)."""
        return self.state_dict(), None

    def restore_saved(self, state: dict[str, Any], entries: dict[str, Any]) -> None:
        """Restore from the last ``saved_state`` state and every entry saved and not deleted
        since (key → value)."""
        self.load_state(state)


def detector_settings(registry: Registry, name: str, defaults: dict[str, Any],
                      overrides: dict[str, Any]) -> dict[str, Any]:
    """A detector's settings: its defaults, then ``detectors.<name>`` of riskwatch.yaml, then
    ``overrides``; an unknown key is a ConfigError (a typo must not silently use a default)."""
    cfg = {**defaults, **registry.detector_config(name), **overrides}
    unknown = set(cfg) - set(defaults)
    if unknown:
        raise ConfigError(f"detectors.{name}: unknown setting(s) {sorted(unknown)}")
    return cfg
