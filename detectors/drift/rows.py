"""A call's drift columns, and the bounds (time, Kafka position) of a window of calls."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from core.events import InferenceEvent
from core.signals import ObservedEvent

USAGE = ("latency_ms", "input_tokens", "output_tokens", "cost_usd")
MAX_STR = 200  # longer categorical values are cut (bounds state size; such columns are text)
Meta = list[Any]  # [iso timestamp, topic, partition, offset]


def extract_row(event: InferenceEvent) -> dict[str, Any] | None:
    """The call's column values (JSON scalars; non-finite numbers and nested values -> None);
    None for a failed call."""
    usage = event.usage
    if usage is not None and usage.error is not None:
        return None
    row: dict[str, Any] = {}
    if event.input is not None:
        for k, v in event.input.features.items():
            row["features." + k] = _scalar(v)
        row["input.text_length"] = None if event.input.text is None else len(event.input.text)
    out = event.output
    row["output.prediction"] = None if out is None else _scalar(out.prediction)
    row["output.score"] = None if out is None else _scalar(out.score)
    row["output.text_length"] = None if out is None or out.text is None else len(out.text)
    for k in USAGE:
        row["usage." + k] = None if usage is None else _scalar(getattr(usage, k))
    return row


def _scalar(v: Any) -> Any:
    """A JSON scalar the state can hold: bool, 64-bit int, finite float, or a string cut to
    MAX_STR characters; anything else (nested, non-finite) counts as missing."""
    if isinstance(v, bool) or (isinstance(v, int) and -(2**63) <= v < 2**63):
        return v
    if isinstance(v, int):
        return float(v)
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    return v[:MAX_STR] if isinstance(v, str) else None


def window_bounds(metas: Sequence[Meta]) -> dict[str, Any]:
    """First/last timestamp and Kafka position of a window, plus the offset range per partition."""
    first, last = metas[0], metas[-1]
    parts: dict[tuple[str, int], list[int]] = {}
    for _, topic, partition, offset in metas:
        r = parts.setdefault((topic, partition), [offset, offset])
        r[0], r[1] = min(r[0], offset), max(r[1], offset)
    return {
        "events": len(metas),
        "first_timestamp": first[0],
        "last_timestamp": last[0],
        "topic": last[1],
        "partition": last[2],
        "first_offset": first[3],
        "last_offset": last[3],
        "sources": [
            {"topic": t, "partition": p, "first_offset": lo, "last_offset": hi}
            for (t, p), (lo, hi) in sorted(parts.items())
        ],
    }


def meta(observed: ObservedEvent) -> Meta:
    src = observed.source
    return [observed.event.timestamp.isoformat(), src.topic, src.partition, src.offset]
