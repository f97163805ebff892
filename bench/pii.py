"""PII benchmark: riskwatch's PII detector (batch path) against vanilla Presidio, same corpus.

Corpus: bench/pii_corpus.py (Faker, seven locales, exact gold spans, ~30% texts without PII).
* riskwatch: ``PIIDetector.process`` on batches of events (one text each, input.text); spans
  are read back from the signals' evidence, so the figures are those of the shipped path,
  redaction included.
* vanilla: ``AnalyzerEngine.analyze(text, language="en", score_threshold=...)`` one text at a
  time, Presidio's default recognizer registry, on a SpacyNlpEngine with the same spaCy model
  (full pipeline) and the same NER label mapping; same score threshold as riskwatch.
Both are warmed up on the same --warmup texts of another seed before they are timed.

Scoring is span-level: a predicted span is a true positive when it overlaps a gold span of the
same class (LOCATION and ADDRESS are one class, "location/address"); a gold span is recalled
when a predicted span of its class overlaps it. Predicted types outside the eight classes
(DATE_TIME, URL, US_DRIVER_LICENSE, HEALTH_DATA, ...) are not scored; their count is printed.

    .venv/bin/python bench/pii.py [--n 2000] [--seed 13] [--batch 500] [--vanilla-n N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.pii_corpus import Sample, generate  # noqa: E402
from core.events import InferenceEvent  # noqa: E402
from core.model_registry import load_registry  # noqa: E402
from core.signals import ObservedEvent, SourceRef  # noqa: E402
from detectors.pii.detector import PIIDetector  # noqa: E402
from detectors.pii.entities import NER_IGNORE, NER_MAPPING, SPACY_MODEL  # noqa: E402

CLASS = {
    "PERSON": "person",
    "LOCATION": "location/address",
    "ADDRESS": "location/address",
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "CREDIT_CARD": "credit card",
    "IBAN_CODE": "iban",
    "US_SSN": "ssn",
    "IP_ADDRESS": "ip",
}
CLASSES = list(dict.fromkeys(CLASS.values()))
Spans = list[tuple[int, int, str]]
RSS_AFTER_LOAD = 0.0


Stats = dict[str, tuple[int, int, int, int]]


def score(samples: list[Sample], predicted: list[Spans]) -> tuple[Stats, Counter]:
    """Per class: (tp_pred, n_pred, tp_gold, n_gold); plus the count of unscored predicted types."""
    stats = {c: [0, 0, 0, 0] for c in CLASSES}
    other: Counter = Counter()
    for sample, pred in zip(samples, predicted, strict=True):
        gold = [(a, b, CLASS[t]) for a, b, t in sample.spans]
        pred_c = []
        for a, b, t in pred:
            if t in CLASS:
                pred_c.append((a, b, CLASS[t]))
            else:
                other[t] += 1
        for a, b, c in pred_c:
            stats[c][1] += 1
            stats[c][0] += any(c == gc and a < gb and ga < b for ga, gb, gc in gold)
        for ga, gb, gc in gold:
            stats[gc][3] += 1
            stats[gc][2] += any(c == gc and a < gb and ga < b for a, b, c in pred_c)
    return {c: tuple(v) for c, v in stats.items()}, other


def prf(tp_p: int, n_p: int, tp_g: int, n_g: int) -> tuple[float, float, float]:
    p = tp_p / n_p if n_p else 1.0
    r = tp_g / n_g if n_g else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def events_of(samples: list[Sample]) -> list[ObservedEvent]:
    out = []
    for i, s in enumerate(samples):
        doc = {
            "event_id": f"b{i}",
            "timestamp": "2026-11-28T09:00:00Z",
            "model": {"id": "support-assistant", "version": "1"},
            "input": {"text": s.text},
            "context": {"region": "EU", "consent": False},
        }
        out.append(ObservedEvent(InferenceEvent.model_validate(doc), SourceRef("bench", 0, i)))
    return out


def run_riskwatch(
    samples: list[Sample], batch: int, warmup: list[Sample]
) -> tuple[list[Spans], float, float]:
    det = PIIDetector(load_registry(REPO / "riskwatch.yaml"))
    events = events_of(samples)
    t0 = time.perf_counter()
    det.process(events_of(warmup[:8]))  # loads the model
    load_s = time.perf_counter() - t0
    global RSS_AFTER_LOAD
    RSS_AFTER_LOAD = psutil.Process(os.getpid()).memory_info().rss / 2**20
    det.process(events_of(warmup))
    by_event: dict[str, Spans] = {}
    t0 = time.perf_counter()
    for k in range(0, len(events), batch):
        for sig in det.process(events[k : k + batch]):
            by_event.setdefault(sig.event_id, []).extend(
                (sp["start"], sp["end"], sp["type"]) for sp in sig.evidence["spans"]
            )
    elapsed = time.perf_counter() - t0
    return [by_event.get(e.event.event_id, []) for e in events], elapsed, load_s


def run_vanilla(
    samples: list[Sample], threshold: float, warmup: list[Sample]
) -> tuple[list[Spans], float]:
    import tldextract.tldextract as tx
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

    from detectors.pii.emails import OFFLINE_TLD

    tx.TLD_EXTRACTOR = OFFLINE_TLD  # vanilla's e-mail check would otherwise fetch the suffix list
    conf = NerModelConfiguration(
        model_to_presidio_entity_mapping=NER_MAPPING, labels_to_ignore=NER_IGNORE
    )
    engine = SpacyNlpEngine(
        models=[{"lang_code": "en", "model_name": SPACY_MODEL}], ner_model_configuration=conf
    )
    analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])
    for s in warmup:
        analyzer.analyze(s.text, language="en", score_threshold=threshold)
    t0 = time.perf_counter()
    out = [
        [
            (r.start, r.end, r.entity_type)
            for r in analyzer.analyze(s.text, language="en", score_threshold=threshold)
        ]
        for s in samples
    ]
    return out, time.perf_counter() - t0


def table(title: str, stats: dict[str, tuple[int, int, int, int]]) -> dict[str, float]:
    print(f"\n{title}\n{'class':<18}{'P':>7}{'R':>7}{'F1':>7}{'pred':>7}{'gold':>7}")
    f1s = {}
    for c, (tp_p, n_p, tp_g, n_g) in stats.items():
        p, r, f = prf(tp_p, n_p, tp_g, n_g)
        f1s[c] = f
        print(f"{c:<18}{p:7.3f}{r:7.3f}{f:7.3f}{n_p:7d}{n_g:7d}")
    tot = [sum(v[i] for v in stats.values()) for i in range(4)]
    p, r, f = prf(*tot)
    f1s["overall"] = f
    print(f"{'overall (micro)':<18}{p:7.3f}{r:7.3f}{f:7.3f}{tot[1]:7d}{tot[3]:7d}")
    return f1s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="texts in the corpus")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--batch", type=int, default=500, help="events per detector batch")
    ap.add_argument("--vanilla-n", type=int, default=None, help="texts for vanilla (default: all)")
    ap.add_argument(
        "--warmup",
        type=int,
        default=200,
        help="texts (another seed) each engine sees before it is timed",
    )
    ap.add_argument("--skip-vanilla", action="store_true")
    args = ap.parse_args()
    samples = generate(args.n, seed=args.seed)
    threshold = PIIDetector(load_registry(REPO / "riskwatch.yaml")).score_threshold
    clean = sum(not s.spans for s in samples)
    print(
        f"corpus: {len(samples)} texts, seed {args.seed}, {clean} without PII, "
        f"{sum(len(s.spans) for s in samples)} gold spans; score threshold {threshold}"
    )

    warmup = generate(args.warmup, seed=args.seed + 1000)
    rw_pred, rw_s, load_s = run_riskwatch(samples, args.batch, warmup)
    rss = psutil.Process(os.getpid()).memory_info().rss / 2**20
    rw_rate = len(samples) / rw_s
    rw_stats, rw_other = score(samples, rw_pred)
    print(
        f"riskwatch: {rw_rate:8.1f} texts/s ({rw_s:.2f} s; model load {load_s:.1f} s; "
        f"process RSS {RSS_AFTER_LOAD:.0f} MiB after load, {rss:.0f} MiB after the corpus)"
    )
    rw_f1 = table("riskwatch PIIDetector (batch)", rw_stats)
    print("unscored predicted types:", dict(rw_other) or "none")
    if args.skip_vanilla:
        return
    vsamples = samples[: args.vanilla_n] if args.vanilla_n else samples
    va_pred, va_s = run_vanilla(vsamples, threshold, warmup)
    va_rate = len(vsamples) / va_s
    va_stats, va_other = score(vsamples, va_pred)
    print(f"\nvanilla:   {va_rate:8.1f} texts/s ({va_s:.2f} s on {len(vsamples)} texts)")
    va_f1 = table("vanilla Presidio (per text, default recognizers)", va_stats)
    print("unscored predicted types:", dict(va_other) or "none")
    print(f"\nthroughput ratio riskwatch/vanilla: {rw_rate / va_rate:.1f}x")
    worse = [c for c in CLASSES if rw_f1[c] + 1e-9 < va_f1[c]]
    print("F1 below vanilla for:", ", ".join(worse) if worse else "none")


if __name__ == "__main__":
    main()
