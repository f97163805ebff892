"""PII benchmark: riskwatch's PII detector (batch path) against vanilla Presidio, on three corpora
side by side: the Faker corpus and WNUT 2017's dev and test splits (real user text).

Corpora: bench/pii_corpus.py (Faker, seven locales, exact gold spans, ~30% texts without PII);
WNUT 2017 dev and test (``detectors.pii.corpora.wnut``: YouTube, Reddit, Stack Overflow and
Twitter text, its person and location spans; the NER is fine-tuned on the train split only, dev
was watched while choosing the recipe, test is held back).
* riskwatch: ``PIIDetector.process`` on batches of events (one text each, input.text); spans
  are read back from the signals' evidence, so the figures are those of the shipped path,
  redaction included.
* vanilla: ``AnalyzerEngine.analyze(text, language="en", score_threshold=...)`` one text at a
  time, Presidio's default recognizer registry, on a SpacyNlpEngine with the base spaCy model
  (full pipeline) and the same NER label mapping; same score threshold as riskwatch.
Both are warmed up on the same --warmup texts of another seed before they are timed.

Scoring is span-level: a predicted span is a true positive when it overlaps a gold span of the
same class (LOCATION and ADDRESS are one class, "location/address"); a gold span is recalled
when a predicted span of its class overlaps it. Predicted types outside the eight classes
(DATE_TIME, URL, US_DRIVER_LICENSE, HEALTH_DATA, ...) are not scored; their count is printed.

    .venv/bin/python bench/pii.py [--corpora faker,dev,test] [--n 2000] [--seed 13] [--batch 500]
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
from detectors.pii.corpora import WNUT_TO_PII, wnut  # noqa: E402
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


def side_by_side(title: str, rw: Stats, va: Stats, rw_rate: float, va_rate: float) -> dict:
    """One corpus: per class P/R/F1 of riskwatch and vanilla, then the micro average over the
    eight classes; returns {class: (rw (P, R, F1), vanilla (P, R, F1))}."""
    print(
        f"\n{title}: riskwatch {rw_rate:.0f} texts/s, vanilla {va_rate:.0f} texts/s "
        f"({rw_rate / va_rate:.1f}x)"
    )
    head = "".join(f"{h:>7}" for h in ("P", "R", "F1"))
    print(f"{'class':<18}{'':2}riskwatch{'':13}vanilla\n{'':18}{head}  {head}{'gold':>7}")
    out = {}
    rows = [*stats_rows(rw, va), ("overall (micro)", total(rw), total(va))]
    for c, r, v in rows:
        rp, vp = prf(*r), prf(*v)
        out[c] = (rp, vp)
        if r[3] == 0 and r[1] == 0 and v[1] == 0:
            continue  # a class this corpus has no gold spans of and nobody predicted
        cells = "".join(f"{x:7.3f}" for x in rp) + "  " + "".join(f"{x:7.3f}" for x in vp)
        print(f"{c:<18}{cells}{r[3]:7d}")
    return out


def stats_rows(rw: Stats, va: Stats) -> list[tuple[str, tuple, tuple]]:
    return [(c, rw[c], va[c]) for c in CLASSES]


def total(stats: Stats) -> tuple[int, int, int, int]:
    return tuple(sum(v[i] for v in stats.values()) for i in range(4))  # type: ignore[return-value]


def wnut_samples(split: str) -> list[Sample]:
    """A WNUT 2017 split as bench samples: its person and location spans (group, corporation,
    product and creative work are not personal data and not scored)."""
    return [
        Sample(d.text, tuple((a, b, WNUT_TO_PII[t]) for a, b, t in d.spans if t in WNUT_TO_PII))
        for d in wnut(split)
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="texts in the Faker corpus")
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
    ap.add_argument("--corpora", default="faker,dev,test", help="faker, dev, test (WNUT 2017)")
    args = ap.parse_args()
    threshold = PIIDetector(load_registry(REPO / "riskwatch.yaml")).score_threshold
    corpora: dict[str, list[Sample]] = {}
    for name in args.corpora.split(","):
        if name == "faker":
            corpora[f"Faker corpus (seed {args.seed})"] = generate(args.n, seed=args.seed)
        else:
            corpora[f"WNUT 2017 {name}"] = wnut_samples(name)
    warmup = generate(args.warmup, seed=args.seed + 1000)
    for title, samples in corpora.items():
        clean = sum(not s.spans for s in samples)
        print(
            f"{title}: {len(samples)} texts, {clean} without PII, "
            f"{sum(len(s.spans) for s in samples)} gold spans; score threshold {threshold}"
        )
    summary = []
    load_s = 0.0
    for title, samples in corpora.items():
        rw_pred, rw_s, loaded_s = run_riskwatch(samples, args.batch, warmup)
        load_s = load_s or loaded_s  # the model loads once, for the first corpus
        rw_stats, rw_other = score(samples, rw_pred)
        rw_rate = len(samples) / rw_s
        if args.skip_vanilla:
            va_stats, va_rate, va_other = rw_stats, float("nan"), Counter()
        else:
            vsamples = samples[: args.vanilla_n] if args.vanilla_n else samples
            va_pred, va_s = run_vanilla(vsamples, threshold, warmup)
            va_stats, va_other = score(vsamples, va_pred)
            va_rate = len(vsamples) / va_s
        f1 = side_by_side(title, rw_stats, va_stats, rw_rate, va_rate)
        print(
            "unscored predicted types: riskwatch",
            dict(rw_other) or "none",
            "| vanilla",
            dict(va_other) or "none",
        )
        worse = [c for c in CLASSES if f1[c][0][1] + 1e-9 < f1[c][1][1]]
        print("recall below vanilla for:", ", ".join(worse) if worse else "none")
        summary.append((title, f1, rw_rate, va_rate))
    rss = psutil.Process(os.getpid()).memory_info().rss / 2**20
    print(
        f"\nriskwatch model load {load_s:.1f} s; process RSS {RSS_AFTER_LOAD:.0f} MiB after load, "
        f"{rss:.0f} MiB at the end"
    )
    print(
        f"\n{'corpus':<26}{'person R/P':>14}{'loc/addr R/P':>14}{'overall F1':>12}"
        f"{'texts/s':>10}{'vanilla':>9}"
    )
    for title, f1, rw_rate, va_rate in summary:
        pr, lo, ov = f1["person"][0], f1["location/address"][0], f1["overall (micro)"]
        print(
            f"{title:<26}{pr[1]:7.2f}/{pr[0]:.2f}{lo[1]:9.2f}/{lo[0]:.2f}"
            f"{ov[0][2]:8.2f} ({ov[1][2]:.2f}){rw_rate:9.0f}{va_rate:9.0f}"
        )


if __name__ == "__main__":
    main()
