"""What a person watching a run sees: a rich live view in a terminal, plain periodic lines
otherwise. `live_stats` is a pure function of the collected series."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from budgets.model import Level
from budgets.reports.report import format_thresholds, format_value
from budgets.verdict import Verdict
from collectors.model import Histogram, SeriesData, merge_histograms
from loadtest.stream import DROPPED, DURATION, FAILURES, REQUESTS, USERS

STATUS_STYLE = {
    Level.PASS: "green",
    Level.WARN: "yellow",
    Level.FAIL: "red",
    Level.ABORT: "bold red",
}


@dataclass(frozen=True)
class EndpointStats:
    name: str
    requests: int
    rps: float
    p95_ms: float | None
    failures: int


@dataclass(frozen=True)
class LiveStats:
    users: int
    rps: float
    requests: int
    failures: int
    endpoints: tuple[EndpointStats, ...]
    dropped: int | None = None  # iterations an arrival-rate run could not start


@dataclass
class _Acc:
    requests: float = 0.0
    recent: float = 0.0
    failures: float = 0.0
    histograms: list[Histogram] = field(default_factory=list)


def live_stats(series: list[SeriesData], now: float, window: float = 10.0) -> LiveStats:
    """Users now, and per endpoint the totals, the request rate and p95 over the last window."""
    users = 0
    dropped: int | None = None
    per_name: dict[str, _Acc] = {}
    for s in series:
        if s.key.name == USERS and s.points:
            users = int(s.points[-1].value)
            continue
        if s.key.name == DROPPED:
            dropped = (dropped or 0) + int(sum(p.value for p in s.points))
            continue
        if s.key.name not in (REQUESTS, FAILURES, DURATION):
            continue
        e = per_name.setdefault(s.key.label("name"), _Acc())
        if s.key.name == REQUESTS:
            e.requests += sum(p.value for p in s.points)
            e.recent += sum(p.value for p in s.points if p.timestamp > now - window)
        elif s.key.name == FAILURES:
            e.failures += sum(p.value for p in s.points)
        else:
            e.histograms.extend(h.histogram for h in s.histograms if h.end > now - window)
    endpoints = []
    for name, e in sorted(per_name.items()):
        p95 = merge_histograms(e.histograms).percentile(95) if e.histograms else None
        endpoints.append(
            EndpointStats(
                name,
                int(e.requests),
                e.recent / window,
                None if p95 is None else p95 * 1000,
                int(e.failures),
            )
        )
    return LiveStats(
        users,
        sum(e.rps for e in endpoints),
        sum(e.requests for e in endpoints),
        sum(e.failures for e in endpoints),
        tuple(endpoints),
        dropped,
    )


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:,.4g}"


def render(title: str, stats: LiveStats, verdicts: list[Verdict]) -> Any:
    head = Text(
        f"{title}   users {stats.users}   {stats.rps:,.1f} req/s   "
        f"{stats.requests:,} requests   {stats.failures:,} failures"
        + (f"   {stats.dropped:,} dropped iterations" if stats.dropped is not None else "")
    )
    eps = Table(title="endpoints (last 10 s)", expand=False)
    for col in ("endpoint", "requests", "req/s", "p95 ms", "failures"):
        eps.add_column(col, justify="left" if col == "endpoint" else "right")
    for e in stats.endpoints:
        eps.add_row(e.name, f"{e.requests:,}", f"{e.rps:,.1f}", _fmt(e.p95_ms), str(e.failures))
    bud = Table(title="budgets (live)", expand=False)
    for col in ("budget", "group", "observed", "threshold", "state"):
        bud.add_column(col)
    for v in verdicts:
        group = ", ".join(f"{k}={val}" for k, val in v.group) or "-"
        bud.add_row(
            v.budget,
            group,
            f"{v.aggregation} {format_value(v.observed, v)}",
            format_thresholds(v).replace(", ", "; "),
            Text(
                v.status.label + (" (no data)" if v.missing else ""), style=STATUS_STYLE[v.status]
            ),
        )
    return Group(head, eps, bud)


def plain_line(elapsed: float, stats: LiveStats, verdicts: list[Verdict]) -> str:
    counts = {lvl.label: 0 for lvl in Level}
    counts["no data"] = 0
    for v in verdicts:
        counts["no data" if v.missing else v.status.label] += 1
    budgets = ", ".join(f"{n} {label}" for label, n in counts.items() if n)
    return (
        f"[{elapsed:6.1f}s] users={stats.users} rps={stats.rps:,.1f} "
        f"requests={stats.requests} failures={stats.failures} "
        + (f"dropped={stats.dropped} " if stats.dropped is not None else "")
        + f"budgets: {budgets or '-'}"
    )
