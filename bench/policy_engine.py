"""Benchmark of the policy engine: event-rule evaluations per second with the shipped packs.

The simulator's demo traffic (with text, riskwatch.yaml's models) goes through
``PolicyEngine.evaluate`` in batches of 2,000, on one core, as the worker's batch process runs
it: every event is evaluated against every event rule and every window rule of the shipped
packs (the window rules also update their buckets). One *evaluation* is one (event, rule) pair.

In the same process, a trivial baseline does the least any rule engine must do per pair: one
hand-written Python comparison on the event dict (``doc["context"]["region"] == "US"``). The
ratio says how many baseline comparisons one real rule evaluation costs. A third figure times
the compiled conditions alone (no findings, no windows) to separate the language from the engine.

    .venv/bin/python bench/policy_engine.py [--events 20000] [--repeat 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core.events import InferenceEvent
from core.model_registry import load_registry
from core.signals import ObservedEvent, SourceRef
from policies.engine import PolicyEngine
from policies.pack import load_packs
from riskwatch.simulator import simulate_events

REPO = Path(__file__).resolve().parents[1]
TARGET = 20_000


def _pin_one_core() -> str:
    try:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to cpu {cpu}"
    except (AttributeError, OSError):  # not Linux: one process is one core anyway
        return "one process"


def _best(fn: Any, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    core = _pin_one_core()

    registry = load_registry(REPO / "riskwatch.yaml")
    packs = load_packs()
    docs = simulate_events(
        args.events, registry=registry, seed=11, start=datetime(2026, 11, 28, 8, tzinfo=UTC)
    )
    observed = [
        ObservedEvent(InferenceEvent.model_validate(d), SourceRef("bench", 0, i), d)
        for i, d in enumerate(docs)
    ]
    probe = PolicyEngine(packs, registry)
    n_event = len(probe.rulebook.event_rules)
    n_window = len(probe.rulebook.window_rules)
    rules = n_event + n_window
    pairs = len(observed) * rules

    findings: list[int] = []

    def engine_run() -> None:
        engine = PolicyEngine(packs, registry)  # fresh window state every repeat
        count = 0
        for i in range(0, len(observed), 2000):
            count += len(engine.evaluate([], observed[i : i + 2000]))
        findings.append(count)

    def conditions_only() -> None:
        engine = PolicyEngine(packs, registry)
        conds = [r.condition for r in engine.rulebook.event_rules]
        for o in observed:
            env = engine._env(o.event.model.id, o.document, {})
            for cond in conds:
                cond(env)  # type: ignore[misc]

    def baseline() -> None:
        hits = 0
        for o in observed:
            doc = o.document or {}
            for _ in range(rules):
                hits += doc["context"]["region"] == "US"

    engine_s = _best(engine_run, args.repeat)
    cond_s = _best(conditions_only, args.repeat)
    base_s = _best(baseline, args.repeat)
    result = {
        "core": core,
        "events": len(observed),
        "event_rules": n_event,
        "window_rules": n_window,
        "evaluations": pairs,
        "findings": findings[-1],
        "engine_s": round(engine_s, 4),
        "engine_evals_per_s": round(pairs / engine_s),
        "engine_events_per_s": round(len(observed) / engine_s),
        "conditions_only_evals_per_s": round(len(observed) * n_event / cond_s),
        "baseline_evals_per_s": round(pairs / base_s),
        "engine_vs_baseline_cost": round(engine_s / base_s, 1),
        "target_evals_per_s": TARGET,
        "meets_target": pairs / engine_s >= TARGET,
    }
    print(
        f"policy engine, shipped packs: {n_event} event rules + {n_window} window rules, "
        f"{len(observed)} simulated events ({core}, best of {args.repeat})"
    )
    print(
        f"  engine          {result['engine_evals_per_s']:>12,} event-rule evaluations/s "
        f"({result['engine_events_per_s']:,} events/s, {result['findings']} findings)"
    )
    print(
        f"  conditions only {result['conditions_only_evals_per_s']:>12,} evaluations/s "
        f"(event rules' compiled conditions, no findings or windows)"
    )
    print(
        f"  baseline        {result['baseline_evals_per_s']:>12,} comparisons/s "
        f"(one hand-written dict comparison per pair)"
    )
    print(
        f"  one engine evaluation costs {result['engine_vs_baseline_cost']}x a baseline "
        f"comparison; target {TARGET:,}/s: {'met' if result['meets_target'] else 'MISSED'}"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if result["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
