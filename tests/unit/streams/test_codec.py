"""Codec: every dead-letter reason from the input that should cause it; valid events keep extras."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from core.events import FEEDBACK_V1, INFERENCE_V1
from streams.codec import (
    DeadLetterReason as R,
)
from streams.codec import (
    EventPolicy,
    InvalidMessage,
    decode_document,
    decode_event,
)


def _doc(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema": INFERENCE_V1,
        "event_id": "evt-1",
        "timestamp": "2026-11-28T12:00:00Z",
        "model": {"id": "credit-scoring", "version": "3.1"},
        "usage": {"latency_ms": 120.5, "input_tokens": 10, "error": None},
    }
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not _DROP}


_DROP = object()
_DEFAULT_POLICY = EventPolicy()


def _reject(raw: bytes | None, policy: EventPolicy = _DEFAULT_POLICY) -> InvalidMessage:
    with pytest.raises(InvalidMessage) as info:
        decode_event(raw, policy)
    assert str(info.value).startswith(info.value.reason + ": ")
    return info.value


@pytest.mark.parametrize("raw", [b"", None])
def test_empty_message(raw: bytes | None) -> None:
    assert _reject(raw).reason == R.EMPTY


def test_size_limit_is_inclusive_and_checked_before_parsing() -> None:
    ok = orjson.dumps(_doc())
    assert decode_event(ok, EventPolicy(max_bytes=len(ok))).event_id == "evt-1"
    exc = _reject(ok, EventPolicy(max_bytes=len(ok) - 1))
    assert exc.reason == R.TOO_LARGE
    assert str(len(ok)) in exc.detail and str(len(ok) - 1) in exc.detail
    # oversized garbage is "too large", not "invalid json": size is the first gate
    assert _reject(b"\xff" * 100, EventPolicy(max_bytes=99)).reason == R.TOO_LARGE


@pytest.mark.parametrize(
    "raw, at", [(b'{"a":"\xff"}', 6), (b'{"a":"caf\xe9"}', 9), (b"\xc3\x28", 0)]
)
def test_invalid_utf8_names_the_byte(raw: bytes, at: int) -> None:
    exc = _reject(raw)
    assert exc.reason == R.NOT_UTF8
    assert exc.detail.startswith(f"byte {at}:"), exc.detail


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b'{"event_id": "x"',
        b"{'single': 'quotes'}",
        b'{"a": 1,}',
        b'{"x": NaN}',
        b'{"x": Infinity}',
        b'{"x": -Infinity}',
        b'{"usage": {"latency_ms": NaN}}',
        b"   ",
    ],
)
def test_not_json(raw: bytes) -> None:
    assert _reject(raw).reason == R.NOT_JSON


@pytest.mark.parametrize(
    "raw, kind",
    [
        (b"[1, 2]", "list"),
        (b'"a string"', "str"),
        (b"42", "int"),
        (b"4.5", "float"),
        (b"true", "bool"),
        (b"null", "NoneType"),
    ],
)
def test_not_an_object(raw: bytes, kind: str) -> None:
    exc = _reject(raw)
    assert exc.reason == R.NOT_OBJECT
    assert kind in exc.detail


@pytest.mark.parametrize(
    "schema", ["riskwatch.inference/v2", "other", None, 1, ["x"], "riskwatch.feedback/v2"]
)
def test_unsupported_schema(schema: Any) -> None:
    exc = _reject(orjson.dumps(_doc(schema=schema)))
    assert exc.reason == R.UNSUPPORTED_SCHEMA
    assert repr(str(schema)) in exc.detail
    assert f"known: {INFERENCE_V1}, {FEEDBACK_V1}" in exc.detail


def test_schema_defaults_to_inference_v1_when_absent() -> None:
    event = decode_event(orjson.dumps(_doc(schema=_DROP)))
    assert event.schema_ == INFERENCE_V1


@pytest.mark.parametrize(
    "overrides, path",
    [
        ({"event_id": _DROP}, "event_id"),
        ({"timestamp": _DROP}, "timestamp"),
        ({"model": _DROP}, "model"),
        ({"model": {"id": "m"}}, "model.version"),
        ({"model": {"id": "", "version": "1"}}, "model.id"),
        ({"model": {"id": 7, "version": "1"}}, "model.id"),
        ({"model": "credit-scoring"}, "model"),
        ({"event_id": 123}, "event_id"),
        ({"event_id": ""}, "event_id"),
        ({"event_id": "x" * 129}, "event_id"),
        ({"usage": {"latency_ms": "slow"}}, "usage.latency_ms"),
        ({"usage": {"latency_ms": True}}, "usage.latency_ms"),
        ({"usage": {"latency_ms": -1}}, "usage.latency_ms"),
        ({"usage": {"input_tokens": 1.5}}, "usage.input_tokens"),
        ({"usage": {"input_tokens": "10"}}, "usage.input_tokens"),
        ({"usage": {"error": 500}}, "usage.error"),
        ({"input": {"text": 5}}, "input.text"),
        ({"output": {"score": "0.9"}}, "output.score"),
        ({"context": {"consent": "yes"}}, "context.consent"),
        ({"subject": {"protected": {"sex": ["f"]}}}, "subject.protected"),
        ({"timestamp": "2026-11-28T12:00:00"}, "timestamp"),  # naive
        ({"timestamp": "2026-11-28"}, "timestamp"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"timestamp": 1764331200}, "timestamp"),
        ({"timestamp": "2026-02-30T12:00:00Z"}, "timestamp"),
    ],
)
def test_invalid_event_names_the_field(overrides: dict[str, Any], path: str) -> None:
    exc = _reject(orjson.dumps(_doc(**overrides)))
    assert exc.reason == R.INVALID_EVENT
    assert exc.detail.startswith(path), exc.detail


def test_event_id_length_boundary() -> None:
    assert decode_event(orjson.dumps(_doc(event_id="x" * 128))).event_id == "x" * 128
    exc = _reject(orjson.dumps(_doc(event_id="x" * 129)))
    assert exc.reason == R.INVALID_EVENT and "event_id" in exc.detail and "128" in exc.detail


def test_naive_timestamp_message_asks_for_an_offset() -> None:
    exc = _reject(orjson.dumps(_doc(timestamp="2026-11-28T12:00:00")))
    assert "timestamp" in exc.detail and "offset" in exc.detail


def test_many_errors_are_summarised() -> None:
    doc = _doc(
        event_id=1,
        timestamp="x",
        model={"id": 1, "version": 2},
        usage={"latency_ms": "a", "input_tokens": "b", "output_tokens": "c"},
    )
    exc = _reject(orjson.dumps(doc))
    assert exc.reason == R.INVALID_EVENT
    assert exc.detail.count(";") == 5 and exc.detail.endswith("; and 2 more"), exc.detail


@pytest.mark.parametrize(
    "stamp, iso",
    [
        ("2026-11-28T12:00:00Z", "2026-11-28T12:00:00+00:00"),
        ("2026-11-28T12:00:00.250+02:00", "2026-11-28T12:00:00.250000+02:00"),
        ("2026-11-28 12:00:00-05:30", "2026-11-28T12:00:00-05:30"),
        ("2026-11-28t12:00:00z", "2026-11-28T12:00:00+00:00"),
    ],
)
def test_rfc3339_timestamps_are_accepted_with_their_offset(stamp: str, iso: str) -> None:
    event = decode_event(orjson.dumps(_doc(timestamp=stamp)))
    assert event.timestamp.isoformat() == iso


def test_valid_event_keeps_unknown_top_level_and_nested_fields() -> None:
    doc = _doc(
        trace_id="abc",
        labels={"team": "x"},
        model={"id": "m", "version": "1", "provider": "acme"},
        usage={"latency_ms": 5, "gpu_ms": 3.5},
        context={"region": "EU", "channel": "web"},
    )
    event, parsed = decode_document(orjson.dumps(doc))
    assert event.extra_fields == {"trace_id": "abc", "labels": {"team": "x"}}
    assert event.model.model_extra == {"provider": "acme"}
    assert event.usage is not None and event.usage.model_extra == {"gpu_ms": 3.5}
    assert event.context is not None and event.context.model_extra == {"channel": "web"}
    assert parsed == doc  # the parsed document is returned as received
    again = event.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert again["trace_id"] == "abc" and again["model"]["provider"] == "acme"


def test_valid_event_fields() -> None:
    event = decode_event(orjson.dumps(_doc()))
    assert (event.event_id, event.model.id, event.model.version) == (
        "evt-1",
        "credit-scoring",
        "3.1",
    )
    assert event.usage is not None and event.usage.latency_ms == 120.5
    assert event.usage.input_tokens == 10 and event.usage.error is None
    assert event.extra_fields == {}
