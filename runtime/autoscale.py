"""The queue-depth scaling signal: how many workers a queue wants, HPA-style.

    raw     = ceil(backlog / (throughput_per_worker * target_drain_seconds)), within [min, max]
    desired = raw, unless the exact ratio is within `tolerance` (10 %) of the current count
    scaling up follows the lowest recommendation of the last `scale_up_window` seconds,
    scaling down the highest of the last `scale_down_window` (300 s by default, like the HPA),
    so a metric that oscillates never makes the worker count flap.

Throughput per worker is measured from worker heartbeats (`processed` over time, averaged
over the live workers). Cold start (nothing measured yet): with a backlog, one more worker
per decision. Everything that decides is a pure function; `Autoscaler` does the I/O."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from runtime.errors import ConfigError
from runtime.heartbeat import Heartbeat, read_heartbeats
from runtime.keys import QueueKeys


@dataclass(frozen=True)
class ScalingPolicy:
    min_workers: int = 1
    max_workers: int = 10
    target_drain_seconds: float = 30.0
    scale_up_window: float = 0.0
    scale_down_window: float = 300.0
    tolerance: float = 0.1

    def __post_init__(self) -> None:
        if not 0 <= self.min_workers <= self.max_workers or self.max_workers < 1:
            raise ConfigError(
                f"autoscale {self.min_workers}:{self.max_workers}: need "
                "0 <= MIN <= MAX and MAX >= 1"
            )
        if self.target_drain_seconds <= 0:
            raise ConfigError("target drain time must be > 0 seconds")

    @classmethod
    def parse(cls, text: str, **kw: Any) -> ScalingPolicy:
        lo, sep, hi = text.partition(":")
        if not sep or not lo.strip().isdigit() or not hi.strip().isdigit():
            raise ConfigError(f"--autoscale {text!r}: expected MIN:MAX, e.g. 1:8")
        return cls(int(lo), int(hi), **kw)


def recommend(p: ScalingPolicy, backlog: int, per_worker_rate: float, current: int) -> int:
    """Pure: the raw recommendation for one observation."""
    if backlog <= 0:
        raw = p.min_workers
    elif per_worker_rate <= 0:
        raw = current + 1  # nothing measured yet: grow one step at a time
    else:
        exact = backlog / (per_worker_rate * p.target_drain_seconds)
        # Like the HPA, the tolerance applies to the usage ratio, before rounding up.
        raw = (
            current
            if current > 0 and abs(exact / current - 1) <= p.tolerance
            else (math.ceil(exact))
        )
    return max(p.min_workers, min(p.max_workers, raw))


@dataclass
class Stabilizer:
    """HPA's stabilisation windows over the recommendations (pure given explicit times)."""

    policy: ScalingPolicy
    history: deque[tuple[float, int]] = field(default_factory=deque)

    def decide(self, recommendation: int, current: int, now: float) -> int:
        self.history.append((now, recommendation))
        horizon = max(self.policy.scale_up_window, self.policy.scale_down_window)
        while self.history and self.history[0][0] < now - horizon:
            self.history.popleft()
        if recommendation > current:
            window = [r for t, r in self.history if t >= now - self.policy.scale_up_window]
            return max(current, min(window or [recommendation]))
        if recommendation < current:
            window = [r for t, r in self.history if t >= now - self.policy.scale_down_window]
            return min(current, max(window or [recommendation]))
        return current


@dataclass
class ThroughputMeter:
    """Jobs per second per live worker, from successive heartbeats."""

    _last: dict[str, tuple[float, int]] = field(default_factory=dict)
    rate: float = 0.0

    def update(self, beats: Sequence[Heartbeat], queue: str) -> float:
        rates = []
        seen = {}
        for b in beats:
            if queue not in b.queues:
                continue
            done = b.processed + b.failed
            seen[b.id] = (b.last_beat, done)
            prev = self._last.get(b.id)
            if prev is not None and b.last_beat > prev[0] and done >= prev[1]:
                rates.append((done - prev[1]) / (b.last_beat - prev[0]))
        self._last = seen
        if rates:
            self.rate = sum(rates) / len(rates)
        return self.rate


@dataclass
class Decision:
    desired: int
    recommendation: int
    backlog: int
    per_worker_rate: float
    workers: int


class Autoscaler:
    """Reads a queue's backlog and its workers' throughput from Redis and decides."""

    def __init__(
        self, client: Any, queue: str, policy: ScalingPolicy, clock: Callable[[], float] = time.time
    ) -> None:
        self.client = client
        self.keys = QueueKeys(queue)
        self.queue = queue
        self.policy = policy
        self.clock = clock
        self.meter = ThroughputMeter()
        self.stabilizer = Stabilizer(policy)
        self.last: Decision | None = None

    def decide(self, current: int | None = None) -> Decision:
        """`current`: the worker processes running now; None counts the live workers of the
        queue from their heartbeats (an exporter outside any supervisor)."""
        with self.client.pipeline(transaction=False) as pipe:
            pipe.zcard(self.keys.wait)
            pipe.zcard(self.keys.active)
            wait, active = pipe.execute()
        beats, _ = read_heartbeats(self.client)
        if current is None:
            current = sum(1 for b in beats if self.queue in b.queues and b.kind == "worker")
        rate = self.meter.update(beats, self.queue)
        backlog = int(wait) + int(active)
        rec = recommend(self.policy, backlog, rate, current)
        desired = self.stabilizer.decide(rec, current, self.clock())
        self.last = Decision(desired, rec, backlog, rate, current)
        return self.last


class AutoscaleCollector(Collector):
    """`castiel_queue_desired_workers{queue}` and its inputs, for KEDA or an HPA."""

    def __init__(self, autoscaler: Autoscaler) -> None:
        self.autoscaler = autoscaler

    def collect(self) -> Iterator[Metric]:
        d = self.autoscaler.last
        q = self.autoscaler.queue
        for name, doc, value in (
            (
                "castiel_queue_desired_workers",
                "Worker processes the queue wants (HPA formula, stabilised).",
                None if d is None else d.desired,
            ),
            (
                "castiel_queue_throughput_per_worker",
                "Jobs per second per worker, measured from heartbeats.",
                None if d is None else d.per_worker_rate,
            ),
            (
                "castiel_queue_backlog_jobs",
                "Waiting plus active jobs.",
                None if d is None else d.backlog,
            ),
        ):
            family = GaugeMetricFamily(name, doc, labels=["queue"])
            if value is not None:
                family.add_metric([q], float(value))
            yield family
