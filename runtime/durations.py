"""The one duration grammar of Castiel: budgets, alerts, sources, castiel.yaml and every CLI
flag read durations with `parse_duration` and print them with `format_duration`.

Grammar: a number with an optional unit (`250ms`, `30s`, `5m`, `2h`, `7d`; no unit means
seconds) or a sum of such parts (`1h30m`). Units: us, ms, s, m, h, d, w."""

from __future__ import annotations

import math
import re

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_ONE = re.compile(r"^(\d+(?:\.\d+)?)(us|ms|s|m|h|d|w)?$")
_PART = re.compile(r"(\d+(?:\.\d+)?)(us|ms|s|m|h|d|w)")
EXAMPLES = "examples: 250ms, 30s, 5m, 1h30m, 7d"


def parse_duration(text: str | float) -> float:
    """Seconds for `text`; a plain int or float is already seconds. Raises ValueError for
    anything else, including negative, NaN and infinite values."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        s = str(text).strip().lower().replace(" ", "")
        one = _ONE.match(s)
        if one:
            seconds = float(one.group(1)) * _UNITS[one.group(2) or "s"]
        elif s and _PART.sub("", s) == "":
            seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(s))
        else:
            raise ValueError(f"not a duration: {text!r} ({EXAMPLES})")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a duration must be a non-negative number of seconds, got {text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact spelling in the grammar above (`90` -> `90s`, `3600` -> `1h`)."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"
