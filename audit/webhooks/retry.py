"""When a failed delivery is tried again, and which failures are not worth retrying.

* 2xx: delivered.
* No response (timeout, connection refused, TLS error), 408, 429 and 5xx: retried with exponential
  backoff and full jitter: attempt n waits uniform(0, min(cap, base * 2**(n-1))) seconds; a 429's
  ``Retry-After`` (seconds) is honoured up to the cap. After ``max_attempts`` attempts: dead.
* Any other status (3xx: redirects are not followed; 4xx: the receiver refuses the request, e.g.
  404, 401/403 on a bad signature, 410): permanent, dead at once. Retrying cannot help until the
  receiver is fixed; then ``riskwatch webhooks retry`` sends the dead deliveries again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    PERMANENT = "permanent"


RETRYABLE_4XX = frozenset({408, 429})


def classify(status_code: int | None) -> Verdict:
    """``None``: no HTTP response at all."""
    if status_code is None:
        return Verdict.RETRY
    if 200 <= status_code < 300:
        return Verdict.DELIVERED
    if status_code >= 500 or status_code in RETRYABLE_4XX:
        return Verdict.RETRY
    return Verdict.PERMANENT


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    base_s: float = 2.0
    cap_s: float = 600.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_s <= 0 or self.cap_s < self.base_s:
            raise ValueError("backoff needs 0 < base_s <= cap_s")

    def ceiling(self, attempt: int) -> float:
        """The longest wait after failed attempt ``attempt`` (1-based)."""
        if attempt < 1:
            raise ValueError("attempt is 1-based")
        return min(self.cap_s, self.base_s * 2.0 ** min(attempt - 1, 62))

    def delay(self, attempt: int, rng: random.Random, retry_after_s: float | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt``: full jitter, at least Retry-After."""
        wait = rng.uniform(0.0, self.ceiling(attempt))
        if retry_after_s is not None and retry_after_s > 0:
            wait = max(wait, min(retry_after_s, self.cap_s))
        return wait

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts
