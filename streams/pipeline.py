"""One batch through the pipeline: decode → de-duplicate → detectors → policies → audit rows →
commit. Feedback (labels) in the batch reaches every detector before its events, and is stored.

BatchProcessor turns a decoded batch into rows and findings and keeps no I/O of its own; the
synchronous BatchHandler around it leaves out the events already stored and commits the rows,
retrying the database (events are never skipped because it is away).

No Kafka here (the agent feeds RawMessages in and publishes what comes out) and no detection
logic (detectors and policies own that), so the whole path is testable without a broker.

The handler runs either in a thread of the worker or in a dedicated child process
(streams/runner.py); either way it owns the detectors' state, so batches must reach it one at a
time, in order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from audit.store import AuditBatch, AuditStore, DeadLetter, DetectorState
from core.events import FeedbackEvent
from core.findings import Finding
from core.model_registry import Registry
from core.signals import ObservedEvent, ObservedFeedback, Signal, SourceRef
from detectors.base import Detector
from policies.engine import STATE_NAME as POLICY_STATE
from policies.engine import STATE_VERSION as POLICY_STATE_VERSION
from policies.engine import PolicyEngine
from streams.batch import Outcome, RawMessage
from streams.codec import EventPolicy, InvalidMessage, decode_document
from streams.retry import retry_sync

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Decoded:
    events: list[ObservedEvent] = field(default_factory=list)
    #: riskwatch.feedback/v1 labels, one per event_id within the batch
    feedback: list[ObservedFeedback] = field(default_factory=list)
    rejected: list[tuple[RawMessage, DeadLetter]] = field(default_factory=list)
    duplicates_in_batch: int = 0


@dataclass(slots=True)
class Prepared:
    """What one batch produced: the rows to commit and, after commit, what to publish."""

    audit: AuditBatch
    rejected: list[tuple[RawMessage, DeadLetter]]
    findings: list[Finding]
    duplicates: int
    detector_failures: list[str]
    detector_seconds: dict[str, float] = field(default_factory=dict)


def decode_batch(messages: Sequence[RawMessage], policy: EventPolicy) -> Decoded:
    out = Decoded()
    seen: set[str] = set()
    labelled: set[str] = set()  # a label shares its event's id, so it has its own set
    for msg in messages:
        try:
            event, document = decode_document(msg.value, policy)
        except InvalidMessage as exc:
            letter = DeadLetter.of(
                msg.value,
                topic=msg.topic,
                partition=msg.partition,
                offset=msg.offset,
                reason=exc.reason,
                detail=exc.detail,
            )
            out.rejected.append((msg, letter))
            continue
        ids = labelled if isinstance(event, FeedbackEvent) else seen
        if event.event_id in ids:
            out.duplicates_in_batch += 1
            continue
        ids.add(event.event_id)
        source = SourceRef(msg.topic, msg.partition, msg.offset, msg.timestamp_ms)
        if isinstance(event, FeedbackEvent):
            out.feedback.append(ObservedFeedback(event, source, document))
        else:
            out.events.append(ObservedEvent(event, source, document))
    return out


class BatchProcessor:
    """Runs detectors and policies over a decoded batch; keeps no I/O of its own."""

    def __init__(
        self,
        detectors: Sequence[Detector],
        policies: PolicyEngine,
        *,
        state_scope: str = "global",
        registry: Callable[[], Registry] | None = None,
    ) -> None:
        self.detectors = list(detectors)
        self.policies = policies
        self.state_scope = state_scope
        #: the current model registry (RegistryWatcher.poll), asked before every batch
        self.registry_source = registry
        self._registry = policies.registry

    def _refresh_registry(self) -> None:
        if self.registry_source is None:
            return
        registry = self.registry_source()
        if registry is self._registry:
            return
        self._registry = registry
        self.policies.set_registry(registry)
        for detector in self.detectors:  # they read models (SLOs, protected attributes) per event
            detector.registry = registry

    def load(self) -> None:
        for detector in self.detectors:
            try:
                detector.load()
            except Exception:  # it fails again, and is reported, on its first batch
                log.exception("detector %s failed to load", detector.name)

    def restore(self, states: dict[str, DetectorState]) -> None:
        saved_windows = states.get(POLICY_STATE)
        if saved_windows is not None and saved_windows.version == POLICY_STATE_VERSION:
            self.policies.load_state(saved_windows.state)
            log.info("policy window state restored")
        for detector in self.detectors:
            saved = states.get(detector.name)
            if saved is None:
                continue
            if saved.version != detector.version:
                log.warning(
                    "detector %s: saved state is version %s, running %s; starting fresh",
                    detector.name,
                    saved.version,
                    detector.version,
                )
                continue
            detector.restore_saved(saved.state, saved.entries.upserts if saved.entries else {})
            log.info("detector %s: state restored", detector.name)

    def prepare(self, decoded: Decoded, known_ids: set[str]) -> Prepared:
        self._refresh_registry()
        fresh = [e for e in decoded.events if e.event.event_id not in known_ids]
        signals: list[Signal] = []
        failures: list[str] = []
        redactions: dict[str, dict[str, str]] = {}
        seconds: dict[str, float] = {}
        for detector in self.detectors:
            started = time.perf_counter()
            try:
                if decoded.feedback:
                    detector.observe_feedback(decoded.feedback)
                signals.extend(detector.process(fresh))
                for event_id, fields in detector.redactions().items():
                    redactions.setdefault(event_id, {}).update(fields)
            except Exception:  # one faulty detector must not stop the others or the events
                log.exception(
                    "detector %s failed on a batch of %d events", detector.name, len(fresh)
                )
                failures.append(detector.name)
            seconds[detector.name] = time.perf_counter() - started
        findings = self.policies.evaluate(signals, fresh)
        states = []
        for d in self.detectors:
            if d.name not in failures:  # a failed detector's changes wait for its next batch
                state, entries = d.saved_state()
                states.append(DetectorState(d.name, d.version, state, self.state_scope, entries))
        # window rules' state, in the same transaction as the batch it reflects
        states.append(
            DetectorState(
                POLICY_STATE, POLICY_STATE_VERSION, self.policies.state_dict(), self.state_scope
            )
        )
        audit = AuditBatch(
            events=fresh,
            feedback=decoded.feedback,
            findings=findings,
            dead_letters=[letter for _, letter in decoded.rejected],
            states=states,
            redactions=redactions,
        )
        return Prepared(
            audit=audit,
            rejected=decoded.rejected,
            findings=findings,
            duplicates=decoded.duplicates_in_batch + len(decoded.events) - len(fresh),
            detector_failures=failures,
            detector_seconds=seconds,
        )


class Processor(Protocol):
    """What the handler drives: one BatchProcessor, or one per Kafka partition behind the same
    interface (streams/partitioned.py)."""

    state_scope: str

    def load(self) -> None: ...

    def restore(self, states: dict[str, DetectorState]) -> None: ...

    def prepare(self, decoded: Decoded, known_ids: set[str]) -> Prepared: ...


class BatchHandler:
    """The batch process's whole job: decode, leave out what is stored, prepare, commit."""

    def __init__(self, store: AuditStore, processor: Processor, policy: EventPolicy) -> None:
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
        if decoded.feedback:  # a late label of an erased event reaches no detector's state
            labelled = [f.feedback.event_id for f in decoded.feedback]
            erased = retry_sync(
                "looking up erased events", lambda: self.store.erased_event_ids(labelled)
            )
            if erased:
                decoded.feedback = [
                    f for f in decoded.feedback if f.feedback.event_id not in erased
                ]
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
