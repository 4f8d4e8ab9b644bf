"""What the dashboard shows, as pandas DataFrames computed from the store. No Streamlit here:
every function takes a Store (or series) and is tested on its own. Percentiles are merged
from interval histograms, never averaged; long runs are downsampled to at most
`MAX_POINTS` time buckets for display."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from collectors.model import (
    HistogramPoint,
    MetricKind,
    RunInfo,
    SeriesData,
    SeriesKey,
    merge_histograms,
)
from collectors.store import Store

MAX_POINTS = 600
BADGES = {"pass": "✅ pass", "warn": "⚠️ warn", "fail": "❌ fail", "abort": "⛔ abort"}
LATENCY_METRICS = ("locust_request_duration_seconds", "castiel_http_request_duration_seconds")
REQUEST_METRICS = ("locust_requests_total", "castiel_http_requests_total")


def badge(verdict: str | None, status: str) -> str:
    if verdict:
        return BADGES.get(verdict, verdict)
    return {"running": "⏳ running", "broken": "💥 broken", "aborted": "⛔ aborted"}.get(
        status, "— not checked"
    )


def runs_frame(store: Store, limit: int = 50) -> pd.DataFrame:
    rows = []
    for r in store.runs(limit):
        rows.append(
            {
                "run": r.id,
                "verdict": badge(r.verdict, r.status),
                "scenario": r.scenario,
                "branch": r.git_branch or "",
                "started": pd.Timestamp(r.started_at, unit="s", tz="UTC"),
                "duration s": None if r.ended_at is None else round(r.ended_at - r.started_at, 1),
                "status": r.status,
            }
        )
    return pd.DataFrame(
        rows, columns=["run", "verdict", "scenario", "branch", "started", "duration s", "status"]
    )


def verdicts_frame(store: Store, run_id: str, source: str | None = "check") -> pd.DataFrame:
    """One row per budget and group: observed against thresholds, as `castiel check` saw it."""
    rows = []
    for v in store.verdicts(run_id, source):
        p = v.payload
        thresholds = "; ".join(f"{lvl} {cond}" for lvl, cond in (p.get("thresholds") or {}).items())
        baseline = p.get("baseline") or {}
        rows.append(
            {
                "budget": v.budget,
                "group": ", ".join(f"{k}={val}" for k, val in sorted(v.group.items())) or "-",
                "status": BADGES.get(v.status, v.status),
                "aggregation": p.get("aggregation", ""),
                "observed": p.get("observed"),
                "thresholds": thresholds,
                "vs baseline": baseline.get("change"),
                "samples": p.get("sample_count"),
                "metric": p.get("metric", ""),
                "worst_start": (p.get("worst") or {}).get("start"),
                "worst_end": (p.get("worst") or {}).get("end"),
                "message": p.get("message", ""),
            }
        )
    return pd.DataFrame(rows)


def run_series(store: Store, run_id: str, names: Iterable[str]) -> list[SeriesData]:
    wanted = set(names)
    keys = [k for k, _ in store.series(run_id) if k.name in wanted]
    return store.load_series(run_id, keys) if keys else []


def _buckets(start: float, end: float, max_points: int = MAX_POINTS) -> float:
    """Bucket width (s) so a run is shown in at most `max_points` points."""
    return max(1.0, math.ceil((end - start) / max_points))


def percentile_timeline(
    series: Sequence[SeriesData],
    label: str,
    start: float,
    end: float,
    qs: Sequence[float] = (50, 95, 99),
) -> pd.DataFrame:
    """Per `label` value (e.g. endpoint) and time bucket: percentiles of the merged interval
    histograms in that bucket (merging is exact; averaging percentiles would be wrong)."""
    width = _buckets(start, end)
    groups: dict[tuple[str, int], list[HistogramPoint]] = {}
    for s in series:
        if s.kind is not MetricKind.HISTOGRAM:
            continue
        who = s.key.label(label) or s.key.name
        for h in s.histograms:
            groups.setdefault((who, int((h.end - start) // width)), []).append(h)
    rows = []
    for (who, b), points in sorted(groups.items()):
        merged = merge_histograms(p.histogram for p in points)
        row: dict[str, object] = {
            label: who,
            "t": pd.Timestamp(start + (b + 1) * width, unit="s", tz="UTC"),
        }
        for q in qs:
            value = merged.percentile(q)
            row[f"p{q:g}"] = None if value is None else value * 1000
        rows.append(row)
    return pd.DataFrame(rows)


def rate_timeline(
    series: Sequence[SeriesData], label: str, start: float, end: float
) -> pd.DataFrame:
    """Per label value and time bucket: events per second (counter increments / width)."""
    width = _buckets(start, end)
    sums: dict[tuple[str, int], float] = {}
    for s in series:
        if s.kind is not MetricKind.COUNTER:
            continue
        who = s.key.label(label) or s.key.name
        for p in s.points:
            k = (who, int((p.timestamp - start) // width))
            sums[k] = sums.get(k, 0.0) + p.value
    return pd.DataFrame(
        [
            {
                label: who,
                "t": pd.Timestamp(start + (b + 1) * width, unit="s", tz="UTC"),
                "per_s": v / width,
            }
            for (who, b), v in sorted(sums.items())
        ]
    )


def gauge_timeline(
    series: Sequence[SeriesData], label: str, start: float, end: float
) -> pd.DataFrame:
    """Gauges, downsampled by keeping the last reading of each bucket."""
    width = _buckets(start, end)
    last: dict[tuple[str, int], float] = {}
    for s in series:
        if s.kind is not MetricKind.GAUGE:
            continue
        who = s.key.label(label) or s.key.name
        for p in s.points:
            last[(who, int((p.timestamp - start) // width))] = p.value
    return pd.DataFrame(
        [
            {label: who, "t": pd.Timestamp(start + (b + 1) * width, unit="s", tz="UTC"), "value": v}
            for (who, b), v in sorted(last.items())
        ]
    )


def distribution(series: Sequence[SeriesData], label: str) -> pd.DataFrame:
    """Whole-run latency distribution per label value, as a CDF (ms, fraction)."""
    per: dict[str, list[HistogramPoint]] = {}
    for s in series:
        per.setdefault(s.key.label(label) or s.key.name, []).extend(s.histograms)
    rows = []
    for who, points in sorted(per.items()):
        merged = merge_histograms(p.histogram for p in points)
        for q in np.linspace(1, 100, 100):
            value = merged.percentile(float(q))
            if value is not None:
                rows.append({label: who, "ms": value * 1000, "fraction": q / 100})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Saturation:
    at: pd.Timestamp
    rps: float
    p95_ms: float


def saturation_point(
    rps: pd.DataFrame, p95: pd.DataFrame, tolerance: float = 0.05
) -> Saturation | None:
    """Where throughput stops rising while latency keeps climbing: the first bucket whose
    request rate is within `tolerance` of the best so far while its p95 is above every p95
    before it. `rps`: columns t, per_s (all endpoints summed); `p95`: columns t, p95."""
    if rps.empty or p95.empty:
        return None
    total = rps.groupby("t")["per_s"].sum()
    lat = p95.groupby("t")["p95"].max()
    joined = pd.concat([total, lat], axis=1, join="inner").dropna()
    best_rps, worst_lat = 0.0, 0.0
    for t, (r, lt) in joined.iterrows():
        climbing = lt > worst_lat * (1 + tolerance) and worst_lat > 0
        flat = best_rps > 0 and r <= best_rps * (1 + tolerance)
        if climbing and flat:
            return Saturation(pd.Timestamp(t), float(r), float(lt))
        best_rps, worst_lat = max(best_rps, r), max(worst_lat, lt)
    return None


def runtime_names(store: Store, run_id: str) -> set[str]:
    return {k.name for k, _ in store.series(run_id)}


def find_run(store: Store, run_id: str | None) -> RunInfo | None:
    if run_id:
        return next((r for r in store.runs(500) if r.id == run_id), None)
    return store.latest_run()


def keys_by_name(series: Sequence[SeriesData]) -> dict[str, list[SeriesKey]]:
    out: dict[str, list[SeriesKey]] = {}
    for s in series:
        out.setdefault(s.key.name, []).append(s.key)
    return out
