"""The monitor loop of a run: collect → store → evaluate → alerts. One tick a second.

It runs inside `castiel run` (with a Locust stream) and `castiel monitor` (without). Budgets
are evaluated live over everything collected so far; a verdict at level `abort` stops the
load test. The collected data is also kept in memory (`SeriesAccumulator`) so the live
evaluation never re-reads the store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from alerts.engine import AlertEngine
from budgets.evaluate import evaluate
from budgets.evidence import ImpossibleEvidence
from budgets.model import Budget, Level
from budgets.reports.report import format_breach
from budgets.verdict import Verdict
from collectors.base import Collector, collect_all
from collectors.model import (
    Batch,
    HistogramPoint,
    MetricKind,
    Point,
    RunInfo,
    SeriesData,
    SeriesKey,
)
from collectors.store import Store, VerdictRecord
from collectors.store_buffer import DEFAULT_MAX_OUTAGE, RunWriter
from loadtest.stream import LocustStream


@dataclass
class _Series:
    kind: MetricKind
    points: list[Point] = field(default_factory=list)
    histograms: list[HistogramPoint] = field(default_factory=list)


class SeriesAccumulator:
    """Everything collected in this run, as the evaluator reads it."""

    def __init__(self) -> None:
        self._series: dict[SeriesKey, _Series] = {}
        self._snapshot: list[SeriesData] | None = None

    def add(self, batch: Batch) -> None:
        self._snapshot = None
        for s in batch.scalars:
            self._series.setdefault(s.key, _Series(s.kind)).points.append(s.point)
        for h in batch.histograms:
            self._series.setdefault(h.key, _Series(MetricKind.HISTOGRAM)).histograms.append(h.point)

    def snapshot(self) -> list[SeriesData]:
        """Built once per change: the evaluator and the live view share it."""
        if self._snapshot is None:
            self._snapshot = [
                SeriesData(k, s.kind, tuple(s.points), tuple(s.histograms))
                for k, s in self._series.items()
            ]
        return self._snapshot

    def __len__(self) -> int:
        return len(self._series)


def verdict_record(v: Verdict, now: float) -> VerdictRecord:
    """A verdict as the store keeps it (the store does not interpret verdicts), with its trace
    (at most budgets.evaluate.TRACE_POINTS points): the dashboard charts what was judged."""
    return VerdictRecord(
        budget=v.budget,
        group=dict(v.group),
        status=v.status.label,
        payload=v.to_json(with_trace=True),
        evaluated_at=now,
    )


def abort_reason(verdicts: Sequence[Verdict]) -> str | None:
    """Pure: why the run must stop now, or None."""
    hits = [v for v in verdicts if v.status is Level.ABORT]
    if not hits:
        return None
    v = hits[0]
    group = ", ".join(f"{k}={val}" for k, val in v.group)
    where = f" [{group}]" if group else ""
    return f"budget {v.budget!r}{where} reached its abort threshold: {format_breach(v)}"


@dataclass
class TickResult:
    now: float
    samples: int
    verdicts: list[Verdict]
    errors: dict[str, str]
    abort: str | None
    store_error: str | None = None
    """The store is unavailable: what it said. The tick's data waits in memory (`backlog`)."""
    backlog: int = 0


@dataclass
class Monitor:
    store: Store
    run: RunInfo
    budgets: Sequence[Budget]
    collectors: Sequence[Collector] = ()
    locust: LocustStream | None = None
    on_verdicts: Callable[[list[Verdict], float], None] | None = None
    alerts: AlertEngine | None = None
    """Gets every evaluation (budget verdicts, and its own rules over the same series)."""
    evaluate_every: float = 1.0
    series: SeriesAccumulator = field(default_factory=SeriesAccumulator)
    last_verdicts: list[Verdict] = field(default_factory=list)
    refused: str | None = None
    """Why the evaluator refused the evidence (budgets/evidence.py); the run stops."""
    max_store_outage: float = DEFAULT_MAX_OUTAGE
    """How long the store may be unavailable before the run fails (StoreUnavailable)."""
    _last_eval: float = 0.0

    def __post_init__(self) -> None:
        # Every write of the run goes through one writer that keeps it while the store is
        # away (collectors.store_buffer): the evaluation goes on from memory meanwhile.
        self.writer = RunWriter(self.store, self.run.id, self.max_store_outage)

    def tick(self, now: float) -> TickResult:
        batch = Batch()
        if self.locust is not None:
            batch.extend(self.locust.poll())
            self._record_phases()
        collected = collect_all(self.collectors, now)
        batch.extend(collected.batch)
        if len(batch):
            self.series.add(batch)
        self.writer.write(batch)
        if now - self._last_eval >= self.evaluate_every and self.refused is None:
            self._last_eval = now
            try:
                self.last_verdicts = evaluate(
                    self.budgets, self.series.snapshot(), self.live_run(), now=now
                )
            except ImpossibleEvidence as exc:
                # No verdict from impossible data: stop the load; the gate reports it (exit 3).
                self.refused = str(exc)
                self.last_verdicts = []
                self.writer.record_live_verdicts([])
            else:
                self._publish(now)
        return TickResult(
            now,
            len(batch),
            self.last_verdicts,
            collected.errors,
            self.refused or abort_reason(self.last_verdicts),
            self.writer.last_error,
            self.writer.backlog,
        )

    def finish(self, ended_at: float, status: str) -> None:
        """Close the run once everything collected is written: waits for an unavailable
        store for what is left of `max_store_outage`, then raises StoreUnavailable."""
        self.writer.finish(ended_at, status)
        self.writer.drain()

    def _publish(self, now: float) -> None:
        # The dashboard's live page reads these; `castiel check` records its own.
        self.writer.record_live_verdicts([verdict_record(v, now) for v in self.last_verdicts])
        if self.on_verdicts is not None:
            self.on_verdicts(self.last_verdicts, now)
        if self.alerts is not None:
            # One short SQLite write; sending happens in the engine's own thread.
            self.alerts.evaluate(self.last_verdicts, self.series.snapshot(), self.live_run(), now)

    def _record_phases(self) -> None:
        assert self.locust is not None
        spawned = self.locust.phases.spawning_complete
        if spawned is not None and "spawning_complete" not in self.run.phases:
            self.writer.set_phase("spawning_complete", spawned)
            self.run = replace(self.run, phases={**self.run.phases, "spawning_complete": spawned})

    def live_run(self) -> RunInfo:
        """The run as the evaluator should see it while it is still going."""
        return replace(self.run, ended_at=None)
