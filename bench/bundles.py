"""Run bundle benchmark: export, read and import the 1-hour, 1-second, 20-endpoint run of
bench/budgets.py (the size a CI artifact carries), through the SQLite store.

    .venv/bin/python bench/bundles.py [--rate 10] [--rounds 3]

Each round exports the run from a store, reads the file back (what `--baseline FILE` costs
before evaluation) and imports it into an empty store; medians over the rounds, wall-clock
and CPU time of this process side by side.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.budgets import DURATION, make_series
from collectors.bundle import read_bundle, write_bundle
from collectors.bundle_store import export_run, import_bundle
from collectors.model import Batch, MetricKind, SeriesData
from collectors.store import Store

T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[T, float, float]:
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def fill(store: Store, series: list[SeriesData]) -> str:
    run = store.create_run(started_at=0.0, scenario="peak", git_branch="main")
    for t in range(DURATION):
        b = Batch()
        for sd in series:
            if sd.kind is MetricKind.HISTOGRAM:
                hp = sd.histograms[t]
                b.add_histogram(sd.key, hp.start, hp.end, hp.histogram)
            elif sd.kind is MetricKind.COUNTER:
                b.add_increment(sd.key, sd.points[t].timestamp, sd.points[t].value)
            else:
                b.add_gauge(sd.key, sd.points[t].timestamp, sd.points[t].value)
        store.write(run.id, b)
    store.set_run_verdict(run.id, "pass")
    store.finish_run(run.id, float(DURATION))
    return run.id


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=10, help="requests/s per endpoint")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    series, _ = make_series(args.rate)
    results: dict[str, list[tuple[float, float]]] = {"export": [], "read": [], "import": []}
    size = 0
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "src.db"
        with Store.open(src) as s:
            run_id = fill(s, series)
        for r in range(args.rounds):
            bundle_path = Path(d) / f"run{r}.castiel.jsonl.gz"
            with Store.open(src, readonly=True) as s:
                _, w, c = timed(
                    lambda s=s, p=bundle_path: write_bundle(export_run(s, run_id, 0.0), p)
                )  # type: ignore[misc]
            results["export"].append((w, c))
            size = bundle_path.stat().st_size
            bundle, w, c = timed(lambda p=bundle_path: read_bundle(p))  # type: ignore[misc]
            results["read"].append((w, c))
            with Store.open(Path(d) / f"dst{r}.db") as dst:
                _, w, c = timed(lambda dst=dst, b=bundle: import_bundle(dst, b, 0.0))  # type: ignore[misc]
            results["import"].append((w, c))
    points = sum(len(s.points) for s in series)
    hists = sum(len(s.histograms) for s in series)
    print(
        f"1-hour run, {len(series)} series: {points:,} points, {hists:,} histograms "
        f"({args.rate} req/s/endpoint); bundle {size / 2**20:.1f} MiB; median of {args.rounds}"
    )
    for step, runs in results.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"  {step:<7} wall {wall:6.2f} s   cpu {cpu:6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
