"""Text every channel shares: evidence facts, timestamps, truncation. Pure."""

from __future__ import annotations

from datetime import UTC, datetime

from alerts.model import AlertState, NotifiedAlert, label_text

ZERO_TIME = "0001-01-01T00:00:00Z"
"""Alertmanager's endsAt for an alert that has not ended."""


def iso(ts: float | None) -> str:
    if ts is None:
        return ZERO_TIME
    return (
        datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def state_word(a: NotifiedAlert) -> str:
    return {
        AlertState.FIRING: "FIRING",
        AlertState.NODATA: "NO DATA",
        AlertState.RESOLVED: "RESOLVED",
    }.get(a.state, a.state.value.upper())


def facts(a: NotifiedAlert) -> list[tuple[str, str]]:
    """(title, value) pairs: the evidence every message carries."""
    ev = a.evidence
    out = [
        ("Budget" if ev.kind == "budget" else "Rule", ev.rule),
        ("Status", f"{state_word(a)} ({ev.level}, {ev.severity})"),
        (
            "Observed",
            f"{ev.aggregation} = {ev.observed_text()}" if ev.aggregation else ev.observed_text(),
        ),
        ("Threshold", f"must be {ev.threshold}" if ev.threshold else "(none)"),
        ("Group", label_text(ev.group) or "(whole budget)"),
        ("Run", ev.run),
    ]
    if ev.run_verdict:
        out.append(("Run verdict", ev.run_verdict))
    if ev.metric:
        out.append(("Metric", ev.metric))
    if ev.message:
        out.append(("Note", ev.message))
    return out


def limit(
    alerts: tuple[NotifiedAlert, ...], max_alerts: int
) -> tuple[tuple[NotifiedAlert, ...], int]:
    """Firing first, then resolved; at most `max_alerts` (0 = all), and how many were left out."""
    ordered = tuple(a for a in alerts if a.status == "firing") + tuple(
        a for a in alerts if a.status == "resolved"
    )
    if max_alerts <= 0 or len(ordered) <= max_alerts:
        return ordered, 0
    return ordered[:max_alerts], len(ordered) - max_alerts


def plain_text(alerts: tuple[NotifiedAlert, ...]) -> str:
    """The body of plain-text channels (email, console)."""
    blocks = []
    for a in alerts:
        lines = [f"{state_word(a)}: {a.evidence.summary()}"]
        lines += [f"  {k}: {v}" for k, v in facts(a)]
        if a.link:
            lines.append(f"  Dashboard: {a.link}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
