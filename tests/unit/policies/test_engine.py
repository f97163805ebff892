"""Policy engine and packs: taxonomy, escalation, regulation refs, finding ids, pack errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.findings import finding_id_for
from core.model_registry import load_registry
from core.signals import Signal, SourceRef
from core.taxonomy import SUBCATEGORIES, Category, Severity, Subcategory
from policies.engine import PolicyEngine
from policies.pack import BUILTIN_PACKS, PackError, load_pack, load_packs
from tests.unit.paths import REPO

REGISTRY = load_registry(
    REPO / "riskwatch.yaml"
)  # credit-scoring: high; support-assistant: limited
CORE = load_pack(BUILTIN_PACKS / "core.yaml")


def _signal(
    kind: str = "latency_slo_breach",
    model: str = "credit-scoring",
    event_id: str | None = "e1",
    severity: Severity = Severity.LOW,
    detector: str = "usage_slo",
    key: str = "",
    context: dict[str, Any] | None = None,
) -> Signal:
    return Signal(
        detector=detector,
        kind=kind,
        model_id=model,
        model_version="7",
        title="t",
        severity=severity,
        evidence={"x": 1},
        source=SourceRef("ev", 2, 41),
        event_id=event_id,
        key=key,
        context=context or {},
    )


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return PolicyEngine(load_packs(), REGISTRY)


def test_registry_tiers_used_below() -> None:
    assert REGISTRY.models["credit-scoring"].risk_tier == "high"
    assert REGISTRY.models["support-assistant"].risk_tier == "limited"


@pytest.mark.parametrize(
    "kind, rule_id",
    [
        ("latency_slo_breach", "RW-TR-001"),
        ("inference_error", "RW-TR-002"),
        ("error_rate_slo_breach", "RW-TR-003"),
    ],
)
def test_slo_findings_are_technical_model_reliability(
    engine: PolicyEngine, kind: str, rule_id: str
) -> None:
    (f,) = engine.evaluate([_signal(kind)])
    assert (f.rule_id, f.category, f.subcategory) == (
        rule_id,
        Category.TECHNICAL,
        Subcategory.MODEL_RELIABILITY,
    )
    assert (f.pack, f.pack_version) == ("core", CORE.version) and f.pack_version
    assert (f.source_topic, f.source_partition, f.source_offset) == ("ev", 2, 41)
    assert (f.event_id, f.model_id, f.model_version, f.detector) == (
        "e1",
        "credit-scoring",
        "7",
        "usage_slo",
    )
    assert f.evidence == {"x": 1} and f.remediation


@pytest.mark.parametrize(
    "model, severity, refs",
    [
        ("credit-scoring", Severity.MEDIUM, ["EU AI Act Art. 15(1)"]),  # high tier: +1, Art. 15
        ("resume-screener", Severity.MEDIUM, ["EU AI Act Art. 15(1)"]),
        ("support-assistant", Severity.LOW, []),  # limited: as detected
        ("fraud-detection", Severity.LOW, []),
        ("not-registered", Severity.LOW, []),
    ],
)
def test_latency_breach_escalates_and_cites_only_for_high_tier(
    engine: PolicyEngine, model: str, severity: Severity, refs: list[str]
) -> None:
    (f,) = engine.evaluate([_signal(model=model, severity=Severity.LOW)])
    assert f.severity == severity and f.regulation_refs == refs


def test_escalation_stops_at_critical(engine: PolicyEngine) -> None:
    (f,) = engine.evaluate([_signal(severity=Severity.CRITICAL)])
    assert f.severity == Severity.CRITICAL


def test_rule_without_escalation_keeps_the_detector_severity(engine: PolicyEngine) -> None:
    (f,) = engine.evaluate([_signal("inference_error", severity=Severity.MEDIUM)])
    assert f.severity == Severity.MEDIUM and f.regulation_refs == ["EU AI Act Art. 15(4)"]


def test_error_rate_breach_cites_both_articles_for_high_tier_only(engine: PolicyEngine) -> None:
    high, limited = engine.evaluate(
        [
            _signal(
                "error_rate_slo_breach",
                event_id=None,
                key="credit-scoring@0",
                severity=Severity.HIGH,
            ),
            _signal(
                "error_rate_slo_breach",
                model="support-assistant",
                event_id=None,
                key="s@0",
                severity=Severity.HIGH,
            ),
        ]
    )
    assert high.regulation_refs == ["EU AI Act Art. 15(4)", "EU AI Act Art. 73"]
    assert high.severity == Severity.CRITICAL and high.event_id is None
    assert limited.regulation_refs == [] and limited.severity == Severity.HIGH


def test_context_conditions_escalate_and_add_refs(engine: PolicyEngine) -> None:
    eu_no_consent = {"region": "EU", "consent": False}
    a, b, c = engine.evaluate(
        [
            _signal(
                "pii_detected", detector="pii", model="support-assistant", context=eu_no_consent
            ),
            _signal(
                "pii_detected",
                detector="pii",
                model="support-assistant",
                context={"region": "EU", "consent": True},
            ),
            _signal(
                "pii_detected", detector="pii", model="support-assistant", context={"region": "EU"}
            ),
        ]
    )
    assert a.severity == Severity.MEDIUM and "GDPR Art. 6(1)" in a.regulation_refs
    assert a.category == Category.LEGAL and a.subcategory == Subcategory.DATA_PRIVACY
    for f in (b, c):  # consent given, or unknown: no escalation, no Art. 6 reference
        assert f.severity == Severity.LOW and f.regulation_refs == ["GDPR Art. 5(1)(c)"]


def test_finding_id_is_deterministic(engine: PolicyEngine) -> None:
    first = engine.evaluate([_signal()])[0]
    again = PolicyEngine(load_packs(), REGISTRY).evaluate([_signal(severity=Severity.HIGH)])[0]
    assert first.finding_id == again.finding_id
    assert first.finding_id == finding_id_for("RW-TR-001", "usage_slo", "latency_slo_breach", "e1|")
    others = {
        engine.evaluate([s])[0].finding_id
        for s in (
            _signal(event_id="e2"),
            _signal("inference_error"),
            _signal(key="other"),
            _signal(event_id=None),
            _signal(event_id=None, model="support-assistant"),
        )
    }
    assert first.finding_id not in others and len(others) == 5


def test_unmapped_signal_is_dropped_not_raised(engine: PolicyEngine) -> None:
    out = engine.evaluate([_signal("no_such_kind"), _signal()])
    assert [f.rule_id for f in out] == ["RW-TR-001"]
    assert not engine.covers("usage_slo.no_such_kind") and engine.covers(
        "usage_slo.inference_error"
    )


def test_shipped_packs_are_consistent() -> None:
    packs = load_packs()
    assert {p.pack for p in packs} >= {"core"}
    for rule in (r for p in packs for r in p.rules):
        assert rule.subcategory in SUBCATEGORIES[rule.category]


# ------------------------------------------------------------------------ pack errors
RULE = """
  - id: {id}
    signal: {signal}
    title: T
    category: {category}
    subcategory: {subcategory}
"""


def _pack(tmp_path: Path, *rules: dict[str, str], extra: str = "", name: str = "p.yaml") -> Path:
    body = "".join(
        RULE.format(
            **(
                {
                    "id": "R-1",
                    "signal": "usage_slo.x",
                    "category": "technical",
                    "subcategory": "model_reliability",
                }
                | r
            )
        )
        for r in rules
    )
    path = tmp_path / name
    path.write_text(f"pack: p\nversion: '1'\nrules:{body}{extra}", encoding="utf-8")
    return path


def test_a_valid_tmp_pack_loads(tmp_path: Path) -> None:
    pack = load_pack(_pack(tmp_path, {"id": "R-1"}, {"id": "R-2", "signal": "usage_slo.y"}))
    assert [r.id for r in pack.rules] == ["R-1", "R-2"] and pack.version == "1"


def test_subcategory_outside_its_category(tmp_path: Path) -> None:
    path = _pack(
        tmp_path,
        {"id": "R-1"},
        {"id": "R-BAD", "subcategory": "data_privacy", "signal": "usage_slo.y"},
    )
    with pytest.raises(PackError) as info:
        load_pack(path)
    msg = str(info.value)
    assert str(path) in msg and "'R-BAD'" in msg and "data_privacy" in msg and "'R-1'" not in msg


def test_unknown_field_in_a_rule(tmp_path: Path) -> None:
    path = _pack(tmp_path, {"id": "R-7"}, extra="    severityy: high\n")
    with pytest.raises(PackError) as info:
        load_pack(path)
    assert str(path) in str(info.value) and "'R-7'" in str(info.value)
    assert "severityy" in str(info.value)


def test_unknown_top_level_field(tmp_path: Path) -> None:
    path = _pack(tmp_path, {"id": "R-1"})
    path.write_text("owner: me\n" + path.read_text(), encoding="utf-8")
    with pytest.raises(PackError, match="owner") as info:
        load_pack(path)
    assert str(path) in str(info.value)


def test_duplicate_rule_id(tmp_path: Path) -> None:
    path = _pack(tmp_path, {"id": "R-9"}, {"id": "R-9", "signal": "usage_slo.y"})
    with pytest.raises(PackError) as info:
        load_pack(path)
    assert str(path) in str(info.value) and "'R-9'" in str(info.value)


@pytest.mark.parametrize("text", ["pack: p\nrules: [\n", "pack: [unclosed\n", "a: b: c\n"])
def test_malformed_yaml(tmp_path: Path, text: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PackError) as info:
        load_pack(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("text", ["", "- just\n- a list\n", "pack: p\nversion: '1'\n"])
def test_not_a_pack(tmp_path: Path, text: str) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PackError, match=r"empty\.yaml"):
        load_pack(path)


def test_bad_tier_and_signal_name_name_the_rule(tmp_path: Path) -> None:
    path = _pack(tmp_path, {"id": "R-3", "signal": "NoDot"})
    with pytest.raises(PackError, match=r"'R-3'.*signal"):
        load_pack(path)
    path = _pack(tmp_path, {"id": "R-4"}, extra="    escalate: {extreme: 1}\n")
    with pytest.raises(PackError, match=r"'R-4'.*escalate"):
        load_pack(path)


def test_two_rules_for_one_signal(tmp_path: Path) -> None:
    one = load_pack(_pack(tmp_path, {"id": "A-1", "signal": "usage_slo.x"}, name="a.yaml"))
    two = load_pack(_pack(tmp_path, {"id": "B-1", "signal": "usage_slo.x"}, name="b.yaml"))
    with pytest.raises(PackError, match=r"usage_slo\.x.*'A-1'.*'B-1'"):
        PolicyEngine([one, two], REGISTRY)
    same = load_pack(_pack(tmp_path, {"id": "A-1"}, {"id": "A-2"}, name="c.yaml"))
    with pytest.raises(PackError, match="'A-2'"):
        PolicyEngine([same], REGISTRY)
    with pytest.raises(PackError, match="RW-TR-001"):  # a tmp pack re-mapping a shipped signal
        PolicyEngine(
            [*load_packs(), load_pack(_pack(tmp_path, {"signal": "usage_slo.latency_slo_breach"}))],
            REGISTRY,
        )


def test_load_packs_skips_test_packs(tmp_path: Path) -> None:
    _pack(tmp_path, {"id": "R-1"}, name="real.yaml")
    (tmp_path / "broken_test.yaml").write_text("not: [a pack", encoding="utf-8")
    assert [p.pack for p in load_packs(tmp_path)] == ["p"]


def test_a_rules_incident_policy_travels_with_its_findings(engine: PolicyEngine) -> None:
    slow, error_high, error_limited = engine.evaluate(
        [
            _signal(),
            _signal("error_rate_slo_breach", event_id=None, key="c@0", severity=Severity.HIGH),
            _signal(
                "error_rate_slo_breach",
                model="support-assistant",
                event_id=None,
                key="s@0",
                severity=Severity.HIGH,
            ),
        ]
    )
    assert (slow.incident.threshold, slow.incident.window_s) == (5, 600)
    assert slow.incident.escalate_at == Severity.HIGH
    # the Art. 73 clock only for the high-risk model
    assert error_high.incident.serious == "standard" and error_high.incident.quiet_s == 3600
    assert error_limited.incident.serious is None


def test_window_rules_tell_incidents_apart_by_their_window_key(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(
        "pack: w\nversion: '1'\nrules:\n"
        "  - id: W-1\n    title: busy tenant\n    category: commercial\n"
        "    subcategory: cost_control\n    severity: low\n    condition: 'window.value > 1'\n"
        "    window: {aggregate: count, key: event.tenant, size: 60s}\n"
    )
    (rule,) = load_pack(path).rules
    assert rule.incident.policy(None, ("key",)).key == ("key",)
    assert rule.incident.policy("high").serious is None


@pytest.mark.parametrize(
    "incident",
    ["{threshold: 0}", "{quiet: soon}", "{serious: maybe}", "{escalate_at: urgent}", "{by: x}"],
)
def test_a_bad_incident_block_names_the_rule(tmp_path: Path, incident: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "pack: b\nversion: '1'\nrules:\n"
        "  - id: B-1\n    signal: usage_slo.latency_slo_breach\n    title: t\n"
        f"    category: technical\n    subcategory: model_reliability\n    incident: {incident}\n"
    )
    with pytest.raises(PackError, match="B-1"):
        load_pack(path)


@pytest.mark.parametrize(
    ("ending", "fragment"),
    [
        ("{ends: NOPE}", "names no rule"),
        ("{ends: E-2, key: [column]}", "must be a rule that opens"),
        ("{ends: O-1}", "differs from O-1"),
    ],
)
def test_an_incident_end_must_name_a_rule_that_opens_incidents_with_its_key(
    tmp_path: Path, ending: str, fragment: str
) -> None:
    rule = (
        "  - id: {id}\n    signal: drift.{kind}\n    title: t\n    category: technical\n"
        "    subcategory: model_reliability\n    incident: {incident}\n"
    )
    (tmp_path / "e.yaml").write_text(
        "pack: e\nversion: '1'\nrules:\n"
        + rule.format(id="O-1", kind="column_drift", incident="{key: [column]}")
        + rule.format(id="E-1", kind="column_drift_ended", incident=ending)
        + rule.format(id="E-2", kind="dataset_drift_ended", incident="{ends: O-1, key: [column]}")
    )
    with pytest.raises(PackError, match=fragment):
        load_packs(tmp_path)


def test_the_drift_episode_ends_close_the_drift_incidents() -> None:
    rules = {r.id: r for p in load_packs() for r in p.rules}
    assert rules["RW-TR-022"].incident.ends == "RW-TR-020"
    assert rules["RW-TR-022"].incident.key == rules["RW-TR-020"].incident.key == ["column"]
    assert rules["RW-TR-023"].incident.ends == "RW-TR-021"
