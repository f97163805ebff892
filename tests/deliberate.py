"""The risks the demo simulator injects on purpose: rule id → whether an event carries it, or,
for window rules that a whole bucket tips, whether the finding's window holds such an event.
Demo traffic must raise the policy packs' rules on these and nowhere else."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from core.model_registry import load_registry
from riskwatch.simulator import ABUSIVE_ASKS, ABUSIVE_REPLIES, EXTRACTIONS, HIJACKS
from tests.unit.paths import REPO

REGISTRY = load_registry(REPO / "riskwatch.yaml")
STALE_VERSIONS = {mid: set(m.deprecated_versions) for mid, m in REGISTRY.models.items()}
CANARIES = [str(c) for c in REGISTRY.detector_config("text_risk").get("canaries") or ()]


def _injection(d: dict[str, Any]) -> bool:
    """An injected attempt: the override phrasings, the hijacks no regex lists, the extractions."""
    text = d["input"]["text"]
    return "instructions" in text.lower() or text in EXTRACTIONS or any(h in text for h in HIJACKS)


DELIBERATE: dict[str, Callable[[dict[str, Any]], bool]] = {
    "RW-TS-001": _injection,
    # the text_risk detector files the same injected attempts with its evidence, and the hijacks
    "RW-TS-005": _injection,
    # a reply leaking the system prompt with its planted canary
    "RW-TS-006": lambda d: any(c in d["output"]["text"] for c in CANARIES),
    # abusive replies (patterns, or the text_risk detector alone) and abusive customer messages
    "RW-LE-003": lambda d: d["output"]["text"] in ABUSIVE_REPLIES,
    "RW-LE-004": lambda d: d["output"]["text"] in ABUSIVE_REPLIES,
    "RW-LE-005": lambda d: d["input"]["text"] in ABUSIVE_ASKS,
    "RW-TS-002": lambda d: "deploy key is AKIA" in d["output"]["text"],
    "RW-CP-001": lambda d: "Northwind Assist" in d["output"]["text"],
    "RW-LP-010": lambda d: d["model"]["id"] == "fraud-detection",  # a subject from elsewhere
    "RW-LR-004": lambda d: d["context"]["consent"] is False,
    # personal data (the simulator puts some in 5% of chats) from an EU subject without consent
    "RW-LP-011": lambda d: d["context"]["consent"] is False and "text" in d.get("input", {}),
    # a deprecated version still serving; a runaway generation over the per-call cost ceiling
    "RW-TU-002": lambda d: d["model"]["version"] in STALE_VERSIONS.get(d["model"]["id"], ()),
}


def _runaway(d: dict[str, Any]) -> bool:
    return d["usage"].get("output_tokens", 0) >= 1100


DELIBERATE["RW-CC-004"] = _runaway

#: window rules whose aggregate an injected event moves: rule id → test over the window's events
DELIBERATE_WINDOWS: dict[str, Callable[[list[dict[str, Any]]], bool]] = {
    "RW-CC-003": lambda docs: any(_runaway(d) for d in docs),  # one runaway lifts the mean
}


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def is_deliberate(
    rule_id: str, tipping: dict[str, Any], evidence: dict[str, Any], docs: Iterable[dict[str, Any]]
) -> bool:
    """Whether a policy finding comes from an injected risk: its tipping event carries one, or
    (DELIBERATE_WINDOWS) the events of its model in its window do."""
    if rule_id in DELIBERATE_WINDOWS:
        window, key = evidence["window"], evidence["key"]
        start, end = _time(window["start"]), _time(window["end"])
        inside = [
            d for d in docs if d["model"]["id"] == key and start <= _time(d["timestamp"]) < end
        ]
        return DELIBERATE_WINDOWS[rule_id](inside)
    return rule_id in DELIBERATE and DELIBERATE[rule_id](tipping)
