"""The time bins of the report's charts, chosen from the period: seconds or minutes for an hour
or two, hours for a few days, days for a quarter, aiming at 24 to 60 bins.

Pure: ``time_bins(since, until)`` depends on nothing but its arguments (a table test pins it)."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

#: The bin widths on offer, smallest first. No width is more than 2.5 times the one before, so the
#: smallest width giving at most MAX_BINS bins gives at least MAX_BINS / 2.5 = 24 (for a period
#: longer than 24 seconds).
WIDTHS: tuple[timedelta, ...] = tuple(
    [timedelta(seconds=s) for s in (1, 2, 5, 10, 15, 30)]
    + [timedelta(minutes=m) for m in (1, 2, 5, 10, 15, 30)]
    + [timedelta(hours=h) for h in (1, 2, 3, 6, 12)]
    + [timedelta(days=d) for d in (1, 2, 5, 10, 20, 30, 60, 90)]
)
MAX_BINS = 60
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class TimeBins:
    """Consecutive bins of one width: bin i is [starts[i], starts[i] + width)."""

    width: timedelta
    starts: tuple[datetime, ...]
    labels: tuple[str, ...]

    def index(self, at: datetime) -> int | None:
        """The bin holding ``at``, None when it lies outside every bin."""
        at = _utc(at)
        if not self.starts or at < self.starts[0] or at >= self.starts[-1] + self.width:
            return None
        return bisect_right(self.starts, at) - 1

    @property
    def width_text(self) -> str:
        seconds = int(self.width.total_seconds())
        for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
            if seconds % size == 0:
                n = seconds // size
                return f"{n} {unit}{'s' if n != 1 else ''}"
        return f"{seconds} second{'s' if seconds != 1 else ''}"


def _label_format(width: timedelta, since: datetime, until: datetime) -> str:
    if width >= timedelta(days=1):
        return "%Y-%m-%d"
    fmt = "%H:%M:%S" if width < timedelta(minutes=1) else "%H:%M"
    return fmt if since.date() == (until - timedelta(microseconds=1)).date() else "%m-%d " + fmt


def time_bins(since: datetime, until: datetime) -> TimeBins:
    """Bins covering [since, until): the smallest width of WIDTHS that gives at most MAX_BINS
    bins of the period (the widest for longer periods), each bin starting at a multiple of the
    width since the Unix epoch (10:02, 10:04 ...; whole UTC days), so up to MAX_BINS + 1 bins."""
    since, until = _utc(since), _utc(until)
    if until <= since:
        raise ValueError("time_bins: until must be after since")
    span = until - since
    width = next((w for w in WIDTHS if span / w <= MAX_BINS), WIDTHS[-1])
    first = _EPOCH + ((since - _EPOCH) // width) * width
    starts: list[datetime] = []
    at = first
    while at < until:
        starts.append(at)
        at += width
    fmt = _label_format(width, since, until)
    return TimeBins(width, tuple(starts), tuple(s.strftime(fmt) for s in starts))
