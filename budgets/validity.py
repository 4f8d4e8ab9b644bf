"""Can this run's numbers be trusted at all? A pure check of the run's load-generator series,
beside the budgets' verdicts. When it cannot, a run that would have passed is INCONCLUSIVE
(exit code 4) with the reasons:

* **The load generator was saturated.** Locust measures latency on its own event loop; a
  Locust process above `CPU_LIMIT` % of a core queues its own requests, so its latencies and
  throughput describe Locust, not the service. Saturated: more than `SATURATED_SHARE` of a
  process's readings after ramp-up above the limit (and at least two of them).
* **Too few requests.** Fewer requests were sent than the budgets over request metrics need
  (their largest `min_samples`): the run could not have judged them.
* **An arrival rate fell short.** An open-model (arrival-rate) run reports the rate it aimed
  at (`castiel_loadgen_target_rate`); each iteration its plan asked for was either started
  (`castiel_loadgen_iterations_total`) or dropped for want of a free user
  (`castiel_loadgen_dropped_iterations_total`). Fewer than `1 - RATE_TOLERANCE` of them
  started: the run could not send its load and measured a different test. (Past a saturation
  knee the shortfall is the service's capacity, not the generator's: the gate says so
  instead, `Validity.without`.)

A failed budget still fails (exit 1): the check withholds a PASS, it never hides a FAIL; the
reasons are reported beside it either way.

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
DROPPED = "castiel_loadgen_dropped_iterations_total"
TARGET_RATE = "castiel_loadgen_target_rate"
SERIES = (CPU, REQUESTS, STARTED, DROPPED, TARGET_RATE)
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

    def without(self, problem: Problem) -> tuple[Validity, tuple[Reason, ...]]:
        """This validity less the reasons of one kind (explained elsewhere), and those."""
        gone = tuple(r for r in self.reasons if r.problem is problem)
        return Validity(tuple(r for r in self.reasons if r.problem is not problem)), gone


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
    """Every iteration the plan asked for was either started or dropped (no free user), so
    the share started is exact; a run that reports no target rate is a closed loop."""
    if not any(t.kind is MetricKind.GAUGE for t in by_name.get(TARGET_RATE, [])):
        return []

    def total(name: str) -> float:
        return sum(p.value for s in by_name.get(name, []) for p in s.points if p.timestamp <= t1)

    started, dropped = total(STARTED), total(DROPPED)
    planned = started + dropped
    if planned <= 0 or started >= (1.0 - RATE_TOLERANCE) * planned:
        return []
    return [
        Reason(
            Problem.RATE_SHORT,
            started / planned,
            1.0 - RATE_TOLERANCE,
            f"started {started:.0f} of the {planned:.0f} iterations the arrival rate planned "
            f"({started / planned:.0%}; {dropped:.0f} dropped because no user was free): the "
            "load generator could not keep the rate (more users: --max-users, or more Locust "
            "processes)",
        )
    ]
