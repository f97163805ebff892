"""The published JSON Schema for riskwatch.feedback/v1 agrees with the pydantic model.

``core/schemas/riskwatch.feedback.v1.schema.json`` is hand-written for producers; the authority
is ``core.events.FeedbackEvent`` as applied by ``streams.codec.decode_event``. Every document
below is judged by both, and both verdicts must equal the expected one.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator

from core.events import _RFC3339, FEEDBACK_V1, FeedbackEvent
from streams.codec import DeadLetterReason, InvalidMessage, decode_event
from tests.unit.paths import REPO

SCHEMA_PATH = REPO / "core" / "schemas" / "riskwatch.feedback.v1.schema.json"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema)


def codec_accepts(doc: Any) -> bool:
    try:
        return isinstance(decode_event(orjson.dumps(doc)), FeedbackEvent)
    except InvalidMessage:
        return False


MINIMAL: dict[str, Any] = {
    "schema": FEEDBACK_V1,
    "event_id": "e-1",
    "timestamp": "2026-11-28T12:00:00Z",
    "model": {"id": "m"},
    "label": 1,
}


def with_(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(MINIMAL)
    for key, value in changes.items():
        if value is ...:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


VALID, INVALID = True, False
CASES: list[tuple[str, Any, bool]] = [
    ("minimal", MINIMAL, VALID),
    ("label 0", with_(label=0), VALID),
    ("label float", with_(label=0.5), VALID),
    ("label bool", with_(label=True), VALID),
    ("label string", with_(label="fraud"), VALID),
    ("label string 256", with_(label="x" * 256), VALID),
    ("model with version", with_(model={"id": "m", "version": "1.2"}), VALID),
    ("model version null", with_(model={"id": "m", "version": None}), VALID),
    ("unknown fields", with_(source="crm", model={"id": "m", "provider": "acme"}), VALID),
    ("timestamp offset", with_(timestamp="2026-11-28 12:00:00.5+01:00"), VALID),
    ("missing schema", with_(schema=...), INVALID),  # read as an inference event
    ("missing event_id", with_(event_id=...), INVALID),
    ("missing timestamp", with_(timestamp=...), INVALID),
    ("missing model", with_(model=...), INVALID),
    ("missing label", with_(label=...), INVALID),
    ("label null", with_(label=None), INVALID),
    ("label list", with_(label=[1]), INVALID),
    ("label object", with_(label={"y": 1}), INVALID),
    ("label string 257", with_(label="x" * 257), INVALID),
    ("event_id empty", with_(event_id=""), INVALID),
    ("event_id too long", with_(event_id="x" * 129), INVALID),
    ("event_id int", with_(event_id=7), INVALID),
    ("timestamp without offset", with_(timestamp="2026-11-28T12:00:00"), INVALID),
    ("timestamp epoch", with_(timestamp=1700000000), INVALID),
    ("model string", with_(model="m"), INVALID),
    ("model id empty", with_(model={"id": ""}), INVALID),
    ("model id missing", with_(model={"version": "1"}), INVALID),
    ("model id too long", with_(model={"id": "m" * 257}), INVALID),
    ("model version empty", with_(model={"id": "m", "version": ""}), INVALID),
    ("model version int", with_(model={"id": "m", "version": 1}), INVALID),
    ("top level list", [MINIMAL], INVALID),
]


@pytest.mark.parametrize(
    ("doc", "expected"), [(d, e) for _, d, e in CASES], ids=[n for n, _, _ in CASES]
)
def test_schema_and_codec_agree(validator: Draft202012Validator, doc: Any, expected: bool) -> None:
    by_schema = not any(validator.iter_errors(doc))
    by_codec = codec_accepts(doc)
    assert by_schema == by_codec, f"schema says {by_schema}, decode_event says {by_codec}"
    assert by_schema == expected


def test_schema_is_valid_and_mirrors_the_model(schema: dict[str, Any]) -> None:
    Draft202012Validator.check_schema(schema)
    assert schema["$id"].endswith("/riskwatch.feedback.v1.schema.json")
    assert schema["properties"]["schema"]["const"] == FEEDBACK_V1
    assert schema["properties"]["timestamp"]["pattern"] == _RFC3339.pattern
    required = {f.alias or n for n, f in FeedbackEvent.model_fields.items() if f.is_required()}
    assert set(schema["required"]) == required


def test_example_is_accepted_by_both(
    schema: dict[str, Any], validator: Draft202012Validator
) -> None:
    (example,) = schema["examples"]
    validator.validate(example)
    feedback = decode_event(orjson.dumps(example))
    assert isinstance(feedback, FeedbackEvent)
    assert feedback.event_id == example["event_id"] and feedback.label == example["label"]
    assert feedback.extra_fields == {"source": example["source"]}


def test_invalid_feedback_is_an_invalid_event_with_the_field_named() -> None:
    with pytest.raises(InvalidMessage) as caught:
        decode_event(orjson.dumps(with_(label=None)))
    assert caught.value.reason == DeadLetterReason.INVALID_EVENT
    assert "label" in caught.value.detail


def test_label_types_are_kept() -> None:
    for label in (1, 0.25, True, "fraud"):
        decoded = decode_event(orjson.dumps(with_(label=label)))
        assert isinstance(decoded, FeedbackEvent)
        assert decoded.label == label and type(decoded.label) is type(label)
