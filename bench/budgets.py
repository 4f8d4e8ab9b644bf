"""Budget evaluation benchmark: 50 budgets over a 1-hour run at 1-second resolution with 20
endpoints (issue 4). Reports evaluation time and peak memory at two request rates, to show
memory follows the number of intervals and buckets, not the number of requests.

    .venv/bin/python bench/budgets.py [--rates 10,500] [--store [--rounds 3]]

Histograms are generated directly (multinomial draws over log buckets) rather than by
recording every request, so 18 million requests take seconds to synthesise; they are the same
objects a collector stores. `--store` also writes the run to a SQLite store and to a PostgreSQL
one, times loading it back and `castiel check` of it (bench/store_backends.py).
"""

from __future__ import annotations

import argparse
import gc
import math
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from budgets.evaluate import evaluate
from budgets.spec import parse_budgets
from collectors.model import (
    Histogram,
    HistogramPoint,
    MetricKind,
    Point,
    RunInfo,
    SeriesData,
    SeriesKey,
    bucket_index,
    bucket_values,
)

DURATION = 3600
ENDPOINTS = 20
LAT = "castiel_http_request_duration_seconds"
REQS = "castiel_http_requests_total"


def budget_file() -> str:
    lines = ["version: 1", "defaults: {ramp_up: 60s, min_samples: 10}", "budgets:"]

    def add(spec: str) -> None:
        lines.append(f"  - {{{spec}}}")

    for q in ("p50", "p90", "p95", "p99", "p99.9"):
        add(f"name: run-{q}, metric: {LAT}, aggregation: {q}, fail: '< 2s', group_by: route")
        add(
            f"name: win-{q}, metric: {LAT}, aggregation: {q}, fail: '< 2s', group_by: route, "
            "scope: {window: 1m}"
        )
    for q in ("p50", "p90", "p95", "p99"):
        add(
            f"name: sustained-{q}, metric: {LAT}, aggregation: {q}, fail: '< 1s', "
            "abort: '< 2s', group_by: route, scope: {window: 10s, for: 1m}"
        )
    for agg in ("avg", "min", "max", "count", "sum", "rate"):
        # Never failing; seconds for the aggregations in the metric's unit (a bare number is
        # refused there), plain numbers for counts and rates.
        limit = "1000000s" if agg in ("avg", "min", "max", "sum") else "1e12"
        spec = f"name: hist-{agg}, metric: {LAT}, aggregation: {agg}, fail: '< {limit}'"
        add(spec + ", group_by: route")
    for e in range(10):
        add(
            f'name: route-{e}, metric: "{LAT}{{route=\\"/api/e{e}\\"}}", aggregation: p95, '
            "fail: '< 1s', scope: {window: 5m}"
        )
    for e in range(10, 16):
        add(
            f'name: route-p99-{e}, metric: "{LAT}{{route=\\"/api/e{e}\\"}}", aggregation: p99, '
            "fail: '< 2s', scope: {window: 1m}"
        )
    add(
        f'name: errors, metric: "{REQS}{{status=~\\"5..\\"}}", denominator: {REQS}, '
        "aggregation: ratio, fail: '< 5%', group_by: route"
    )
    add(
        f'name: errors-all, metric: "{REQS}{{status=~\\"5..\\"}}", denominator: {REQS}, '
        "aggregation: ratio, fail: '< 5%', scope: {window: 1m}"
    )
    add(f"name: throughput, metric: {REQS}, aggregation: rate, fail: '> 1', group_by: route")
    add(
        f"name: throughput-all, metric: {REQS}, aggregation: rate, fail: '> 1', "
        "scope: {window: 1m}"
    )
    add(f"name: req-count, metric: {REQS}, aggregation: count, fail: '> 1'")
    for agg in ("max", "avg", "last", "p95", "min"):
        add(
            f"name: depth-{agg}, metric: castiel_queue_jobs, aggregation: {agg}, "
            "fail: '< 1e9', group_by: queue"
        )
    for agg in ("max", "avg"):
        add(
            f"name: depth-window-{agg}, metric: castiel_queue_jobs, aggregation: {agg}, "
            "fail: '< 1e9', scope: {window: 5m}"
        )
    add("name: workers, metric: castiel_workers, aggregation: min, fail: '>= 1'")
    add(
        "name: workers-sustained, metric: castiel_workers, aggregation: min, fail: '>= 1', "
        "scope: {for: 2m}"
    )
    return "\n".join(lines) + "\n"


def make_series(rate: int, seed: int = 7) -> tuple[list[SeriesData], int]:
    """`rate` requests per second per endpoint, latency lognormal around 60-180 ms."""
    rng = np.random.default_rng(seed)
    lo, hi = bucket_index(0.005), bucket_index(5.0)
    width = hi - lo + 1
    values = bucket_values(lo, width)
    series: list[SeriesData] = []
    requests = 0
    for e in range(ENDPOINTS):
        median = 0.06 + 0.006 * e
        logv = np.log(values)
        pdf = np.exp(-((logv - math.log(median)) ** 2) / (2 * 0.5**2))
        pvals = pdf / pdf.sum()
        counts = rng.multinomial(rate, pvals, size=DURATION).astype(np.int64)
        requests += int(counts.sum())
        points = []
        for t in range(DURATION):
            row = counts[t]
            nz = np.nonzero(row)[0]
            if nz.size == 0:
                h = Histogram()
            else:
                a, b = int(nz[0]), int(nz[-1]) + 1
                h = Histogram(
                    offset=lo + a,
                    counts=row[a:b].copy(),
                    total=float((row[a:b] * values[a:b]).sum()),
                    min=float(values[a]),
                    max=float(values[b - 1]),
                )
            points.append(HistogramPoint(float(t), float(t + 1), h))
        key = SeriesKey.of(LAT, {"route": f"/api/e{e}", "method": "GET"})
        series.append(SeriesData(key, MetricKind.HISTOGRAM, histograms=tuple(points)))
        errors = rng.binomial(rate, 0.01, size=DURATION)
        for status, inc in (("200", rate - errors), ("500", errors)):
            key = SeriesKey.of(REQS, {"route": f"/api/e{e}", "method": "GET", "status": status})
            pts = tuple(Point(float(t + 1), float(v)) for t, v in enumerate(inc))
            series.append(SeriesData(key, MetricKind.COUNTER, points=pts))
    for q in ("email", "reports", "billing"):
        depth = rng.integers(0, 100, size=DURATION)
        key = SeriesKey.of("castiel_queue_jobs", {"queue": q, "state": "wait"})
        pts = tuple(Point(float(t + 1), float(v)) for t, v in enumerate(depth))
        series.append(SeriesData(key, MetricKind.GAUGE, points=pts))
    key = SeriesKey.of("castiel_workers", {"state": "healthy"})
    series.append(
        SeriesData(
            key, MetricKind.GAUGE, points=tuple(Point(float(t + 1), 4.0) for t in range(DURATION))
        )
    )
    return series, requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", default="10,500", help="requests/s per endpoint, comma list")
    parser.add_argument("--repeat", type=int, default=3, help="timed evaluations per rate")
    parser.add_argument(
        "--store", action="store_true", help="also time the store on SQLite and PostgreSQL"
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved store rounds")
    args = parser.parse_args()
    budgets = parse_budgets(budget_file(), "bench.yaml").budgets
    assert len(budgets) == 50, len(budgets)
    run = RunInfo("bench", 0.0, float(DURATION))
    print(f"{len(budgets)} budgets, {ENDPOINTS} endpoints, {DURATION} s at 1 s resolution")
    for rate in (int(r) for r in args.rates.split(",")):
        series, requests = make_series(rate)
        gc.collect()
        times = []
        verdicts = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            verdicts = evaluate(budgets, series, run)
            times.append(time.perf_counter() - t0)
        gc.collect()
        tracemalloc.start()
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        evaluate(budgets, series, run)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        buckets = sum(h.histogram.counts.size for s in series for h in s.histograms)
        print(
            f"rate {rate:>4}/s/endpoint: {requests:>11,} requests, {len(verdicts)} verdicts, "
            f"evaluate best {min(times):.3f} s (median {sorted(times)[len(times) // 2]:.3f} s), "
            f"peak extra memory {(peak - base) / 2**20:.1f} MiB, "
            f"input {buckets:,} stored buckets"
        )
        if args.store:
            from bench.store_backends import compare

            compare(series, run, budget_file(), DURATION, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
