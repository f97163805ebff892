"""One univariate series scorer, used by the anomaly detector (view 2: a model's usage metrics)
and, unchanged, by the NAB benchmark (bench/anomaly_nab.py).

* A small torch MLP learns, on the first (1 - holdout) part of the reference values, to forecast
  the next step from the last ``window`` values (level-free: the window minus its last value,
  plus the clipped level), with a Huber loss so a glitch in the reference does not dominate.
* Raw error e_t = log1p(|residual| / residual scale).
* Surprise (an "anomaly likelihood" in the spirit of NAB's HTM detector): the mean of the last
  ``short`` errors against the distribution of earlier errors (exponentially weighted mean and
  variance over ~``long`` points, lagged so the short window is not part of its own baseline):
  z_t = (mean_short - mu_long) / sigma_long. A new extreme of the series (beyond the range seen
  so far by ``spatial_tolerance`` x range, as NAB's HTM detector does) also counts as surprise,
  and so does the level: |x_t - mean| / sd, exponentially weighted over ~``level`` points.
  The score is the largest of: point error z, short-window mean error z (x sqrt(short)), level z.
* The alarm threshold is the (1 - false_alarm_rate) quantile of z on the held-back reference part
  (tail fitted, see anomaly_models.tail_quantile), at least ``min_threshold``. An alarm is
  raised when z reaches the threshold after more than ``refractory`` points (default: ``window``)
  below it: one alarm per anomalous period, however long it lasts.

``score`` is streaming: it continues from the state left by ``fit``/earlier calls, is vectorised
over the values it is given (one batched torch call), and its state round-trips through JSON.
"""

from __future__ import annotations

import math
from typing import Any, TypedDict

import numpy as np
import torch
from scipy.signal import lfilter
from scipy.special import ndtr
from torch import nn

from detectors.anomaly_models import from_json, pick_device, tail_quantile, to_json

_LEVEL_CLIP = 5.0
SPATIAL_Z = 1e3  # the surprise given to a new extreme of the series


class SeriesConfig(TypedDict):
    """A scorer's settings (``SeriesScorer.__init__``); ``fit`` settles ``window`` (capped by the
    reference length) and ``refractory`` (default: the window)."""

    window: int
    short: int
    long: int
    hidden: int
    holdout_fraction: float
    false_alarm_rate: float
    refractory: int | None
    spatial_tolerance: float | None
    min_threshold: float
    level: int | None
    epochs: int
    seed: int
    adapt: int | None
    refresh: int
    pareto: bool


class _Forecaster(nn.Module):
    def __init__(self, window: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(window + 1, hidden),
            nn.Tanh(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out.squeeze(-1)


def alarm_mask(
    z: np.ndarray,
    threshold: float,
    refractory: int,
    prev_z: float = -math.inf,
    since_alarm: int = 1 << 30,
) -> np.ndarray:
    """One alarm per episode: an alarm where z reaches ``threshold`` after more than
    ``refractory`` points below it; while points above it keep coming within ``refractory`` of
    each other the episode lasts and raises nothing more. ``since_alarm`` (points after the last
    point above the threshold, up to the end of the previous call) and ``prev_z`` (the last z
    before this call) carry the state across calls."""
    above = z >= threshold
    out = np.zeros(len(z), dtype=bool)
    last = -1 if prev_z >= threshold else -since_alarm - 1  # the last point above, relative
    for i in np.flatnonzero(above):
        if i - last > refractory:
            out[i] = True
        last = int(i)
    return out


class SeriesScorer:
    def __init__(
        self,
        *,
        window: int = 24,
        short: int = 4,
        long: int = 1000,
        hidden: int = 32,
        holdout_fraction: float = 0.25,
        false_alarm_rate: float = 0.005,
        refractory: int | None = None,
        spatial_tolerance: float | None = 0.05,
        min_threshold: float = 3.0,
        level: int | None = 100,
        epochs: int = 400,
        seed: int = 0,
        adapt: int | None = 1000,
        refresh: int = 100,
        pareto: bool = False,
        device: str | torch.device = "auto",
    ) -> None:
        self.cfg: SeriesConfig = {
            "window": window,
            "short": short,
            "long": long,
            "hidden": hidden,
            "holdout_fraction": holdout_fraction,
            "false_alarm_rate": false_alarm_rate,
            "refractory": refractory,
            "spatial_tolerance": spatial_tolerance,
            "min_threshold": min_threshold,
            "level": level,
            "epochs": epochs,
            "seed": seed,
            "adapt": adapt,
            "refresh": refresh,
            "pareto": pareto,
        }
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self.net: _Forecaster | None = None
        self.fitted = False
        self.threshold = math.inf
        self.center = self.scale = self.res_scale = 1.0
        self.hist: list[float] = []  # last `window` normalised values
        self.errs: list[float] = []  # last `short` errors
        # EW (mean, mean of squares) of the errors after each of the last `short` points
        self.stats: list[list[float]] = []
        self.lo = self.hi = 0.0  # range seen so far (normalised)
        self.prev_z, self.since_alarm = -math.inf, 1 << 30
        self._spatial = np.zeros(0, dtype=bool)
        self.vstats = [0.0, 1.0]  # EW mean and mean of squares of the (normalised) values
        # adaptive threshold: the surprise of the last `adapt` points (new extremes left out)
        self.recent: list[float] = []
        self.seen = 0  # points scored by detect
        self.current = math.inf  # the threshold in force: max(calibrated, recent tail)
        self.thresholds = np.zeros(0)  # set by detect: the threshold in force at each value

    # ---------------------------------------------------------------- fitting
    def fit(self, values: np.ndarray) -> SeriesScorer:
        v = np.asarray(values, dtype=np.float64)
        cfg = self.cfg
        n = len(v)
        n_hold = max(round(n * cfg["holdout_fraction"]), 1)
        n_train = n - n_hold
        w = cfg["window"] = int(max(2, min(cfg["window"], n_train // 8)))
        cfg["refractory"] = int(cfg["refractory"]) if cfg["refractory"] is not None else w
        self.center = float(np.median(v[:n_train]))
        mad = float(np.median(np.abs(v[:n_train] - self.center))) * 1.4826
        self.scale = max(mad, float(np.std(v[:n_train])) * 0.1, 1e-9 * max(1.0, abs(self.center)))
        x = (v - self.center) / self.scale
        torch_gen = torch.Generator().manual_seed(cfg["seed"])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=torch_gen)))
            self.net = _Forecaster(w, cfg["hidden"])
        self.net.to(self.device)
        feats, target = self._windows(x[:n_train])
        if len(target) >= 4:
            self._train(feats, target)
        self.net.eval()
        # residual scale from the training part (robust), then errors over the whole reference
        res_train = target - self._predict(feats) if len(target) else np.zeros(1)
        self.res_scale = max(
            float(np.median(np.abs(res_train))) * 1.4826, float(np.std(res_train)) * 0.1, 1e-6
        )
        e_train = np.log1p(np.abs(res_train) / self.res_scale)
        self.hist, self.errs = [], []
        self.stats = [[float(e_train.mean()), float((e_train**2).mean())]] * cfg["short"]
        self.lo = self.hi = float(x[0])
        self.vstats = [float(x[:n_train].mean()), float((x[:n_train] ** 2).mean())]
        self.fitted = True
        self.threshold = math.inf
        z_all = self._score_normalised(x)
        z_hold = z_all[n_train:][~self._spatial[n_train:]]
        self.threshold = max(tail_quantile(z_hold, cfg["false_alarm_rate"]), cfg["min_threshold"])
        self.current = self.threshold
        self.recent = z_all[n_train:][~self._spatial[n_train:]].tolist()
        self.seen = 0
        self.prev_z = float(z_all[-1]) if len(z_all) else -math.inf
        return self

    def _windows(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = self.cfg["window"]
        if len(x) <= w:
            return np.zeros((0, w + 1)), np.zeros(0)
        idx = np.arange(w, len(x))[:, None] + np.arange(-w, 0)[None, :]
        win = x[idx]
        return self._features(win), x[w:] - win[:, -1]

    @staticmethod
    def _features(win: np.ndarray) -> np.ndarray:
        last = win[:, -1:]
        return np.concatenate([win - last, np.clip(last, -_LEVEL_CLIP, _LEVEL_CLIP)], axis=1)

    def _train(self, feats: np.ndarray, target: np.ndarray) -> None:
        assert self.net is not None
        xt = torch.as_tensor(feats, dtype=torch.float32, device=self.device)
        yt = torch.as_tensor(target, dtype=torch.float32, device=self.device)
        opt = torch.optim.Adam(self.net.parameters(), lr=0.005, weight_decay=1e-4)
        loss_fn = nn.HuberLoss(delta=1.0)
        self.net.train()
        for _ in range(self.cfg["epochs"]):
            opt.zero_grad()
            loss_fn(self.net(xt), yt).backward()
            opt.step()

    @torch.inference_mode()
    def _predict(self, feats: np.ndarray) -> np.ndarray:
        assert self.net is not None
        if len(feats) == 0:
            return np.zeros(0)
        xt = torch.as_tensor(feats, dtype=torch.float32, device=self.device)
        out: torch.Tensor = self.net(xt)
        return out.cpu().numpy().astype(np.float64)

    # ---------------------------------------------------------------- scoring
    def score(self, values: np.ndarray) -> np.ndarray:
        """Surprise z for each new value (in order); updates the streaming state."""
        if not self.fitted:
            raise RuntimeError("SeriesScorer.score before fit")
        v = np.asarray(values, dtype=np.float64)
        return self._score_normalised((v - self.center) / self.scale)

    def detect(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(z, alarms) for each new value, alarms by the threshold in force (see alarm_mask).

        The threshold in force is the calibrated one, raised (never lowered) to the
        (1 - false_alarm_rate) tail quantile of the surprise of the last ``adapt`` points,
        refreshed every ``refresh`` points: a series whose surprise grows heavier than its
        reference keeps its false-alarm budget. Chunked at the refresh points, so the alarms do
        not depend on how the values are batched."""
        v = np.asarray(values, dtype=np.float64)
        refractory, every = self.cfg["refractory"], int(self.cfg["refresh"])
        assert refractory is not None  # fit has set it
        zs, alarms, thresholds = [], [], []
        k = 0
        while k < len(v):
            n = every - self.seen % every
            z = self.score(v[k : k + n])
            a = alarm_mask(z, self.current, refractory, self.prev_z, self.since_alarm)
            thresholds.append(np.full(len(z), self.current))
            hits = np.flatnonzero(z >= self.current)
            since = (len(z) - 1 - int(hits[-1])) if len(hits) else self.since_alarm + len(z)
            self.since_alarm = min(since, 1 << 30)
            self.prev_z = float(z[-1])
            self.seen += len(z)
            if self.cfg["adapt"]:
                keep = z[~self._spatial]
                self.recent = (self.recent + keep.tolist())[-int(self.cfg["adapt"]) :]
                if self.seen % every == 0:
                    tail = tail_quantile(
                        np.maximum(np.asarray(self.recent), 1e-6),
                        self.cfg["false_alarm_rate"],
                        log=self.cfg["pareto"],
                    )
                    self.current = max(self.threshold, tail)
            zs.append(z)
            alarms.append(a)
            k += len(z)
        if not zs:
            self.thresholds = np.zeros(0)
            return np.zeros(0), np.zeros(0, dtype=bool)
        self.thresholds = np.concatenate(thresholds)  # the threshold in force at each value
        return np.concatenate(zs), np.concatenate(alarms)

    def expected(self, values: np.ndarray) -> np.ndarray:
        """The one-step forecast for each of ``values`` given the current history (no state
        change): what the model expected instead."""
        x = (np.asarray(values, dtype=np.float64) - self.center) / self.scale
        w = self.cfg["window"]
        full = np.concatenate([np.asarray(self.hist[-w:]), x])
        start = len(full) - len(x)
        out = np.full(len(x), np.nan)
        ok = np.arange(start, len(full)) >= w
        if ok.any():
            pos = np.arange(start, len(full))[ok]
            win = full[pos[:, None] + np.arange(-w, 0)[None, :]]
            out[ok] = win[:, -1] + self._predict(self._features(win))
        return out * self.scale + self.center

    def _score_normalised(self, x: np.ndarray) -> np.ndarray:
        cfg = self.cfg
        w, k = cfg["window"], cfg["short"]
        n = len(x)
        if n == 0:
            return np.zeros(0)
        full = np.concatenate([np.asarray(self.hist, dtype=np.float64), x])
        start = len(full) - n
        pos = np.arange(start, len(full))
        ok = pos >= w
        m0, s0 = self.stats[-1] if self.stats else (0.0, 1.0)
        err = np.full(n, m0)  # before a full window: a neutral error
        if ok.any():
            p = pos[ok]
            win = full[p[:, None] + np.arange(-w, 0)[None, :]]
            resid = (full[p] - win[:, -1]) - self._predict(self._features(win))
            err[ok] = np.log1p(np.abs(resid) / self.res_scale)
        # spatial surprise: a new extreme beyond the range seen so far (+ tolerance)
        hi_before = np.maximum.accumulate(np.concatenate(([self.hi], x)))[:-1]
        lo_before = np.minimum.accumulate(np.concatenate(([self.lo], x)))[:-1]
        spatial = np.zeros(n, dtype=bool)
        if cfg["spatial_tolerance"] is not None:
            tol = cfg["spatial_tolerance"] * np.maximum(hi_before - lo_before, 1e-9)
            spatial = ((x > hi_before + tol) | (x < lo_before - tol)) & ok
        self._spatial = spatial
        self.hi, self.lo = float(max(self.hi, x.max())), float(min(self.lo, x.min()))
        # exponentially weighted mean / mean of squares of the errors (linear filters)
        alpha = 2.0 / (cfg["long"] + 1.0)
        b, a = [alpha], [1.0, alpha - 1.0]
        m = lfilter(b, a, err, zi=[(1 - alpha) * m0])[0]
        s = lfilter(b, a, err**2, zi=[(1 - alpha) * s0])[0]
        # lag by `short`: the baseline for point t is the EW state before its short window
        prev_stats = np.asarray(self.stats, dtype=np.float64).reshape(-1, 2)
        if len(prev_stats) < k:
            pad = np.repeat([[m0, s0]], k - len(prev_stats), axis=0)
            prev_stats = np.concatenate([pad, prev_stats])
        all_m = np.concatenate([prev_stats[:, 0], m])
        all_s = np.concatenate([prev_stats[:, 1], s])
        base_m, base_s = all_m[:n], all_s[:n]  # state after point t-k
        sd = np.sqrt(np.maximum(base_s - base_m**2, 1e-4))
        errs_full = np.concatenate([np.asarray(self.errs, dtype=np.float64), err])
        csum = np.concatenate(([0.0], np.cumsum(errs_full)))
        e_start = len(errs_full) - n
        idx = np.arange(e_start, len(errs_full)) + 1
        lo_idx = np.maximum(idx - k, 0)
        short_mean = (csum[idx] - csum[lo_idx]) / np.maximum(idx - lo_idx, 1)
        z = np.maximum((short_mean - base_m) / sd * math.sqrt(k), (err - base_m) / sd)
        if cfg["level"]:  # level surprise: |x_t - EW mean| / EW sd of the values before t
            vm0, vs0 = self.vstats
            al = 2.0 / (cfg["level"] + 1.0)
            vm = lfilter([al], [1.0, al - 1.0], x, zi=[(1 - al) * vm0])[0]
            vs = lfilter([al], [1.0, al - 1.0], x**2, zi=[(1 - al) * vs0])[0]
            pm, ps = np.concatenate(([vm0], vm[:-1])), np.concatenate(([vs0], vs[:-1]))
            z = np.maximum(z, np.abs(x - pm) / np.sqrt(np.maximum(ps - pm**2, 1e-4)))
            self.vstats = [float(vm[-1]), float(vs[-1])]
        z = np.where(ok, z, 0.0)
        z = np.where(spatial, np.maximum(z, SPATIAL_Z), z)
        # keep what the next call needs
        self.hist = full[-w:].tolist()
        self.errs = errs_full[-(k - 1) :].tolist() if k > 1 else []
        self.stats = np.stack([all_m, all_s], axis=1)[-k:].tolist()
        return z

    # ---------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        return {
            "cfg": dict(self.cfg),
            "fitted": self.fitted,
            "weights": to_json(self.net) if self.net is not None else None,
            "threshold": self.threshold if math.isfinite(self.threshold) else None,
            "center": self.center,
            "scale": self.scale,
            "res_scale": self.res_scale,
            "hist": list(self.hist),
            "errs": list(self.errs),
            "stats": list(self.stats),
            "lo": self.lo,
            "hi": self.hi,
            "vstats": list(self.vstats),
            "prev_z": self.prev_z if math.isfinite(self.prev_z) else None,
            "since_alarm": self.since_alarm,
            "recent": list(self.recent),
            "seen": self.seen,
            "current": self.current if math.isfinite(self.current) else None,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], device: str | torch.device = "auto") -> SeriesScorer:
        cfg: SeriesConfig = state["cfg"]
        obj = cls(**cfg, device=device)
        obj.cfg = cfg.copy()
        obj.fitted = state["fitted"]
        if state["weights"] is not None:
            obj.net = _Forecaster(cfg["window"], cfg["hidden"])
            from_json(obj.net, state["weights"])
            obj.net.to(obj.device).eval()
        obj.threshold = math.inf if state["threshold"] is None else state["threshold"]
        for key in ("center", "scale", "res_scale", "lo", "hi", "since_alarm"):
            setattr(obj, key, state[key])
        obj.hist, obj.errs = list(state["hist"]), list(state["errs"])
        obj.vstats = list(state["vstats"])
        obj.stats = [list(p) for p in state["stats"]]
        obj.prev_z = -math.inf if state["prev_z"] is None else state["prev_z"]
        obj.recent, obj.seen = list(state["recent"]), state["seen"]
        obj.current = math.inf if state["current"] is None else state["current"]
        return obj


def unit_score(z: np.ndarray) -> np.ndarray:
    """z mapped to [0, 1] like NAB's HTM log-likelihood: -log10(tail probability) / 10."""
    tail = np.maximum(1.0 - ndtr(np.asarray(z, dtype=np.float64)), 1e-10)
    out: np.ndarray = np.clip(-np.log10(tail) / 10.0, 0.0, 1.0)
    return out
