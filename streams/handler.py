"""The synchronous batch handler: decode → de-duplicate → detect → commit, retrying the database.

It runs either in a thread of the worker or in a dedicated child process (streams/runner.py);
either way it owns the detectors' state, so batches must reach it one at a time, in order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from audit.store import AuditStore, DeadLetter
from core.findings import Finding
from streams.codec import EventPolicy
from streams.processor import BatchProcessor, RawMessage, decode_batch

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a committed batch leaves to publish, and its counts."""

    findings: list[Finding]
    rejected: list[tuple[RawMessage, DeadLetter]]
    stored: int
    duplicates: int
    detector_seconds: dict[str, float] = field(default_factory=dict)
    detector_failures: list[str] = field(default_factory=list)


def retry_sync(
    what: str, fn: Callable[[], T], *, first_delay: float = 0.2, max_delay: float = 10.0
) -> T:
    """Run ``fn`` until it succeeds: events are never skipped because the database is away."""
    delay, attempt = first_delay, 0
    while True:
        try:
            return fn()
        except Exception as exc:
            attempt += 1
            log.warning(
                "%s failed (attempt %d, retrying in %.1fs): %s: %s",
                what,
                attempt,
                delay,
                type(exc).__name__,
                str(exc)[:300],
            )
            time.sleep(delay)
            delay = min(delay * 2, max_delay)


class BatchHandler:
    def __init__(self, store: AuditStore, processor: BatchProcessor, policy: EventPolicy) -> None:
        self.store = store
        self.processor = processor
        self.policy = policy

    def restore(self) -> None:
        """Load the detectors' resources and their saved state: the batch process's start."""
        self.processor.load()
        scope = self.processor.state_scope
        self.processor.restore(
            retry_sync("loading detector state", lambda: self.store.load_states(scope))
        )

    def handle(self, messages: Sequence[RawMessage]) -> Outcome:
        decoded = decode_batch(messages, self.policy)
        ids = [e.event.event_id for e in decoded.events]
        known = (
            retry_sync("looking up stored event ids", lambda: self.store.known_event_ids(ids))
            if ids
            else set()
        )
        prepared = self.processor.prepare(decoded, known)
        retry_sync("writing to the audit store", lambda: self.store.write(prepared.audit))
        return Outcome(
            prepared.findings,
            prepared.rejected,
            len(prepared.audit.events),
            prepared.duplicates,
            prepared.detector_seconds,
            prepared.detector_failures,
        )
