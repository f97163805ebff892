"""Bytes from Kafka to a validated InferenceEvent or FeedbackEvent, or a reason to dead-letter
the message."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from core.events import FEEDBACK_V1, INFERENCE_V1, FeedbackEvent, InferenceEvent

#: what a message on the events topic decodes to
Message = InferenceEvent | FeedbackEvent
_MODELS: dict[str, type[InferenceEvent] | type[FeedbackEvent]] = {
    INFERENCE_V1: InferenceEvent,
    FEEDBACK_V1: FeedbackEvent,
}


class DeadLetterReason:
    """Stable reason codes, stored with every dead letter and sent as a Kafka header."""

    EMPTY = "empty_message"
    TOO_LARGE = "too_large"
    NOT_UTF8 = "invalid_utf8"
    NOT_JSON = "invalid_json"
    NOT_OBJECT = "not_an_object"
    UNSUPPORTED_SCHEMA = "unsupported_schema"
    INVALID_EVENT = "invalid_event"

    ALL = (EMPTY, TOO_LARGE, NOT_UTF8, NOT_JSON, NOT_OBJECT, UNSUPPORTED_SCHEMA, INVALID_EVENT)


class InvalidMessage(ValueError):
    """A message that cannot become an event; ``reason`` is a DeadLetterReason code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class EventPolicy:
    max_bytes: int = 512 * 1024
    # The audit store re-encodes events as JSON; orjson refuses more than 254 levels, so deeper
    # events would fail at write time, after they were accepted. Real events are shallow.
    max_depth: int = 64


def nesting_depth(doc: Any) -> int:
    """Deepest level of objects and arrays in a parsed JSON value (a scalar is 0)."""
    deepest, stack = 0, [(doc, 1)]
    while stack:
        value, level = stack.pop()
        children: Iterable[Any]
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def _describe(exc: ValidationError, limit: int = 5) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "(event)"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def decode_event(raw: bytes | None, policy: EventPolicy = EventPolicy()) -> Message:
    """Decode one Kafka message value: an inference event, or a feedback event when its
    ``schema`` is riskwatch.feedback/v1. Raises InvalidMessage with a reason code."""
    return decode_document(raw, policy)[0]


def decode_document(
    raw: bytes | None, policy: EventPolicy = EventPolicy()
) -> tuple[Message, dict[str, Any]]:
    """Like decode_event, also returning the parsed JSON object (stored without re-serialising)."""
    if not raw:
        raise InvalidMessage(DeadLetterReason.EMPTY, "message value is empty")
    if len(raw) > policy.max_bytes:
        raise InvalidMessage(
            DeadLetterReason.TOO_LARGE, f"{len(raw)} bytes exceeds the limit of {policy.max_bytes}"
        )
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidMessage(DeadLetterReason.NOT_UTF8, f"byte {exc.start}: {exc.reason}") from None
    try:
        doc: Any = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidMessage(DeadLetterReason.NOT_JSON, str(exc)[:300]) from None
    if not isinstance(doc, dict):
        raise InvalidMessage(
            DeadLetterReason.NOT_OBJECT, f"top level is a JSON {type(doc).__name__}, not an object"
        )
    # Counting brackets bounds the depth cheaply; only suspicious documents are walked.
    if raw.count(b"{") + raw.count(b"[") > policy.max_depth:
        depth = nesting_depth(doc)
        if depth > policy.max_depth:
            raise InvalidMessage(
                DeadLetterReason.INVALID_EVENT,
                f"nested {depth} levels deep; the limit is {policy.max_depth}",
            )
    schema = doc.get("schema", INFERENCE_V1)
    model = _MODELS.get(schema) if isinstance(schema, str) else None
    if model is None:
        raise InvalidMessage(
            DeadLetterReason.UNSUPPORTED_SCHEMA,
            f"schema {str(schema)[:80]!r} is not supported; known: {', '.join(_MODELS)}",
        )
    try:
        return model.model_validate(doc), doc
    except ValidationError as exc:
        raise InvalidMessage(DeadLetterReason.INVALID_EVENT, _describe(exc)) from None
    except RecursionError:
        raise InvalidMessage(DeadLetterReason.INVALID_EVENT, "nesting too deep") from None
