"""Torch pieces of the anomaly detector: device choice, JSON-safe weights, the tail-quantile
threshold rule, the event-vector autoencoder and the per-(model, version) event profile (view 1).

Everything a model needs to continue after a restart round-trips through plain JSON: weights are
lists of floats (a float32 value survives float64 JSON exactly), so scores are bit-identical.
"""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd  # type: ignore[import-untyped]  # no pandas-stubs in the environment
import torch
from torch import nn

log = logging.getLogger("detectors.anomaly")
CLIP = 30.0  # standardised values are clipped to +-CLIP
_LOGGED: set[tuple[str, str]] = set()


def pick_device(preference: str | None = "auto") -> torch.device:
    """``auto``: cuda when available, else cpu; ``cuda`` falls back to cpu (with a warning) when
    no GPU is visible. Logged once per (preference, device) per process."""
    pref = (preference or "auto").lower()
    if pref not in ("auto", "cpu", "cuda"):
        raise ValueError(f"detectors.anomaly.device must be auto, cpu or cuda, not {preference!r}")
    cuda = pref != "cpu" and torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    if (pref, device.type) not in _LOGGED:
        _LOGGED.add((pref, device.type))
        if pref == "cuda" and not cuda:
            log.warning("anomaly: device=cuda requested but CUDA is not available; using cpu")
        else:
            log.info("anomaly: scoring on %s (device=%s)", device, pref)
    return device


def seed_of(key: str) -> int:
    """A stable seed from a string (Python's hash() is salted per process)."""
    return zlib.crc32(key.encode())


def tail_quantile(scores: np.ndarray, rate: float, tail: float = 0.2, log: bool = False) -> float:
    """The (1 - rate) quantile of ``scores``, with a peaks-over-threshold tail when ``rate`` is
    small: excesses over the (1 - tail) quantile u are fitted by an exponential with mean beta
    (its maximum-likelihood fit), and q = u + beta * ln(tail / rate). A held-back sample of a few
    hundred points has no empirical 0.995 quantile worth the name; the tail fit uses its top 20%.
    ``log``: fit on log(scores) (positive scores): an exponential tail there is a Pareto tail on the
    scores, which errs towards fewer false alarms when the true tail is heavier than exponential."""
    if log:
        pos = np.asarray(scores, dtype=np.float64)
        return math.exp(tail_quantile(np.log(np.maximum(pos, 1e-300)), rate, tail))
    s = np.sort(np.asarray(scores, dtype=np.float64))
    s = s[np.isfinite(s)]
    if s.size == 0:
        return math.inf
    if rate >= tail or s.size < 20:
        return float(np.quantile(s, 1.0 - rate))
    u = float(np.quantile(s, 1.0 - tail))
    excess = s[s > u] - u
    beta = float(excess.mean()) if excess.size else 0.0
    return u + beta * math.log(tail / rate)


def to_json(module: nn.Module) -> dict[str, Any]:
    return {k: v.detach().cpu().tolist() for k, v in module.state_dict().items()}


def from_json(module: nn.Module, weights: dict[str, Any]) -> None:
    module.load_state_dict({k: torch.tensor(v, dtype=torch.float32) for k, v in weights.items()})


class _AE(nn.Module):
    def __init__(self, d: int, hidden: int, code: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d, hidden),
            nn.Tanh(),
            nn.Linear(hidden, code),
            nn.Tanh(),
            nn.Linear(code, hidden),
            nn.Tanh(),
            nn.Linear(hidden, d),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out


class VectorModel:
    """A small denoising autoencoder over standardised event vectors. Score = mean squared
    reconstruction error; per-feature squared errors say which features contributed."""

    def __init__(self, d: int, device: torch.device, seed: int = 0) -> None:
        self.d, self.device = d, device
        self.hidden, self.code = max(8, 2 * d), max(2, (d + 1) // 2)
        gen = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
            self.net = _AE(d, self.hidden, self.code)
        self.net.to(device).eval()
        self.seed = seed

    def fit(self, x: np.ndarray, epochs: int = 300, lr: float = 0.01) -> None:
        gen = torch.Generator(device="cpu").manual_seed(self.seed)
        xt = torch.as_tensor(x, dtype=torch.float32)
        noise = 0.1 * torch.randn(epochs, *xt.shape, generator=gen)  # same on every device
        xt, noise = xt.to(self.device), noise.to(self.device)
        opt = torch.optim.Adam(self.net.parameters(), lr=lr, weight_decay=1e-4)
        self.net.train()
        for epoch in range(epochs):
            opt.zero_grad()
            loss = torch.mean((self.net(xt + noise[epoch]) - xt) ** 2)
            torch.autograd.backward(loss)
            opt.step()
        self.net.eval()

    @torch.inference_mode()
    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        """The autoencoder's reconstruction of standardised rows ``x``, shape (n, d)."""
        if len(x) == 0:
            return np.zeros((0, self.d))
        xt = torch.as_tensor(x, dtype=torch.float32).to(self.device)
        out: torch.Tensor = self.net(xt)
        return out.cpu().numpy().astype(np.float64)

    def score(self, x: np.ndarray) -> np.ndarray:
        """Mean squared reconstruction error of each standardised row."""
        out: np.ndarray = ((self.reconstruct(x) - x) ** 2).mean(axis=1)
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"d": self.d, "seed": self.seed, "weights": to_json(self.net)}

    @classmethod
    def from_state(cls, state: dict[str, Any], device: torch.device) -> VectorModel:
        model = cls(state["d"], device, state["seed"])
        from_json(model.net, state["weights"])
        model.net.to(device).eval()
        return model


#: rows of history a standardisation needs before it trusts its own median / IQR
_MIN_HISTORY = 10


@dataclass
class EventProfile:
    """View 1 state of one (model, version): the reference until fitted, then the fitted model,
    the rolling window of its latest (transformed) rows and of their scores.

    Standardisation is rolling and robust: each column's value is centred on the median of the
    column's previous ``window`` values and scaled by their IQR / 1.349 (at least ``FLOOR`` of the
    reference scale), so a series that wanders keeps its calls near zero while a call that leaves
    its recent neighbourhood stands out. ``mean``/``std`` are the reference's robust centre and
    scale (the fallback while the history is short). The threshold is refitted from the scores
    of the last ``window`` calls (see ``refresh``), the autoencoder on the last ``window`` rows
    every ``refit_events`` calls."""

    model: str
    version: str
    ref: list[dict[str, float]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    log: list[bool] = field(default_factory=list)
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    flags: list[int] = field(default_factory=list)  # columns with a missing-value indicator
    flag_p: list[float] = field(default_factory=list)  # their (smoothed) missing share
    net: VectorModel | None = None
    threshold: float | None = None
    reference_size: int = 0
    scored: int = 0
    alarms: int = 0
    #: the last ``window`` transformed rows (None: missing) and the scores of the last calls
    buf: list[list[float | None]] = field(default_factory=list)
    recent: list[float] = field(default_factory=list)
    refits: int = 0
    since_refit: int = 0
    quiet: int = 1 << 30  # scored calls since the last call above the threshold
    suppressed: int = 0  # calls above the threshold inside the current episode, not reported

    FLOOR: ClassVar[float] = 0.1

    # ------------------------------------------------------------ transforms
    def transformed(self, rows: Sequence[dict[str, float]]) -> tuple[np.ndarray, np.ndarray]:
        """(raw values with NaN for missing, log1p-transformed where the column is skewed)."""
        cols, nan = self.columns, math.nan
        raw = np.array([[r.get(c, nan) for c in cols] for r in rows], dtype=np.float64)
        raw = raw.reshape(len(rows), len(cols))
        t = np.where(self.log, np.log1p(np.maximum(raw, 0.0)), raw)
        return raw, t

    def rolling(self, t: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
        """Per row of ``t``: the centre and scale of each column over the ``window`` rows before
        it (the saved history, then the earlier rows of ``t``)."""
        hist = np.array(self.buf, dtype=np.float64).reshape(-1, len(self.columns))
        full = pd.DataFrame(np.concatenate([hist, t]))
        roll = full.rolling(window, min_periods=1)
        med = roll.median().shift(1).to_numpy()[len(hist) :]
        iqr = (roll.quantile(0.75) - roll.quantile(0.25)).shift(1).to_numpy()[len(hist) :]
        count = roll.count().shift(1).fillna(0).to_numpy()[len(hist) :]
        mean, std = np.asarray(self.mean), np.asarray(self.std)
        short = (count < _MIN_HISTORY) | np.isnan(med)
        center = np.where(short, mean, med)
        scale = np.where(short, std, np.nan_to_num(iqr) / 1.349)
        floor = np.maximum(self.FLOOR * std, 1e-3 * np.abs(center))
        return center, np.maximum(np.maximum(scale, floor), 1e-9)

    def matrix(
        self, rows: Sequence[dict[str, float]], window: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(model input, raw values with NaN for missing, centre, scale) for ``rows`` in order;
        the rows join the history."""
        raw, t = self.transformed(rows)
        x, center, scale = self._standardise(t, window)
        return x, raw, center, scale

    def _standardise(self, t: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        center, scale = self.rolling(t, window)
        miss = np.isnan(t)
        z = np.where(miss, 0.0, (t - center) / scale)
        if self.flags:
            p = np.asarray(self.flag_p)
            z = np.concatenate([z, (miss[:, self.flags] - p) / np.sqrt(p * (1 - p))], axis=1)
        keep = np.concatenate([np.asarray(self.buf, dtype=np.float64).reshape(-1, t.shape[1]), t])
        self.buf = [[None if math.isnan(v) else v for v in r] for r in keep[-window:].tolist()]
        return np.clip(z, -CLIP, CLIP), center, scale

    def expected(self, recon: np.ndarray, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
        d = len(self.columns)
        t = np.minimum(recon[..., :d] * scale + center, 700.0)
        out: np.ndarray = np.where(self.log, np.expm1(t), t)
        return out

    def state(self) -> dict[str, Any]:
        keys = (
            "model",
            "version",
            "ref",
            "columns",
            "log",
            "mean",
            "std",
            "flags",
            "flag_p",
            "threshold",
            "reference_size",
            "scored",
            "alarms",
            "buf",
            "recent",
            "refits",
            "since_refit",
            "quiet",
            "suppressed",
        )
        out = {k: getattr(self, k) for k in keys}
        out["net"] = self.net.state_dict() if self.net is not None else None
        return out

    # ------------------------------------------------------------ fitting
    def fit(self, rows: list[dict[str, float]], cfg: dict[str, Any], device: torch.device) -> None:
        """Columns, transforms, robust centre/scale, autoencoder and threshold from reference
        ``rows``."""
        n = len(rows)
        counts: dict[str, int] = {}
        for row in rows:
            for k in row:
                counts[k] = counts.get(k, 0) + 1
        self.columns = sorted(k for k, c in counts.items() if c >= cfg["min_column_share"] * n)
        self.log = [False] * len(self.columns)
        raw, _ = self.transformed(rows)
        rng = np.random.default_rng(seed_of(f"{self.model}/{self.version}"))
        order = rng.permutation(n)
        n_hold = max(1, round(n * cfg["holdout_fraction"]))
        train = order[n_hold:]
        log, mean, std = [], [], []
        for j in range(len(self.columns)):
            col = raw[train, j]
            col = col[~np.isnan(col)]
            skew_raw = _skew(col)
            lcol = np.log1p(np.maximum(col, 0.0))
            use_log = bool(
                col.size and col.min() >= 0 and skew_raw > 1 and abs(_skew(lcol)) < skew_raw
            )
            t = lcol if use_log else col
            mu = float(np.median(t)) if t.size else 0.0
            iqr = float(np.subtract(*np.quantile(t, [0.75, 0.25]))) if t.size else 0.0
            sd = float(t.std()) if t.size else 0.0
            log.append(use_log)
            mean.append(mu)
            std.append(max(iqr / 1.349, 0.1 * sd, 1e-3 * abs(mu), 1e-9))
        self.log, self.mean, self.std = log, mean, std
        miss = np.isnan(raw)
        self.flags = [j for j in range(len(self.columns)) if miss[train, j].any()]
        self.flag_p = [float((miss[train, j].sum() + 0.5) / (len(train) + 1)) for j in self.flags]
        self.buf = []
        x, _, _, _ = self.matrix(rows, int(cfg["reference_events"]))
        self._train(x, cfg, device)
        self.reference_size = n

    def _train(self, x: np.ndarray, cfg: dict[str, Any], device: torch.device) -> None:
        """(Re)train the autoencoder on standardised rows ``x`` (a seeded random part held back)
        and set the threshold from the held-back scores; they start the window of scores."""
        seed = seed_of(f"{self.model}/{self.version}/{self.refits}")
        order = np.random.default_rng(seed).permutation(len(x))
        n_hold = max(1, round(len(x) * cfg["holdout_fraction"]))
        hold, train = order[:n_hold], order[n_hold:]
        self.net = VectorModel(x.shape[1], device, seed)
        self.net.fit(x[train])
        self.recent = self.net.score(x[hold]).tolist()
        self.refresh(cfg)
        self.since_refit = 0

    def refit(self, cfg: dict[str, Any], device: torch.device) -> None:
        """Retrain on the rows of the window (standardised by their own rolling statistics)."""
        hist = np.array(self.buf, dtype=np.float64).reshape(-1, len(self.columns))
        self.buf = []
        self.refits += 1
        for j in range(len(self.columns)):
            col = hist[:, j][~np.isnan(hist[:, j])]
            if col.size >= _MIN_HISTORY:
                mu = float(np.median(col))
                iqr = float(np.subtract(*np.quantile(col, [0.75, 0.25])))
                self.mean[j] = mu
                self.std[j] = max(iqr / 1.349, 0.1 * float(col.std()), 1e-3 * abs(mu), 1e-9)
        x, _, _ = self._standardise(hist, int(cfg["reference_events"]))
        self._train(x, cfg, device)

    def refresh(self, cfg: dict[str, Any]) -> None:
        """Threshold from the window of recent scores: their (1 - false_alarm_rate) quantile with a
        Pareto tail (errs towards fewer alarms)."""
        rate = float(cfg["false_alarm_rate"])
        self.threshold = float(tail_quantile(np.asarray(self.recent), rate, log=True))


def _skew(x: np.ndarray) -> float:
    if x.size < 3:
        return 0.0
    sd = x.std()
    return float(((x - x.mean()) ** 3).mean() / sd**3) if sd > 0 else 0.0
