"""Detector and policy state per Kafka partition, so that it moves with its partition.

Events are keyed by model id, so a model's events, and all the state they build (references,
windows, joins), live in one partition. Each partition the worker has seen gets its own
BatchProcessor (detectors and policy engine), whose state is saved under the scope
``"{topic}:{partition}"`` in the batch's own transaction. After a rebalance, the worker that gets
a partition loads its state from the store; a worker that gets one back after another worker
processed it notices (each batch stamps the scope with an owner and a generation, checked before
the next batch) and reloads, so a window is neither reset nor counted twice.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from audit.store import AuditBatch, DetectorState
from core.signals import SourceRef
from streams.pipeline import BatchProcessor, Decoded, Prepared

log = logging.getLogger(__name__)

MARK = "__partition__"  # the state row that stamps a scope with its last writer


def scope_of(source: SourceRef) -> str:
    return f"{source.topic}:{source.partition}"


class PartitionedProcessor:
    """Same interface as BatchProcessor; one BatchProcessor per partition behind it."""

    state_scope = "partitioned"

    def __init__(
        self,
        make_unit: Callable[[], BatchProcessor],
        load_states: Callable[[str], dict[str, DetectorState]],
        load_marks: Callable[[Sequence[str]], dict[str, dict[str, Any]]],
        owner: str | None = None,
    ) -> None:
        self.make_unit = make_unit
        self.load_states = load_states
        self.load_marks = load_marks
        self.owner = owner or uuid.uuid4().hex
        self.units: dict[str, BatchProcessor] = {}
        self.marks: dict[str, dict[str, Any]] = {}

    def load(self) -> None:
        """Load the detectors' heavy resources once, before the first batch (they are shared
        by every unit of the process)."""
        self.make_unit().load()

    def restore(self, states: dict[str, DetectorState]) -> None:
        """Partition state is loaded when a partition's events first arrive, not at start."""

    def _unit(self, scope: str, mark: dict[str, Any] | None) -> BatchProcessor:
        unit = self.units.get(scope)
        if unit is not None and self.marks.get(scope) == mark:
            return unit
        if unit is not None:
            log.info("partition %s was processed elsewhere since; reloading its state", scope)
        unit = self.units[scope] = self.make_unit()
        unit.state_scope = scope
        unit.restore(self.load_states(scope))
        return unit

    def prepare(self, decoded: Decoded, known_ids: set[str]) -> Prepared:
        # dead letters are the batch's, not a partition's: _merge adds them once
        groups: dict[str, Decoded] = defaultdict(Decoded)
        for observed in decoded.events:
            groups[scope_of(observed.source)].events.append(observed)
        for label in decoded.feedback:
            groups[scope_of(label.source)].feedback.append(label)
        marks = self.load_marks(sorted(groups)) if groups else {}
        parts: list[Prepared] = []
        for scope in sorted(groups):
            unit = self._unit(scope, marks.get(scope))
            part = unit.prepare(groups[scope], known_ids)
            mark = {
                "owner": self.owner,
                "generation": int((marks.get(scope) or {}).get("generation", 0)) + 1,
            }
            part.audit.states.append(DetectorState(MARK, "1", mark, scope))
            self.marks[scope] = mark
            parts.append(part)
        return _merge(parts, decoded)


def _merge(parts: list[Prepared], decoded: Decoded) -> Prepared:
    audit = AuditBatch(dead_letters=[letter for _, letter in decoded.rejected])
    for part in parts:
        for f in dataclasses.fields(AuditBatch):
            mine, theirs = getattr(audit, f.name), getattr(part.audit, f.name)
            if isinstance(mine, list):
                mine.extend(theirs)
            elif isinstance(mine, dict):
                mine.update(theirs)
    seconds: dict[str, float] = defaultdict(float)
    for part in parts:
        for name, spent in part.detector_seconds.items():
            seconds[name] += spent
    return Prepared(
        audit=audit,
        rejected=decoded.rejected,
        findings=[f for part in parts for f in part.findings],
        duplicates=decoded.duplicates_in_batch + sum(p.duplicates for p in parts),
        detector_failures=sorted({name for p in parts for name in p.detector_failures}),
        detector_seconds=dict(seconds),
    )
