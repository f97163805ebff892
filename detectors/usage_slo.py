"""Usage SLO detector: calls slower than the model's latency SLO, failed calls, and error-rate
windows above the model's error budget. Feeds technical / model_reliability."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from core.model_registry import ModelEntry, Registry
from core.signals import ObservedEvent, Signal
from core.taxonomy import Severity
from detectors.base import Detector

DEFAULT_ERROR_RATE_SLO = 0.05


@dataclass(slots=True)
class _Window:
    start: float  # epoch seconds, aligned to the window size
    calls: int = 0
    errors: int = 0
    alerted: bool = False


class UsageSLODetector(Detector):
    """Per event: latency over ``latency_slo_ms`` and non-null ``usage.error``.
    Per model and tumbling event-time window: error rate over ``error_rate_slo``
    once at least ``min_calls`` calls were seen (one signal per window)."""

    name: ClassVar[str] = "usage_slo"
    version: ClassVar[str] = "1"
    signal_kinds: ClassVar[tuple[str, ...]] = (
        "latency_slo_breach",
        "inference_error",
        "error_rate_slo_breach",
    )

    def __init__(self, registry: Registry, window_s: float = 300.0, min_calls: int = 20) -> None:
        super().__init__(registry)
        self.window_s = window_s
        self.min_calls = min_calls
        self._windows: dict[str, _Window] = {}

    def process(self, batch: Sequence[ObservedEvent]) -> list[Signal]:
        signals: list[Signal] = []
        for observed in batch:
            event = observed.event
            entry = self.registry.get(event.model.id)
            usage = event.usage
            if usage is None:
                continue
            if (
                usage.latency_ms is not None
                and entry is not None
                and entry.latency_slo_ms
                and usage.latency_ms > entry.latency_slo_ms
            ):
                signals.append(self._latency_signal(observed, usage.latency_ms, entry))
            failed = usage.error is not None
            if failed:
                signals.append(self._error_signal(observed, usage.error or ""))
            window_signal = self._count(observed, entry, failed)
            if window_signal is not None:
                signals.append(window_signal)
        return signals

    def _latency_signal(
        self, observed: ObservedEvent, latency_ms: float, entry: ModelEntry
    ) -> Signal:
        slo = float(entry.latency_slo_ms or 0)
        ratio = latency_ms / slo
        severity = (
            Severity.HIGH if ratio >= 3 else Severity.MEDIUM if ratio >= 1.5 else Severity.LOW
        )
        return self._event_signal(
            observed,
            "latency_slo_breach",
            f"Latency {latency_ms:.0f} ms over the {slo:.0f} ms SLO ({ratio:.1f}x)",
            severity,
            {"latency_ms": latency_ms, "slo_ms": slo, "ratio": round(ratio, 4)},
        )

    def _error_signal(self, observed: ObservedEvent, error: str) -> Signal:
        return self._event_signal(
            observed,
            "inference_error",
            f"Inference call failed: {error[:80]}",
            Severity.MEDIUM,
            {"error": error[:200]},
        )

    def _event_signal(
        self,
        observed: ObservedEvent,
        kind: str,
        title: str,
        severity: Severity,
        evidence: dict[str, Any],
    ) -> Signal:
        return Signal.of_event(
            observed,
            detector=self.name,
            kind=kind,
            title=title,
            severity=severity,
            evidence=evidence,
        )

    def _count(
        self, observed: ObservedEvent, entry: ModelEntry | None, failed: bool
    ) -> Signal | None:
        event = observed.event
        ts = event.timestamp.timestamp()
        start = ts - ts % self.window_s
        window = self._windows.get(event.model.id)
        if window is None or start > window.start:
            window = self._windows[event.model.id] = _Window(start=start)
        elif start < window.start:
            return None  # late event for a closed window: counted nowhere, by design
        window.calls += 1
        window.errors += failed
        budget = entry.error_rate_slo if entry is not None else DEFAULT_ERROR_RATE_SLO
        rate = window.errors / window.calls
        if window.alerted or window.calls < self.min_calls or rate <= budget:
            return None
        window.alerted = True
        return Signal(
            detector=self.name,
            kind="error_rate_slo_breach",
            model_id=event.model.id,
            model_version=event.model.version,
            title=f"Error rate {rate:.1%} over the {budget:.1%} budget "
            f"({window.errors}/{window.calls} calls in {self.window_s:.0f} s)",
            severity=Severity.HIGH if rate >= 2 * budget else Severity.MEDIUM,
            evidence={
                "window_start": window.start,
                "window_s": self.window_s,
                "calls": window.calls,
                "errors": window.errors,
                "error_rate": round(rate, 6),
                "budget": budget,
            },
            source=observed.source,
            key=f"{event.model.id}@{window.start:.0f}",
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            model: {"start": w.start, "calls": w.calls, "errors": w.errors, "alerted": w.alerted}
            for model, w in self._windows.items()
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self._windows = {model: _Window(**w) for model, w in state.items()}
