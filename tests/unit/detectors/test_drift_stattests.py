"""In-house drift tests (detectors/drift/stattests.py): K-S and chi-square equal scipy's, column
typing, Benjamini-Hochberg, and the false-alarm budget it states."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2_contingency, ks_2samp

from detectors.drift import stattests as st


@pytest.mark.parametrize("shift", [0.0, 0.1, 0.5])
def test_ks_equals_scipy_asymptotic(shift: float) -> None:
    rng = np.random.default_rng(3)
    ref, cur = rng.normal(0, 1, 1000), rng.normal(shift, 1, 500)
    d, p = st.ks_test(np.sort(ref), cur)
    want = ks_2samp(ref, cur, method="asymp")
    assert d == pytest.approx(want.statistic, abs=1e-12)
    assert p == pytest.approx(want.pvalue, rel=1e-9)


def test_ks_with_ties_matches_scipy() -> None:
    rng = np.random.default_rng(4)
    ref, cur = rng.integers(0, 40, 800).astype(float), rng.integers(2, 42, 300).astype(float)
    d, p = st.ks_test(np.sort(ref), cur)
    want = ks_2samp(ref, cur, method="asymp")
    assert (d, p) == (pytest.approx(want.statistic), pytest.approx(want.pvalue, rel=1e-9))


def test_chi_square_equals_scipy_contingency() -> None:
    ref, cur = {"a": 500, "b": 300, "c": 200}, {"a": 200, "b": 150, "c": 150}
    statistic, p = st.chi2_test(ref, cur)
    want = chi2_contingency([[500, 300, 200], [200, 150, 150]], correction=False)
    assert statistic == pytest.approx(want.statistic) and p == pytest.approx(want.pvalue)


def test_chi_square_pools_rare_levels_and_sees_new_ones() -> None:
    # "d" and "e" expected below 5 in the current window: pooled into one level
    statistic, _ = st.chi2_test({"a": 600, "b": 390, "d": 6, "e": 4}, {"a": 300, "b": 200})
    want = chi2_contingency([[600, 390, 10], [300, 200, 0]], correction=False)
    assert statistic == pytest.approx(want.statistic)
    # a level the reference never had, now frequent: drift
    assert st.chi2_test({"a": 1000}, {"a": 400, "new": 100})[1] < 1e-20
    assert st.chi2_test({"a": 1000}, {"a": 500}) == (0.0, 1.0)  # one level: nothing to test


@pytest.mark.parametrize(
    "values,expected",
    [
        ([0.1 * i for i in range(50)], st.NUMERICAL),
        ([0, 1, 2, 3], st.CATEGORICAL),  # few numbers: levels
        ([0.0, 1.0], st.CATEGORICAL),
        ([True, False], st.CATEGORICAL),
        (["x", "y", "z"], st.CATEGORICAL),
        ([f"free text {i}" for i in range(300)], st.TEXT),
    ],
)
def test_column_type_is_fixed_by_the_reference(values: list, expected: str) -> None:
    ref = [values[i % len(values)] for i in range(200)] + [None] * 10
    assert st.prepare(ref).column_type == expected
    result = st.column_test("c", st.prepare(ref), ref[:100])
    if expected == st.TEXT:
        assert result is None
    else:
        assert result is not None and result.p_value > 0.5  # same distribution
        assert result.stattest == ("ks" if expected == st.NUMERICAL else "chisquare")


def test_too_few_values_are_not_tested() -> None:
    ref = st.prepare([float(i) for i in range(100)])
    assert st.column_test("c", ref, [1.0] * (st.MIN_ROWS - 1) + [None] * 50) is None
    assert st.column_test("c", st.prepare([None] * 100), [1.0] * 50) is None


def test_benjamini_hochberg_step_up() -> None:
    p = [0.01, 0.04, 0.03, 0.5]
    rejected, adjusted = st.benjamini_hochberg(p, 0.05)
    # sorted: 0.01, 0.03, 0.04, 0.5 against 0.0125, 0.025, 0.0375, 0.05: k = 1 only
    assert rejected == [True, False, False, False]
    assert adjusted == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.5])
    rejected, _ = st.benjamini_hochberg([0.001, 0.02, 0.024, 0.5], 0.1)
    assert rejected == [True, True, True, False]  # step-up: 0.024 <= 3 * 0.1 / 4
    assert st.benjamini_hochberg([], 0.1) == ([], [])


def test_window_false_alarm_rate_holds_under_the_null() -> None:
    """Many null windows of 6 columns at q = 0.05: the share of windows naming any column stays
    near or below q (BH controls the family-wise error when nothing drifts)."""
    rng = np.random.default_rng(7)
    q, windows, alarms = 0.05, 600, 0
    for _ in range(windows):
        ps = [
            st.ks_test(np.sort(rng.normal(0, 1, 400)), rng.normal(0, 1, 200))[1] for _ in range(6)
        ]
        alarms += any(st.benjamini_hochberg(ps, q)[0])
    assert alarms / windows <= 1.5 * q
