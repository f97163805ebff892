"""Evidently 0.7's drift verdicts (column typing, stat-test selection and test calls): the method
the drift detector used before version 2, kept so that bench/drift.py can compare the two.

Everything that decides a verdict is Evidently's own code, called directly instead of through
a ``Report`` (which costs ~0.2-1 s per window, mostly rendering and bookkeeping):

* column type: ``evidently.core.datasets.infer_column_type`` on the *current* window's column, as
  a ``Report`` run on plain DataFrames does (its data definition comes from the current dataset):
  float dtype -> numerical; int dtype -> categorical if <= 10 unique values, else numerical;
  str/object of strings -> text if unique > 50% of non-null values, else categorical; bool ->
  categorical; anything else -> unknown. Text and unknown columns are not tested here (free text
  is covered by the text-length columns).
* cleaning: +-inf -> NaN, NaN dropped, per column (``get_one_column_drift``); an empty side means
  the column is skipped (Evidently raises instead).
* test: ``evidently.legacy.calculations.stattests.registry.get_stattest`` -- by default
  (``_get_default_stattest``), with n = reference rows after cleaning and u = unique values of
  reference + current: n <= 1000: numerical u > 5 -> K-S, u in 3..5 -> chi-square, u <= 2 -> Z;
  categorical u > 2 -> chi-square else Z. n > 1000: numerical u > 5 -> Wasserstein (normed by the
  reference std) else Jensen-Shannon; categorical -> Jensen-Shannon. A configured ``stattest``
  name (psi, ks, ...) is used for every column it supports.
* threshold and verdict: the test's own (K-S: p <= 0.05; chi-square/Z: p < 0.05; Wasserstein,
  Jensen-Shannon, PSI: distance >= 0.1), or ``stattest_threshold`` when set.
* dataset drift: share of drifted columns >= ``drift_share`` (``get_dataset_drift``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]  # no pandas-stubs in the environment

NUMERICAL, CATEGORICAL = "num", "cat"
log = logging.getLogger(__name__)


@cache
def evidently() -> SimpleNamespace:
    """Evidently's functions, imported on first use (the import takes a few seconds)."""
    from evidently.core.datasets import infer_column_type
    from evidently.legacy.calculations.stattests.registry import (
        get_registered_stattest,
        get_stattest,
    )
    from evidently.legacy.core import ColumnType

    return SimpleNamespace(
        infer_column_type=infer_column_type,
        get_stattest=get_stattest,
        get_registered_stattest=get_registered_stattest,
        ColumnType=ColumnType,
    )


def check_stattest(name: str) -> None:
    """Raise ValueError unless ``name`` is a stat test Evidently knows (for some column type)."""
    ev = evidently()
    for ctype in (ev.ColumnType.Numerical, ev.ColumnType.Categorical):
        try:
            ev.get_registered_stattest(name, ctype)
            return
        except ValueError:
            continue
    raise ValueError(f"unknown or unsupported stattest {name!r} (numerical or categorical)")


@dataclass(frozen=True, slots=True)
class ColumnResult:
    column: str
    column_type: str  # "num" | "cat"
    stattest: str  # Evidently's registered name: ks, chisquare, z, wasserstein, jensenshannon, ...
    stattest_display: str  # e.g. "K-S p_value"
    score: float | None  # p-value or distance (None when not finite)
    threshold: float
    drifted: bool
    reference_rows: int  # rows tested after dropping missing values
    current_rows: int

    @property
    def score_kind(self) -> str:
        return "p_value" if "p_value" in self.stattest_display else "distance"


@dataclass(frozen=True, slots=True)
class WindowResult:
    columns: tuple[ColumnResult, ...]  # tested columns, in the order given
    skipped: tuple[str, ...]  # text/unknown/empty/incompatible columns

    @property
    def drifted(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    @property
    def share(self) -> float:
        return len(self.drifted) / len(self.columns) if self.columns else 0.0

    def dataset_drift(self, drift_share: float) -> bool:
        """Evidently's rule (legacy get_dataset_drift): share of drifted columns >= drift_share."""
        return bool(self.columns) and self.share >= drift_share


def _clean(series: pd.Series) -> pd.Series:
    return series.replace([-np.inf, np.inf], np.nan).dropna()


def reference_series(values: Sequence[Any]) -> tuple[pd.Series, pd.Series]:
    """A reference column as Evidently sees it: the raw series (dtype as a DataFrame column
    built from these values) and its cleaned version. Computed once per reference."""
    raw = pd.Series(list(values), dtype=None if values else object)
    return raw, _clean(raw)


def column_drift(
    column: str,
    reference: tuple[pd.Series, pd.Series],
    current_values: Sequence[Any],
    stattest: str | None,
    threshold: float | None,
) -> ColumnResult | None:
    """One column's drift test, exactly as Evidently's ValueDrift computes it; None when the
    column is not tested (text or unknown type, no values on one side, unsupported test)."""
    ev = evidently()
    current_raw = pd.Series(list(current_values), dtype=None if current_values else object)
    ctype = ev.infer_column_type(current_raw)
    if ctype not in (ev.ColumnType.Numerical, ev.ColumnType.Categorical):
        return None
    ref, cur = reference[1], _clean(current_raw)
    if ref.empty or cur.empty:
        return None
    if ctype == ev.ColumnType.Numerical and not (
        pd.api.types.is_numeric_dtype(ref) and pd.api.types.is_numeric_dtype(cur)
    ):
        return None
    try:
        test = ev.get_stattest(ref, cur, ctype, stattest)
        result = test(ref, cur, ctype, threshold)
    except (ValueError, TypeError):  # test not applicable to this type, or unorderable values
        return None
    except Exception:  # a failing test must not stop the stream: skip the column, say so
        log.warning(
            "drift: %s test failed on column %s; column skipped", stattest, column, exc_info=True
        )
        return None
    score = float(result.drift_score)
    return ColumnResult(
        column=column,
        column_type=NUMERICAL if ctype == ev.ColumnType.Numerical else CATEGORICAL,
        stattest=test.name,
        stattest_display=test.display_name,
        score=score if math.isfinite(score) else None,
        threshold=float(result.actual_threshold),
        drifted=bool(result.drifted),
        reference_rows=int(ref.shape[0]),
        current_rows=int(cur.shape[0]),
    )


def evaluate_window(
    reference: dict[str, tuple[pd.Series, pd.Series]],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    stattest: str | None,
    threshold: float | None,
) -> WindowResult:
    """Test every column of a current window (``rows`` aligned with ``columns``)."""
    tested: list[ColumnResult] = []
    skipped: list[str] = []
    for j, column in enumerate(columns):
        result = column_drift(
            column, reference[column], [row[j] for row in rows], stattest, threshold
        )
        (skipped.append(column) if result is None else tested.append(result))
    return WindowResult(tuple(tested), tuple(skipped))
