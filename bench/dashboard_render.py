"""Dashboard render benchmark (issues 7 and 18): every page, History included, against 1-hour
soaks at 1-second resolution must render in under 1.5 s of server time.

    .venv/bin/python bench/dashboard_render.py [--runs 50] [--endpoints 8] [--repeat 3]
        [--store PATH|URL [--reuse]]

The store gets `--runs` finished 1-hour runs of one branch and scenario, each checked (its
verdicts with their traces recorded, p95 stepping up by 20 % from the 35th run so History has
a change point to find), plus one 1-hour run still running (a soak watched live): per
endpoint a latency histogram, request and failure counters every second; Locust's user count;
per queue the job counts by state, finished jobs and time-in-queue histograms; cache hits and
misses by layer; worker health; alert transitions. Each page is then run under Streamlit's
AppTest (the same script run a browser session triggers, without the browser) and timed:
"cold" is the first render (empty query caches, as after the TTL expired), "warm" a rerun
within the TTL (another tab, a fragment tick).

`--store` builds the store there instead of a temporary SQLite file: a file path, or a
PostgreSQL URL (a migrated, empty database; the password from $PGPASSWORD or ~/.pgpass).
`--reuse` measures a store this benchmark filled before (same `--runs` and `--endpoints`)
without filling it again: before and after a change, against the same data, without the
minutes a fill takes.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alerts import history
from alerts.db import AlertsDB
from budgets.model import Condition, Level, Op
from budgets.units import Unit
from budgets.verdict import Verdict, Window
from collectors.model import Batch, Histogram, SeriesKey, bucket_index, bucket_values
from collectors.store import Store, StoreError, VerdictRecord

DURATION = 3600
QUEUES = ("email", "orders")
STATES = ("wait", "delayed", "active", "completed", "failed", "waiting-children")
PAGES = {
    "overview": "overview.py",
    "live": "live.py",
    "review": "review.py",
    "compare": "compare.py",
    "history": "history_page.py",
    "runtime": "runtime_page.py",
    "alerts": "alerts_page.py",
}
ROOT = Path(__file__).resolve().parents[1]
LIMIT = 1.5


def _histograms(rng: np.random.Generator, median: float, rate: int) -> list[Histogram]:
    lo, hi = bucket_index(0.002), bucket_index(5.0)
    values = bucket_values(lo, hi - lo + 1)
    pdf = np.exp(-((np.log(values) - math.log(median)) ** 2) / (2 * 0.5**2))
    counts = rng.multinomial(rate, pdf / pdf.sum(), size=DURATION).astype(np.int64)
    out = []
    for row in counts:
        nz = np.nonzero(row)[0]
        if nz.size == 0:
            out.append(Histogram())
            continue
        a, b = int(nz[0]), int(nz[-1]) + 1
        out.append(
            Histogram(
                offset=lo + a,
                counts=row[a:b].copy(),
                total=float((row[a:b] * values[a:b]).sum()),
                min=float(values[a]),
                max=float(values[b - 1]),
            )
        )
    return out


def run_verdicts(start: float, names: list[str], level: float) -> list[VerdictRecord]:
    """What `castiel check` records: per endpoint a p95 verdict with its trace (120 points),
    and a queue-depth verdict."""
    ceiling = ((Level.WARN, Condition(Op.LT, 0.3)), (Level.FAIL, Condition(Op.LT, 0.5)))
    out = []
    for i, n in enumerate(names):
        observed = (0.1 + 0.01 * i) * level
        trace = tuple((start + 30.0 * k, observed * (0.9 + 0.002 * k)) for k in range(1, 121))
        v = Verdict(
            budget="endpoint p95",
            status=Level.PASS,
            aggregation="p95",
            observed=observed,
            thresholds=ceiling,
            sample_count=DURATION * 20,
            window=Window(start, start + DURATION),
            scope="run",
            group=(("name", n),),
            worst=Window(start + 600, start + 660),
            trace=trace,
            metric="locust_request_duration_seconds",
            unit=Unit.SECONDS,
        )
        out.append(VerdictRecord(v.budget, dict(v.group), "pass", v.to_json(), 0.0))
    depth = Verdict(
        budget="queue depth",
        status=Level.WARN,
        aggregation="max",
        observed=49.0,
        thresholds=((Level.WARN, Condition(Op.LT, 40)), (Level.FAIL, Condition(Op.LT, 100))),
        sample_count=DURATION,
        window=Window(start, start + DURATION),
        scope="run",
        group=(("queue", "email"),),
        metric="castiel_queue_jobs",
    )
    out.append(VerdictRecord(depth.budget, {"queue": "email"}, "warn", depth.to_json(), 0.0))
    return out


@dataclass(frozen=True)
class RunData:
    """One hour of generated data, reused by every run (the volume is what is measured)."""

    names: list[str]
    lat: dict[str, list[Histogram]]
    waits: dict[str, list[Histogram]]
    depths: np.ndarray[Any, Any]


def generate(endpoints: int, seed: int) -> RunData:
    rng = np.random.default_rng(seed)
    names = [f"/api/e{e}" for e in range(endpoints)]
    lat = {n: _histograms(rng, 0.04 + 0.01 * i, 20) for i, n in enumerate(names)}
    waits = {q: _histograms(rng, 0.2, 5) for q in QUEUES}
    depths = rng.integers(0, 50, size=(DURATION, len(QUEUES), len(STATES)))
    return RunData(names, lat, waits, depths)


def fill_run(
    store: Store,
    start: float,
    gen: RunData,
    running: bool,
    *,
    level: float = 1.0,
    commit: str = "c0ffee",
) -> str:
    run = store.create_run(started_at=start, scenario="soak", git_branch="main", git_commit=commit)
    names, lat, waits = gen.names, gen.lat, gen.waits
    for t0 in range(0, DURATION, 300):  # one write per 5 minutes of data, as batches
        batch = Batch()
        for t in range(t0, min(t0 + 300, DURATION)):
            ts = start + t + 1
            batch.add_gauge(SeriesKey.of("locust_users", {}), ts, 50)
            for n in names:
                key = {"name": n, "method": "GET"}
                batch.add_histogram(
                    SeriesKey.of("locust_request_duration_seconds", key), ts - 1, ts, lat[n][t]
                )
                batch.add_increment(SeriesKey.of("locust_requests_total", key), ts, 20)
                batch.add_increment(
                    SeriesKey.of("locust_failures_total", key), ts, float(t % 97 == 0)
                )
            for qi, q in enumerate(QUEUES):
                for si, state in enumerate(STATES):
                    batch.add_gauge(
                        SeriesKey.of("castiel_queue_jobs", {"queue": q, "state": state}),
                        ts,
                        float(gen.depths[t, qi, si]),
                    )
                batch.add_increment(
                    SeriesKey.of("castiel_queue_completed_total", {"queue": q}), ts, 5
                )
                batch.add_histogram(
                    SeriesKey.of("castiel_job_wait_seconds", {"queue": q}), ts - 1, ts, waits[q][t]
                )
            for layer in ("local", "redis"):
                labels = {"cache": "items", "layer": layer}
                batch.add_increment(SeriesKey.of("castiel_cache_hits_total", labels), ts, 90)
                batch.add_increment(SeriesKey.of("castiel_cache_misses_total", labels), ts, 10)
            for state, n in (("healthy", 4.0), ("unhealthy", 0.0)):
                batch.add_gauge(SeriesKey.of("castiel_workers", {"state": state}), ts, n)
        store.write(run.id, batch)
    verdicts = run_verdicts(start, names, level)
    store.record_verdicts(run.id, verdicts, source="live" if running else "check")
    if not running:
        store.finish_run(run.id, start + DURATION)
        store.set_run_verdict(run.id, "warn")
    return run.id


def fill(store: Store, runs: int, endpoints: int, now: float) -> str:
    """`runs` finished runs an hour and a bit apart, p95 20 % higher from the 35th on, then
    the running one; returns the running run's id."""
    gen = generate(endpoints, 1)
    first = now - (runs + 1) * (DURATION + 600)
    for i in range(runs):
        level = 1.2 if i >= 34 else 1.0
        level *= 1 + 0.02 * math.sin(i * 1.7)  # run-to-run noise
        fill_run(store, first + i * (DURATION + 600), gen, False, level=level, commit=f"{i:07x}")
    return fill_run(store, now - DURATION, gen, True, commit=f"{runs:07x}")


def fill_alerts(path: Path, run_id: str, start: float) -> None:
    with AlertsDB.open(path) as db:
        events = []
        for i in range(200):  # a flapping queue alert over the hour
            at = start + i * 18
            events.append(
                history.AlertEvent(
                    at=at,
                    dedup_key="queue-depth-email",
                    name="queue depth",
                    severity="warning",
                    labels={"alertname": "queue depth", "queue": "email"},
                    group={"queue": "email"},
                    state="firing" if i % 2 == 0 else "resolved",
                    value=49.0,
                    threshold="< 40",
                    run_id=run_id,
                    summary="queue depth [queue=email]: max = 49, must be < 40 (warn)",
                    level="warn",
                    scope=run_id,
                )
            )
        history.record(db, events)


@dataclass(frozen=True)
class Timing:
    """Medians: wall-clock seconds and this process's CPU seconds (every thread: AppTest runs
    the script in a thread of its own), cold and warm."""

    cold: float
    cold_cpu: float
    warm: float
    warm_cpu: float


def render_times(store: str, repeat: int) -> dict[str, Timing]:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["CASTIEL_STORE"] = store
    out = {}
    for name, file in PAGES.items():
        cold: list[tuple[float, float]] = []
        warm: list[tuple[float, float]] = []
        for _ in range(repeat):
            st.cache_data.clear()  # cold: every query goes to the store again
            st.cache_resource.clear()
            at = AppTest.from_file(str(ROOT / "dashboard" / "views" / file), default_timeout=300)
            cold.append(_timed(at.run))
            if at.exception:
                raise SystemExit(f"{name} raised: {at.exception[0].value}")
            warm.append(_timed(at.run))
        out[name] = Timing(
            statistics.median(w for w, _ in cold),
            statistics.median(c for _, c in cold),
            statistics.median(w for w, _ in warm),
            statistics.median(c for _, c in warm),
        )
    return out


def _timed(fn: Any) -> tuple[float, float]:
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=50, help="finished 1-hour runs (50)")
    ap.add_argument("--endpoints", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--store", help="build the store here (a new file path or an empty database URL)"
    )
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="--store was filled by an earlier run of this benchmark: measure it as it is",
    )
    args = ap.parse_args()
    if args.reuse and not args.store:
        ap.error("--reuse needs --store")
    with tempfile.TemporaryDirectory() as tmp:
        where = args.store or str(Path(tmp) / "castiel.db")
        if args.reuse:
            print(f"store: {where.split('@')[-1]} as filled before (--reuse)")
            return _report(render_times(where, args.repeat), args.repeat)
        now = time.time()
        t = time.perf_counter()
        try:
            with Store.open(where) as store:
                live = fill(store, args.runs, args.endpoints, now)
        except StoreError as exc:
            raise SystemExit(f"bench: cannot build the store at {where}: {exc}") from None
        if "://" not in where:
            fill_alerts(Path(where), live, now - DURATION)
            size = f"{Path(where).stat().st_size / 1e6:.0f} MB"
        else:
            size = "size not measured"  # alerts live in a SQLite file beside a file store
        print(
            f"store: {args.runs} + 1 runs x {DURATION} s x {args.endpoints} endpoints (+ queues, "
            f"caches, workers), {size}, filled in {time.perf_counter() - t:.0f} s"
        )
        times = render_times(where, args.repeat)
    return _report(times, args.repeat)


def _report(times: dict[str, Timing], repeat: int) -> int:
    print(
        f"\n{'page':<10} {'cold s':>7} {'cold CPU s':>11} {'warm s':>7} {'warm CPU s':>11}"
        f"   (median of {repeat}; load average {os.getloadavg()[0]:.1f})"
    )
    worst = 0.0
    for name, tm in times.items():
        worst = max(worst, tm.cold)
        print(f"{name:<10} {tm.cold:7.2f} {tm.cold_cpu:11.2f} {tm.warm:7.2f} {tm.warm_cpu:11.2f}")
    print(f"\nslowest cold render {worst:.2f} s (limit {LIMIT} s)")
    return 0 if worst < LIMIT else 1


if __name__ == "__main__":
    raise SystemExit(main())
