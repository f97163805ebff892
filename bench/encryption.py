"""Cost of sealing stored texts (audit/sealing.py) per event, in one run, no broker needed.

Text-bearing events of the chat model (a customer message and a reply, ≈30 words each, as in
bench/pipeline.py) go through the worker's batch path in-process: decode → detectors (PII
redaction) → policies → SQLite commit (BatchHandler.handle), in batches of ``--batch``. Two
timings, each with and without sealing, each on a fresh SQLite store:

* ``store``: AuditStore.write alone, on the batches the pipeline produced (the part sealing
  changes: data-key lookup or creation, AES-256-GCM of each redacted text and quoted evidence);
* ``batch path``: the whole BatchHandler.handle.

"Without" stores the redacted texts in the clear (the behaviour before sealing): the same code
with the cipher replaced by the identity and no data-key lookup. Printed: events/s, µs per event,
and the ratio with/without.

    .venv/bin/python bench/encryption.py [--events 4000] [--batch 500] [--subjects 500]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from audit import store as store_module
from audit.keys import init_key_file, load_keys
from audit.sealing import DataKeys
from audit.store import AuditBatch, AuditStore
from core.model_registry import Registry, load_registry
from detectors.catalog import build_detectors
from policies.engine import PolicyEngine
from policies.pack import load_packs
from riskwatch.simulator import simulate_events
from streams.batch import RawMessage
from streams.codec import EventPolicy
from streams.pipeline import BatchHandler, BatchProcessor

REPO = Path(__file__).resolve().parents[1]


def _messages(n: int, subjects: int) -> tuple[Registry, list[RawMessage]]:
    full = load_registry(REPO / "riskwatch.yaml")
    registry = Registry(
        models={"support-assistant": full.models["support-assistant"]},
        detectors=full.detectors,
    )
    events = simulate_events(n, registry=registry, seed=3, run_id="enc", with_text=True)
    msgs = []
    for i, e in enumerate(events):
        e.setdefault("context", {})["user_ref"] = f"acct-{i % subjects:06d}"
        msgs.append(RawMessage("ev", 0, i, e["model"]["id"].encode(), orjson.dumps(e)))
    return registry, msgs


@contextlib.contextmanager
def _unsealed() -> Iterator[None]:
    """Texts stored in the clear: no cipher, no data keys (the code path otherwise unchanged)."""
    seal, for_scopes = store_module.seal, DataKeys.for_scopes
    import audit.sealing as sealing_module

    def fake_keys(self: DataKeys, conn: Any, scopes: Any, now: Any) -> dict[str, Any]:
        return {s: ("none", None) for s in scopes}

    store_module.seal = lambda key, text, aad: text  # type: ignore[assignment,misc]
    sealing_module.seal = store_module.seal
    DataKeys.for_scopes = fake_keys  # type: ignore[method-assign]
    try:
        yield
    finally:
        store_module.seal = seal  # type: ignore[assignment]
        sealing_module.seal = seal
        DataKeys.for_scopes = for_scopes  # type: ignore[method-assign]


def _handler(registry: Registry, db: Path, keys: Any) -> BatchHandler:
    proc = BatchProcessor(build_detectors(registry), PolicyEngine(load_packs(), registry))
    return BatchHandler(AuditStore.from_url(f"sqlite:///{db}", keys=keys), proc, EventPolicy())


def _batch_path(
    registry: Registry, msgs: list[RawMessage], size: int, db: Path, keys: Any
) -> float:
    handler = _handler(registry, db, keys)
    start = time.perf_counter()
    for i in range(0, len(msgs), size):
        handler.handle(msgs[i : i + size])
    return time.perf_counter() - start


def _captured_batches(
    registry: Registry, msgs: list[RawMessage], size: int, db: Path, keys: Any
) -> list[AuditBatch]:
    """The AuditBatches the pipeline hands to the store (captured from one run)."""
    handler, batches = _handler(registry, db, keys), []
    write = handler.store.write

    def capture(batch: AuditBatch) -> None:
        batches.append(batch)
        write(batch)

    handler.store.write = capture  # type: ignore[method-assign]
    for i in range(0, len(msgs), size):
        handler.handle(msgs[i : i + size])
    return batches


def _store_only(batches: list[AuditBatch], db: Path, keys: Any) -> float:
    store = AuditStore.from_url(f"sqlite:///{db}", keys=keys)
    start = time.perf_counter()
    for batch in batches:
        store.write(batch)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--subjects", type=int, default=500, help="distinct context.user_ref")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    registry, msgs = _messages(args.events, args.subjects)
    with tempfile.TemporaryDirectory(prefix="rw-enc-") as tmp:
        work = Path(tmp)
        init_key_file(work / "keys.json")
        keys = load_keys(work / "keys.json")
        os.environ["RISKWATCH_KEY_FILE"] = str(work / "keys.json")
        batches = _captured_batches(registry, msgs, args.batch, work / "capture.db", keys)
        texts = sum(1 for b in batches for e in b.events if b.redactions.get(e.event.event_id))
        n = len(msgs)
        results: dict[str, dict[str, float]] = {
            w: {"sealed": float("inf"), "clear": float("inf")} for w in ("store", "batch path")
        }
        run = 0
        for what, best in results.items():
            for _ in range(args.repeat):  # sealed and clear alternate: drift hits both alike
                for label in ("sealed", "clear"):
                    run += 1
                    db = work / f"r{run}.db"
                    ctx = contextlib.nullcontext() if label == "sealed" else _unsealed()
                    with ctx:
                        if what == "store":
                            took = _store_only(batches, db, keys)
                        else:
                            took = _batch_path(registry, msgs, args.batch, db, keys)
                    best[label] = min(best[label], took)
    print(
        f"{n} text-bearing events ({texts} with a redacted text stored), batches of "
        f"{args.batch}, {args.subjects} subjects; best of {args.repeat}"
    )
    print(
        f"{'':12} {'sealed ev/s':>12} {'clear ev/s':>12} {'µs/ev sealed':>13} "
        f"{'µs/ev clear':>12} {'added µs/ev':>12} {'ratio':>7}"
    )
    for what, r in results.items():
        s, c = r["sealed"], r["clear"]
        print(
            f"{what:12} {n / s:12.0f} {n / c:12.0f} {1e6 * s / n:13.1f} {1e6 * c / n:12.1f} "
            f"{1e6 * (s - c) / n:12.1f} {s / c:7.3f}"
        )


if __name__ == "__main__":
    main()
