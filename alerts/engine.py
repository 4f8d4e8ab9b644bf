"""The alert engine a monitor embeds: evaluations in, notifications into the durable outbox,
a delivery worker sending them in the background. The deciding is `alerts.pipeline.tick`
(pure); this class holds its state between ticks and does the I/O.

    engine = AlertEngine.open(config, store_path=".castiel/castiel.db", run_id=run.id,
                              registry=registry)   # or a postgresql:// URL
    engine.evaluate(verdicts, series, run, now)   # every monitor tick (budgets + rules)
    ...
    engine.end_run("fail")   # resolves every alert with the run's verdict attached
    engine.close(drain=10)   # give the outbox up to 10 s; what is left is sent next start

Each tick is one short transaction in the store (SQLite or PostgreSQL): the new notifications
go into the outbox, the state transitions into `alert_events` (alerts.history) and the
engine's state into `alert_engine_state` (alerts.snapshot), so a restarted `castiel monitor` with a
`deployment` name carries on without paging twice, and the alerts of a run whose process was
killed are resolved by the next engine that opens the store (`adopt_orphans`). Sending happens
in the worker's thread: the monitor never waits for a network.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

from prometheus_client import CollectorRegistry

from alerts import snapshot
from alerts.channels.base import HttpClient, HttpxClient
from alerts.config import AlertsConfig
from alerts.db import AlertsDB, AlertsDBError, StoreLike, prune
from alerts.delivery import DeliveryWorker
from alerts.from_verdicts import alert_inputs
from alerts.history import AlertEvent, insert_events
from alerts.metrics import AlertMetrics
from alerts.model import AlertInput
from alerts.outbox import Outbox, insert_notification
from alerts.pipeline import EngineState, TickResult, tick
from alerts.rules import evaluate_rules
from alerts.silences import SilenceStore, SqlSilenceStore
from budgets.verdict import Verdict
from collectors.model import RunInfo, SeriesData

log = logging.getLogger(__name__)


def events_of(result: TickResult, at: float, run_id: str, scope: str) -> list[AlertEvent]:
    """Pure: the history events of one tick's transitions."""
    out = []
    for t in result.transitions:
        rec = t.record
        ev = rec.evidence
        out.append(
            AlertEvent(
                at=at,
                dedup_key=rec.key.dedup_key,
                name=rec.key.rule,
                severity=ev.severity,
                labels=dict(rec.labels),
                group=dict(rec.key.group),
                state=rec.status.state.value,
                value=ev.observed,
                threshold=ev.threshold,
                run_id=ev.run or run_id,
                summary=ev.summary(),
                kind=ev.kind,
                level=rec.key.level,
                scope=scope,
                run_verdict=ev.run_verdict,
                suppressed=result.suppressed.get(rec.key.dedup_key, ""),
                previous=t.previous.value,
            )
        )
    return out


class AlertEngine:
    def __init__(
        self,
        config: AlertsConfig,
        outbox: Outbox,
        silences: SilenceStore,
        *,
        run_id: str,
        worker: DeliveryWorker | None = None,
        state: EngineState | None = None,
    ) -> None:
        self.config = config
        self.outbox = outbox
        self.silences = silences
        self.run_id = run_id
        self.scope = config.deployment or run_id
        self.worker = worker
        self.state = state or EngineState()
        self.last: TickResult | None = None
        self._saved = snapshot.dumps(self.state)
        self._saved_at: float | None = None
        self._ended = False

    @property
    def db(self) -> AlertsDB:
        return self.outbox.db

    @classmethod
    def open(
        cls,
        config: AlertsConfig,
        *,
        store_path: StoreLike,
        run_id: str,
        registry: CollectorRegistry | None = None,
        metrics: AlertMetrics | None = None,
        http: HttpClient | None = None,
        env: Mapping[str, str] | None = None,
        start: bool = True,
    ) -> AlertEngine:
        """Wire an engine to the alert tables of the store at `store_path` (a SQLite path or
        a `postgresql://` URL); a `deployment` scope picks up the state its previous monitor
        left. Raises AlertsDBError."""
        db = AlertsDB.open(store_path)
        try:
            prune(db, time.time())
            outbox = Outbox(db)
            if metrics is None:
                metrics = AlertMetrics(registry or CollectorRegistry())
            worker = DeliveryWorker(outbox, config, http or HttpxClient(), metrics, env=env)
            scope = config.deployment or run_id
            engine = cls(
                config,
                outbox,
                SqlSilenceStore(db),
                run_id=run_id,
                worker=worker,
                state=snapshot.load(db, scope),
            )
            engine.adopt_orphans(time.time())
            pending = outbox.next_due_at(config.receivers)
        except BaseException:
            db.close()
            raise
        if pending is not None:
            log.info("alerts: notifications left by a previous monitor will be sent now")
        if start:
            worker.start()
        return engine

    def observe(self, inputs: Sequence[AlertInput], now: float | None = None) -> TickResult:
        at = time.time() if now is None else now
        return self._tick(inputs, at, None)

    def on_verdicts(self, verdicts: list[Verdict], now: float) -> None:
        """Signature of `Monitor.on_verdicts` (budgets only; `evaluate` adds rules)."""
        self.observe(alert_inputs(verdicts, self.run_id), now)

    def evaluate(
        self, verdicts: Sequence[Verdict], series: Sequence[SeriesData], run: RunInfo, now: float
    ) -> TickResult:
        """Budget verdicts plus the config's standalone rules over the same series."""
        inputs = alert_inputs(verdicts, self.run_id) + evaluate_rules(
            self.config.rules, series, run, now
        )
        return self.observe(inputs, now)

    @property
    def run_scoped(self) -> bool:
        """The alerts end with the run (no `deployment` name)."""
        return not self.config.deployment

    def adopt_orphans(self, now: float) -> int:
        """Resolve the alerts of runs whose process died without ending them (their state
        was not refreshed for snapshot.ORPHAN_AFTER), with `run_verdict: abandoned`, through
        this engine's config. Returns how many alerts were resolved."""
        silences = self.silences.list(now)
        count = 0
        with self.db.write() as c:
            for scope, state in snapshot.take_orphans(c, now, keep=self.scope):
                result = tick(
                    self.config, state, [], silences, now, scope=scope, run_verdict="abandoned"
                )
                for n in result.notifications:
                    insert_notification(c, n, now)
                events = events_of(result, now, scope, scope)
                insert_events(c, events)
                resolved = sum(e.state == "resolved" for e in events)
                count += resolved
                log.warning(
                    "alerts: run %s stopped without ending; resolved its %d alert(s)",
                    scope,
                    resolved,
                )
        return count

    def end_run(self, verdict: str, now: float | None = None) -> TickResult:
        """Resolve every alert of this run, with the run's verdict attached, and flush every
        group now. Once only; later calls return an empty result."""
        at = time.time() if now is None else now
        if self._ended:
            return TickResult(self.state, (), {})
        self._ended = True
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
        events = events_of(result, now, self.run_id, self.scope)
        saved = snapshot.dumps(result.state)
        # Saved when it changed, and at least every HEARTBEAT seconds: a row that stops being
        # refreshed tells the next engine that this process died (snapshot.take_orphans).
        save = (
            saved != self._saved
            or self._saved_at is None
            or now - self._saved_at >= snapshot.HEARTBEAT
        )
        ended = verdict is not None and self.run_scoped
        if result.notifications or events or save or ended:
            try:
                with self.db.write() as c:
                    for n in result.notifications:
                        insert_notification(c, n, now)
                    insert_events(c, events)
                    if ended:
                        snapshot.delete(c, self.scope)  # nothing is left to carry on
                    elif save:
                        snapshot.save(c, self.scope, saved, now, self.run_scoped)
            except AlertsDBError as exc:
                # Keep the previous state: the next tick makes the same decisions again, so
                # nothing is lost while the store is locked; the monitor carries on.
                log.warning("alerts: could not record this tick (%s); retrying next tick", exc)
                return result
            self._saved, self._saved_at = saved, now
        self.state = result.state
        if result.notifications and self.worker is not None:
            self.worker.wake()
        self.last = result
        return result

    def finish(self, verdict: str, drain: float) -> int:
        """`end_run(verdict)`, then `close(drain)`: what a run does when it is over."""
        try:
            self.end_run(verdict)
        except AlertsDBError as exc:
            log.warning("alerts: could not resolve this run's alerts (%s)", exc)
        return self.close(drain)

    def close(self, drain: float = 0.0) -> int:
        """Stop delivering (after up to `drain` seconds for what is due); returns how many
        notifications are still waiting in the outbox for the next monitor."""
        if self.worker is not None:
            self.worker.stop(drain=drain)
        left = sum(i.receiver in self.config.receivers for i in self.outbox.items("pending"))
        self.db.close()
        return left
