"""Two-sample tests and false-discovery control for the drift detector (detectors/drift.py),
computed here with numpy/scipy (no Evidently on the event path; evidently_stats.py keeps
Evidently's own verdicts for comparison, bench/drift.py).

* column type, fixed by the reference: booleans and strings are categorical (a string column
  whose distinct values exceed half its non-missing values is free text and not tested); numbers
  with at most ``MAX_LEVELS`` distinct values are categorical (predictions, labels, small counts),
  other numbers numerical. Missing values (None) are dropped on both sides.
* numerical: two-sample Kolmogorov-Smirnov; the statistic D is exact (both samples sorted), the
  p-value is the two-sided Kolmogorov distribution at the effective size n*m/(n+m) (scipy's
  ``kstwo``, as ``ks_2samp(method="asymp")``). Ties make it conservative.
* categorical: chi-square test of homogeneity on the 2 x k table of reference and current counts;
  levels whose expected current count is below 5 are pooled into one (a level new in the current
  window counts, it is the drift to see). One level only: nothing to test (p = 1).
* Benjamini-Hochberg across the window's tested columns at level ``q``: reject the k smallest
  p-values where p_(k) <= k q / m. When no column drifts, the chance that a window names any
  column is at most q (BH controls the family-wise error under the complete null), so a stream
  of W windows expects at most W q false episodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

NUMERICAL, CATEGORICAL, TEXT = "num", "cat", "text"
MAX_LEVELS = 10  # numbers with at most this many distinct values are categorical
MIN_ROWS = 20  # fewer non-missing values on a side: the column is not tested in that window


@dataclass(frozen=True, slots=True)
class Prepared:
    """A reference column ready for tests: its type and sorted values (numerical) or level
    counts (categorical)."""

    column_type: str
    values: np.ndarray | None = None  # numerical: sorted
    levels: dict[Any, int] | None = None  # categorical: value -> count

    @property
    def rows(self) -> int:
        if self.values is not None:
            return int(self.values.size)
        return sum(self.levels.values()) if self.levels else 0


@dataclass(frozen=True, slots=True)
class ColumnTest:
    column: str
    column_type: str
    stattest: str  # "ks" | "chisquare"
    statistic: float
    p_value: float
    reference_rows: int
    current_rows: int

    @property
    def stattest_display(self) -> str:
        return "K-S p_value" if self.stattest == "ks" else "chi-square p_value"


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def prepare(values: Sequence[Any]) -> Prepared:
    """Type a reference column and keep what its tests need."""
    present = [v for v in values if v is not None]
    if present and all(_is_number(v) for v in present):
        if len(set(present)) > MAX_LEVELS:
            return Prepared(NUMERICAL, values=np.sort(np.asarray(present, dtype=float)))
        return Prepared(CATEGORICAL, levels=_counts(present))
    keys = [_level(v) for v in present]
    if keys and sum(isinstance(v, str) for v in present) and len(set(keys)) > len(keys) / 2:
        return Prepared(TEXT)
    return Prepared(CATEGORICAL, levels=_counts(keys))


def _level(v: Any) -> Any:
    """A categorical value as a hashable level that JSON and numbers agree on (1 == 1.0)."""
    return v if isinstance(v, (str, bool)) else float(v) if _is_number(v) else str(v)


def _counts(values: Sequence[Any]) -> dict[Any, int]:
    out: dict[Any, int] = {}
    for v in values:
        k = _level(v)
        out[k] = out.get(k, 0) + 1
    return out


def ks_test(reference_sorted: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Two-sample K-S statistic (exact) and asymptotic two-sided p-value."""
    cur = np.sort(current)
    both = np.concatenate([reference_sorted, cur])
    n, m = reference_sorted.size, cur.size
    cdf_ref = np.searchsorted(reference_sorted, both, side="right") / n
    cdf_cur = np.searchsorted(cur, both, side="right") / m
    d = float(np.max(np.abs(cdf_ref - cdf_cur)))
    en = n * m / (n + m)
    return d, float(stats.kstwo.sf(d, max(1, round(en))))


def chi2_test(reference: dict[Any, int], current: dict[Any, int]) -> tuple[float, float]:
    """Chi-square homogeneity test of reference and current level counts (rare levels pooled)."""
    levels = sorted(set(reference) | set(current), key=lambda v: (type(v).__name__, str(v)))
    ref = np.array([reference.get(v, 0) for v in levels], dtype=float)
    cur = np.array([current.get(v, 0) for v in levels], dtype=float)
    n, m = ref.sum(), cur.sum()
    expected_cur = (ref + cur) * m / (n + m)
    rare = expected_cur < 5
    if rare.any():
        ref = np.append(ref[~rare], ref[rare].sum())
        cur = np.append(cur[~rare], cur[rare].sum())
        keep = (ref + cur) > 0
        ref, cur = ref[keep], cur[keep]
    if ref.size < 2:
        return 0.0, 1.0
    table = np.vstack([ref, cur])
    expected = table.sum(axis=0) * table.sum(axis=1)[:, None] / table.sum()
    statistic = float(((table - expected) ** 2 / expected).sum())
    return statistic, float(stats.chi2.sf(statistic, ref.size - 1))


def column_test(column: str, ref: Prepared, current_values: Sequence[Any]) -> ColumnTest | None:
    """One column's test against its prepared reference; None when not tested (text, or too few
    values on a side)."""
    if ref.column_type == TEXT or ref.rows < MIN_ROWS:
        return None
    if ref.column_type == NUMERICAL:
        assert ref.values is not None
        cur = np.asarray([v for v in current_values if _is_number(v)], dtype=float)
        if cur.size < MIN_ROWS:
            return None
        statistic, p = ks_test(ref.values, cur)
        return ColumnTest(column, NUMERICAL, "ks", statistic, p, ref.values.size, cur.size)
    assert ref.levels is not None
    counts = _counts([v for v in current_values if v is not None])
    rows = sum(counts.values())
    if rows < MIN_ROWS:
        return None
    statistic, p = chi2_test(ref.levels, counts)
    return ColumnTest(column, CATEGORICAL, "chisquare", statistic, p, ref.rows, rows)


def benjamini_hochberg(p_values: Sequence[float], q: float) -> tuple[list[bool], list[float]]:
    """BH at level ``q``: which hypotheses are rejected, and each one's adjusted p-value
    (the smallest level at which it would be rejected)."""
    m = len(p_values)
    if m == 0:
        return [], []
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p, kind="stable")
    ranked = p[order] * m / np.arange(1, m + 1)
    adjusted_sorted = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return [bool(a <= q) for a in adjusted], adjusted.tolist()
