"""Event-time window state of window rules: per rule and key, one small accumulator per bucket.

Memory is bounded: a key keeps only the buckets its window and baseline need, a rule keeps at
most ``max_keys`` keys (the least recently updated go first), ``distinct`` remembers at most
``DISTINCT_CAP`` values per bucket, and ``p95`` keeps a log-scale histogram (relative error
below 1%) instead of the values. Everything round-trips through JSON for the state store.

``unique`` (share of events whose value is new in its bucket: a stream without repeats, such as
inputs generated to cover a model's input space, is near 1) keeps 52-bit BLAKE2b hashes of the
values, never the values (input texts must not reach the state store), at most
``DISTINCT_CAP`` per bucket: once a bucket holds that many, its share is the one measured on the
events up to then (a sample of the bucket's first events), so it does not drift down at high
volume as a capped distinct count would.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import math
from dataclasses import dataclass, field
from typing import Any

import orjson

from policies.spec import WindowSpec

DISTINCT_CAP = 1000
_GAMMA = 1.02  # p95 histogram bin ratio: any value is within 1% of its bin's midpoint
_LOG_GAMMA = math.log(_GAMMA)
_FIRED_KEEP = 8  # window starts remembered per key, so late events do not re-fire a window


@dataclass(slots=True)
class Acc:
    """One bucket's aggregate inputs."""

    n: int = 0  # events counted
    total: float = 0.0  # sum of numeric values (unique: events sampled)
    hits: int = 0  # true values (rate); values new in the bucket among those sampled (unique)
    top: float | None = None  # max
    values: set[Any] | None = None  # distinct
    hist: dict[int, int] | None = None  # p95: log-bin → count (bin 0 holds values <= 0)
    bins: list[int] | None = None  # p95: the keys of ``hist``, sorted

    def add(self, aggregate: str, value: Any) -> None:
        self.n += 1
        if aggregate == "count":
            return
        if aggregate == "rate":
            self.hits += value is True
            return
        if aggregate == "distinct":
            if self.values is None:
                self.values = set()
            if len(self.values) < DISTINCT_CAP and isinstance(value, (str, int, float, bool)):
                self.values.add(value)
            return
        if aggregate == "unique":
            if self.values is None:
                self.values = set()
            if len(self.values) < DISTINCT_CAP:
                digest = value_hash(value)
                self.total += 1
                if digest not in self.values:
                    self.hits += 1
                    self.values.add(digest)
            return
        x = float(value)
        self.total += x
        self.top = x if self.top is None or x > self.top else self.top
        if aggregate == "p95":
            if self.hist is None or self.bins is None:
                self.hist, self.bins = {}, []
            b = _bin(x)
            seen = self.hist.get(b)
            if seen is None:
                bisect.insort(self.bins, b)
            self.hist[b] = (seen or 0) + 1

    def to_json(self) -> list[Any]:
        return [
            self.n,
            self.total,
            self.hits,
            self.top,
            None if self.values is None else sorted(self.values, key=repr),
            None if self.hist is None else [[k, v] for k, v in self.hist.items()],
        ]

    @classmethod
    def from_json(cls, raw: list[Any]) -> Acc:
        n, total, hits, top, values, hist = raw
        counts = None if hist is None else {int(k): int(v) for k, v in hist}
        return cls(
            int(n),
            float(total),
            int(hits),
            top,
            None if values is None else set(values),
            counts,
            None if counts is None else sorted(counts),
        )


def value_hash(value: Any) -> int:
    """A 52-bit hash of a JSON value (exact in a double, so any JSON reader keeps it); map keys
    are sorted, so the same features in another order hash the same."""
    raw = (
        value.encode()
        if isinstance(value, str)
        else orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    )
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "big") >> 12


def _bin(x: float) -> int:
    if x <= 0:
        return 0
    return math.ceil(math.log(x) / _LOG_GAMMA) + 1_000_000  # offset keeps bins of x<1 > 0


def _bin_value(b: int) -> float:
    if b == 0:
        return 0.0
    k = b - 1_000_000
    return 2.0 * _GAMMA**k / (_GAMMA + 1.0)  # midpoint of (γ^(k-1), γ^k]


def aggregate_of(aggregate: str, accs: list[Acc]) -> tuple[Any, int]:
    """(aggregate value, events counted) over some buckets; the value is None when undefined."""
    if len(accs) == 1 and aggregate in _ONE_BUCKET:
        return _ONE_BUCKET[aggregate](accs[0])
    n = sum(a.n for a in accs)
    if aggregate == "count":
        return n, n
    if n == 0:
        return (0 if aggregate in ("sum", "distinct") else None), 0
    if aggregate == "sum":
        return sum(a.total for a in accs), n
    if aggregate == "avg":
        return sum(a.total for a in accs) / n, n
    if aggregate == "max":
        tops = [a.top for a in accs if a.top is not None]
        return (max(tops) if tops else None), n
    if aggregate == "rate":
        return sum(a.hits for a in accs) / n, n
    if aggregate == "unique":
        sampled = sum(a.total for a in accs)
        return (sum(a.hits for a in accs) / sampled if sampled else None), n
    if aggregate == "distinct":
        seen: set[Any] = set()
        for a in accs:
            seen |= a.values or set()
        return len(seen), n
    # p95: the smallest bin value with at least 95% of the counted values at or below it
    merged: dict[int, int] = {}
    for a in accs:
        for b, c in (a.hist or {}).items():
            merged[b] = merged.get(b, 0) + c
    rank, seen_n = 0.95 * n, 0
    for b in sorted(merged):
        seen_n += merged[b]
        if seen_n >= rank:
            return _bin_value(b), n
    return None, n  # pragma: no cover - the loop always reaches n


def _one_rate(a: Acc) -> tuple[Any, int]:
    return (a.hits / a.n if a.n else None), a.n


def _one_unique(a: Acc) -> tuple[Any, int]:
    return (a.hits / a.total if a.total else None), a.n


def _one_max(a: Acc) -> tuple[Any, int]:
    return (a.top if a.n else None), a.n


def _one_p95(a: Acc) -> tuple[Any, int]:
    if not a.n or not a.hist or a.bins is None:
        return None, a.n
    # from the top bin down: the answer is the first bin whose cumulative count from below
    # reaches 95% of n, and only ~5% of the values lie above it
    rank, at_or_below = 0.95 * a.n, a.n
    for b in reversed(a.bins):
        below = at_or_below - a.hist[b]
        if below < rank:
            return _bin_value(b), a.n
        at_or_below = below
    return None, a.n  # pragma: no cover - bin 0 at the latest has below == 0 < rank


#: aggregate_of over a single bucket, without the general path's sums (per event and rule)
_ONE_BUCKET = {
    "count": lambda a: (a.n, a.n),
    "sum": lambda a: ((a.total if a.n else 0), a.n),
    "avg": lambda a: ((a.total / a.n if a.n else None), a.n),
    "rate": _one_rate,
    "unique": _one_unique,
    "max": _one_max,
    "p95": _one_p95,
}


@dataclass(slots=True)
class KeyWindow:
    first: int  # first bucket index this key was seen in: the baseline needs history
    last: int  # latest bucket index updated
    buckets: dict[int, Acc] = field(default_factory=dict)
    fired: list[int] = field(default_factory=list)  # window starts (bucket index) already filed
    #: (bucket index, previous, baseline): both depend only on earlier buckets, so they are
    #: computed once per bucket, not once per event (dropped when a late event changes them)
    history_cache: tuple[int, Any, Any] | None = None
    #: silence rules only: event time of the key's latest event, the ``last_ts`` whose silence
    #: episode was already checked (the key is re-armed by any later event), and the model id and
    #: version of its latest event (the finding names them)
    last_ts: float = 0.0
    silence_checked: float | None = None
    model: tuple[str, str | None] | None = None


@dataclass(frozen=True, slots=True)
class WindowView:
    """What a window rule's condition sees for one key after one event."""

    value: Any
    count: int
    bucket_value: Any
    previous: Any
    baseline: Any
    start_bucket: int
    end_bucket: int  # inclusive


class RuleWindows:
    """The window state of one rule."""

    def __init__(self, spec: WindowSpec) -> None:
        self.spec = spec
        self.keys: dict[str, KeyWindow] = {}
        # read once: the spec's properties are computed, and add() runs per event and rule
        self._bucket_s = spec.bucket_s
        self._buckets = spec.buckets
        self._aggregate = spec.aggregate
        self._keep = max(self._buckets, spec.history + 1)
        #: silence rules: (due event time, key), one entry per key in ``_armed`` (lazy: an entry
        #: whose key sent events since is pushed back with its new due time when it comes up)
        self._heap: list[tuple[float, str]] = []
        self._armed: set[str] = set()

    def add(
        self, key: str, ts: float, value: Any, model: tuple[str, str | None] | None = None
    ) -> WindowView | None:
        """Count ``value`` into ``key``'s bucket at event time ``ts``; None when the event is too
        late to matter (older than what the key still keeps)."""
        spec = self.spec
        idx = int(ts // self._bucket_s)
        kw = self.keys.get(key)
        if kw is None:
            if len(self.keys) >= spec.max_keys:
                self._evict()
            kw = self.keys[key] = KeyWindow(first=idx, last=idx, last_ts=ts)
        if spec.silence is not None:
            self._arm(key, kw, ts, model)
        if idx <= kw.last - self._keep:
            return None
        if idx < kw.last:
            kw.history_cache = None
        if idx > kw.last:
            kw.last = idx
            floor = idx - self._keep
            for old in [b for b in kw.buckets if b <= floor]:
                del kw.buckets[old]
        kw.first = min(kw.first, idx)
        acc = kw.buckets.get(idx)
        if acc is None:
            acc = kw.buckets[idx] = Acc()
        acc.add(self._aggregate, value)
        return self._view(kw, idx)

    def _view(self, kw: KeyWindow, idx: int) -> WindowView:
        spec, agg = self.spec, self._aggregate
        start = idx - self._buckets + 1
        current = kw.buckets.get(idx)
        if self._buckets == 1:  # tumbling: the window is the current bucket
            value, count = aggregate_of(agg, [current] if current else [])
            bucket_value = value
        else:
            window = [a for b, a in kw.buckets.items() if start <= b <= idx]
            value, count = aggregate_of(agg, window)
            bucket_value = aggregate_of(agg, [current] if current else [])[0]
        previous = baseline = None
        if spec.history:
            cached = kw.history_cache
            if cached is not None and cached[0] == idx:
                previous, baseline = cached[1], cached[2]
            else:
                previous, baseline = self._history(kw, idx)
                kw.history_cache = (idx, previous, baseline)
        return WindowView(value, count, bucket_value, previous, baseline, start, idx)

    def _history(self, kw: KeyWindow, idx: int) -> tuple[Any, Any]:
        agg = self.spec.aggregate
        prev = kw.buckets.get(idx - 1)
        previous = aggregate_of(agg, [prev] if prev else [])[0]
        if kw.first > idx - self.spec.history:
            return previous, None
        per_bucket = [
            aggregate_of(agg, [kw.buckets[b]] if b in kw.buckets else [])[0]
            for b in range(idx - self.spec.history, idx)
        ]
        known = [v for v in per_bucket if v is not None]
        return previous, (sum(known) / len(known) if known else None)

    # --- silence (absence) rules
    def _arm(
        self, key: str, kw: KeyWindow, ts: float, model: tuple[str, str | None] | None
    ) -> None:
        if ts >= kw.last_ts:
            kw.last_ts = ts
            if model is not None:
                kw.model = model
        if kw.silence_checked == kw.last_ts or key in self._armed:
            return
        assert self.spec.silence is not None
        heapq.heappush(self._heap, (kw.last_ts + self.spec.silence, key))
        self._armed.add(key)
        if len(self._heap) > 2 * self.spec.max_keys + 16:  # entries of evicted keys piled up
            self._rearm_all()

    def _rearm_all(self) -> None:
        silence = self.spec.silence
        if silence is None:
            self._heap, self._armed = [], set()
            return
        self._heap = [
            (kw.last_ts + silence, key)
            for key, kw in self.keys.items()
            if kw.silence_checked != kw.last_ts
        ]
        heapq.heapify(self._heap)
        self._armed = {key for _, key in self._heap}

    def silent(self, watermark: float) -> list[tuple[str, KeyWindow, WindowView]]:
        """Keys whose latest event is at least ``silence`` seconds of event time behind
        ``watermark`` and whose silence episode was not checked yet, with their window as it was
        at their latest event. Each episode is returned once; a later event re-arms its key."""
        silence = self.spec.silence
        if silence is None:
            return []
        out = []
        heap = self._heap
        while heap and heap[0][0] <= watermark:
            _, key = heapq.heappop(heap)
            self._armed.discard(key)
            kw = self.keys.get(key)
            if kw is None or kw.silence_checked == kw.last_ts:
                continue  # evicted, or checked already
            if kw.last_ts + silence > watermark:  # it sent events since it was armed
                heapq.heappush(heap, (kw.last_ts + silence, key))
                self._armed.add(key)
                continue
            kw.silence_checked = kw.last_ts
            out.append((key, kw, self._view(kw, kw.last)))
        return out

    def mark_fired(self, key: str, start_bucket: int) -> bool:
        """Record a filed window; False if this key's window starting there was filed before."""
        kw = self.keys.get(key)
        if kw is None or start_bucket in kw.fired:
            return False
        kw.fired.append(start_bucket)
        del kw.fired[:-_FIRED_KEEP]
        return True

    def _evict(self) -> None:
        drop = max(1, len(self.keys) // 10)
        for key in sorted(self.keys, key=lambda k: self.keys[k].last)[:drop]:
            del self.keys[key]

    def to_json(self) -> dict[str, Any]:
        out = {}
        for key, kw in self.keys.items():
            raw: dict[str, Any] = {
                "first": kw.first,
                "last": kw.last,
                "fired": list(kw.fired),
                "buckets": [[b, a.to_json()] for b, a in sorted(kw.buckets.items())],
            }
            if self.spec.silence is not None:
                raw |= {
                    "last_ts": kw.last_ts,
                    "silence_checked": kw.silence_checked,
                    "model": None if kw.model is None else list(kw.model),
                }
            out[key] = raw
        return out

    def load_json(self, raw: dict[str, Any]) -> None:
        self.keys = {}
        for key, kw in raw.items():
            last = int(kw["last"])
            model = kw.get("model")
            checked = kw.get("silence_checked")
            self.keys[key] = KeyWindow(
                int(kw["first"]),
                last,
                {int(b): Acc.from_json(a) for b, a in kw["buckets"]},
                [int(f) for f in kw["fired"]],
                last_ts=float(kw.get("last_ts", last * self.spec.bucket_s)),
                silence_checked=None if checked is None else float(checked),
                model=None if not model else (str(model[0]), model[1]),
            )
        self._rearm_all()
