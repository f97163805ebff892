"""The policy engine: each detector signal, through its rule, becomes a filed Finding."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Sequence

from detectors.base import Signal
from policies.findings import Finding, finding_id_for
from policies.pack import Pack, PackError, Rule
from riskwatch.registry import Registry

log = logging.getLogger(__name__)


def _matches(when: dict[str, Any], context: dict[str, Any]) -> bool:
    return all(key in context and context[key] == value for key, value in when.items())


class PolicyEngine:
    def __init__(self, packs: Sequence[Pack], registry: Registry) -> None:
        self.registry = registry
        self._rules: dict[str, tuple[Pack, Rule]] = {}
        for pack in packs:
            for rule in pack.rules:
                if rule.signal in self._rules:
                    other = self._rules[rule.signal][1].id
                    raise PackError(f"signal {rule.signal!r} has two rules: {other!r} and {rule.id!r}")
                self._rules[rule.signal] = (pack, rule)
        self._unmapped_logged: set[str] = set()

    def covers(self, signal_name: str) -> bool:
        return signal_name in self._rules

    def evaluate(self, signals: Sequence[Signal]) -> list[Finding]:
        now = datetime.now(timezone.utc)
        findings = []
        for signal in signals:
            name = f"{signal.detector}.{signal.kind}"
            match = self._rules.get(name)
            if match is None:
                if name not in self._unmapped_logged:
                    self._unmapped_logged.add(name)
                    log.error("no policy rule for signal %s; it is dropped", name)
                continue
            findings.append(self._finding(signal, *match, now))
        return findings

    def _finding(self, signal: Signal, pack: Pack, rule: Rule, now: datetime) -> Finding:
        entry = self.registry.get(signal.model_id)
        tier = entry.risk_tier if entry is not None else None
        severity = rule.severity or signal.severity
        if tier is not None and rule.escalate.get(tier):
            severity = severity.raised(rule.escalate[tier])
        for esc in rule.escalate_when:
            if _matches(esc.when, signal.context):
                severity = severity.raised(esc.steps)
        refs = [r.ref for r in rule.regulation
                if (r.tiers is None or tier in r.tiers) and _matches(r.when, signal.context)]
        subject = f"{signal.event_id or signal.model_id}|{signal.key}"
        source = signal.source
        return Finding(
            finding_id=finding_id_for(rule.id, signal.detector, signal.kind, subject),
            event_id=signal.event_id,
            model_id=signal.model_id,
            model_version=signal.model_version,
            detector=signal.detector,
            rule_id=rule.id,
            category=rule.category,
            subcategory=rule.subcategory,
            severity=severity,
            title=signal.title,
            evidence=signal.evidence,
            regulation_refs=refs,
            remediation=rule.remediation,
            pack=pack.pack,
            pack_version=pack.version,
            source_topic=source.topic if source else None,
            source_partition=source.partition if source else None,
            source_offset=source.offset if source else None,
            detected_at=now,
        )
