"""The published JSON Schema for riskwatch.inference/v1 agrees with the pydantic model.

``core/schemas/riskwatch.inference.v1.schema.json`` is hand-written for producers; the
authority is ``core.events.InferenceEvent`` as applied by ``streams.codec.decode_event``.
Every document below is judged by both, and both verdicts must equal the expected one.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator

from core.events import _RFC3339, INFERENCE_V1
from streams.codec import InvalidMessage, decode_event
from tests.unit.paths import REPO

SCHEMA_PATH = REPO / "core" / "schemas" / "riskwatch.inference.v1.schema.json"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> Draft202012Validator:
    # No format_checker: "format" stays an annotation, as in a default draft 2020-12 validator.
    return Draft202012Validator(schema)


def schema_accepts(validator: Draft202012Validator, doc: Any) -> bool:
    return not any(validator.iter_errors(doc))


def codec_accepts(doc: Any) -> bool:
    try:
        decode_event(orjson.dumps(doc))
    except InvalidMessage:
        return False
    return True


# --------------------------------------------------------------------------- documents

TS = "2026-11-28T12:00:00Z"
MINIMAL: dict[str, Any] = {"event_id": "e-1", "timestamp": TS, "model": {"id": "m", "version": "1"}}

FULL: dict[str, Any] = {
    "schema": INFERENCE_V1,
    "event_id": "e-full",
    "timestamp": "2026-11-28T12:00:00.250+01:00",
    "model": {"id": "credit-scorer", "version": "2026.11.3"},
    "service": "loans",
    "tenant": "acme",
    "input": {"features": {"income": 52000, "tags": ["a", "b"], "nested": {"x": 1}}, "text": "hi"},
    "output": {"prediction": {"label": "approve", "alts": [1, 2]}, "score": 0.87, "text": "ok"},
    "usage": {
        "latency_ms": 41.5,
        "input_tokens": 12,
        "output_tokens": 3,
        "cost_usd": 0,
        "error": None,
    },
    "subject": {
        "protected": {
            "age_band": "35-44",
            "age": 40,
            "score": 0.5,
            "disabled": False,
            "unknown": None,
        }
    },
    "context": {
        "region": "EU",
        "consent": True,
        "purpose": "credit",
        "human_review": False,
        "user_ref": "cust-20931",
    },
}


def with_(**changes: Any) -> dict[str, Any]:
    """MINIMAL with top-level fields set (a value of ... removes the field)."""
    doc = copy.deepcopy(MINIMAL)
    for key, value in changes.items():
        if value is ...:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


VALID, INVALID = True, False

CASES: list[tuple[str, Any, bool]] = [
    # ---- valid
    ("minimal", MINIMAL, VALID),
    ("full", FULL, VALID),
    ("explicit schema", with_(schema=INFERENCE_V1), VALID),
    ("unknown top-level fields", with_(trace_id="abc", extra={"deep": [1, {"x": None}]}), VALID),
    (
        "nested unknown fields",
        {
            **FULL,
            "model": {"id": "m", "version": "1", "provider": "acme"},
            "input": {"features": {}, "lang": "en"},
            "output": {"prediction": None, "logprobs": [0.1]},
            "usage": {"gpu": "h100"},
            "subject": {"protected": {}, "cohort": "b"},
            "context": {"region": None, "ticket": 7},
        },
        VALID,
    ),
    (
        "null optional sections",
        with_(
            service=None,
            tenant=None,
            input=None,
            output=None,
            usage=None,
            subject=None,
            context=None,
        ),
        VALID,
    ),
    (
        "null leaves",
        with_(
            input={"text": None},
            output={"prediction": None, "score": None, "text": None},
            usage={
                "latency_ms": None,
                "input_tokens": None,
                "output_tokens": None,
                "cost_usd": None,
                "error": None,
            },
            context={"region": None, "consent": None, "purpose": None, "human_review": None},
        ),
        VALID,
    ),
    ("empty sections", with_(input={}, output={}, usage={}, subject={}, context={}), VALID),
    ("timestamp lowercase t/z", with_(timestamp="2026-11-28t12:00:00z"), VALID),
    ("timestamp space, fraction, offset", with_(timestamp="2026-11-28 12:00:00.123-05:30"), VALID),
    ("event_id 128 chars", with_(event_id="x" * 128), VALID),
    (
        "zero usage, integer cost",
        with_(usage={"latency_ms": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 1}),
        VALID,
    ),
    ("usage error string", with_(usage={"error": "timeout"}), VALID),
    # ---- invalid: required fields
    ("missing event_id", with_(event_id=...), INVALID),
    ("missing timestamp", with_(timestamp=...), INVALID),
    ("missing model", with_(model=...), INVALID),
    ("model null", with_(model=None), INVALID),
    ("model missing version", with_(model={"id": "m"}), INVALID),
    ("model missing id", with_(model={"version": "1"}), INVALID),
    ("model id empty", with_(model={"id": "", "version": "1"}), INVALID),
    ("model version too long", with_(model={"id": "m", "version": "v" * 129}), INVALID),
    ("model version int", with_(model={"id": "m", "version": 1}), INVALID),
    # ---- invalid: event_id
    ("event_id empty", with_(event_id=""), INVALID),
    ("event_id too long", with_(event_id="x" * 129), INVALID),
    ("event_id int", with_(event_id=42), INVALID),
    ("event_id null", with_(event_id=None), INVALID),
    # ---- invalid: timestamp
    ("timestamp bare date", with_(timestamp="2026-11-28"), INVALID),
    ("timestamp without offset", with_(timestamp="2026-11-28T12:00:00"), INVALID),
    ("timestamp epoch int", with_(timestamp=1700000000), INVALID),
    ("timestamp words", with_(timestamp="yesterday"), INVALID),
    ("timestamp short offset", with_(timestamp="2026-11-28T12:00:00+01"), INVALID),
    ("timestamp null", with_(timestamp=None), INVALID),
    # ---- invalid: schema
    ("schema other", with_(schema="riskwatch.other/v1"), INVALID),
    ("schema null", with_(schema=None), INVALID),
    # ---- invalid: usage types
    ("latency_ms string", with_(usage={"latency_ms": "12"}), INVALID),
    ("latency_ms negative", with_(usage={"latency_ms": -1}), INVALID),
    ("latency_ms bool", with_(usage={"latency_ms": True}), INVALID),
    ("input_tokens string", with_(usage={"input_tokens": "3"}), INVALID),
    ("input_tokens bool", with_(usage={"input_tokens": True}), INVALID),
    ("input_tokens negative", with_(usage={"input_tokens": -1}), INVALID),
    ("output_tokens fraction", with_(usage={"output_tokens": 3.5}), INVALID),
    ("output_tokens bool", with_(usage={"output_tokens": False}), INVALID),
    ("cost_usd string", with_(usage={"cost_usd": "0.10"}), INVALID),
    ("cost_usd negative", with_(usage={"cost_usd": -0.01}), INVALID),
    ("usage error int", with_(usage={"error": 500}), INVALID),
    ("usage not object", with_(usage=[1, 2]), INVALID),
    # ---- invalid: other sections
    ("service int", with_(service=5), INVALID),
    ("tenant list", with_(tenant=["a"]), INVALID),
    ("input features null", with_(input={"features": None}), INVALID),
    ("input features list", with_(input={"features": [1]}), INVALID),
    ("input text int", with_(input={"text": 5}), INVALID),
    ("output score string", with_(output={"score": "0.9"}), INVALID),
    ("output score bool", with_(output={"score": True}), INVALID),
    ("protected null", with_(subject={"protected": None}), INVALID),
    ("protected nested object", with_(subject={"protected": {"sex": {"v": "F"}}}), INVALID),
    ("protected list value", with_(subject={"protected": {"sex": ["F"]}}), INVALID),
    ("consent yes", with_(context={"consent": "yes"}), INVALID),
    ("consent int", with_(context={"consent": 1}), INVALID),
    ("human_review string", with_(context={"human_review": "no"}), INVALID),
    ("region int", with_(context={"region": 3}), INVALID),
    ("user_ref int", with_(context={"user_ref": 20931}), INVALID),
    ("user_ref empty", with_(context={"user_ref": ""}), INVALID),
    ("user_ref newline", with_(context={"user_ref": "a\nb"}), INVALID),
    ("user_ref too long", with_(context={"user_ref": "u" * 257}), INVALID),
    ("user_ref longest", with_(context={"user_ref": "u" * 256}), VALID),
    ("context string", with_(context="EU"), INVALID),
    # ---- invalid: not an event at all
    ("top level list", [MINIMAL], INVALID),
]


@pytest.mark.parametrize(
    ("doc", "expected"), [(doc, exp) for _, doc, exp in CASES], ids=[name for name, _, _ in CASES]
)
def test_schema_and_codec_agree(validator: Draft202012Validator, doc: Any, expected: bool) -> None:
    by_schema = schema_accepts(validator, doc)
    by_codec = codec_accepts(doc)
    assert by_schema == by_codec, f"schema says {by_schema}, decode_event says {by_codec}"
    assert by_schema == expected


def test_case_names_are_unique() -> None:
    names = [name for name, _, _ in CASES]
    assert len(names) == len(set(names))


# --------------------------------------------------------------------------- the schema itself


def test_schema_is_valid_draft_2020_12(schema: dict[str, Any]) -> None:
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "https://riskwatch.dev/schemas/riskwatch.inference.v1.schema.json"
    assert schema["title"]


def test_schema_mirrors_model_constants(schema: dict[str, Any]) -> None:
    props = schema["properties"]
    assert props["schema"]["const"] == INFERENCE_V1
    assert props["timestamp"]["pattern"] == _RFC3339.pattern
    assert props["timestamp"]["format"] == "date-time"
    assert schema["required"] == ["event_id", "timestamp", "model"]


def _objects_and_properties(node: Any, path: str = "#"):
    """Yield (path, subschema) for every object subschema and every property subschema."""
    if isinstance(node, dict):
        if node.get("type") == "object" or "object" in (node.get("type") or []):
            yield path, node
        for name, sub in (node.get("properties") or {}).items():
            yield f"{path}/properties/{name}", sub
        for key, sub in node.items():
            if key in ("examples", "default", "const"):
                continue
            yield from _objects_and_properties(sub, f"{path}/{key}")


def test_every_property_is_described(schema: dict[str, Any]) -> None:
    missing = [
        path
        for path, sub in _objects_and_properties(schema)
        if "/properties/" in path and not sub.get("description")
    ]
    assert not missing, f"properties without a description: {missing}"


def test_every_object_keeps_unknown_fields(schema: dict[str, Any]) -> None:
    open_objects = {
        path for path, sub in _objects_and_properties(schema) if sub.get("properties") is not None
    }
    assert "#" in open_objects
    for path, sub in _objects_and_properties(schema):
        if path in open_objects:
            assert sub.get("additionalProperties") is True, path
            assert "kept" in sub["description"], path


def test_example_is_accepted_by_both(
    schema: dict[str, Any], validator: Draft202012Validator
) -> None:
    examples = schema["examples"]
    assert len(examples) == 1
    example = examples[0]
    validator.validate(example)
    event = decode_event(orjson.dumps(example))
    assert event.event_id == example["event_id"]
    assert event.extra_fields == {"trace_id": example["trace_id"]}


# --------------------------------------------------------------------------- documented gaps


@pytest.mark.parametrize(
    "doc",
    [
        # JSON Schema "integer" matches 3.0; pydantic strict int does not ($comment on the tokens).
        with_(usage={"input_tokens": 3.0}),
        with_(usage={"output_tokens": 0.0}),
        # The pattern checks shape, not ranges ($comment on timestamp).
        with_(timestamp="2026-13-28T12:00:00Z"),
        with_(timestamp="2026-11-28T24:00:00Z"),
    ],
    ids=["input_tokens 3.0", "output_tokens 0.0", "month 13", "hour 24"],
)
def test_known_gaps_schema_looser_than_model(validator: Draft202012Validator, doc: Any) -> None:
    """If one of these starts to agree, update the $comment in the schema and move the case up."""
    assert schema_accepts(validator, doc)
    assert not codec_accepts(doc)
