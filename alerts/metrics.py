"""Alert delivery metrics on an injected CollectorRegistry (never the global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class AlertMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.notifications = Counter(
            "castiel_alert_notifications",
            "Notification delivery attempts by receiver and outcome "
            "(delivered, retry, failed, fallback).",
            ["receiver", "outcome"],
            registry=registry,
        )

    def attempt(self, receiver: str, outcome: str) -> None:
        self.notifications.labels(receiver=receiver, outcome=outcome).inc()
