"""Dashboard render benchmark (issue 7): every page against a 1-hour soak at 1-second
resolution must render in under 1.5 s of server time.

    .venv/bin/python bench/dashboard_render.py [--endpoints 8] [--repeat 3]

The store gets two 1-hour runs (one finished and checked, one still running, as a soak watched
live): per endpoint a latency histogram, request and failure counters every second; Locust's
user count; per queue the job counts by state, finished jobs and time-in-queue histograms;
cache hits and misses by layer; worker health; budget verdicts; alert transitions. Each page is
then run under Streamlit's AppTest (the same script run a browser session triggers, without
the browser) and timed: "cold" is the first render (empty query caches, as after the TTL
expired), "warm" a rerun within the TTL (another tab, a fragment tick).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alerts import history
from alerts.db import AlertsDB
from collectors.model import Batch, Histogram, SeriesKey, bucket_index, bucket_values
from collectors.store import Store, VerdictRecord

DURATION = 3600
QUEUES = ("email", "orders")
STATES = ("wait", "delayed", "active", "completed", "failed", "waiting-children")
PAGES = {
    "overview": "overview.py",
    "live": "live.py",
    "review": "review.py",
    "compare": "compare.py",
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


def fill_run(store: Store, start: float, endpoints: int, seed: int, running: bool) -> str:
    rng = np.random.default_rng(seed)
    run = store.create_run(started_at=start, scenario="soak")
    names = [f"/api/e{e}" for e in range(endpoints)]
    lat = {n: _histograms(rng, 0.04 + 0.01 * i, 20) for i, n in enumerate(names)}
    waits = {q: _histograms(rng, 0.2, 5) for q in QUEUES}
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
            for q in QUEUES:
                for s in STATES:
                    batch.add_gauge(
                        SeriesKey.of("castiel_queue_jobs", {"queue": q, "state": s}),
                        ts,
                        float(rng.integers(0, 50)),
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
    verdicts = [
        VerdictRecord(
            budget="endpoint p95",
            group={"name": n},
            status="pass",
            payload={
                "aggregation": "p95",
                "observed": 0.1 + 0.01 * i,
                "thresholds": {"warn": "< 0.3", "fail": "< 0.5"},
                "metric": "locust_request_duration_seconds",
                "worst": {"start": start + 600, "end": start + 660},
                "sample_count": DURATION * 20,
            },
        )
        for i, n in enumerate(names)
    ]
    verdicts.append(
        VerdictRecord(
            budget="queue depth",
            group={"queue": "email"},
            status="warn",
            payload={
                "aggregation": "max",
                "observed": 49,
                "thresholds": {"warn": "< 40", "fail": "< 100"},
                "metric": "castiel_queue_jobs",
            },
        )
    )
    store.record_verdicts(run.id, verdicts, source="live" if running else "check")
    if not running:
        store.finish_run(run.id, start + DURATION)
        store.set_run_verdict(run.id, "warn")
    return run.id


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


def render_times(path: Path, repeat: int) -> dict[str, tuple[float, float]]:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["CASTIEL_STORE"] = str(path)
    out = {}
    for name, file in PAGES.items():
        cold, warm = [], []
        for _ in range(repeat):
            st.cache_data.clear()  # cold: every query goes to the store again
            st.cache_resource.clear()
            at = AppTest.from_file(str(ROOT / "dashboard" / "views" / file), default_timeout=120)
            t = time.perf_counter()
            at.run()
            cold.append(time.perf_counter() - t)
            if at.exception:
                raise SystemExit(f"{name} raised: {at.exception[0].value}")
            t = time.perf_counter()
            at.run()
            warm.append(time.perf_counter() - t)
        out[name] = (statistics.median(cold), statistics.median(warm))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--endpoints", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "castiel.db"
        now = time.time()
        t = time.perf_counter()
        with Store.open(path) as store:
            fill_run(store, now - 2 * DURATION - 600, args.endpoints, 1, running=False)
            live = fill_run(store, now - DURATION, args.endpoints, 2, running=True)
        fill_alerts(path, live, now - DURATION)
        size = path.stat().st_size / 1e6
        print(
            f"store: 2 runs x {DURATION} s x {args.endpoints} endpoints (+ queues, caches, "
            f"workers), {size:.0f} MB, filled in {time.perf_counter() - t:.0f} s"
        )
        times = render_times(path, args.repeat)
    print(f"\n{'page':<10} {'cold s':>7} {'warm s':>7}   (median of {args.repeat})")
    worst = 0.0
    for name, (cold, warm) in times.items():
        worst = max(worst, cold)
        print(f"{name:<10} {cold:7.2f} {warm:7.2f}")
    print(f"\nslowest cold render {worst:.2f} s (limit {LIMIT} s)")
    return 0 if worst < LIMIT else 1


if __name__ == "__main__":
    raise SystemExit(main())
