"""Speed of the anomaly detector: events/s of ``AnomalyDetector.process`` on a seeded stream.

The stream is the unit tests' clean one: one model, an event every 0.01 s, features a, b ~ N(0, 1),
c ~ N(5, 2), a log-normal amount, a bool and a str (both skipped by the detector), a score from
a - b and a log-normal latency. The detector (the unit tests' settings: a 500-event reference,
0.5% false-alarm rate, 60 s series buckets, 240 series reference points) fits on the first
``--reference`` events, untimed; the next ``--events`` go through ``process`` in batches of
``--batch``, timed. Each of ``--repeat`` runs uses a fresh detector; the best and the median
rate are printed. (Once a loose assertion in the unit tests: ~20,000 events/s on 2 cores.)

    .venv/bin/python bench/anomaly_speed.py [--events 12000] [--batch 2000] [--seed 12]
        [--device cpu] [--repeat 3]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core.events import InferenceEvent
from core.model_registry import ModelEntry, Registry
from core.signals import ObservedEvent, SourceRef
from detectors.anomaly import AnomalyDetector

T0 = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)


def registry(device: str) -> Registry:
    settings = {
        "reference_events": 500,
        "holdout_fraction": 0.25,
        "false_alarm_rate": 0.005,
        "series_bucket_s": 60,
        "device": device,
        "series_reference_points": 240,
    }
    entry = ModelEntry.model_validate({"owner": "o@x"})
    return Registry(models={"m": entry}, detectors={"anomaly": settings})


def event(rng: random.Random, i: int, at: float) -> ObservedEvent:
    a, b = rng.gauss(0, 1), rng.gauss(0, 1)
    features = {
        "a": a,
        "b": b,
        "c": rng.gauss(5, 2),
        "amount": rng.lognormvariate(3, 0.8),
        "flag": rng.random() < 0.5,
        "segment": rng.choice("xyz"),
    }
    score = 1 / (1 + math.exp(-(a - b)))
    latency = rng.lognormvariate(math.log(120), 0.3)
    stamp = (T0 + timedelta(seconds=at)).isoformat().replace("+00:00", "Z")
    usage: dict[str, Any] = {
        "latency_ms": latency,
        "input_tokens": 20,
        "output_tokens": 30,
        "cost_usd": 1e-4,
    }
    doc = {
        "event_id": f"e{i}",
        "timestamp": stamp,
        "model": {"id": "m", "version": "1"},
        "input": {"features": features},
        "output": {"score": score},
        "usage": usage,
    }
    return ObservedEvent(InferenceEvent.model_validate(doc), SourceRef("t", 0, i))


def stream(n: int, seed: int, spacing: float = 0.01) -> list[ObservedEvent]:
    rng = random.Random(seed)
    return [event(rng, i, i * spacing) for i in range(n)]


def run(events: list[ObservedEvent], reference: int, batch: int, device: str) -> float:
    """Events/s of ``process`` after the detector has fitted on the first ``reference`` events."""
    detector = AnomalyDetector(registry(device))
    detector.process(events[:reference])
    timed = events[reference:]
    start = time.perf_counter()
    for k in range(0, len(timed), batch):
        detector.process(timed[k : k + batch])
    return len(timed) / (time.perf_counter() - start)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=12_000, help="events timed (after the reference)")
    ap.add_argument("--reference", type=int, default=500, help="events to fit on, untimed")
    ap.add_argument("--batch", type=int, default=2_000)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    events = stream(args.reference + args.events, args.seed)
    rates = []
    for i in range(args.repeat):
        rates.append(run(events, args.reference, args.batch, args.device))
        print(f"run {i + 1}: {rates[-1]:,.0f} events/s")
    print(
        f"anomaly detector, {args.events:,} events in batches of {args.batch:,} on "
        f"{args.device}: best {max(rates):,.0f} events/s, median {statistics.median(rates):,.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
