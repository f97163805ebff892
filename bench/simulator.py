"""Speed of the demo traffic simulator: events/s of ``simulate_events`` (riskwatch/simulator.py).

Text-free events by default (what bench/pipeline.py's backlog holds); ``--text`` adds the chat
texts. riskwatch.yaml's models, a fixed seed and start; the best of ``--repeat`` runs is printed.
20,000 text-free events used to take well under 2 s (a unit test asserted it; measured here now).

    .venv/bin/python bench/simulator.py [--events 20000] [--repeat 3] [--text]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core.model_registry import load_registry
from riskwatch.simulator import simulate_events

REPO = Path(__file__).resolve().parents[1]
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--text", action="store_true", help="events with input and output text")
    args = ap.parse_args()
    registry = load_registry(REPO / "riskwatch.yaml")
    best = float("inf")
    for _ in range(args.repeat):
        began = time.perf_counter()
        simulate_events(args.events, registry=registry, start=START, with_text=args.text)
        best = min(best, time.perf_counter() - began)
    kind = "with text" if args.text else "text-free"
    print(
        f"simulator: {args.events} {kind} events in {best:.3f} s (best of {args.repeat}): "
        f"{args.events / best:,.0f} events/s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
