"""The alert engine a monitor embeds: evaluations in, notifications into the durable outbox,
a delivery worker sending them in the background. The deciding is `alerts.pipeline.tick`
(pure); this class holds its state between ticks and does the I/O.

    engine = AlertEngine.open(config, store_path=".castiel/castiel.db", run_id=run.id,
                              registry=registry)
    monitor = Monitor(..., on_verdicts=engine.on_verdicts)
    ...
    engine.end_run("fail")   # resolves every alert with the run's verdict attached
    engine.close(drain=10)
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry

from alerts.channels.base import HttpClient, HttpxClient
from alerts.config import AlertsConfig
from alerts.db import AlertsDB, db_path_for
from alerts.delivery import DeliveryWorker, Outbox
from alerts.from_verdicts import alert_inputs
from alerts.metrics import AlertMetrics
from alerts.model import AlertInput
from alerts.pipeline import EngineState, TickResult, tick
from alerts.rules import evaluate_rules
from alerts.silences import SilenceStore, SqliteSilenceStore
from budgets.verdict import Verdict
from collectors.model import RunInfo, SeriesData


class AlertEngine:
    def __init__(
        self,
        config: AlertsConfig,
        outbox: Outbox,
        silences: SilenceStore,
        *,
        run_id: str,
        worker: DeliveryWorker | None = None,
    ) -> None:
        self.config = config
        self.outbox = outbox
        self.silences = silences
        self.run_id = run_id
        self.scope = config.deployment or run_id
        self.worker = worker
        self.state = EngineState()
        self.last: TickResult | None = None

    @classmethod
    def open(
        cls,
        config: AlertsConfig,
        *,
        store_path: str | os.PathLike[str],
        run_id: str,
        registry: CollectorRegistry,
        http: HttpClient | None = None,
        env: Mapping[str, str] | None = None,
        start: bool = True,
    ) -> AlertEngine:
        """Wire an engine to the alerts database beside the metrics store at `store_path`."""
        db = AlertsDB.open(db_path_for(Path(store_path)))
        outbox = Outbox(db)
        worker = DeliveryWorker(
            outbox, config, http or HttpxClient(), AlertMetrics(registry), env=env
        )
        engine = cls(config, outbox, SqliteSilenceStore(db), run_id=run_id, worker=worker)
        if start:
            worker.start()
        return engine

    def observe(self, inputs: Sequence[AlertInput], now: float | None = None) -> TickResult:
        at = time.time() if now is None else now
        return self._tick(inputs, at, None)

    def on_verdicts(self, verdicts: list[Verdict], now: float) -> None:
        """Signature of `Monitor.on_verdicts`."""
        self.observe(alert_inputs(verdicts, self.run_id), now)

    def evaluate(
        self, verdicts: Sequence[Verdict], series: Sequence[SeriesData], run: RunInfo, now: float
    ) -> TickResult:
        """Budget verdicts plus the config's standalone rules over the same series."""
        inputs = alert_inputs(verdicts, self.run_id) + evaluate_rules(
            self.config.rules, series, run, now
        )
        return self.observe(inputs, now)

    def end_run(self, verdict: str, now: float | None = None) -> TickResult:
        at = time.time() if now is None else now
        return self._tick([], at, verdict)

    def _tick(self, inputs: Sequence[AlertInput], now: float, verdict: str | None) -> TickResult:
        result = tick(
            self.config,
            self.state,
            inputs,
            self.silences.list(now),
            now,
            scope=self.scope,
            run_verdict=verdict,
        )
        self.state = result.state
        for n in result.notifications:
            self.outbox.enqueue(n, now)
        if result.notifications and self.worker is not None:
            self.worker.wake()
        self.last = result
        return result

    def close(self, drain: float = 0.0) -> None:
        if self.worker is not None:
            self.worker.stop(drain=drain)
        self.outbox.db.close()
