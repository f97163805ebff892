"""The report's time bins: chosen from the period alone (a table of periods)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from audit.report.bins import MAX_BINS, WIDTHS, time_bins

T0 = datetime(2026, 3, 2, 10, 17, 33, tzinfo=UTC)


@pytest.mark.parametrize(
    ("span", "width", "first", "second", "last"),
    [
        (timedelta(hours=2), timedelta(minutes=2), "10:16", "10:18", "12:16"),
        (timedelta(days=3), timedelta(hours=2), "03-02 10:00", "03-02 12:00", "03-05 10:00"),
        (timedelta(days=90), timedelta(days=2), "2026-03-02", "2026-03-04", "2026-05-31"),
        (timedelta(minutes=10), timedelta(seconds=10), "10:17:30", "10:17:40", "10:27:30"),
        (timedelta(hours=24), timedelta(minutes=30), "03-02 10:00", "03-02 10:30", "03-03 10:00"),
        (timedelta(days=3650), timedelta(days=90), None, None, None),
    ],
)
def test_the_period_chooses_the_bins(
    span: timedelta, width: timedelta, first: str | None, second: str | None, last: str | None
) -> None:
    bins = time_bins(T0, T0 + span)
    assert bins.width == width
    assert 24 <= len(bins.starts) <= MAX_BINS + 1
    assert len(bins.labels) == len(bins.starts)
    if first is not None:
        assert bins.labels[:2] == (first, second) and bins.labels[-1] == last
    # the bins cover the period, each one width after the last
    assert bins.starts[0] <= T0 < bins.starts[0] + width
    assert bins.starts[-1] < T0 + span <= bins.starts[-1] + width
    assert all(b - a == width for a, b in pairwise(bins.starts))


def test_every_period_gets_24_to_61_bins() -> None:
    for seconds in (25, 61, 3600, 7201, 86400 * 7, 86400 * 30, 86400 * 400, 86400 * 3660):
        n = len(time_bins(T0, T0 + timedelta(seconds=seconds)).starts)
        assert 24 <= n <= MAX_BINS + 1, (seconds, n)
    assert all(b / a <= 2.5 for a, b in pairwise(WIDTHS))


def test_index_finds_the_bin_and_nothing_outside() -> None:
    bins = time_bins(T0, T0 + timedelta(hours=2))
    assert bins.index(T0) == 0
    assert bins.index(T0 + timedelta(minutes=3)) == 2  # 10:20:33 is in the 10:20 bin
    assert bins.index(T0 - timedelta(minutes=5)) is None
    assert bins.index(T0 + timedelta(hours=3)) is None
    assert bins.index(datetime(2026, 3, 2, 10, 18)) == 1  # naive: read as UTC
    assert bins.width_text == "2 minutes"
    assert time_bins(T0, T0 + timedelta(days=90)).width_text == "2 days"


def test_an_empty_period_is_refused() -> None:
    with pytest.raises(ValueError, match="after"):
        time_bins(T0, T0)
