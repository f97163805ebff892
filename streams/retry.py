"""Retrying with backoff: a database or broker that is away is waited out, never skipped.

Every read and write of the batch path, every publish of what a committed batch produced, and
opening the audit store at start go through here. The batch path retries until it succeeds
(events are never skipped because the database is away, and their offsets are not acked
meanwhile); only opening the store may give up, after a deadline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class Backoff:
    """Delays that double from ``first_delay`` up to ``max_delay``; each failure is logged."""

    def __init__(
        self, what: str, first_delay: float, max_delay: float, give_up_after: float | None = None
    ) -> None:
        self.what = what
        self.delay = first_delay
        self.max_delay = max_delay
        self.attempt = 0
        self.deadline = None if give_up_after is None else time.monotonic() + give_up_after

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline

    def failed(self, exc: Exception) -> float:
        """Log the failure; return how long to wait before the next attempt."""
        self.attempt += 1
        delay = self.delay
        log.warning(
            "%s failed (attempt %d, retrying in %.1fs): %s: %s",
            self.what,
            self.attempt,
            delay,
            type(exc).__name__,
            str(exc)[:300],
        )
        self.delay = min(delay * 2, self.max_delay)
        return delay


def retry_sync(
    what: str,
    fn: Callable[[], T],
    *,
    first_delay: float = 0.2,
    max_delay: float = 10.0,
    give_up_after: float | None = None,
) -> T:
    """Run ``fn`` until it succeeds, sleeping between attempts; with ``give_up_after`` (seconds),
    re-raise the failure that comes after that long."""
    backoff = Backoff(what, first_delay, max_delay, give_up_after)
    while True:
        try:
            return fn()
        except Exception as exc:
            if backoff.expired():
                raise
            time.sleep(backoff.failed(exc))


async def retry_async(
    what: str, fn: Callable[[], Awaitable[T]], *, first_delay: float = 0.2, max_delay: float = 10.0
) -> T:
    """Await ``fn()`` until it succeeds, without blocking the event loop; cancellation is not a
    failure and ends the retries."""
    backoff = Backoff(what, first_delay, max_delay)
    while True:
        try:
            return await fn()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await asyncio.sleep(backoff.failed(exc))
