"""Alert delivery metrics: `castiel_alert_notifications_total{receiver,outcome}` (outcome:
delivered, retry, failed, fallback) on an injected CollectorRegistry (never the global one).

`AlertMetrics` is also a collector (collectors.base): the monitor loop collects it like any
other source, so the counter's increments land in the store as a series of the run, where the
dashboard charts them and a budget can even watch them."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter

from collectors.model import Batch, SeriesKey

METRIC = "castiel_alert_notifications_total"


class AlertMetrics:
    name = "alerts"

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.notifications = Counter(
            "castiel_alert_notifications",
            "Notification delivery attempts by receiver and outcome "
            "(delivered, retry, failed, fallback).",
            ["receiver", "outcome"],
            registry=registry if registry is not None else CollectorRegistry(),
        )
        self._lock = threading.Lock()
        self._unreported: dict[tuple[str, str], float] = {}

    def attempt(self, receiver: str, outcome: str) -> None:
        """Called from the delivery thread."""
        self.notifications.labels(receiver=receiver, outcome=outcome).inc()
        with self._lock:
            key = (receiver, outcome)
            self._unreported[key] = self._unreported.get(key, 0.0) + 1.0

    def collect(self, now: float) -> Batch:
        """Increments since the previous call (collectors.base contract)."""
        with self._lock:
            taken, self._unreported = self._unreported, {}
        batch = Batch()
        for (receiver, outcome), n in sorted(taken.items()):
            batch.add_increment(
                SeriesKey.of(METRIC, {"receiver": receiver, "outcome": outcome}), now, n
            )
        return batch
