"""Aggregations over windows of a Timeline, vectorised with prefix sums and a sparse table, so
a sliding window over an hour at 1-second resolution costs a few array passes, not a loop.

What each aggregation computes over each kind of series is its `AggKind` in
budgets/aggregations.py (with the table docs/budgets.md shows users); this module gives it
the windows to compute over.

Samples (for `min_samples`): observations for histograms, readings (points) for counters
and gauges, and the denominator's total for ratios.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from budgets.timeline import F64, I64, Timeline
from collectors.model import MetricKind, bucket_values
from collectors.percentile import histogram_percentiles, value_percentile

if TYPE_CHECKING:  # budgets.aggregations computes its values with the views below
    from budgets.aggregations import Aggregation

EPS = 1e-9


class Undefined(ValueError):
    """The aggregation has no meaning for this kind of series."""


@dataclass(frozen=True)
class Windows:
    """Windows over a timeline's rows: rows `[s, e)`, covering `(start, end]` seconds."""

    s: I64
    e: I64
    start: F64
    end: F64

    @property
    def seconds(self) -> F64:
        """Each window's length."""
        d: F64 = self.end - self.start
        return d

    def __len__(self) -> int:
        return int(self.s.size)


def whole(tl: Timeline, start: float, end: float) -> Windows:
    return Windows(
        np.array([0], np.int64),
        np.array([len(tl)], np.int64),
        np.array([start]),
        np.array([end]),
    )


def sliding(tl: Timeline, length: float) -> Windows:
    """A window of `length` seconds ending at every row, complete windows only."""
    ts = tl.ts
    if ts.size == 0:
        return _empty()
    first_start = ts[0] - tl.step
    ends = np.arange(ts.size, dtype=np.int64)
    complete = ts - length >= first_start - EPS
    e_rows = ends[complete]
    s = np.searchsorted(ts, ts[e_rows] - length + EPS, side="left").astype(np.int64)
    return Windows(s, e_rows + 1, ts[e_rows] - length, ts[e_rows].astype(np.float64))


def tumbling(tl: Timeline, length: float, start: float) -> Windows:
    """Consecutive windows of `length` seconds from `start` (the last may be shorter)."""
    ts = tl.ts
    if ts.size == 0:
        return _empty()
    k = np.floor((ts - start - EPS) / length).astype(np.int64)
    k = np.maximum(k, 0)
    uniq, first = np.unique(k, return_index=True)
    s = first.astype(np.int64)
    e = np.append(first[1:], ts.size).astype(np.int64)
    w_start = start + uniq * length
    w_end = w_start + length
    w_end[-1] = min(w_end[-1], ts[-1])  # the run may end mid-chunk
    return Windows(s, e, w_start.astype(np.float64), w_end.astype(np.float64))


def _empty() -> Windows:
    z = np.zeros(0, np.int64)
    return Windows(z, z, np.zeros(0), np.zeros(0))


def _prefix(a: F64 | I64) -> F64:
    out: F64 = np.concatenate(([0.0], np.cumsum(a, dtype=np.float64)))
    return out


def range_reduce(a: F64, s: I64, e: I64, fn: np.ufunc, identity: float) -> F64:
    """fn (np.minimum or np.maximum) over a[s:e] for every window; `identity` when empty."""
    n = a.size
    if len(s) == 0:
        return np.zeros(0)
    if n == 0:
        return np.full(len(s), identity)
    levels = [a]
    j = 1
    while (1 << j) <= n:
        prev = levels[-1]
        half = 1 << (j - 1)
        levels.append(fn(prev[:-half], prev[half:]))
        j += 1
    length = e - s
    out = np.full(len(s), identity)
    ok = length > 0
    k = np.zeros(len(s), np.int64)
    k[ok] = np.floor(np.log2(length[ok])).astype(np.int64)
    for lvl in np.unique(k[ok]):
        sel = ok & (k == lvl)
        table = levels[int(lvl)]
        out[sel] = fn(table[s[sel]], table[e[sel] - (1 << int(lvl))])
    return out


def reduce(agg: Aggregation, tl: Timeline, w: Windows) -> tuple[F64, F64]:
    """(value, samples) per window; NaN where the value is undefined (no data). The
    aggregation (its `AggKind`) computes the values from a view of the windows."""
    kind = agg.kind
    if kind.denominator:
        raise Undefined(f"{agg} is computed by ratio(), not reduce()")
    with np.errstate(divide="ignore", invalid="ignore"):
        if tl.kind is MetricKind.HISTOGRAM:
            if kind.histogram is None:
                raise Undefined(f"{agg} is not defined for histogram series")
            hist = HistogramWindows(tl, w)
            values, samples, present = (
                kind.histogram(hist, agg.q),
                hist.observations,
                hist.observations,
            )
        else:
            if kind.scalar is None:
                raise Undefined(f"{agg} is not defined for {tl.kind.value} series")
            scalar = ScalarWindows(tl, w)
            values, samples, present = kind.scalar(scalar, agg.q), scalar.points, scalar.rows
    values = np.where(np.isfinite(values), values, np.nan)
    # A window without data has no value, except where nothing counted reads 0 (a count).
    values[present <= 0] = 0.0 if tl.kind in kind.zero_when_empty else np.nan
    return values.astype(np.float64), samples


class HistogramWindows:
    """A histogram timeline cut into windows: what the aggregations read from it."""

    def __init__(self, tl: Timeline, w: Windows) -> None:
        assert tl.cum is not None and tl.zero is not None
        assert tl.total is not None and tl.mins is not None and tl.maxs is not None
        self.tl, self.w = tl, w
        obs_prefix = _prefix(tl.observations)
        self.observations: F64 = obs_prefix[w.e] - obs_prefix[w.s]

    @property
    def seconds(self) -> F64:
        return self.w.seconds

    def total(self) -> F64:
        """The sum of the observed values per window."""
        assert self.tl.total is not None
        tp = _prefix(self.tl.total)
        out: F64 = tp[self.w.e] - tp[self.w.s]
        return out

    def smallest(self) -> F64:
        assert self.tl.mins is not None
        return range_reduce(self.tl.mins, self.w.s, self.w.e, np.minimum, np.inf)

    def largest(self) -> F64:
        assert self.tl.maxs is not None
        return range_reduce(self.tl.maxs, self.w.s, self.w.e, np.maximum, -np.inf)

    def percentile(self, q: float) -> F64:
        """Nearest-rank percentile of every window at once (`collectors.percentile`): the
        bucket search runs on the 2-D prefix sums, never a windows x buckets matrix."""
        tl, w = self.tl, self.w
        assert tl.cum is not None and tl.zero is not None
        cum = tl.cum
        zp = _prefix(tl.zero)
        return histogram_percentiles(
            q,
            np.rint(self.observations).astype(np.int64),
            np.rint(zp[w.e] - zp[w.s]).astype(np.int64),
            self.smallest(),
            self.largest(),
            lambda k: cum[w.e, k] - cum[w.s, k],
            tl.width,
            bucket_values(tl.base, tl.width),
        )


class ScalarWindows:
    """A counter's increments or a gauge's readings cut into windows."""

    def __init__(self, tl: Timeline, w: Windows) -> None:
        self.tl, self.w = tl, w
        self.gauge = tl.kind is MetricKind.GAUGE
        self.has = tl.npoints > 0
        np_prefix = _prefix(tl.npoints)
        self.points: F64 = np_prefix[w.e] - np_prefix[w.s]
        """Readings (points) per window."""
        vp = _prefix(tl.values)
        self.sums: F64 = vp[w.e] - vp[w.s]
        rows_prefix = _prefix(self.has.astype(np.int64))
        self.rows: F64 = rows_prefix[w.e] - rows_prefix[w.s]
        """Rows (collection intervals) with data per window."""

    @property
    def seconds(self) -> F64:
        return self.w.seconds

    def smallest(self) -> F64:
        values = np.where(self.has, self.tl.values, np.inf)
        return range_reduce(values, self.w.s, self.w.e, np.minimum, np.inf)

    def largest(self) -> F64:
        values = np.where(self.has, self.tl.values, -np.inf)
        return range_reduce(values, self.w.s, self.w.e, np.maximum, -np.inf)

    def last(self) -> F64:
        """The last value of every window (NaN for a window without one)."""
        tl, w = self.tl, self.w
        idx = np.where(self.has, np.arange(len(tl)), -1)
        last = np.maximum.accumulate(idx) if idx.size else idx
        at = last[np.maximum(w.e - 1, 0)] if last.size else np.zeros(len(w), np.int64)
        ok = (w.e > w.s) & (at >= w.s)
        out: F64 = np.where(ok, tl.values[np.maximum(at, 0)] if last.size else 0.0, np.nan)
        return out

    def percentile(self, q: float) -> F64:
        tl, w = self.tl, self.w
        out = np.full(len(w), np.nan)
        for i in range(len(w)):
            value = value_percentile(q, tl.values[w.s[i] : w.e[i]][self.has[w.s[i] : w.e[i]]])
            if value is not None:
                out[i] = value
        return out


def ratio(num: Timeline, den: Timeline, w: Windows) -> tuple[F64, F64]:
    """sum(numerator) / sum(denominator) per window (histograms count observations). Both
    timelines must share an axis. Samples are the denominator's total."""
    n = _total(num, w)
    d = _total(den, w)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(d > 0, n / d, np.nan)
    return values, d


def _total(tl: Timeline, w: Windows) -> F64:
    src = tl.observations if tl.kind is MetricKind.HISTOGRAM else tl.values
    p = _prefix(src)
    out: F64 = p[w.e] - p[w.s]
    return out
