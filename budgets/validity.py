"""Can this run's numbers be trusted at all? A pure check of the run's load-generator series,
beside the budgets' verdicts. When it cannot, the run is INCONCLUSIVE (exit code 4) with the
reasons, whatever the budgets said:

* **The load generator was saturated.** Locust measures latency on its own event loop; a
  Locust process above `CPU_LIMIT` % of a core queues its own requests, so its latencies and
  throughput describe Locust, not the service. Saturated: more than `SATURATED_SHARE` of a
  process's readings after ramp-up above the limit (and at least two of them).
* **Too few requests.** Fewer requests were sent than the budgets over request metrics need
  (their largest `min_samples`): the run could not have judged them.
* **An arrival rate fell short.** When the run is an open-model (arrival-rate) run, it
  reports the rate it aimed at (`castiel_loadgen_target_rate`, iterations per second) and the
  iterations it started (`castiel_loadgen_iterations_total`); the achieved rate over the same
  span must reach `1 - RATE_TOLERANCE` of the target: an open-model run that could not send
  its load (dropped iterations) measured a different test.

Evidence that cannot be right is refused elsewhere (`budgets.evidence`), with an error, not a
verdict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from budgets.model import Budget
from collectors.model import MetricKind, RunInfo, SeriesData

CPU = "locust_cpu_percent"
REQUESTS = "locust_requests_total"
STARTED = "castiel_loadgen_iterations_total"
TARGET_RATE = "castiel_loadgen_target_rate"
SERIES = (CPU, REQUESTS, STARTED, TARGET_RATE)
"""The series this check reads (the gate loads them beside the budgets')."""

CPU_LIMIT = 90.0
SATURATED_SHARE = 0.10
RATE_TOLERANCE = 0.05
REQUEST_METRICS = (
    "locust_request",
    "locust_requests_total",
    "locust_failures_total",
    "locust_response",
    "castiel_http_request",
)
"""Budgets over these metrics are judged from the requests the load generator sent."""


class Problem(StrEnum):
    SATURATED = "load generator saturated"
    TOO_FEW_REQUESTS = "too few requests"
    RATE_SHORT = "arrival rate short of target"


@dataclass(frozen=True)
class Reason:
    """Why the run is inconclusive, with its numbers."""

    problem: Problem
    observed: float
    limit: float
    detail: str

    def __str__(self) -> str:
        return f"{self.problem.value}: {self.detail}"


@dataclass(frozen=True)
class Validity:
    reasons: tuple[Reason, ...] = ()

    @property
    def inconclusive(self) -> bool:
        return bool(self.reasons)


def assess(run: RunInfo, series: Sequence[SeriesData], budgets: Sequence[Budget]) -> Validity:
    """The run's validity from its load-generator series (others are ignored)."""
    t0 = run.phases.get("spawning_complete", run.started_at)
    t1 = run.ended_at if run.ended_at is not None else math.inf
    by_name: dict[str, list[SeriesData]] = {}
    for s in series:
        by_name.setdefault(s.key.name, []).append(s)
    reasons = [
        *_saturation(by_name.get(CPU, []), t0, t1),
        *_too_few(by_name.get(REQUESTS, []), budgets),
        *_rate_short(by_name, t0, t1),
    ]
    return Validity(tuple(reasons))


def _saturation(cpu: list[SeriesData], t0: float, t1: float) -> list[Reason]:
    out = []
    for s in cpu:
        readings = [p.value for p in s.points if t0 < p.timestamp <= t1]
        hot = [v for v in readings if v > CPU_LIMIT]
        if len(hot) >= 2 and len(hot) > SATURATED_SHARE * len(readings):
            process = s.key.label("process") or "locust"
            out.append(
                Reason(
                    Problem.SATURATED,
                    max(hot),
                    CPU_LIMIT,
                    f"Locust process {process} used more than {CPU_LIMIT:g}% of a core in "
                    f"{len(hot)} of {len(readings)} readings after ramp-up (up to "
                    f"{max(hot):.0f}%); its latencies include its own queueing. Add Locust "
                    "processes (--processes) or lower the load",
                )
            )
    return out


def _too_few(requests: list[SeriesData], budgets: Sequence[Budget]) -> list[Reason]:
    if not requests:
        return []  # no load generator in this run (castiel monitor): nothing to judge
    needs = [
        (b.min_samples, b.name)
        for b in budgets
        if b.selector.name.pattern.startswith(REQUEST_METRICS)
    ]
    if not needs:
        return []
    need, name = max(needs)
    sent = sum(p.value for s in requests for p in s.points)
    if sent >= need:
        return []
    return [
        Reason(
            Problem.TOO_FEW_REQUESTS,
            sent,
            float(need),
            f"the run sent {sent:.0f} requests; budget {name!r} needs min_samples {need}. "
            "Run longer or with more users",
        )
    ]


def _rate_short(by_name: dict[str, list[SeriesData]], t0: float, t1: float) -> list[Reason]:
    out = []
    for target in by_name.get(TARGET_RATE, []):
        if target.kind is not MetricKind.GAUGE:
            continue
        readings = [p.value for p in target.points if t0 < p.timestamp <= t1]
        if not readings:
            continue
        points = [p for s in by_name.get(STARTED, []) for p in s.points if t0 < p.timestamp <= t1]
        ends = [p.timestamp for p in target.points if t0 < p.timestamp <= t1]
        span = max(ends) - t0 if ends else 0.0
        if span <= 0:
            continue
        wanted = sum(readings) / len(readings)
        achieved = sum(p.value for p in points) / span
        if achieved < (1.0 - RATE_TOLERANCE) * wanted:
            out.append(
                Reason(
                    Problem.RATE_SHORT,
                    achieved,
                    wanted,
                    f"achieved {achieved:.4g} iterations/s of the {wanted:.4g}/s targeted "
                    f"({achieved / wanted:.0%}): the load generator could not keep up "
                    "(more Locust processes or users)",
                )
            )
    return out
