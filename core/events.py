"""The inference event, schema ``riskwatch.inference/v1``, and the ground-truth label of one,
``riskwatch.feedback/v1`` (both published as schemas/*.json)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, field_validator

INFERENCE_V1: Final = "riskwatch.inference/v1"
FEEDBACK_V1: Final = "riskwatch.feedback/v1"

# RFC 3339 date-time: full date, 'T' (or space), time, mandatory offset.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

# Identifiers become database columns and log fields: no control characters (PostgreSQL text
# cannot hold NUL at all; the others forge log lines). Texts may hold anything but NUL.
NAME = r"^[^\x00-\x1f\x7f]*$"
NO_NUL = r"^[^\x00]*$"

Number = float  # pydantic strict float accepts ints, rejects strings and bools
Scalar = StrictStr | int | float | StrictBool | None


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False, frozen=True)


class ModelRef(_Part):
    id: StrictStr = Field(min_length=1, max_length=256, pattern=NAME)
    version: StrictStr = Field(min_length=1, max_length=128, pattern=NAME)


class Input(_Part):
    features: dict[str, Any] = Field(default_factory=dict)
    text: StrictStr | None = Field(None, pattern=NO_NUL)


class Output(_Part):
    prediction: Any = None
    score: Number | None = None
    text: StrictStr | None = Field(None, pattern=NO_NUL)


class Usage(_Part):
    latency_ms: Number | None = Field(None, ge=0)
    input_tokens: int | None = Field(None, ge=0)
    output_tokens: int | None = Field(None, ge=0)
    cost_usd: Number | None = Field(None, ge=0)
    error: StrictStr | None = Field(None, pattern=NO_NUL)


class Subject(_Part):
    protected: dict[str, Scalar] = Field(default_factory=dict)


class Context(_Part):
    region: StrictStr | None = None
    consent: StrictBool | None = None
    purpose: StrictStr | None = None
    human_review: StrictBool | None = None
    # A pseudonymous reference to the data subject (never a name or e-mail): the key that GDPR
    # Art. 17 erasure requests name. Only its SHA-256 is stored.
    user_ref: StrictStr | None = Field(None, min_length=1, max_length=256, pattern=NAME)


class InferenceEvent(_Part):
    """One model call. Unknown fields are kept (``model_extra``), never rejected."""

    schema_: Literal["riskwatch.inference/v1"] = Field(INFERENCE_V1, alias="schema")
    event_id: StrictStr = Field(min_length=1, max_length=128, pattern=NAME)
    timestamp: datetime
    model: ModelRef
    service: StrictStr | None = Field(None, max_length=256, pattern=NAME)
    tenant: StrictStr | None = Field(None, max_length=256, pattern=NAME)
    input: Input | None = None
    output: Output | None = None
    usage: Usage | None = None
    subject: Subject | None = None
    context: Context | None = None

    @field_validator("timestamp", mode="before")
    @classmethod
    def _rfc3339(cls, value: Any) -> datetime:
        if not isinstance(value, str) or not _RFC3339.match(value):
            raise ValueError("must be an RFC 3339 date-time string with a UTC offset")
        return datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))

    @property
    def extra_fields(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class FeedbackModelRef(_Part):
    """The model that served the labelled call: ``id`` as in the inference event's ``model.id``;
    ``version`` is optional because whoever labels the outcome rarely knows it."""

    id: StrictStr = Field(min_length=1, max_length=256, pattern=NAME)
    version: StrictStr | None = Field(None, min_length=1, max_length=128, pattern=NAME)


class FeedbackEvent(_Part):
    """The ground-truth label of one inference event (``event_id``), possibly arriving hours after
    it, or before it is processed. ``event_id`` is also this label's idempotency key: the first
    label stored for an event is kept. Unknown fields are kept, as for inference events."""

    schema_: Literal["riskwatch.feedback/v1"] = Field(alias="schema")
    event_id: StrictStr = Field(min_length=1, max_length=128, pattern=NAME)
    timestamp: datetime
    model: FeedbackModelRef
    label: StrictBool | int | float | Annotated[StrictStr, Field(max_length=256)]

    @field_validator("timestamp", mode="before")
    @classmethod
    def _rfc3339(cls, value: Any) -> datetime:
        return InferenceEvent._rfc3339(value)

    @property
    def extra_fields(self) -> dict[str, Any]:
        return dict(self.model_extra or {})
