"""The saturation knee of a stepped or ramped run: the offered load at which throughput stops
following it while latency rises. Pure functions of a run's series.

Offered load is the arrival-rate plan's target (iterations/s) when the run has one, else
the number of users. The run is cut into *steps*: holds (the offered load constant for at
least `min_seconds`; their first `settle` fraction is skipped as transient) and, for plain
ramps, consecutive windows of `min_seconds`. A constant-load run has one step and no knee.

For each step: throughput (completed requests/s), p95 latency (from the step's merged
histograms), and how well throughput follows the offered load, relative to the first step:
`follow = (throughput / offered) / best (throughput / offered) of the earlier steps` (1.0 = it
scales exactly; the earlier steps fix the requests-per-iteration or per-user ratio). The knee
is the first step where `follow < threshold` in its total and in at least half of its seconds
(sustained), while its p95 is `latency_rise` times the lowest earlier p95 or more. Its
evidence is every step's numbers."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from collectors.model import Histogram, MetricKind, SeriesData, merge_histograms


@dataclass(frozen=True)
class KneeMetrics:
    """The series `castiel run` records (loadtest/stream.py writes them; a test keeps the two
    in step)."""

    target_rate: str = "castiel_loadgen_target_rate"
    users: str = "locust_users"
    requests: str = "locust_requests_total"
    latency: str = "locust_request_duration_seconds"


@dataclass(frozen=True)
class Step:
    offered: float
    start: float  # the measured part (after settling), wall-clock seconds
    end: float
    throughput: float  # requests/s
    p95: float | None  # seconds
    follow: float  # throughput/offered relative to the best earlier step
    below: float  # fraction of the step's seconds whose own follow ratio was < threshold

    def to_json(self) -> dict[str, Any]:
        return {
            "offered": self.offered,
            "start": self.start,
            "end": self.end,
            "throughput": self.throughput,
            "p95": self.p95,
            "follow": self.follow,
            "below": self.below,
        }


@dataclass(frozen=True)
class Knee:
    offered: float  # the load at which throughput stopped following
    sustained_offered: float  # the last step that still followed
    sustained_throughput: float  # its throughput: the maximum sustainable (requests/s)
    follow: float
    p95_before: float  # the lowest p95 of the steps before
    p95_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "offered": self.offered,
            "sustained_offered": self.sustained_offered,
            "sustained_throughput": self.sustained_throughput,
            "follow": self.follow,
            "p95_before": self.p95_before,
            "p95_at": self.p95_at,
        }


@dataclass(frozen=True)
class Saturation:
    """A stepped or ramped run's steps, and its knee if it has one."""

    unit: str  # of the offered load: "iterations/s" or "users"
    steps: tuple[Step, ...]
    knee: Knee | None
    threshold: float
    latency_rise: float

    @property
    def peak_throughput(self) -> float:
        return max(s.throughput for s in self.steps)

    def describe(self) -> str:
        k, u = self.knee, self.unit
        if k is None:
            return (
                f"no knee: throughput followed every step up to {self.steps[-1].offered:g} "
                f"{u} (peak {self.peak_throughput:.4g} req/s)"
            )
        return (
            f"throughput stopped following the offered load at {k.offered:g} {u} "
            f"({k.follow:.0%} of it, below {self.threshold:.0%}) while p95 rose from "
            f"{k.p95_before * 1000:.4g} ms to {k.p95_at * 1000:.4g} ms; the last step that kept "
            f"up ({k.sustained_offered:g} {u}) carried {k.sustained_throughput:.4g} req/s "
            f"(peak {self.peak_throughput:.4g} req/s)"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "knee": self.knee.to_json() if self.knee else None,
            "peak_throughput": self.peak_throughput,
            "threshold": self.threshold,
            "latency_rise": self.latency_rise,
            "description": self.describe(),
            "steps": [s.to_json() for s in self.steps],
        }


def _points(series: Sequence[SeriesData], name: str) -> list[tuple[float, float]]:
    """Every point of the series named `name`, summed per timestamp, in time order."""
    acc: dict[float, float] = {}
    for s in series:
        if s.key.name == name and s.kind is not MetricKind.HISTOGRAM:
            for p in s.points:
                acc[p.timestamp] = acc.get(p.timestamp, 0.0) + p.value
    return sorted(acc.items())


def segments(
    offered: Sequence[tuple[float, float]], min_seconds: int = 4, settle: float = 0.25
) -> list[tuple[float, list[float]]]:
    """(offered load, timestamps to measure) of each step; see the module docstring."""
    runs: list[list[tuple[float, float]]] = []
    for t, v in offered:
        if v <= 0:
            continue
        held = runs[-1][0][1] if runs else None  # the level the current run started at
        if held is not None and abs(v - held) <= 0.02 * max(v, held):
            runs[-1].append((t, v))
        else:
            runs.append([(t, v)])
    holds = [r for r in runs if len(r) >= min_seconds]
    if holds:
        first = runs.index(holds[0])  # a ramp up to the first hold is warm-up
        out = []
        for r in runs[first:]:
            if len(r) >= min_seconds:
                kept = r[max(1, math.ceil(settle * len(r))) :]
                out.append((statistics.median(v for _, v in kept), [t for t, _ in kept]))
        return out
    ramp = [p for r in runs for p in r]
    chunks = [ramp[i : i + min_seconds] for i in range(0, len(ramp), min_seconds)]
    return [
        (sum(v for _, v in c) / len(c), [t for t, _ in c]) for c in chunks if len(c) == min_seconds
    ]


@dataclass(frozen=True)
class _Measured:
    offered: float
    start: float
    end: float
    throughput: float
    p95: float | None
    per_second: tuple[float, ...]  # requests in each second of the step


def _measure(
    offered: float,
    times: list[float],
    requests: list[tuple[float, float]],
    latency: Sequence[SeriesData],
) -> _Measured:
    start, end = times[0] - 1.0, times[-1]  # each offered point closes the second before it
    in_step = [(t, v) for t, v in requests if start < t <= end]
    hists: list[Histogram] = [
        h.histogram for s in latency for h in s.histograms if start < h.end <= end
    ]
    merged = merge_histograms(hists) if hists else None
    per_second: dict[int, float] = {}
    for t, v in in_step:
        second = math.ceil(t - 1e-6)
        per_second[second] = per_second.get(second, 0.0) + v
    return _Measured(
        offered,
        start,
        end,
        sum(v for _, v in in_step) / (end - start),
        merged.percentile(95) if merged is not None else None,
        tuple(per_second.values()),
    )


def steps_of(
    series: Sequence[SeriesData],
    metrics: KneeMetrics = KneeMetrics(),
    threshold: float = 0.9,
    min_seconds: int = 4,
) -> tuple[list[Step], str]:
    """The run's steps and the unit of its offered load. Each step's `follow` is its
    throughput per unit of offered load against the best of the steps before it (the mix of
    requests per iteration or per user can settle during the first steps: an order must
    exist before it can be read)."""
    offered = _points(series, metrics.target_rate)
    unit = "iterations/s"
    if not offered:
        offered, unit = _points(series, metrics.users), "users"
    requests = _points(series, metrics.requests)
    latency = [s for s in series if s.key.name == metrics.latency]
    steps: list[Step] = []
    best = 0.0
    for load, times in segments(offered, min_seconds):
        m = _measure(load, times, requests, latency)
        ratio = m.throughput / load
        follow, below = 1.0, 0.0
        if best > 0:
            follow = ratio / best
            seconds = m.per_second or (0.0,)
            below = sum(1 for v in seconds if v / load / best < threshold) / len(seconds)
        best = max(best, ratio)
        steps.append(Step(load, m.start, m.end, m.throughput, m.p95, follow, below))
    return steps, unit


def find_knee(
    steps: Sequence[Step], threshold: float = 0.9, latency_rise: float = 1.5
) -> Knee | None:
    """The first step that stopped following while latency rose; None when every step kept
    up or latency did not rise."""
    first = steps[0]
    for i, s in enumerate(steps[1:], start=1):
        before = [x.p95 for x in steps[:i] if x.p95 is not None]
        calm = min(before) if before else None
        rose = s.p95 is not None and calm is not None and s.p95 >= latency_rise * calm
        if s.offered > first.offered and s.follow < threshold and s.below >= 0.5 and rose:
            assert s.p95 is not None and calm is not None
            kept = steps[i - 1]
            return Knee(s.offered, kept.offered, kept.throughput, s.follow, calm, s.p95)
    return None


def analyse(
    series: Sequence[SeriesData],
    metrics: KneeMetrics = KneeMetrics(),
    threshold: float = 0.9,
    latency_rise: float = 1.5,
) -> Saturation | None:
    """The run's steps and knee; None for a constant load (fewer than two distinct steps) or
    a run without requests."""
    steps, unit = steps_of(series, metrics, threshold)
    if len(steps) < 2 or max(s.offered for s in steps) < 1.1 * min(s.offered for s in steps):
        return None
    if steps[0].throughput <= 0:
        return None
    return Saturation(
        unit, tuple(steps), find_knee(steps, threshold, latency_rise), threshold, latency_rise
    )
