"""Evidently's verdicts (detectors/drift/evidently_stats.py: the method drift detector version 1
used, kept for bench/drift.py's comparison) equal those of Evidently's own Report."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pandas as pd
import pytest

from detectors.drift import evidently_stats as ds


def _frame(rng: np.random.Generator, n: int, shift: float) -> dict[str, list[Any]]:
    return {
        "num": rng.normal(shift, 1, n).tolist(),  # K-S / Wasserstein
        "cat": [
            ("a", "b", "c")[k] for k in rng.choice(3, n, p=[0.5 - shift / 4, 0.3, 0.2 + shift / 4])
        ],
        "binary": (rng.random(n) < 0.3 + shift / 5).tolist(),  # bool: Z / Jensen-Shannon
        "small_int": rng.integers(0, 4 + int(shift > 0), n).tolist(),  # categorical by inference
        "float_3": rng.choice([0.0, 1.0, 2.0], n, p=[0.5, 0.3, 0.2]).tolist(),  # chi-square
        "missing": [
            None if r < 0.2 else v for r, v in zip(rng.random(n), rng.normal(0, 1, n), strict=True)
        ],
    }


def _evidently_report(ref: dict, cur: dict) -> tuple[dict[str, tuple[str, float, bool]], bool]:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    out = (
        Report([DataDriftPreset()], include_tests=True)
        .run(pd.DataFrame(cur), pd.DataFrame(ref))
        .dict()
    )
    scores = {
        m["config"]["column"]: (m["config"]["method"], m["value"])
        for m in out["metrics"]
        if m["config"]["type"].endswith("ValueDrift")
    }
    verdicts, dataset = {}, None
    for t in out["tests"]:
        params = t["metric_config"]["params"]
        if params["type"].endswith("ValueDrift"):
            verdicts[params["column"]] = t["status"] == "FAIL"
        elif params["type"].endswith("DriftedColumnsCount"):
            dataset = t["status"] == "FAIL"
    return {c: (*scores[c], verdicts[c]) for c in scores}, bool(dataset)


@pytest.mark.parametrize(
    "n_ref,n_cur,tests",
    [
        (1000, 500, {"ks", "chisquare", "z"}),
        (2000, 1200, {"wasserstein", "jensenshannon"}),
    ],
)
def test_verdicts_equal_evidently_report(n_ref: int, n_cur: int, tests: set[str]) -> None:
    rng = np.random.default_rng(n_ref)
    ref, cur = _frame(rng, n_ref, 0.0), _frame(rng, n_cur, 0.3)
    columns = list(ref)
    series = {c: ds.reference_series(ref[c]) for c in columns}
    rows = [list(r) for r in zip(*cur.values(), strict=True)]
    ours = ds.evaluate_window(series, columns, rows, None, None)
    theirs, dataset = _evidently_report(ref, cur)
    assert sorted(c.column for c in ours.columns) == sorted(theirs) == sorted(columns)
    assert {c.stattest for c in ours.columns} == tests
    for c in ours.columns:
        method, score, drifted = theirs[c.column]
        assert (c.stattest_display, c.drifted) == (method, drifted), c
        assert c.score == pytest.approx(score, rel=1e-9, abs=1e-12)
    assert 0 < len(ours.drifted) < len(columns)  # both verdicts are exercised
    assert ours.dataset_drift(0.5) == dataset


@pytest.mark.parametrize(
    "values,n_ref,expected",
    [
        ([0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5], 1000, ("num", "ks")),
        ([0.0, 1.0, 2.0], 1000, ("num", "chisquare")),  # numerical, <= 5 values
        ([0.0, 1.0], 1000, ("num", "z")),
        (list(range(8)), 1000, ("cat", "chisquare")),  # int, <= 10 values: categorical
        (list(range(40)), 1000, ("num", "ks")),
        (["x", "y", "z"], 1000, ("cat", "chisquare")),
        ([True, False], 1000, ("cat", "z")),
        ([0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5], 1001, ("num", "wasserstein")),
        ([0.0, 1.0, 2.0], 1001, ("num", "jensenshannon")),
        (["x", "y", "z"], 1001, ("cat", "jensenshannon")),
    ],
)
def test_default_test_per_type_and_size(values: list, n_ref: int, expected: tuple) -> None:
    rnd = random.Random(1)
    ref = [rnd.choice(values) for _ in range(n_ref)]
    cur = [rnd.choice(values) for _ in range(300)]
    result = ds.column_drift("c", ds.reference_series(ref), cur, None, None)
    assert result is not None and (result.column_type, result.stattest) == expected
    assert result.threshold == (0.1 if expected[1] in ("wasserstein", "jensenshannon") else 0.05)


def test_text_unknown_and_empty_columns_are_skipped() -> None:
    ref = ds.reference_series([f"free text {i}" for i in range(100)])
    assert ds.column_drift("t", ref, [f"other {i}" for i in range(50)], None, None) is None
    assert ds.column_drift("u", ds.reference_series([None] * 100), [None] * 50, None, None) is None
    empty = ds.column_drift("e", ds.reference_series([1.5, 2.5] * 50), [None] * 50, None, None)
    assert empty is None


def test_dataset_drift_share_rule_is_greater_or_equal() -> None:
    def col(name: str, drifted: bool) -> ds.ColumnResult:
        return ds.ColumnResult(name, "num", "ks", "K-S p_value", 0.5, 0.05, drifted, 100, 50)

    half = ds.WindowResult((col("a", True), col("b", True), col("c", False), col("d", False)), ())
    assert half.share == 0.5 and half.dataset_drift(0.5) and not half.dataset_drift(0.51)
    third = ds.WindowResult((col("a", True), col("b", False), col("c", False)), ())
    assert not third.dataset_drift(0.5)
    assert not ds.WindowResult((), ("t",)).dataset_drift(0.0)
