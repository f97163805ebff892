"""Silence (absence) window rules: a key that stopped sending, found by the event-time watermark.

Fires once per silence episode, re-arms when the key comes back, gives the same findings whatever
the batch boundaries, survives a restart (JSON state), and keeps memory bounded.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from core.events import InferenceEvent
from core.findings import Finding, finding_id_for
from core.model_registry import Registry
from core.signals import ObservedEvent, SourceRef
from policies.engine import POLICY_DETECTOR, PolicyEngine
from policies.pack import BUILTIN_PACKS, PackError, load_pack, load_packs
from policies.rules import compile_rule

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
REGISTRY = Registry.model_validate(
    {"models": {"m": {"owner": "o@example.com", "risk_tier": "high"}}}
)
PACK = """\
pack: s
version: "1"
rules:
  - id: S-SILENT
    title: Tenant gone silent
    category: commercial
    subcategory: market_demand
    severity: medium
    escalate: {{high: 1}}
    window:
      aggregate: count
      key: event.tenant
      where: has(event.tenant)
      size: 5m
      history: 3
      silence: 10m{extra}
    condition: baseline != null && baseline >= 4
    evidence:
      silent_minutes: silent_s / 60
"""


def _engine(tmp_path: Path, extra: str = "") -> PolicyEngine:
    d = tmp_path / "packs"
    d.mkdir(parents=True, exist_ok=True)
    (d / "s.yaml").write_text(PACK.format(extra=extra), encoding="utf-8")
    return PolicyEngine(load_packs(d), REGISTRY)


class Stream:
    """Events in offset order, numbered as they are made."""

    def __init__(self) -> None:
        self.events: list[ObservedEvent] = []

    def add(self, minutes: float, tenant: str | None, model: str = "m") -> ObservedEvent:
        i = len(self.events)
        ts = (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
        doc: dict[str, Any] = {
            "event_id": f"e{i}",
            "timestamp": ts,
            "model": {"id": model, "version": "7"},
        }
        if tenant is not None:
            doc["tenant"] = tenant
        observed = ObservedEvent(InferenceEvent.model_validate(doc), SourceRef("ev", 0, i), doc)
        self.events.append(observed)
        return observed

    def busy(self, tenant: str, start: float, minutes: int, every: float = 1.0) -> None:
        t = start
        while t < start + minutes:
            self.add(t, tenant)
            t += every


def _busy_then_others(until: float = 40.0) -> Stream:
    """acme: 5 calls per 5 min from 12:00 to 12:24; others: one call a minute until ``until``."""
    s = Stream()
    for k in range(25):  # acme stops after 12:24
        s.add(k, "acme")
        s.add(k + 0.5, "other")
    t = 25.0
    while t <= until:
        s.add(t, "other")
        t += 1.0
    return s


def _silent(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.rule_id == "S-SILENT"]


def test_a_busy_key_gone_silent_fires_once_with_its_evidence(tmp_path: Path) -> None:
    s = _busy_then_others(until=40)
    engine = _engine(tmp_path)
    out = _silent(engine.evaluate([], s.events))
    assert len(out) == 1
    (f,) = out
    last_seen = T0 + timedelta(minutes=24)
    # the first event at or past 12:34 moved the watermark 10 minutes past acme's last call
    (closing,) = [e for e in s.events if e.event.timestamp == T0 + timedelta(minutes=34)]
    assert (f.source_topic, f.source_offset) == ("ev", closing.source.offset)
    assert f.finding_id == finding_id_for(
        "S-SILENT", POLICY_DETECTOR, "silence", f"acme|{last_seen.isoformat()}"
    )
    assert (f.event_id, f.model_id, f.model_version, f.detector) == (None, "m", "7", "policy")
    assert f.severity.value == "high"  # medium, escalated for the high-risk model
    ev = f.evidence
    assert ev["key"] == "acme" and ev["silence_s"] == 600 and ev["silent_s"] == 600
    assert ev["silent_minutes"] == 10 and ev["last_seen"] == last_seen.isoformat()
    assert ev["baseline"] == 5 and ev["aggregate"] == "count"
    # later batches file nothing more for the same episode
    assert _silent(engine.evaluate([], [s.add(41, "other"), s.add(49, "other")])) == []


def test_the_key_coming_back_rearms_it(tmp_path: Path) -> None:
    s = _busy_then_others(until=40)
    engine = _engine(tmp_path)
    first = _silent(engine.evaluate([], s.events))
    n = len(s.events)
    for k in range(41, 66):  # acme back at 12:41, busy until 13:05
        s.add(k, "acme")
        s.add(k + 0.5, "other")
    assert _silent(engine.evaluate([], s.events[n:])) == []
    tail = [s.add(66 + k, "other") for k in range(15)]  # acme silent again from 13:05
    second = _silent(engine.evaluate([], tail))
    assert len(first) == len(second) == 1
    assert second[0].evidence["last_seen"] == (T0 + timedelta(minutes=65)).isoformat()
    assert second[0].finding_id != first[0].finding_id


@pytest.mark.parametrize("size", [1, 7, 50])
def test_findings_do_not_depend_on_batch_boundaries(tmp_path: Path, size: int) -> None:
    s = _busy_then_others(until=45)
    for k in range(46, 71):
        s.add(k, "acme")
        s.add(k + 0.5, "other")
    for k in range(15):
        s.add(71 + k, "other")
    whole = _silent(_engine(tmp_path / "a").evaluate([], s.events))
    engine = _engine(tmp_path / "b")
    split = [
        f
        for i in range(0, len(s.events), size)
        for f in _silent(engine.evaluate([], s.events[i : i + size]))
    ]
    key = [(f.finding_id, f.source_offset, f.evidence["silent_s"]) for f in whole]
    assert (
        len(whole) == 2
        and [(f.finding_id, f.source_offset, f.evidence["silent_s"]) for f in split] == key
    )


def test_silence_state_survives_a_restart_as_json(tmp_path: Path) -> None:
    s = _busy_then_others(until=30)  # acme silent 6 minutes so far: not yet
    engine = _engine(tmp_path)
    assert _silent(engine.evaluate([], s.events)) == []
    saved = orjson.loads(orjson.dumps(engine.state_dict()))
    assert saved["watermark"] == (T0 + timedelta(minutes=30)).timestamp()
    restarted = _engine(tmp_path)
    restarted.load_state(saved)
    out = _silent(restarted.evaluate([], [s.add(35, "other")]))
    assert [f.evidence["last_seen"] for f in out] == [(T0 + timedelta(minutes=24)).isoformat()]
    # a restart after the finding does not file it again
    again = _engine(tmp_path)
    again.load_state(orjson.loads(orjson.dumps(restarted.state_dict())))
    assert _silent(again.evaluate([], [s.add(50, "other")])) == []
    # and without the saved state the restarted engine knows nothing of acme
    assert _silent(_engine(tmp_path).evaluate([], [s.add(60, "other")])) == []


def test_a_quiet_key_a_short_history_or_a_stopped_stream_do_not_fire(tmp_path: Path) -> None:
    s = Stream()
    for k in range(25):
        s.add(k, "quiet") if k % 3 == 0 else None  # under 2 per 5 minutes
        s.add(k + 0.5, "other")
    s.add(3, "new")  # one call, then nothing: no history behind it
    for k in range(25, 60):
        s.add(k, "other")
    engine = _engine(tmp_path)
    assert _silent(engine.evaluate([], s.events)) == []
    # a stream that stops altogether: the watermark stays, so nobody is silent
    busy = Stream()
    busy.busy("acme", 0, 25)
    engine = _engine(tmp_path / "b")
    assert _silent(engine.evaluate([], busy.events)) == []
    assert _silent(engine.evaluate([], [])) == []
    # events without a tenant are not counted (where), but they move the watermark
    out = _silent(engine.evaluate([], [busy.add(40, None)]))
    assert [f.evidence["key"] for f in out] == ["acme"]


def test_late_events_do_not_end_an_episode_nor_fire_twice(tmp_path: Path) -> None:
    s = _busy_then_others(until=40)
    engine = _engine(tmp_path)
    assert len(_silent(engine.evaluate([], s.events))) == 1
    late = s.add(20, "acme")  # delivered late: its time is before the silence
    assert _silent(engine.evaluate([], [late, s.add(41, "other"), s.add(49, "other")])) == []


def test_silence_memory_is_bounded(tmp_path: Path) -> None:
    engine = _engine(tmp_path, extra="\n      max_keys: 50")
    s = Stream()
    for i in range(3000):
        s.add(i * 0.05, f"t{i}")  # every call from a new tenant
    engine.evaluate([], s.events)
    windows = engine._windows["S-SILENT"][1]
    assert len(windows.keys) <= 50 and len(windows._heap) <= 2 * 50 + 16


def test_silence_is_a_duration_and_in_the_fingerprint(tmp_path: Path) -> None:
    d = tmp_path / "packs"
    d.mkdir()
    path = d / "s.yaml"
    path.write_text(PACK.format(extra="").replace("silence: 10m", "silence: soon"), "utf-8")
    with pytest.raises(PackError, match=r"s\.yaml:4: rule 'S-SILENT': window.silence"):
        load_pack(path)
    path.write_text(PACK.format(extra=""), encoding="utf-8")
    rule = load_pack(path).rules[0]
    assert rule.window is not None and rule.window.silence == 600
    longer = rule.model_copy(update={"window": rule.window.model_copy(update={"silence": 900})})
    assert compile_rule(rule).fingerprint != compile_rule(longer).fingerprint
    # rules without silence keep the fingerprint they had before it existed (saved state stays)
    plain = rule.model_copy(update={"window": rule.window.model_copy(update={"silence": None})})
    import hashlib

    spec = {k: v for k, v in plain.window.model_dump().items() if k != "silence"}
    old = hashlib.sha256(b"S-SILENT|" + orjson.dumps(spec, option=orjson.OPT_SORT_KEYS))
    assert compile_rule(plain).fingerprint == old.hexdigest()[:16]


def test_shipped_rule_rw_cm_003() -> None:
    (rule,) = [r for p in load_packs(BUILTIN_PACKS) for r in p.rules if r.id == "RW-CM-003"]
    assert rule.window is not None and rule.window.silence == 1800
    assert rule.window.key == "event.tenant" and (rule.category, rule.subcategory) == (
        "commercial",
        "market_demand",
    )
