"""The inference event, schema ``riskwatch.inference/v1`` (published as schemas/*.json)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, field_validator

INFERENCE_V1 = "riskwatch.inference/v1"
FEEDBACK_V1 = "riskwatch.feedback/v1"

# RFC 3339 date-time: full date, 'T' (or space), time, mandatory offset.
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)

Number = float  # pydantic strict float accepts ints, rejects strings and bools
Scalar = StrictStr | int | float | StrictBool | None


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False, frozen=True)


class ModelRef(_Part):
    id: StrictStr = Field(min_length=1, max_length=256)
    version: StrictStr = Field(min_length=1, max_length=128)


class Input(_Part):
    features: dict[str, Any] = Field(default_factory=dict)
    text: StrictStr | None = None


class Output(_Part):
    prediction: Any = None
    score: Number | None = None
    text: StrictStr | None = None


class Usage(_Part):
    latency_ms: Number | None = Field(None, ge=0)
    input_tokens: int | None = Field(None, ge=0)
    output_tokens: int | None = Field(None, ge=0)
    cost_usd: Number | None = Field(None, ge=0)
    error: StrictStr | None = None


class Subject(_Part):
    protected: dict[str, Scalar] = Field(default_factory=dict)


class Context(_Part):
    region: StrictStr | None = None
    consent: StrictBool | None = None
    purpose: StrictStr | None = None
    human_review: StrictBool | None = None


class InferenceEvent(_Part):
    """One model call. Unknown fields are kept (``model_extra``), never rejected."""

    schema_: Literal["riskwatch.inference/v1"] = Field(INFERENCE_V1, alias="schema")
    event_id: StrictStr = Field(min_length=1, max_length=128)
    timestamp: datetime
    model: ModelRef
    service: StrictStr | None = None
    tenant: StrictStr | None = None
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
