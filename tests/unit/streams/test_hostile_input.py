"""Hostile input, generated (hypothesis): whatever arrives, the batch path never raises, every bad
message is dead-lettered with a reason, valid events beside it are stored, and nothing from an
event is executed or interpolated into SQL.

The batch handler here is the worker's own (all detectors, policies, the real audit store: SQLite,
or PostgreSQL under RISKWATCH_TEST_DB=postgres).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, inspect, select

from audit.models import DeadLetterRecord, EventRecord
from audit.store import AuditStore
from core.model_registry import load_registry
from detectors.catalog import build_detectors
from policies.engine import PolicyEngine
from policies.pack import load_packs
from streams.batch import RawMessage
from streams.codec import DeadLetterReason, EventPolicy
from streams.pipeline import BatchHandler, BatchProcessor
from tests.dburl import db_url
from tests.unit.paths import REPO

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

HOSTILE_STRINGS = [
    "'; DROP TABLE events; --",
    '" OR 1=1 --',
    "{{7*7}}",
    "${jndi:ldap://x/a}",
    "%(x)s %s %n",
    "<script>alert(1)</script>",
    "$(rm -rf /)",
    "`id`",
    "\x00",
    "a\x00b",
    "\u202egnp.exe",
    "\u0430dmin",  # Cyrillic а
    "\ufeff",
    "\ud7ff",
    "\U0001f4a9" * 50,
    "\n\r\t\x1b[31m",
    "..\\..\\etc\\passwd",
    "NaN",
    "",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.sampled_from(HOSTILE_STRINGS),
    st.text(max_size=60),
)
json_values = st.recursive(
    scalars,
    lambda kids: st.one_of(
        st.lists(kids, max_size=4),
        st.dictionaries(st.sampled_from(HOSTILE_STRINGS) | st.text(max_size=8), kids, max_size=4),
    ),
    max_leaves=20,
)


def _valid(i: int, run: str) -> dict[str, Any]:
    return {
        "schema": "riskwatch.inference/v1",
        "event_id": f"{run}-ok-{i}",
        "timestamp": "2026-11-28T12:00:00Z",
        "model": {"id": "credit-scoring", "version": "1"},
        "input": {"features": {"income": 50000}, "text": "How do I reset my password?"},
        "output": {"prediction": 1, "score": 0.7},
        "usage": {"latency_ms": 80.0},
    }


FIELDS = [
    "event_id",
    "timestamp",
    "model",
    "model.id",
    "model.version",
    "service",
    "tenant",
    "input",
    "input.features",
    "input.text",
    "output",
    "output.score",
    "output.prediction",
    "output.text",
    "usage",
    "usage.latency_ms",
    "usage.input_tokens",
    "usage.cost_usd",
    "usage.error",
    "subject",
    "context",
    "context.consent",
    "context.region",
    "schema",
]


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    head, _, rest = path.partition(".")
    if not rest:
        doc[head] = value
        return
    if not isinstance(doc.get(head), dict):
        doc[head] = {}
    _set(doc[head], rest, value)


@st.composite
def hostile_events(draw: st.DrawFn) -> bytes:
    """A near-valid event with a few fields replaced by hostile values, extra hostile keys, and
    sometimes a raw-text twist (NaN/Infinity literals, huge numbers, deep nesting, bad bytes)."""
    doc = _valid(0, "h")
    doc["event_id"] = draw(st.sampled_from(HOSTILE_STRINGS) | st.text(min_size=1, max_size=40))
    for path in draw(st.lists(st.sampled_from(FIELDS), max_size=3)):
        _set(doc, path, draw(json_values))
    for key in draw(st.lists(st.sampled_from(HOSTILE_STRINGS), max_size=2)):
        doc[key] = draw(json_values)
    raw = orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS) if _encodable(doc) else b"{}"
    twist = draw(st.sampled_from(["none", "none", "nan", "inf", "huge", "deep", "bytes", "big"]))
    if twist == "nan":
        raw = raw.replace(b'"latency_ms":80.0', b'"latency_ms":NaN')
    elif twist == "inf":
        raw = raw.replace(b'"score":0.7', b'"score":Infinity')
    elif twist == "huge":
        raw = raw.replace(b'"income":50000', b'"income":1e999')
    elif twist == "deep":
        depth = draw(st.integers(60, 2000))
        raw = raw[:-1] + b',"nest":' + b"[" * depth + b"]" * depth + b"}"
    elif twist == "bytes":
        cut = draw(st.integers(0, len(raw)))
        raw = raw[:cut] + draw(st.binary(min_size=1, max_size=8)) + raw[cut:]
    elif twist == "big":
        raw = raw[:-1] + b',"blob":"' + b"A" * draw(st.integers(400_000, 3_000_000)) + b'"}'
    return raw


def _encodable(doc: Any) -> bool:
    try:
        orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS)
        return True
    except (TypeError, orjson.JSONEncodeError):
        return False


class Harness:
    def __init__(self, path: Path) -> None:
        registry = load_registry(REPO / "riskwatch.yaml")
        processor = BatchProcessor(build_detectors(registry), PolicyEngine(load_packs(), registry))
        self.store = AuditStore.from_url(db_url(path))
        self.handler = BatchHandler(self.store, processor, EventPolicy())
        self.tables = set(inspect(self.store.engine).get_table_names())
        self.offset = 0
        self.run = 0

    def count(self, table: type) -> int:
        with self.store.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table.__table__)).scalar_one())

    def play(self, hostile: list[bytes | None]) -> None:
        """Valid events around the hostile ones: all valid ones stored, every other message
        stored or dead-lettered, nothing raised, no table gone."""
        self.run += 1
        run = f"r{self.run}"
        valid = [orjson.dumps(_valid(i, run)) for i in range(2)]
        values = [valid[0], *hostile, valid[1]]
        messages = [RawMessage("ev", 0, self.offset + i, b"k", v) for i, v in enumerate(values)]
        self.offset += len(messages)
        events_before, letters_before = self.count(EventRecord), self.count(DeadLetterRecord)
        outcome = self.handler.handle(messages)
        stored_ids = self.handler.store.known_event_ids([f"{run}-ok-0", f"{run}-ok-1"])
        assert stored_ids == {f"{run}-ok-0", f"{run}-ok-1"}
        assert all(
            letter.reason in DeadLetterReason.ALL and letter.detail
            for _, letter in outcome.rejected
        )
        new_events = self.count(EventRecord) - events_before
        new_letters = self.count(DeadLetterRecord) - letters_before
        assert new_letters == len(outcome.rejected)
        # every message is accounted for: stored, a duplicate of a stored one, or dead-lettered
        assert new_events + outcome.duplicates + new_letters == len(values)
        assert set(inspect(self.store.engine).get_table_names()) == self.tables


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    yield Harness(tmp_path_factory.mktemp("hostile") / "audit.db")


@SETTINGS
@given(raw=st.binary(max_size=3000))
def test_arbitrary_bytes(harness: Harness, raw: bytes) -> None:
    harness.play([raw])


@SETTINGS
@given(raws=st.lists(hostile_events(), min_size=1, max_size=4))
def test_hostile_events(harness: Harness, raws: list[bytes]) -> None:
    harness.play(list(raws))


@SETTINGS
@given(doc=json_values)
def test_any_json_document(harness: Harness, doc: Any) -> None:
    if _encodable(doc):
        harness.play([orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS)])


def test_specific_hostile_messages_get_their_reasons(harness: Harness) -> None:
    ok = _valid(9, "spec")
    cases: dict[str, bytes | None] = {
        DeadLetterReason.EMPTY: None,
        DeadLetterReason.NOT_JSON: orjson.dumps(ok).replace(b"80.0", b"NaN"),
        DeadLetterReason.NOT_UTF8: orjson.dumps(ok).replace(b"password", b"pass\xffword"),
        DeadLetterReason.TOO_LARGE: b'{"x":"' + b"A" * 600_000 + b'"}',
        DeadLetterReason.NOT_OBJECT: b"[1,2,3]",
        DeadLetterReason.INVALID_EVENT: b'{"a":' * 70 + b"1" + b"}" * 70,  # nested too deep
    }
    messages = [RawMessage("ev", 1, i, None, v) for i, v in enumerate(cases.values())]
    outcome = harness.handler.handle(messages)
    got = {letter.reason for _, letter in outcome.rejected}
    assert got == set(cases) and len(outcome.rejected) == len(cases)
    # Control characters in identifiers (PostgreSQL text cannot hold NUL; others forge logs)
    controls = [
        dict(ok, event_id="spec\x00nul"),
        dict(ok, event_id="spec-t", tenant="a\x1b[31m"),
        dict(ok, event_id="spec-m", model={"id": "m\nfake log line", "version": "1"}),
        dict(ok, event_id="spec-x", input={"text": "before\x00after"}),
    ]
    outcome = harness.handler.handle(
        [RawMessage("ev", 3, i, None, orjson.dumps(d)) for i, d in enumerate(controls)]
    )
    assert [letter.reason for _, letter in outcome.rejected] == [DeadLetterReason.INVALID_EVENT] * 4
    assert "event_id" in outcome.rejected[0][1].detail
    huge = dict(ok, event_id="spec-huge", input={"features": {"income": 10.0**308}})
    deep = dict(ok, event_id="spec-deep", extra={"a": [[[[[[{"b": 1}]]]]]]})
    sql = dict(ok, event_id="spec'; DROP TABLE events; --", tenant="{{7*7}}")
    for doc in (huge, deep, sql):
        assert harness.handler.handle([RawMessage("ev", 2, 0, None, orjson.dumps(doc))]).stored == 1
    with harness.store.engine.connect() as conn:
        row = conn.execute(
            select(EventRecord.__table__.c.tenant).where(
                EventRecord.__table__.c.event_id == "spec'; DROP TABLE events; --"
            )
        ).scalar_one()
    assert row == "{{7*7}}"  # stored as data, not rendered or executed
