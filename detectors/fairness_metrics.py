"""Group fairness metrics over one window, defined as fairlearn defines them.

Per group: selection rate = share of positive predictions; true-positive rate = positive
predictions among positive labels; false-positive rate = positive predictions among negative
labels. Between the compared groups (fairlearn's ``method="between_groups"``):
demographic parity difference = max - min selection rate, ratio = min / max; equal opportunity
difference = max - min TPR; equalized odds difference = the larger of the TPR and FPR differences
(fairlearn's default ``agg="worst_case"``). Rates are plain count quotients, so on the same rows
they equal fairlearn's ``MetricFrame`` values exactly.

A group is compared only when it has at least ``min_group_size`` rows (and, for TPR/FPR, at least
``min_outcome_count`` positive and as many negative labels: a rate over a handful of outcomes is
noise); with fewer than two such groups there is no verdict.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass
class GroupCounts:
    n: int = 0
    selected: int = 0  # positive predictions
    positives: int = 0  # positive labels (labelled windows only)
    true_positives: int = 0
    false_positives: int = 0

    @property
    def negatives(self) -> int:
        return self.n - self.positives

    @property
    def selection_rate(self) -> float:
        return self.selected / self.n

    @property
    def tpr(self) -> float | None:
        return self.true_positives / self.positives if self.positives else None

    @property
    def fpr(self) -> float | None:
        return self.false_positives / self.negatives if self.negatives else None


def count_groups(rows: Iterable[tuple[str, bool, bool | None]]) -> dict[str, GroupCounts]:
    """(group, predicted positive, label positive or None) rows -> counts per group, sorted."""
    groups: dict[str, GroupCounts] = {}
    for group, predicted, actual in rows:
        g = groups.setdefault(group, GroupCounts())
        g.n += 1
        g.selected += predicted
        if actual is not None:
            g.positives += actual
            g.true_positives += predicted and actual
            g.false_positives += predicted and not actual
    return dict(sorted(groups.items()))


@dataclass(frozen=True)
class Parity:
    compared: list[str]
    difference: float
    ratio: float | None  # None when no compared group is ever selected (0 / 0)
    lowest: str
    highest: str


@dataclass(frozen=True)
class Odds:
    compared: list[str]
    tpr_difference: float
    fpr_difference: float

    @property
    def equalized_odds_difference(self) -> float:
        return max(self.tpr_difference, self.fpr_difference)

    @property
    def equal_opportunity_difference(self) -> float:
        return self.tpr_difference


def demographic_parity(groups: dict[str, GroupCounts], min_group_size: int) -> Parity | None:
    compared = [k for k, g in groups.items() if g.n >= min_group_size]
    if len(compared) < 2:
        return None
    rates = {k: groups[k].selection_rate for k in compared}
    lowest, highest = min(rates, key=rates.__getitem__), max(rates, key=rates.__getitem__)
    lo, hi = rates[lowest], rates[highest]
    return Parity(compared, hi - lo, lo / hi if hi > 0 else None, lowest, highest)


def equalized_odds(
    groups: dict[str, GroupCounts], min_group_size: int, min_outcome_count: int = 1
) -> Odds | None:
    floor = max(1, min_outcome_count)
    compared = [
        k
        for k, g in groups.items()
        if g.n >= min_group_size and g.positives >= floor and g.negatives >= floor
    ]
    if len(compared) < 2:
        return None
    # compared groups have positives and negatives, so neither rate is None
    tprs = [float(groups[k].tpr) for k in compared]  # type: ignore[arg-type]
    fprs = [float(groups[k].fpr) for k in compared]  # type: ignore[arg-type]
    return Odds(compared, max(tprs) - min(tprs), max(fprs) - min(fprs))


def group_evidence(
    groups: dict[str, GroupCounts],
    compared: list[str],
    min_group_size: int,
    min_outcome_count: int | None = None,
) -> dict[str, dict[str, Any]]:
    """Per group: sizes and rates (TPR/FPR when ``min_outcome_count`` is given: a labelled
    window), and whether it was compared, with the reason if not."""
    labelled = min_outcome_count is not None
    out: dict[str, dict[str, Any]] = {}
    for key, g in groups.items():
        row: dict[str, Any] = {"n": g.n, "selected": g.selected, "selection_rate": g.selection_rate}
        if labelled:
            row.update(positives=g.positives, negatives=g.negatives, tpr=g.tpr, fpr=g.fpr)
        row["compared"] = key in compared
        if key not in compared:
            row["not_compared_because"] = (
                f"fewer than min_group_size={min_group_size} rows"
                if g.n < min_group_size
                else f"fewer than min_outcome_count={min_outcome_count} positive or negative labels"
            )
        out[key] = row
    return out
