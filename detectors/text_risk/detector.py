"""Text-risk detector: prompt injection / jailbreak attempts in ``input.text``
(``prompt_injection``), system-prompt leakage by planted canary tokens in ``output.text``
(``system_prompt_leak``), abusive language in ``output.text`` (``abusive_language``, the model's)
and in ``input.text`` (``abusive_input``: abuse of the assistant).

Layers, each named in the evidence: ``learned`` (hashed n-gram logistic regression,
detectors/text_risk/model.py, threshold chosen on a validation split: FPR <= 1% for injection,
<= 5% for abuse), ``heuristic`` (instruction-override phrasing, base64 blobs that decode to
injected instructions, extreme repetition; threats and self-harm incitement), ``canary``
(a token from ``detectors.text_risk.canaries`` in an output). Evidence holds layers, scores,
thresholds, abuse types and their MLCommons hazard codes, never the text.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any, ClassVar

from core.model_registry import Registry
from core.signals import ObservedEvent, Signal
from core.taxonomy import Severity
from detectors.base import Detector, detector_settings
from detectors.text_risk.heuristics import (
    HAZARDS,
    abuse_types,
    canaries_in,
    decoded_blobs,
    extreme_repetition,
    overrides,
    precise_abuse,
)
from detectors.text_risk.model import LinearTextModel

DEFAULTS: dict[str, Any] = {
    "canaries": [],  # tokens planted in system prompts; one in an output = the prompt leaked
    "injection_threshold": None,  # null: the shipped model's validated threshold
    "abuse_threshold": None,
    "abuse_in_inputs": True,  # also score input.text for abuse of the assistant
}


@cache
def shipped_model(name: str) -> LinearTextModel:
    """The packaged scorer, loaded once per process."""
    return LinearTextModel.shipped(name)


class TextRiskDetector(Detector):
    """At most one signal of each kind per event."""

    name: ClassVar[str] = "text_risk"
    version: ClassVar[str] = "1"
    signal_kinds: ClassVar[tuple[str, ...]] = (
        "prompt_injection",
        "system_prompt_leak",
        "abusive_language",
        "abusive_input",
    )

    def __init__(self, registry: Registry, **overrides_: Any) -> None:
        super().__init__(registry)
        cfg = detector_settings(registry, self.name, DEFAULTS, overrides_)
        self.canaries = tuple(str(c) for c in cfg["canaries"] or () if str(c))
        self._thresholds = {
            "injection": cfg["injection_threshold"],
            "abuse": cfg["abuse_threshold"],
        }
        self.abuse_in_inputs = bool(cfg["abuse_in_inputs"])

    def load(self) -> None:
        shipped_model("injection")
        shipped_model("abuse")

    def threshold(self, name: str) -> float:
        value = self._thresholds[name]
        return float(value) if value is not None else shipped_model(name).threshold

    # ---- scoring (also used by bench/security.py) ---------------------------------------------

    def injection(self, text: str) -> dict[str, Any] | None:
        """Evidence when ``text`` is an injection or jailbreak attempt, else None."""
        thr = self.threshold("injection")
        score = shipped_model("injection").score(text)
        layers = ["learned"] if score >= thr else []
        patterns = overrides(text)
        for decoded in decoded_blobs(text):
            if overrides(decoded) or shipped_model("injection").score(decoded) >= thr:
                patterns.append("base64_payload")
                break
        if extreme_repetition(text):
            patterns.append("extreme_repetition")
        if patterns:
            layers.append("heuristic")
        if not layers:
            return None
        return {
            "layers": layers,
            "score": round(score, 4),
            "threshold": round(thr, 4),
            "patterns": sorted(set(patterns)),
        }

    def abuse(self, text: str) -> dict[str, Any] | None:
        """Evidence when ``text`` is abusive, else None."""
        thr = self.threshold("abuse")
        score = shipped_model("abuse").score(text)
        precise = precise_abuse(text)
        layers = (["learned"] if score >= thr else []) + (["heuristic"] if precise else [])
        if not layers:
            return None
        types = abuse_types(text)
        return {
            "layers": layers,
            "score": round(score, 4),
            "threshold": round(thr, 4),
            "abuse_types": types,
            "hazards": sorted({HAZARDS[t] for t in types if t in HAZARDS}),
        }

    # ---- the detector -------------------------------------------------------------------------

    def process(self, batch: Sequence[ObservedEvent]) -> list[Signal]:
        signals: list[Signal] = []
        for observed in batch:
            event = observed.event
            text_in = event.input.text if event.input is not None else None
            text_out = event.output.text if event.output is not None else None
            if text_in:
                found = self.injection(text_in)
                if found is not None:
                    high = len(found["layers"]) > 1 or found["score"] >= 0.9
                    signals.append(
                        self._signal(
                            observed,
                            "prompt_injection",
                            "Prompt injection or jailbreak attempt in the input "
                            f"({', '.join(found['layers'])})",
                            Severity.HIGH if high else Severity.MEDIUM,
                            found | {"field": "input.text"},
                        )
                    )
            if text_out and self.canaries:
                leaked = canaries_in(text_out, self.canaries)
                if leaked:
                    signals.append(
                        self._signal(
                            observed,
                            "system_prompt_leak",
                            "A canary token planted in the system prompt appears in the output",
                            Severity.HIGH,
                            {"layers": ["canary"], "canaries": leaked, "field": "output.text"},
                        )
                    )
            fields = [("abusive_language", "output.text", text_out)]
            if self.abuse_in_inputs:
                fields.append(("abusive_input", "input.text", text_in))
            for kind, name, text in fields:
                if not text:
                    continue
                found = self.abuse(text)
                if found is not None:
                    severe = bool(found["hazards"]) and kind == "abusive_language"
                    signals.append(
                        self._signal(
                            observed,
                            kind,
                            f"Abusive language in {name} ({', '.join(found['abuse_types'])})",
                            Severity.HIGH if severe else Severity.MEDIUM,
                            found | {"field": name},
                        )
                    )
        return signals

    def _signal(
        self,
        observed: ObservedEvent,
        kind: str,
        title: str,
        severity: Severity,
        evidence: dict[str, Any],
        key: str = "",
    ) -> Signal:
        return Signal.of_event(
            observed,
            detector=self.name,
            kind=kind,
            title=title,
            severity=severity,
            evidence=evidence,
            key=key,
        )
