"""What a long-running `castiel monitor` tells Prometheus about itself: every budget's current
status and observed value, and that the loop is alive. Teams that already page from
Prometheus can alert on Castiel's verdicts, or on a monitor that stopped ticking, without
reading the store. Gauges live on an injected registry, never the global one."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge

from budgets.verdict import Verdict


def group_label(group: Sequence[tuple[str, str]]) -> str:
    """A budget's group as one label value: `route=/orders,status=200` ("" when ungrouped).
    Group labels differ per budget, and a metric's label names must not."""
    return ",".join(f"{k}={v}" for k, v in group)


class MonitorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.status = Gauge(
            "castiel_budget_status",
            "Current status of a budget and group: 0 pass, 1 warn, 2 fail, 3 abort.",
            ["budget", "group"],
            registry=registry,
        )
        self.observed = Gauge(
            "castiel_budget_observed",
            "The budget's aggregation as last evaluated (absent while it has no data).",
            ["budget", "group"],
            registry=registry,
        )
        self.ticks = Counter("castiel_monitor_ticks", "Monitor loop iterations.", registry=registry)
        self.last_tick = Gauge(
            "castiel_monitor_last_tick_timestamp_seconds",
            "Unix time of the monitor's last tick; alert when it stops moving.",
            registry=registry,
        )

    def update(self, verdicts: Sequence[Verdict], now: float) -> None:
        self.ticks.inc()
        self.last_tick.set(now)
        if not verdicts:
            return  # between evaluations: keep the last ones rather than blank them
        # Groups come and go (an endpoint stops being called): start from a clean slate.
        self.status.clear()
        self.observed.clear()
        for v in verdicts:
            labels = (v.budget, group_label(v.group))
            self.status.labels(*labels).set(v.status.value)
            if v.observed is not None and not v.missing:
                self.observed.labels(*labels).set(v.observed)
