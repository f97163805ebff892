"""The risks the demo simulator injects on purpose: rule id → whether an event carries it.
Demo traffic must raise the policy packs' event rules on these events and nowhere else."""

from __future__ import annotations

from typing import Any, Callable

from riskwatch.registry import load_registry
from tests.unit.paths import REPO

STALE_VERSIONS = {mid: set(m.deprecated_versions)
                  for mid, m in load_registry(REPO / "riskwatch.yaml").models.items()}

DELIBERATE: dict[str, Callable[[dict[str, Any]], bool]] = {
    "RW-TS-001": lambda d: "instructions" in d["input"]["text"].lower(),
    "RW-TS-002": lambda d: "deploy key is AKIA" in d["output"]["text"],
    "RW-CP-001": lambda d: "Northwind Assist" in d["output"]["text"],
    "RW-LP-010": lambda d: d["model"]["id"] == "fraud-detection",  # a subject from elsewhere
    "RW-LR-004": lambda d: d["context"]["consent"] is False,
    # personal data (the simulator puts some in 5% of chats) from an EU subject without consent
    "RW-LP-011": lambda d: d["context"]["consent"] is False and "text" in d.get("input", {}),
    # a deprecated version still serving; a runaway generation over the per-call cost ceiling
    "RW-TU-002": lambda d: d["model"]["version"] in STALE_VERSIONS.get(d["model"]["id"], ()),
    "RW-CC-004": lambda d: d["usage"].get("output_tokens", 0) >= 3000,
}
