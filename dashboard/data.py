"""What the dashboard shows, as pandas DataFrames computed from the store. No Streamlit here:
every function takes a Store (or series) and is tested on its own. Percentiles are merged
from interval histograms, never averaged; long runs are downsampled to at most
`MAX_POINTS` time buckets for display."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from collectors.model import (
    Histogram,
    HistogramPoint,
    MetricKind,
    RunInfo,
    SeriesData,
    SeriesKey,
    bucket_values,
    merge_histograms,
)
from collectors.percentile import histogram_percentiles, nearest_rank, values_at_ranks
from collectors.store import Store

MAX_POINTS = 600
BADGES = {
    "pass": "✅ pass",
    "warn": "⚠️ warn",
    "fail": "❌ fail",
    "abort": "⛔ abort",
    "inconclusive": "❔ inconclusive",
}
LATENCY_METRICS = ("locust_request_duration_seconds", "castiel_http_request_duration_seconds")
REQUEST_METRICS = ("locust_requests_total", "castiel_http_requests_total")


def badge(verdict: str | None, status: str) -> str:
    """A run's verdict (or state) for display. Nothing reads it back: logic uses the typed
    columns beside it."""
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
                "commit": (r.git_commit or "")[:7],
                "started": pd.Timestamp(r.started_at, unit="s", tz="UTC"),
                "duration s": None if r.ended_at is None else round(r.ended_at - r.started_at, 1),
                "status": r.status,
                "result": r.verdict or "",
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "run",
            "verdict",
            "scenario",
            "branch",
            "commit",
            "started",
            "duration s",
            "status",
            "result",
        ],
    )


def run_series(store: Store, run_id: str, names: Iterable[str]) -> list[SeriesData]:
    wanted = set(names)
    keys = [k for k, _ in store.series(run_id) if k.name in wanted]
    return store.load_series(run_id, keys) if keys else []


def _buckets(start: float, end: float, max_points: int = MAX_POINTS) -> float:
    """Bucket width (s) so a run is shown in at most `max_points` points."""
    return max(1.0, math.ceil((end - start) / max_points))


def bucket_of(t: float, start: float, width: float) -> int:
    """Display bucket b covers (start + b*width, start + (b+1)*width] and is drawn at its
    end: an interval or reading at exactly the run's end still falls in the last bucket."""
    return max(0, math.ceil((t - start) / width) - 1)


def _by_label(series: Sequence[SeriesData], label: str) -> dict[str, list[HistogramPoint]]:
    per: dict[str, list[HistogramPoint]] = {}
    for s in series:
        if s.kind is MetricKind.HISTOGRAM and s.histograms:
            per.setdefault(s.key.label(label) or s.key.name, []).extend(s.histograms)
    return dict(sorted(per.items()))


def _timeline_frame(
    who: str, label: str, d: Dense, start: float, width: float, qs: Sequence[float]
) -> pd.DataFrame:
    values = d.percentiles(qs)
    frame = pd.DataFrame({f"p{q:g}": v * 1000 for q, v in zip(qs, values, strict=True)})
    frame.insert(0, "t", pd.to_datetime(start + (d.buckets + 1) * width, unit="s", utc=True))
    frame.insert(0, label, who)
    return frame


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def percentile_timeline(
    series: Sequence[SeriesData],
    label: str,
    start: float,
    end: float,
    qs: Sequence[float] = (50, 95, 99),
) -> pd.DataFrame:
    """Per `label` value (e.g. endpoint) and time bucket: percentiles (ms) of the merged
    interval histograms in that bucket (merging is exact; averaging percentiles would be
    wrong). Vectorised: one dense bucket matrix per label value, so a 1-hour soak at 1-second
    resolution takes milliseconds per endpoint rather than a merge per display point."""
    return latency_views(series, label, start, end, qs).timeline


@dataclass(frozen=True)
class LatencyViews:
    timeline: pd.DataFrame
    """label, t, p50... (ms) per label value and display bucket."""
    overall: pd.DataFrame
    """t, p95... (ms) of every label value merged (the whole service)."""
    distribution: pd.DataFrame
    """label, ms, fraction: each label value's whole-run CDF."""


def latency_views(
    series: Sequence[SeriesData],
    label: str,
    start: float,
    end: float,
    qs: Sequence[float] = (50, 95, 99),
    with_overall: bool = False,
    with_distribution: bool = False,
) -> LatencyViews:
    """The timeline, and optionally the overall timeline and the distributions, from one
    dense layout per label value (a long run's histograms are read once, not three times)."""
    width = _buckets(start, end)
    columns = [label, "t", *(f"p{q:g}" for q in qs)]
    timeline, dists, denses = [], [], []
    cdf_qs = [float(q) for q in np.linspace(1, 100, 100)]
    for who, points in _by_label(series, label).items():
        d = Dense.of(points, start, width)
        if d is None:  # absurdly wide value range: merge histogram objects instead
            buckets, values = bucket_percentiles(points, start, width, qs)
            frame = pd.DataFrame({f"p{q:g}": v * 1000 for q, v in zip(qs, values, strict=True)})
            frame.insert(0, "t", pd.to_datetime(start + (buckets + 1) * width, unit="s", utc=True))
            frame.insert(0, label, who)
            timeline.append(frame)
            continue
        denses.append(d)
        timeline.append(_timeline_frame(who, label, d, start, width, qs))
        if with_distribution:
            ms = d.collapse().row_percentiles(cdf_qs) * 1000
            keep = ~np.isnan(ms)
            dists.append(
                pd.DataFrame({label: who, "ms": ms[keep], "fraction": np.array(cdf_qs)[keep] / 100})
            )
    overall = pd.DataFrame(columns=["t", *columns[2:]])
    if with_overall and denses:
        overall = _timeline_frame("", label, Dense.combine(denses), start, width, qs)
        overall = overall.drop(columns=[label])
    return LatencyViews(
        _concat(timeline, columns), overall, _concat(dists, [label, "ms", "fraction"])
    )


_NONE = np.zeros(0, dtype=np.float64)
MAX_DENSE_BUCKETS = 20_000
"""Wider than this (values spanning ~1e87 at 1% accuracy: never for latencies) falls back to
merging histogram objects."""


@dataclass(frozen=True)
class Dense:
    """Interval histograms laid out as one (display bucket x value bucket) count matrix, so
    merging and percentiles are array operations instead of a merge per display point."""

    buckets: np.ndarray[Any, Any]
    """Display bucket ids of the rows, ascending."""
    lo_b: int
    """Value bucket index of column 0."""
    counts: np.ndarray[Any, Any]
    zero: np.ndarray[Any, Any]
    lo: np.ndarray[Any, Any]
    hi: np.ndarray[Any, Any]

    @classmethod
    def of(cls, points: Sequence[HistogramPoint], start: float, width: float) -> Dense | None:
        ends = np.fromiter((p.end for p in points), dtype=np.float64, count=len(points))
        buckets, row_of = np.unique(_bucket_ids(ends, start, width), return_inverse=True)
        hists = [p.histogram for p in points]
        rows = len(buckets)
        sizes = np.fromiter((h.counts.size for h in hists), dtype=np.int64, count=len(hists))
        offsets = np.fromiter((h.offset for h in hists), dtype=np.int64, count=len(hists))
        has = sizes > 0
        lo_b = int(offsets[has].min()) if has.any() else 0
        span = int((offsets[has] + sizes[has]).max()) - lo_b if has.any() else 0
        if span > MAX_DENSE_BUCKETS:
            return None
        cols = max(span, 1)
        # Every histogram's counts at once: flat index = row * cols + (offset - lo_b +
        # position within the histogram).
        flat = np.concatenate([h.counts for h in hists if h.counts.size]) if has.any() else _NONE
        starts = np.repeat(row_of * cols + offsets - lo_b, sizes)
        within = np.arange(starts.size) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        counts = np.bincount(starts + within, weights=flat, minlength=rows * cols)
        zero = np.bincount(
            row_of,
            weights=np.fromiter((h.zero_count for h in hists), dtype=np.float64, count=len(hists)),
            minlength=rows,
        )
        lo = np.full(rows, math.inf)
        hi = np.full(rows, -math.inf)
        # An empty histogram has min=inf, max=-inf: it cannot move either extreme.
        np.minimum.at(lo, row_of, np.fromiter((h.min for h in hists), dtype=np.float64))
        np.maximum.at(hi, row_of, np.fromiter((h.max for h in hists), dtype=np.float64))
        return cls(
            buckets,
            lo_b,
            counts.reshape(rows, cols).astype(np.int64),
            zero.astype(np.int64),
            lo,
            hi,
        )

    @classmethod
    def combine(cls, parts: Sequence[Dense]) -> Dense:
        """Several label values merged (e.g. every endpoint: the whole service)."""
        buckets = np.unique(np.concatenate([d.buckets for d in parts]))
        lo_b = min(d.lo_b for d in parts)
        cols = max(d.lo_b + d.counts.shape[1] for d in parts) - lo_b
        counts = np.zeros((len(buckets), cols), dtype=np.int64)
        zero = np.zeros(len(buckets), dtype=np.int64)
        lo = np.full(len(buckets), math.inf)
        hi = np.full(len(buckets), -math.inf)
        for d in parts:
            rows = np.searchsorted(buckets, d.buckets)
            a = d.lo_b - lo_b
            counts[rows, a : a + d.counts.shape[1]] += d.counts
            zero[rows] += d.zero
            lo[rows] = np.minimum(lo[rows], d.lo)
            hi[rows] = np.maximum(hi[rows], d.hi)
        return cls(buckets, lo_b, counts, zero, lo, hi)

    def collapse(self) -> Dense:
        """Every row merged into one: the whole run."""
        return Dense(
            np.zeros(1, dtype=np.int64),
            self.lo_b,
            self.counts.sum(axis=0, keepdims=True),
            self.zero.sum(keepdims=True),
            self.lo.min(keepdims=True),
            self.hi.max(keepdims=True),
        )

    def percentiles(self, qs: Sequence[float]) -> list[np.ndarray[Any, Any]]:
        """Per q, each row's nearest-rank percentile (NaN when empty), by the one percentile
        of `collectors.percentile`."""
        cum = np.cumsum(self.counts, axis=1)
        width = self.counts.shape[1]
        n = (cum[:, -1] if width else np.zeros(len(self.zero), np.int64)) + self.zero
        reported = bucket_values(self.lo_b, width)
        rows = np.arange(len(n))
        return [
            histogram_percentiles(
                q, n, self.zero, self.lo, self.hi, lambda k: cum[rows, k], width, reported
            )
            for q in qs
        ]

    def row_percentiles(self, qs: Sequence[float]) -> np.ndarray[Any, Any]:
        """Every q of the first row (of a collapsed Dense: the whole run's CDF) at once, each
        as `percentiles` would give it: one search for all the ranks, not one per q."""
        counts = self.counts[0]
        cum = np.cumsum(counts)
        total = (int(cum[-1]) if counts.size else 0) + int(self.zero[0])
        rank = np.array([int(nearest_rank(q, total)) for q in qs], dtype=np.int64)
        m = rank.size
        return values_at_ranks(
            rank,
            np.full(m, total, np.int64),
            np.full(m, self.zero[0], np.int64),
            np.full(m, self.lo[0]),
            np.full(m, self.hi[0]),
            lambda k: cum[k],
            counts.size,
            bucket_values(self.lo_b, counts.size),
        )


def bucket_percentiles(
    points: Sequence[HistogramPoint], start: float, width: float, qs: Sequence[float]
) -> tuple[np.ndarray[Any, Any], list[np.ndarray[Any, Any]]]:
    """Display bucket ids (sorted) and, per q, the nearest-rank percentile of each bucket's
    merged histograms (NaN when empty), exactly as `merge_histograms(...).percentile(q)`."""
    d = Dense.of(points, start, width)
    if d is not None:
        return d.buckets, d.percentiles(qs)
    ends = np.fromiter((p.end for p in points), dtype=np.float64, count=len(points))
    buckets, row_of = np.unique(_bucket_ids(ends, start, width), return_inverse=True)
    return buckets, _scalar_percentiles([p.histogram for p in points], row_of, len(buckets), qs)


def _scalar_percentiles(
    hists: Sequence[Histogram], row_of: np.ndarray[Any, Any], rows: int, qs: Sequence[float]
) -> list[np.ndarray[Any, Any]]:
    groups: list[list[Histogram]] = [[] for _ in range(rows)]
    for r, h in zip(row_of.tolist(), hists, strict=True):
        groups[r].append(h)
    merged = [merge_histograms(g) for g in groups]
    return [np.array([np.nan if (v := m.percentile(q)) is None else v for m in merged]) for q in qs]


def _bucket_ids(times: np.ndarray[Any, Any], start: float, width: float) -> np.ndarray[Any, Any]:
    """`bucket_of` for an array of times."""
    ids: np.ndarray[Any, Any] = np.maximum(0, np.ceil((times - start) / width) - 1).astype(np.int64)
    return ids


def _arrays(s: SeriesData) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    n = len(s.points)
    times = np.fromiter((p.timestamp for p in s.points), dtype=np.float64, count=n)
    values = np.fromiter((p.value for p in s.points), dtype=np.float64, count=n)
    return times, values


def _frame(
    parts: dict[str, dict[int, float]], label: str, start: float, width: float, column: str
) -> pd.DataFrame:
    rows = [(who, b, v) for who in sorted(parts) for b, v in sorted(parts[who].items())]
    if not rows:
        return pd.DataFrame(columns=[label, "t", column])
    who, b, v = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            label: list(who),
            "t": pd.to_datetime(start + (np.array(b) + 1) * width, unit="s", utc=True),
            column: np.array(v, dtype=np.float64),
        }
    )


def rate_timeline(
    series: Sequence[SeriesData], label: str, start: float, end: float
) -> pd.DataFrame:
    """Per label value and time bucket: events per second (counter increments / width)."""
    width = _buckets(start, end)
    sums: dict[str, dict[int, float]] = {}
    for s in series:
        if s.kind is not MetricKind.COUNTER or not s.points:
            continue
        times, values = _arrays(s)
        ids = _bucket_ids(times, start, width)
        per = np.bincount(ids, weights=values)
        mine = sums.setdefault(s.key.label(label) or s.key.name, {})
        for b in np.unique(ids).tolist():
            mine[b] = mine.get(b, 0.0) + float(per[b]) / width
    return _frame(sums, label, start, width, "per_s")


def gauge_timeline(
    series: Sequence[SeriesData], label: str, start: float, end: float
) -> pd.DataFrame:
    """Gauges, downsampled by keeping each series' last reading in a bucket; series that
    share a `label` value (e.g. the same state in several queues) are summed."""
    width = _buckets(start, end)
    total: dict[str, dict[int, float]] = {}
    for s in series:
        if s.kind is not MetricKind.GAUGE or not s.points:
            continue
        times, values = _arrays(s)
        ids = _bucket_ids(times, start, width)
        # Points are in time order: the last index of each bucket is its last reading.
        last = len(ids) - 1 - np.unique(ids[::-1], return_index=True)[1]
        mine = total.setdefault(s.key.label(label) or s.key.name, {})
        for b, v in zip(ids[last].tolist(), values[last].tolist(), strict=True):
            mine[b] = mine.get(b, 0.0) + v
    return _frame(total, label, start, width, "value")


def distribution(series: Sequence[SeriesData], label: str) -> pd.DataFrame:
    """Whole-run latency distribution per label value, as a CDF (ms, fraction)."""
    return latency_views(series, label, 0.0, 1.0, with_distribution=True).distribution


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


def ratio_timeline(
    hits: Sequence[SeriesData], misses: Sequence[SeriesData], label: str, start: float, end: float
) -> pd.DataFrame:
    """Per label value and bucket: hits / (hits + misses) (e.g. cache hit ratio by layer)."""
    h = rate_timeline(hits, label, start, end)
    m = rate_timeline(misses, label, start, end)
    if h.empty:
        return pd.DataFrame(columns=[label, "t", "value"])
    both = pd.merge(h, m, on=[label, "t"], how="left", suffixes=("_h", "_m")).fillna(
        {"per_s_m": 0.0}
    )
    total = both["per_s_h"] + both["per_s_m"]
    both["value"] = both["per_s_h"].where(total > 0) / total.where(total > 0)
    return both[[label, "t", "value"]].dropna()


def last_values(series: Sequence[SeriesData], label: str) -> dict[str, float]:
    """The latest reading of each gauge, by `label` value (summed when several series share
    a value, e.g. in-flight jobs of every worker of one queue)."""
    out: dict[str, float] = {}
    for s in series:
        if s.kind is MetricKind.GAUGE and s.points:
            who = s.key.label(label) or s.key.name
            out[who] = out.get(who, 0.0) + s.points[-1].value
    return out


def since_start(frame: pd.DataFrame, start: float) -> pd.DataFrame:
    """Adds `s`: seconds since the run started (to overlay runs that ran at other times)."""
    if frame.empty:
        return frame.assign(s=pd.Series(dtype=float))
    t0 = pd.Timestamp(start, unit="s", tz="UTC")
    return frame.assign(s=(frame["t"] - t0).dt.total_seconds())


def cache_totals(hits: Sequence[SeriesData], misses: Sequence[SeriesData]) -> pd.DataFrame:
    """Whole-run hits, misses and hit ratio per cache and layer."""
    sums: dict[tuple[str, str], list[float]] = {}
    for i, group in enumerate((hits, misses)):
        for s in group:
            key = (s.key.label("cache") or "", s.key.label("layer") or "")
            sums.setdefault(key, [0.0, 0.0])[i] += sum(p.value for p in s.points)
    rows = [
        {
            "cache": cache,
            "layer": layer,
            "hits": h,
            "misses": m,
            "hit ratio": h / (h + m) if h + m else None,
        }
        for (cache, layer), (h, m) in sorted(sums.items())
    ]
    return pd.DataFrame(rows, columns=["cache", "layer", "hits", "misses", "hit ratio"])


def per_second_table(
    users: Sequence[SeriesData],
    requests: Sequence[SeriesData],
    failures: Sequence[SeriesData],
    latency: Sequence[SeriesData],
    start: float,
    end: float,
) -> pd.DataFrame:
    """The run's per-second table, as Locust's stats history CSV has it: users, requests and
    failures per second, and p50/p95/p99 (ms) of every endpoint merged, one row per second."""
    seconds = max(1, math.ceil(end - start))
    t = pd.to_datetime(start + np.arange(1, seconds + 1), unit="s", utc=True)
    frame = pd.DataFrame({"t": t})
    frame["users"] = _last_per_second(users, start, seconds)
    frame["requests/s"] = _sum_per_second(requests, start, seconds)
    frame["failures/s"] = _sum_per_second(failures, start, seconds)
    points = [p for s in latency if s.kind is MetricKind.HISTOGRAM for p in s.histograms]
    for q in (50, 95, 99):
        frame[f"p{q} ms"] = np.nan
    d = Dense.of(points, start, 1.0) if points else None
    if d is not None:
        rows = d.buckets[d.buckets < seconds]
        for q, values in zip((50, 95, 99), d.percentiles((50, 95, 99)), strict=True):
            frame.loc[rows, f"p{q} ms"] = values[: rows.size] * 1000
    return frame


def _sum_per_second(
    series: Sequence[SeriesData], start: float, seconds: int
) -> np.ndarray[Any, Any]:
    out = np.zeros(seconds)
    for s in series:
        if s.points:
            times, values = _arrays(s)
            ids = _bucket_ids(times, start, 1.0)
            keep = ids < seconds
            out += np.bincount(ids[keep], weights=values[keep], minlength=seconds)
    return out


def _last_per_second(
    series: Sequence[SeriesData], start: float, seconds: int
) -> np.ndarray[Any, Any]:
    out = np.full(seconds, np.nan)
    for s in series:
        if s.points:
            times, values = _arrays(s)
            ids = _bucket_ids(times, start, 1.0)
            keep = ids < seconds
            mine = np.full(seconds, np.nan)
            mine[ids[keep]] = values[keep]  # in time order: the last reading of a second wins
            out = np.where(np.isnan(out), mine, np.where(np.isnan(mine), out, out + mine))
    filled: np.ndarray[Any, Any] = np.asarray(pd.Series(out).ffill().to_numpy(), np.float64)
    return filled


def error_table(errors: Sequence[SeriesData]) -> pd.DataFrame:
    """Locust's failures table: occurrences per endpoint and error message, most first."""
    rows: dict[tuple[str, str, str], float] = {}
    for s in errors:
        key = (s.key.label("method") or "", s.key.label("name") or "", s.key.label("error") or "")
        rows[key] = rows.get(key, 0.0) + sum(p.value for p in s.points)
    frame = pd.DataFrame(
        [(m, n, e, int(c)) for (m, n, e), c in rows.items()],
        columns=["method", "name", "error", "occurrences"],
    )
    return frame.sort_values("occurrences", ascending=False, kind="stable").reset_index(drop=True)


def exception_table(exceptions: Sequence[SeriesData]) -> pd.DataFrame:
    """Locust's exceptions table: exceptions raised in the users' code, per message and the
    frame that raised them."""
    rows: dict[tuple[str, str], float] = {}
    for s in exceptions:
        key = (s.key.label("message") or "", s.key.label("where") or "")
        rows[key] = rows.get(key, 0.0) + sum(p.value for p in s.points)
    frame = pd.DataFrame(
        [(int(c), m, w) for (m, w), c in rows.items()], columns=["count", "message", "where"]
    )
    return frame.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)
