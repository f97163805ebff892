"""The synchronous batch handler: decode → de-duplicate → detect → commit, retrying the database.

It runs either in a thread of the worker or in a dedicated child process (streams/runner.py);
either way it owns the detectors' state, so batches must reach it one at a time, in order.
"""

from __future__ import annotations

from collections.abc import Sequence

from audit.store import AuditStore
from streams.batch import Outcome, RawMessage
from streams.codec import EventPolicy
from streams.processor import BatchProcessor, decode_batch
from streams.retry import retry_sync


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
