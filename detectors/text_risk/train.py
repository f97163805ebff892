"""Train the text-risk scorers and write detectors/text_risk/models/{injection,abuse}.npz.

    python -m detectors.text_risk.train [--out DIR]      (``make models``)

Deterministic: fixed splits (data.py), fixed generator seeds, liblinear logistic regression (no
random state used), so a retrain on the same data writes the same weights. Each model's threshold
is chosen on its validation split for a target false-positive rate (injection 1%, abuse 5%) on
the real, human-written benign text there (data.REAL_BENIGN; generated benign text is easier).
Needs scikit-learn and scipy (dev extras) and the shared data; the worker needs neither.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import numpy.typing as npt

from detectors.text_risk.data import REAL_BENIGN, Split, abuse_splits, injection_splits
from detectors.text_risk.features import BITS, hashed

OUT = Path(__file__).resolve().parent / "models"
#: the false-positive rate each threshold is chosen for on the validation split's real benign text;
#: injection at half its 1% target, leaving room for unseen text of other kinds (forums, comments)
#: that scores higher than the validation posts (recall stays at 1.00 on the held-back split)
TARGET_FPR = {"injection": 0.005, "abuse": 0.05}
C = {"injection": 4.0, "abuse": 2.0}
#: shortest character n-gram: the injection scorer leaves out 3-grams, which at word boundaries are
#: prefixes that unrelated words share (" pr" of prompt, previous, pretend and of pro, price,
#: priority; "nd " of "and"), so that a product statement scored like an override; abuse keeps
#: them (short insults and misspellings)
CHAR_MIN = {"injection": 4, "abuse": 3}


def matrix(texts: list[str], bits: int = BITS, char_min: int = 3) -> object:
    from scipy.sparse import csr_matrix

    rows, cols, vals = [], [], []
    for i, text in enumerate(texts):
        idx, v = hashed(text, bits, char_min)
        rows.append(np.full(len(idx), i, dtype=np.int64))
        cols.append(idx)
        vals.append(v)
    return csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(texts), 1 << bits),
        dtype=np.float64,
    )


def threshold_for(neg_scores: npt.NDArray[np.float64], fpr: float) -> float:
    """The smallest threshold (score >= threshold flags) whose FPR on ``neg_scores`` <= fpr."""
    s = np.sort(neg_scores)[::-1]
    allowed = int(np.floor(fpr * len(s)))  # this many negatives may score at or above it
    cut = s[allowed] if allowed < len(s) else 0.0
    return float(np.nextafter(cut, 1.0))  # strictly above the first negative not allowed


def train(name: str, splits: dict[str, Split], out: Path) -> dict[str, float]:
    from sklearn.linear_model import LogisticRegression

    from detectors.text_risk.model import LinearTextModel

    tr = splits["train"]
    clf = LogisticRegression(
        C=C[name], solver="liblinear", class_weight="balanced", max_iter=200, tol=1e-5
    )
    clf.fit(matrix(tr.texts, BITS, CHAR_MIN[name]), np.array(tr.labels))
    weights = clf.coef_[0].astype(np.float16)
    bias = float(clf.intercept_[0])
    probe = LinearTextModel(name, weights.astype(np.float32), bias, 0.5, BITS, CHAR_MIN[name])
    va = splits["valid"]
    va_scores = probe.scores(va.texts)
    va_y = np.array(va.labels)
    real = np.array([s in REAL_BENIGN for s in va.sources])
    thr = threshold_for(va_scores[(va_y == 0) & real], TARGET_FPR[name])
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.npz"
    with path.open("wb") as f:  # np.savez_compressed writes no timestamps: same bytes each run
        np.savez_compressed(
            f,
            name=np.array(name),
            weights=weights,
            bias=np.array(bias, dtype=np.float64),
            threshold=np.array(thr, dtype=np.float64),
            bits=np.array(BITS),
            char_min=np.array(CHAR_MIN[name]),
            target_fpr=np.array(TARGET_FPR[name]),
        )
    recall = float((va_scores[va_y == 1] >= thr).mean())
    fpr = float((va_scores[(va_y == 0) & real] >= thr).mean())
    return {
        "threshold": thr,
        "valid_recall": recall,
        "valid_fpr": fpr,
        "bytes": path.stat().st_size,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="where to write the .npz files")
    args = parser.parse_args(argv)
    for name, splits in (("injection", injection_splits()), ("abuse", abuse_splits())):
        stats = train(name, splits, args.out)
        print(name, " ".join(f"{k}={v:.4g}" for k, v in stats.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
