"""Times as stored (seconds since the epoch, UTC) and as shown. A stored time may be one this
version did not write (an older Castiel, another tool, a hand edit): readers format it with
`utc_text`, which never raises, instead of `datetime.fromtimestamp`, which does for years
beyond 9999, NaN and infinity."""

from __future__ import annotations

import math
from datetime import UTC, datetime

_FIRST = datetime(1, 1, 2, tzinfo=UTC).timestamp()
_LAST = datetime(9999, 12, 30, tzinfo=UTC).timestamp()
UTC_FORMAT = "%Y-%m-%d %H:%M:%SZ"


def as_timestamp(value: object) -> float | None:
    """`value` as seconds since the epoch, or None when no date can hold it."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    t = float(value)
    return t if math.isfinite(t) and _FIRST <= t <= _LAST else None


def utc_text(value: object, fmt: str = UTC_FORMAT) -> str:
    """`value` formatted in UTC; a value no date can hold is shown as such, not raised."""
    t = as_timestamp(value)
    if t is None:
        return f"invalid time {value!r}"
    return datetime.fromtimestamp(t, UTC).strftime(fmt)
