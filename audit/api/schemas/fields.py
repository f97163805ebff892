"""Field types shared by the audit API's models: UTC times, and request texts that the database
can hold (PostgreSQL text cannot hold NUL)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

from audit.models import as_utc
from core.events import NAME, NO_NUL

UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]
# Request texts become database text, which on PostgreSQL cannot hold NUL: names carry no control
# characters at all (they end up in logs), free texts no NUL; anything else is a 422.
NOT_BLANK_NO_NUL = r"^[^\x00]*[^\s\x00][^\x00]*$"
NameText = Annotated[str, StringConstraints(pattern=NAME)]
FreeText = Annotated[str, StringConstraints(pattern=NO_NUL)]
Statement = Annotated[str, StringConstraints(pattern=NOT_BLANK_NO_NUL)]
