"""Which failures are retried, and the backoff schedule (exponential, full jitter, capped)."""

from __future__ import annotations

import random

import pytest

from audit.webhooks.retry import RetryPolicy, Verdict, classify


@pytest.mark.parametrize(
    ("code", "verdict"),
    [
        (200, Verdict.DELIVERED),
        (201, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (None, Verdict.RETRY),
        (500, Verdict.RETRY),
        (502, Verdict.RETRY),
        (503, Verdict.RETRY),
        (408, Verdict.RETRY),
        (429, Verdict.RETRY),
        (301, Verdict.PERMANENT),
        (400, Verdict.PERMANENT),
        (401, Verdict.PERMANENT),
        (404, Verdict.PERMANENT),
        (410, Verdict.PERMANENT),
        (413, Verdict.PERMANENT),
    ],
)
def test_classify(code: int | None, verdict: Verdict) -> None:
    assert classify(code) is verdict


def test_the_ceiling_doubles_per_attempt_up_to_the_cap() -> None:
    policy = RetryPolicy(max_attempts=10, base_s=2.0, cap_s=60.0)
    assert [policy.ceiling(n) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]
    assert policy.ceiling(10_000) == 60  # no overflow on absurd attempt numbers


def test_full_jitter_spreads_each_wait_over_zero_to_the_ceiling() -> None:
    policy = RetryPolicy(max_attempts=10, base_s=1.0, cap_s=1000.0)
    rng = random.Random(3)
    for attempt in (1, 4, 8):
        waits = [policy.delay(attempt, rng) for _ in range(2000)]
        ceiling = policy.ceiling(attempt)
        assert all(0 <= w <= ceiling for w in waits)
        # uniform over [0, ceiling]: both ends and the middle are reached
        assert min(waits) < 0.05 * ceiling and max(waits) > 0.95 * ceiling
        assert 0.45 * ceiling < sum(waits) / len(waits) < 0.55 * ceiling


def test_retry_after_is_a_floor_bounded_by_the_cap() -> None:
    policy = RetryPolicy(max_attempts=5, base_s=1.0, cap_s=30.0)
    rng = random.Random(1)
    assert all(policy.delay(1, rng, retry_after_s=20) >= 20 for _ in range(100))
    assert all(policy.delay(1, rng, retry_after_s=3600) <= 30 for _ in range(100))


def test_exhausted_after_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert [policy.exhausted(n) for n in (1, 2, 3, 4)] == [False, False, True, True]


@pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"base_s": 0}, {"base_s": 10, "cap_s": 5}])
def test_bad_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
