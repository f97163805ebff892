"""The detector interface: a batch of events in, signals out; state that can be saved and restored.

Detectors *score*; policies *decide* (see policies/engine.py). A Signal says what was observed
and how strongly; the policy pack maps it to the taxonomy, a severity and regulation clauses.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

from core.model_registry import ConfigError, Registry
from core.signals import ObservedEvent, ObservedFeedback, Signal, StateEntries

__all__ = ["Detector", "detector_settings"]


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
        detector that finds personal data in text (detectors/pii/) returns anything."""
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


def detector_settings(
    registry: Registry, name: str, defaults: dict[str, Any], overrides: dict[str, Any]
) -> dict[str, Any]:
    """A detector's settings: its defaults, then ``detectors.<name>`` of riskwatch.yaml, then
    ``overrides``; an unknown key is a ConfigError (a typo must not silently use a default)."""
    cfg = {**defaults, **registry.detector_config(name), **overrides}
    unknown = set(cfg) - set(defaults)
    if unknown:
        raise ConfigError(f"detectors.{name}: unknown setting(s) {sorted(unknown)}")
    return cfg
