"""Field types shared by the audit API's models: UTC times, and request texts that the database
can hold (PostgreSQL text cannot hold NUL)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, StringConstraints

from audit.models import as_utc
from core.events import NAME, NO_NUL

UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]


def _in_utc_range(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("datetime out of range once converted to UTC") from None


#: a time given in a request (query or body): with an offset, and representable in UTC
#: (``0001-01-01T00:00:00+14:00`` is not: a 422, never an overflow deeper in)
RequestDatetime = Annotated[AwareDatetime, AfterValidator(_in_utc_range)]

# Request texts become database text, which on PostgreSQL cannot hold NUL: names carry no control
# characters at all (they end up in logs), free texts no NUL; anything else is a 422.
NOT_BLANK_NO_NUL = r"^[^\x00]*[^\s\x00][^\x00]*$"
NameText = Annotated[str, StringConstraints(pattern=NAME)]
FreeText = Annotated[str, StringConstraints(pattern=NO_NUL)]
Statement = Annotated[str, StringConstraints(pattern=NOT_BLANK_NO_NUL)]
