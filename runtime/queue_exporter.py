"""A small exporter of one queue's scaling signal and depth, for KEDA or an HPA
(`castiel queue metrics QUEUE --port P`): `castiel_queue_desired_workers`,
`castiel_queue_backlog_jobs`, `castiel_queue_throughput_per_worker` and
`castiel_queue_jobs{state}`. It decides every `interval` seconds, as the `--autoscale`
supervisor does, but counts the workers from their heartbeats wherever they run."""

from __future__ import annotations

import logging
import threading
from typing import Any

from prometheus_client import CollectorRegistry

from runtime.autoscale import AutoscaleCollector, Autoscaler, ScalingPolicy
from runtime.errors import ConfigError
from runtime.metrics import QueueDepthCollector, serve_metrics
from runtime.redis_outage import REDIS_FAILED, OutageTracker

log = logging.getLogger("castiel.exporter")


class QueueExporter:
    """`start()` binds the port (ConfigError when it cannot), `run(stop)` decides until
    `stop` is set, then shuts the server down."""

    def __init__(
        self,
        client: Any,
        queue: str,
        policy: ScalingPolicy,
        *,
        port: int,
        addr: str = "127.0.0.1",
        interval: float = 2.0,
    ) -> None:
        if interval <= 0:
            raise ConfigError(f"the decision interval must be > 0 seconds, got {interval:g}")
        self.autoscaler = Autoscaler(client, queue, policy)
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(AutoscaleCollector(self.autoscaler))
        self.registry.register(QueueDepthCollector(client, [queue]))
        self.addr, self.port, self.interval = addr, port, interval

    def start(self) -> int:
        """Serve /metrics; returns the bound port."""
        try:
            self._server, _, self.port = serve_metrics(self.registry, self.port, self.addr)
        except OSError as exc:
            raise ConfigError(
                f"cannot serve metrics on {self.addr}:{self.port}: {exc.strerror or exc}"
            ) from None
        return self.port

    def run(self, stop: threading.Event) -> None:
        outage = OutageTracker("queue metrics", lambda: None, logger=log)
        try:
            while not stop.is_set():
                try:
                    self.autoscaler.decide()
                    outage.ok()
                except REDIS_FAILED as exc:  # keep serving the last decision meanwhile
                    outage.failed(exc)
                stop.wait(self.interval)
        finally:
            self._server.shutdown()
