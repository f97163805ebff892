"""A trained linear text scorer: hashed n-gram weights (float16) and a bias, from a small .npz
shipped with the package (trained by ``python -m detectors.text_risk.train``). Inference is
numpy only: the worker never trains, downloads or imports scikit-learn."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt

from detectors.text_risk.features import hashed

MODELS = ("injection", "abuse")


@dataclass(frozen=True, slots=True)
class LinearTextModel:
    name: str
    weights: npt.NDArray[np.float32]
    bias: float
    threshold: float  # chosen on the validation split (train.py)
    bits: int
    char_min: int = 3  # shortest character n-gram (features.hashed)

    @classmethod
    def from_npz(cls, path: Path | str) -> LinearTextModel:
        with np.load(path) as npz:
            return cls(
                name=str(npz["name"]),
                weights=npz["weights"].astype(np.float32),
                bias=float(npz["bias"]),
                threshold=float(npz["threshold"]),
                bits=int(npz["bits"]),
                char_min=int(npz["char_min"]) if "char_min" in npz.files else 3,
            )

    @classmethod
    def shipped(cls, name: str) -> LinearTextModel:
        """The packaged model ``name`` (``injection`` or ``abuse``)."""
        ref = resources.files("detectors.text_risk") / "models" / f"{name}.npz"
        with resources.as_file(ref) as path:
            return cls.from_npz(path)

    def score(self, text: str) -> float:
        """Probability-like score in [0, 1]."""
        idx, vals = hashed(text, self.bits, self.char_min)
        z = float(vals @ self.weights[idx]) + self.bias
        return 1.0 / (1.0 + float(np.exp(-max(-30.0, min(30.0, z)))))

    def scores(self, texts: list[str]) -> npt.NDArray[np.float64]:
        return np.array([self.score(t) for t in texts], dtype=np.float64)
