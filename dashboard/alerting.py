"""The Alerts page's tables as DataFrames, from `alerts.history`, `alerts.outbox` and
`alerts.silences` rows. Pure functions (no Streamlit). Only receiver *names* ever appear:
the alerts package keeps URLs and keys out of the store and redacts delivery reasons."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from alerts.history import AlertEvent
from alerts.outbox import Attempt
from alerts.silences import Silence

STATE_ICONS = {
    "pending": "🟡 pending",
    "firing": "🔴 firing",
    "nodata": "⚪ no data",
    "resolved": "🟢 resolved",
    "inactive": "⚫ inactive",
}
OUTCOME_ICONS = {"delivered": "✅ delivered", "retry": "🔁 retry", "failed": "❌ failed"}
EVENT_COLUMNS = [
    "since",
    "state",
    "severity",
    "name",
    "group",
    "level",
    "value",
    "threshold",
    "summary",
    "scope",
    "run",
    "suppressed",
    "key",
]
ATTEMPT_COLUMNS = ["at", "outcome", "receiver", "channel", "status", "reason", "ms", "test"]
SILENCE_COLUMNS = ["id", "state", "matchers", "starts", "ends", "created_by", "comment"]


def _ts(t: float) -> pd.Timestamp:
    """A stored time; one no date can hold (a foreign or hand-edited row) shows as empty."""
    try:
        return pd.Timestamp(t, unit="s", tz="UTC")
    except (ValueError, OverflowError, TypeError):  # OutOfBoundsDatetime is a ValueError
        return pd.NaT


def _frame(rows: list[dict[str, object]], columns: list[str], times: list[str]) -> pd.DataFrame:
    """Time columns stay UTC datetimes even when every value is empty (NaT)."""
    frame = pd.DataFrame(rows, columns=columns)
    for col in times:
        frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


def events_frame(events: Sequence[AlertEvent]) -> pd.DataFrame:
    rows = [
        {
            "since": _ts(e.at),
            "state": STATE_ICONS.get(e.state, e.state),
            "severity": e.severity,
            "name": e.name,
            "group": ", ".join(f"{k}={v}" for k, v in sorted(e.group.items())) or "-",
            "level": e.level,
            "value": e.value,
            "threshold": e.threshold,
            "summary": e.summary,
            "scope": e.scope or e.run_id,
            "run": e.run_id,
            "suppressed": e.suppressed,
            "key": e.dedup_key,
        }
        for e in events
    ]
    return _frame(rows, EVENT_COLUMNS, ["since"])


def timeline_frame(events: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:
    """Bars for a Gantt-style timeline: each alert's stretches between transitions (from
    `events_frame`, any order), the last one open until `now`."""
    events = events.dropna(subset=["since"])  # a time no date holds cannot be placed
    if events.empty:
        return pd.DataFrame(columns=["alert", "state", "start", "end"])
    rows = []
    for _, part in events.sort_values("since").groupby("key", sort=False):
        label = f"{part['name'].iloc[-1]} [{part['group'].iloc[-1]}]"
        times = [*part["since"].iloc[1:], now]
        for (_, e), end in zip(part.iterrows(), times, strict=True):
            if e["state"] in (STATE_ICONS["resolved"], STATE_ICONS["inactive"]):
                continue  # a quiet stretch: no bar
            rows.append({"alert": label, "state": e["state"], "start": e["since"], "end": end})
    return pd.DataFrame(rows, columns=["alert", "state", "start", "end"])


def attempts_frame(attempts: Sequence[Attempt]) -> pd.DataFrame:
    rows = [
        {
            "at": _ts(a.at),
            "outcome": OUTCOME_ICONS.get(a.outcome, a.outcome),
            "receiver": a.receiver,
            "channel": a.channel,
            "status": a.status_code,
            "reason": a.reason,
            "ms": round(a.duration * 1000, 1),
            "test": a.test,
        }
        for a in attempts
    ]
    return _frame(rows, ATTEMPT_COLUMNS, ["at"])


def silences_frame(silences: Sequence[Silence], now: float) -> pd.DataFrame:
    rows = [
        {
            "id": s.id,
            "state": s.state(now),
            "matchers": ", ".join(str(m) for m in s.matchers),
            "starts": _ts(s.starts_at),
            "ends": _ts(s.ends_at),
            "created_by": s.created_by,
            "comment": s.comment,
        }
        for s in silences
    ]
    return _frame(rows, SILENCE_COLUMNS, ["starts", "ends"])
