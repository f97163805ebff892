"""Security text benchmark: the text_risk detector's scorers beside today's regexes
(policies/patterns.py INJECTION_PATTERNS / ABUSE_PATTERNS), on the splits training never saw.

* injection, held back: GPTFuzz templates with ``id % 5 == 0`` filled with questions 80-99
  (positives); WNUT17 test posts and ConvAbuse test user turns and agent replies (negatives).
* abuse, held back: ConvAbuse test user turns (majority of annotators: abusive) and WNUT17 test
  posts. The validation split (which chose the thresholds) is printed as "dev".
Rows: ``regex`` (policies/patterns.py), ``learned`` (the scorer alone at its shipped threshold),
``detector`` (learned + heuristics, as the worker runs it). ``FPR`` is over all negatives of the
split, ``FPR user`` over the WNUT17 posts alone (ordinary user text, the 1% target). Speed:
texts/s and ms per text on one core (one process, BLAS threads pinned to 1), the whole split in
one batch, after a warm-up; the regexes uncached (policies/patterns.py caches per text, which
would time a dict lookup).
Needs the shared data (detectors/text_risk/data.py finds it).

    .venv/bin/python bench/security.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from core.model_registry import load_registry  # noqa: E402
from detectors.text_risk.data import Split, abuse_splits, injection_splits  # noqa: E402
from detectors.text_risk.detector import TextRiskDetector, shipped_model  # noqa: E402
from detectors.text_risk.model import MODELS, LinearTextModel  # noqa: E402
from policies.patterns import ABUSE_PATTERNS, INJECTION_PATTERNS, _scan  # noqa: E402

Flagger = Callable[[str], bool]
USER = (
    "wnut17"  # ordinary user posts (Twitter, Reddit, StackExchange, YouTube): the "FPR user" column
)


def _measure(flag: Flagger, split: Split, repeat: int) -> tuple[float, float, float, float]:
    flags = [flag(t) for t in split.texts]  # warm-up, and the predictions
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for t in split.texts:
            flag(t)
        best = min(best, time.perf_counter() - t0)
    pos = [f for f, y in zip(flags, split.labels, strict=True) if y]
    neg = [f for f, y in zip(flags, split.labels, strict=True) if not y]
    user = [f for f, y, s in zip(flags, split.labels, split.sources, strict=True) if s == USER]
    recall = sum(pos) / len(pos) if pos else float("nan")
    fpr = sum(neg) / len(neg) if neg else float("nan")
    fpr_user = sum(user) / len(user) if user else float("nan")
    return recall, fpr, fpr_user, best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed passes (best one counts)")
    args = parser.parse_args(argv)

    print("artefacts:")
    for name in MODELS:
        path = REPO / "detectors" / "text_risk" / "models" / f"{name}.npz"
        t0 = time.perf_counter()
        model = LinearTextModel.from_npz(path)
        load_ms = (time.perf_counter() - t0) * 1000
        print(
            f"  {name:9s} {path.stat().st_size / 1024:6.0f} KiB  load {load_ms:5.1f} ms  "
            f"threshold {model.threshold:.4f}  2^{model.bits} float16 weights, "
            f"char {model.char_min}-5-grams + word 1-2-grams"
        )
    det = TextRiskDetector(load_registry(REPO / "riskwatch.yaml"))
    inj, ab = shipped_model("injection"), shipped_model("abuse")
    rows: dict[str, dict[str, Flagger]] = {
        "injection": {
            "regex": lambda t: bool(_scan(t, INJECTION_PATTERNS)),  # uncached
            "learned": lambda t: inj.score(t) >= inj.threshold,
            "detector": lambda t: det.injection(t) is not None,
        },
        "abuse": {
            "regex": lambda t: bool(_scan(t, ABUSE_PATTERNS)),
            "learned": lambda t: ab.score(t) >= ab.threshold,
            "detector": lambda t: det.abuse(t) is not None,
        },
    }
    data = {"injection": injection_splits(), "abuse": abuse_splits()}
    print("\nheld-back splits (texts by source, positives | negatives):")
    for name, splits in data.items():
        held = splits["heldout"]
        counts = {
            y: dict(
                Counter(s for s, lab in zip(held.sources, held.labels, strict=True) if lab == y)
            )
            for y in (1, 0)
        }
        print(f"  {name:9s} {counts[1]} | {counts[0]}")
    header = f"{'scorer':9s} {'split':9s} {'method':9s} {'texts':>6s} {'recall':>7s} {'FPR':>7s}"
    print("\n" + header + f" {'FPR user':>8s} {'texts/s':>9s} {'ms/text':>8s}")
    for name, methods in rows.items():
        for split_name, label in (("valid", "dev"), ("heldout", "held-back")):
            split = data[name][split_name]
            for method, flag in methods.items():
                recall, fpr, fpr_user, secs = _measure(flag, split, args.repeat)
                n = len(split.texts)
                print(
                    f"{name:9s} {label:9s} {method:9s} {n:6d} {recall:7.3f} {fpr:7.3f} "
                    f"{fpr_user:8.3f} {n / secs:9.0f} {secs / n * 1000:8.3f}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
