"""Event and window rules in the engine: finding ids, one finding per window, state round trips,
pack checks with file/line/rule, hot reload, and the pack tests beside the shipped packs."""

from __future__ import annotations

import logging
import random
import shutil
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from audit.store import DetectorState
from core.events import InferenceEvent
from core.findings import finding_id_for
from core.model_registry import Registry
from core.signals import ObservedEvent, SourceRef
from core.taxonomy import Severity
from policies.engine import POLICY_DETECTOR, STATE_NAME, PolicyEngine
from policies.pack import BUILTIN_PACKS, PackError, load_pack, load_packs
from policies.packtest import run_pack_tests
from policies.windows import Acc, aggregate_of
from riskwatch.cli import main
from streams.pipeline import BatchProcessor, Decoded

REGISTRY = Registry.model_validate(
    {
        "policy_params": {"budgets": {"acme": 1.0}},
        "models": {
            "m": {
                "owner": "o@example.com",
                "risk_tier": "high",
                "region": "EU",
                "daily_cost_budget_usd": 1.0,
            }
        },
    }
)
T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

PACK = """\
pack: t
version: "{version}"
rules:
  - id: T-EVENT
    title: US subject
    category: legal
    subcategory: data_privacy
    severity: low
    condition: event.context.region == "US"
    evidence:
      region: event.context.region
    escalate: {{high: 1}}

  - id: T-WINDOW
    title: Spend over budget
    category: commercial
    subcategory: cost_control
    severity: high
    window:
      aggregate: sum
      of: event.usage.cost_usd
      key: event.tenant
      size: 1h
    condition: value > params.budgets[key]
"""


def _event(
    i: int,
    *,
    minutes: float = 0,
    cost: float = 0.3,
    region: str = "EU",
    tenant: str = "acme",
    model: str = "m",
) -> ObservedEvent:
    ts = (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
    doc = {
        "event_id": f"e{i}",
        "timestamp": ts,
        "model": {"id": model, "version": "1"},
        "tenant": tenant,
        "usage": {"cost_usd": cost},
        "context": {"region": region},
    }
    return ObservedEvent(InferenceEvent.model_validate(doc), SourceRef("ev", 0, i), doc)


def _pack_dir(tmp_path: Path, version: str = "1", text: str = PACK) -> Path:
    d = tmp_path / "packs"
    d.mkdir(parents=True, exist_ok=True)
    (d / "t.yaml").write_text(text.format(version=version), encoding="utf-8")
    return d


def _engine(tmp_path: Path, **kw: Any) -> PolicyEngine:
    d = _pack_dir(tmp_path)
    return PolicyEngine(load_packs(d), REGISTRY, **kw)


def test_event_rule_files_one_finding_per_matching_event(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    out = engine.evaluate([], [_event(1, region="US"), _event(2), _event(3, region="US")])
    assert [f.event_id for f in out if f.rule_id == "T-EVENT"] == ["e1", "e3"]
    f = out[0]
    assert f.finding_id == finding_id_for("T-EVENT", POLICY_DETECTOR, "event", "e1")
    assert (f.severity, f.evidence, f.pack, f.pack_version) == (
        Severity.MEDIUM,
        {"region": "US"},
        "t",
        "1",
    )
    assert (f.source_topic, f.source_offset, f.detector) == ("ev", 1, POLICY_DETECTOR)
    again = _engine(tmp_path).evaluate([], [_event(1, region="US")])
    assert again[0].finding_id == f.finding_id  # a replay re-files the same id


def test_window_rule_fires_once_per_key_and_window(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    events = [_event(i, minutes=i, cost=0.3) for i in range(8)]  # 0.9 after 3, 1.2 after 4
    out = [f for f in engine.evaluate([], events) if f.rule_id == "T-WINDOW"]
    assert len(out) == 1
    (f,) = out
    assert f.event_id is None and f.source_offset == 3  # the 4th event crossed the budget
    assert f.evidence["value"] == pytest.approx(1.2) and f.evidence["key"] == "acme"
    assert f.evidence["window"]["start"] == T0.isoformat()
    assert f.finding_id == finding_id_for(
        "T-WINDOW", POLICY_DETECTOR, "window", f"acme|{T0.isoformat()}"
    )
    # the next hour is a new window: it fires again once; another tenant has no budget
    later = engine.evaluate(
        [],
        [_event(10 + i, minutes=60 + i, cost=0.6) for i in range(4)]
        + [_event(20, minutes=61, cost=9, tenant="other")],
    )
    assert [f.evidence["window"]["start"] for f in later] == [(T0 + timedelta(hours=1)).isoformat()]


def test_window_state_survives_a_restart(tmp_path: Path) -> None:
    first = _engine(tmp_path)
    assert first.evaluate([], [_event(i, minutes=i, cost=0.3) for i in range(3)]) == []
    saved = first.state_dict()
    restarted = _engine(tmp_path)
    restarted.load_state(saved)
    out = restarted.evaluate([], [_event(3, minutes=3, cost=0.3)])
    assert [f.rule_id for f in out] == ["T-WINDOW"]
    # and a window filed before the restart is not filed again after it
    again = _engine(tmp_path)
    again.load_state(restarted.state_dict())
    assert again.evaluate([], [_event(4, minutes=4, cost=0.3)]) == []
    fresh = _engine(tmp_path)  # without the state, the same event alone stays under budget
    assert fresh.evaluate([], [_event(3, minutes=3, cost=0.3)]) == []


def test_changed_window_drops_only_its_state(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    engine.evaluate([], [_event(i, minutes=i, cost=0.3) for i in range(3)])
    saved = engine.state_dict()
    changed = PACK.replace("size: 1h", "size: 2h")
    other = PolicyEngine(load_packs(_pack_dir(tmp_path / "b", text=changed)), REGISTRY)
    other.load_state(saved)
    assert other.evaluate([], [_event(3, minutes=3, cost=0.3)]) == []


def test_processor_saves_and_restores_window_state(tmp_path: Path) -> None:
    proc = BatchProcessor([], _engine(tmp_path))
    prepared = proc.prepare(Decoded(events=[_event(i, minutes=i) for i in range(3)]), set())
    (state,) = [s for s in prepared.audit.states if s.detector == STATE_NAME]
    assert state.state["rules"]["T-WINDOW"]["keys"]["acme"]["buckets"]
    restored = BatchProcessor([], _engine(tmp_path))
    restored.restore({STATE_NAME: DetectorState(STATE_NAME, state.version, state.state)})
    out = restored.prepare(Decoded(events=[_event(3, minutes=3)]), set())
    assert [f.rule_id for f in out.findings] == ["T-WINDOW"]


def test_window_memory_is_bounded(tmp_path: Path) -> None:
    text = PACK.replace("size: 1h", "size: 1h\n      bucket: 10m\n      max_keys: 50")
    engine = PolicyEngine(load_packs(_pack_dir(tmp_path, text=text)), REGISTRY)
    events = [_event(i, minutes=i, cost=0.0, tenant=f"t{i % 200}") for i in range(3000)]
    engine.evaluate([], events)
    keys = engine.state_dict()["rules"]["T-WINDOW"]["keys"]
    assert len(keys) <= 50
    assert max(len(k["buckets"]) for k in keys.values()) <= 6


@pytest.mark.parametrize(
    "aggregate, values, expected",
    [
        ("count", [1, 2, 3], 3),
        ("sum", [1, 2, 3.5], 6.5),
        ("avg", [1, 2, 3], 2.0),
        ("max", [1, 7, 3], 7.0),
        ("rate", [True, False, False, True], 0.5),
        ("distinct", ["a", "b", "a"], 2),
    ],
)
def test_aggregates(aggregate: str, values: list[Any], expected: Any) -> None:
    a, b = Acc(), Acc()
    for i, v in enumerate(values):
        (a if i % 2 else b).add(aggregate, v)
    assert aggregate_of(aggregate, [a, b])[0] == pytest.approx(expected)
    assert aggregate_of(aggregate, [Acc.from_json(a.to_json()), Acc.from_json(b.to_json())])[
        0
    ] == pytest.approx(expected)


def test_p95_is_within_one_percent() -> None:
    acc = Acc()
    values = [float(v) for v in range(1, 1001)]
    for v in values:
        acc.add("p95", v)
    exact = sorted(values)[int(0.95 * len(values)) - 1]
    assert aggregate_of("p95", [acc])[0] == pytest.approx(exact, rel=0.01)


@pytest.mark.parametrize(
    "aggregate", ["count", "sum", "avg", "max", "rate", "unique", "distinct", "p95"]
)
@pytest.mark.parametrize("seed", range(5))
def test_one_bucket_shortcut_equals_the_general_aggregate(aggregate: str, seed: int) -> None:
    """The per-event shortcut for a single bucket gives what merging buckets gives."""
    rng = random.Random(seed)
    acc = Acc()
    for _ in range(rng.randint(1, 400)):
        x = rng.lognormvariate(4, 1.5) if rng.random() > 0.05 else 0.0
        value = (
            x > 80
            if aggregate == "rate"
            else f"v{int(x) % 50}"
            if aggregate in ("unique", "distinct")
            else x
        )
        acc.add(aggregate, value)
    for bucket in (acc, Acc.from_json(orjson.loads(orjson.dumps(acc.to_json())))):
        general = aggregate_of(aggregate, [bucket, Acc()])  # two buckets: the general path
        assert aggregate_of(aggregate, [bucket]) == general
        assert general[1] == acc.n


# ----------------------------------------------------------------------- check: file, line, rule
def test_bad_expression_names_file_line_and_rule(tmp_path: Path) -> None:
    bad = PACK.replace("condition: value > params.budgets[key]", "condition: value > budgets[key]")
    path = _pack_dir(tmp_path, text=bad) / "t.yaml"
    with pytest.raises(PackError) as info:
        load_pack(path)
    msg = str(info.value)
    assert f"{path}:14: rule 'T-WINDOW'" in msg and "unknown name 'budgets'" in msg


def test_check_cli(tmp_path: Path) -> None:
    good = _pack_dir(tmp_path) / "t.yaml"
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        PACK.format(version="1").replace(
            'condition: event.context.region == "US"', 'condition: event.context.region = "US"'
        ),
        encoding="utf-8",
    )
    runner = CliRunner()
    ok = runner.invoke(main, ["policies", "check", str(good)])
    assert ok.exit_code == 0 and "2 rules" in ok.output
    res = runner.invoke(main, ["policies", "check", str(good), str(bad)])
    assert res.exit_code == 1
    assert f"{bad}:4: rule 'T-EVENT': condition: column 22" in res.output
    shipped = runner.invoke(
        main, ["policies", "check", *map(str, sorted(BUILTIN_PACKS.glob("*.yaml")))]
    )
    assert shipped.exit_code == 0, shipped.output


def test_event_rules_need_a_severity_and_a_condition(tmp_path: Path) -> None:
    path = _pack_dir(tmp_path, text=PACK.replace("    severity: low\n", "")) / "t.yaml"
    with pytest.raises(PackError, match=r"t\.yaml:4: rule 'T-EVENT'.*severity"):
        load_pack(path)
    path = _pack_dir(tmp_path, text=PACK.replace("    size: 1h\n", "    size: 1 week\n")) / "t.yaml"
    with pytest.raises(PackError, match=r"t\.yaml:14: rule 'T-WINDOW': window.size"):
        load_pack(path)


# ----------------------------------------------------------------------------------- hot reload
def test_hot_reload_swaps_good_packs_and_keeps_the_last_good_on_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    d = _pack_dir(tmp_path)
    engine = PolicyEngine(load_packs(d), REGISTRY, pack_dir=d, reload_every_s=0.0)
    engine.evaluate([], [_event(i, minutes=i) for i in range(2)])  # 0.6 spent
    assert engine.evaluate([], [_event(10, region="US", cost=0)])[0].pack_version == "1"

    path = d / "t.yaml"
    path.write_text(PACK.format(version="2").replace('== "US"', '== "APAC"'), encoding="utf-8")
    out = engine.evaluate([], [_event(11, region="APAC", minutes=2, cost=0)])
    assert [f.pack_version for f in out] == ["2"]
    # the window rule did not change, so its state carried over: 0.6 + 0.5 crosses 1.0
    out = engine.evaluate([], [_event(12, minutes=3, cost=0.5)])
    assert [(f.rule_id, f.pack_version) for f in out] == [("T-WINDOW", "2")]

    path.write_text(PACK.format(version="3").replace('== "US"', "== US"), encoding="utf-8")
    with caplog.at_level(logging.ERROR, logger="policies.engine"):
        out = engine.evaluate([], [_event(13, region="APAC", minutes=4, cost=0)])
    assert [f.pack_version for f in out] == ["2"]  # still on the last good packs
    assert f"{path}:4: rule 'T-EVENT'" in caplog.text and "unknown name 'US'" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="policies.engine"):
        engine.evaluate([], [])
    assert caplog.text == ""  # the same broken file is reported once, not every batch


# ----------------------------------------------------------------------------------- pack tests
def test_shipped_pack_tests_pass() -> None:
    report = run_pack_tests(BUILTIN_PACKS)
    assert report.ok, "\n".join(map(str, report.failures))
    assert report.cases >= 40


def test_pack_tests_catch_a_broken_rule_and_missing_coverage(tmp_path: Path) -> None:
    packs = tmp_path / "packs"
    shutil.copytree(BUILTIN_PACKS, packs)
    security = packs / "security.yaml"
    security.write_text(
        security.read_text().replace(
            "size(findSecrets(event.output.text)) > 0", "size(findSecrets(event.output.text)) > 5"
        )
    )
    (packs / "tests" / "privacy.yaml").unlink()
    report = run_pack_tests(packs)
    messages = [str(f) for f in report.failures]
    assert any(
        "security.yaml case 5 'AWS key in the output': expected ['RW-TS-002']" in m
        for m in messages
    ), messages
    assert any("rule RW-LP-010 has no case that fires it" in m for m in messages)
    res = CliRunner().invoke(main, ["policies", "test", str(packs)])
    assert res.exit_code == 1 and "FAIL" in res.output


def test_pack_test_file_errors_are_reported(tmp_path: Path) -> None:
    packs = _pack_dir(tmp_path)
    (packs / "tests").mkdir()
    (packs / "tests" / "t.yaml").write_text(
        textwrap.dedent("""\
        cases:
          - name: no expectations
            event: {}
        """),
        encoding="utf-8",
    )
    report = run_pack_tests(packs)
    assert not report.ok and "needs 'expect' or 'forbid'" in str(report.failures[0])


# ----------------------------------------------------------------------------------- demo traffic
def test_demo_traffic_raises_only_the_risks_the_simulator_injects() -> None:
    from core.model_registry import load_registry
    from riskwatch.simulator import simulate_events
    from tests.unit.paths import REPO

    registry = load_registry(REPO / "riskwatch.yaml")
    docs = simulate_events(6000, registry=registry, seed=3, start=T0)
    observed = [
        ObservedEvent(InferenceEvent.model_validate(d), SourceRef("ev", 0, i), d)
        for i, d in enumerate(docs)
    ]
    by_id = {d["event_id"]: d for d in docs}
    engine = PolicyEngine(load_packs(), registry)
    findings = [
        f
        for i in range(0, len(observed), 2000)
        for f in engine.evaluate([], observed[i : i + 2000])
    ]
    from tests.deliberate import DELIBERATE, DELIBERATE_WINDOWS, is_deliberate

    # no detector signals here (PII, text_risk); every other injected risk present
    assert {f.rule_id for f in findings} <= set(DELIBERATE) | set(DELIBERATE_WINDOWS)
    signal_rules = {"RW-LP-011", "RW-TS-005", "RW-TS-006", "RW-LE-004", "RW-LE-005"}
    assert {f.rule_id for f in findings} >= set(DELIBERATE) - signal_rules
    for f in findings:  # a window rule's finding names the event that tipped it by its offset
        doc = by_id[f.event_id] if f.event_id is not None else docs[f.source_offset]
        assert is_deliberate(f.rule_id, doc, f.evidence, docs), f
        assert "AKIA" not in repr(f.evidence)  # offsets and pattern names only


def test_signal_rule_condition_filters_signals(tmp_path: Path) -> None:
    from core.signals import Signal

    text = """\
pack: s
version: "1"
rules:
  - id: S-1
    signal: usage_slo.latency_slo_breach
    condition: signal.evidence.ratio >= 2 && event.context.region == "EU" && model_registered
    title: Slow
    category: technical
    subcategory: model_reliability
"""
    engine = PolicyEngine(load_packs(_pack_dir(tmp_path, text=text)), REGISTRY)
    events = [_event(1), _event(2), _event(3, region="US")]

    def sig(event_id: str, ratio: float) -> Signal:
        return Signal(
            detector="usage_slo",
            kind="latency_slo_breach",
            model_id="m",
            model_version="1",
            title="t",
            severity=Severity.LOW,
            evidence={"ratio": ratio},
            source=None,
            event_id=event_id,
        )

    out = engine.evaluate([sig("e1", 2.5), sig("e2", 1.2), sig("e3", 3.0)], events)
    assert [f.event_id for f in out] == ["e1"] and out[0].severity == Severity.LOW
